"""Commands and replies through a real mosquitto: accepted, refused, duplicates, retained, bad payloads."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mqtt_broker import Mosquitto
from mqtt_helpers import PREFIX, RecordingHandler, collecting, running_bridge, send, settings_for

from retrowalk.mqtt.commands import StartCommand
from retrowalk.storage import Store

COMMAND = f"{PREFIX}treadmill/tm1/command"


def command(**fields: Any) -> str:
    return json.dumps(fields)


async def started(bridge_ready: Any) -> None:
    await asyncio.wait_for(bridge_ready.connected.wait(), 5)


async def test_start_is_handed_to_the_engine_and_accepted(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    async with (
        collecting(mosquitto) as seen,
        running_bridge(settings_for(mosquitto), store, handler) as bridge,
    ):
        bridge.treadmill_online("tm1", True)
        await started(bridge)
        plan = {"start_speed_kmh": 1.0, "max_speed_kmh": 2.0, "duration_cap_s": 300}
        await send(mosquitto, COMMAND, command(command_id="c-1", type="start", user_id="ann", plan=plan))
        replies = await seen.wait_json("tm1/reply")
    assert replies[0]["command_id"] == "c-1"
    assert replies[0]["status"] == "accepted"
    assert replies[0]["replayed"] is False
    assert len(handler.calls) == 1
    treadmill_id, received = handler.calls[0]
    assert treadmill_id == "tm1"
    assert isinstance(received, StartCommand)
    assert received.user_id == "ann"
    assert received.plan is not None
    assert received.plan.max_speed_kmh == 2.0
