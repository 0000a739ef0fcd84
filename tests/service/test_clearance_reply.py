"""A clearance over MQTT, against the real service and a real mosquitto: one that clears nothing is
accepted and its reply says so (the words `retrowalk user clear` prints), with a log line naming the
treadmill; one that clears a "yes" says nothing more; a blank `cleared_by` is refused and not recorded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tests.mqtt.mqtt_broker import Mosquitto
from tests.plugins.virtual_adapter import SimulatorFactory, wait_until

from .harness import healthy_screening, running_rig
from .served import decoded

PREFIX = "retrowalk/v1/"
NOTHING_TO_CLEAR = (
    "nothing to clear for ana: no screening answer is 'yes' and the pain rule has not sent them to a "
    "clinician, so this clearance changes nothing (a later 'yes' or referral needs a new one)"
)


async def test_a_clearance_reply_says_when_it_clears_nothing_and_a_blank_name_is_refused(
    simulator_factory: SimulatorFactory,
    mosquitto: Mosquitto,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = {"broker": {"host": "127.0.0.1", "port": mosquitto.port}}
    replies: dict[str, dict[str, Any]] = {}

    async def listen(client: aiomqtt.Client) -> None:
        async for message in client.messages:
            reply = decoded(message)
            replies[reply["command_id"]] = reply

    async def staff_command(client: aiomqtt.Client, command: dict[str, Any]) -> dict[str, Any]:
        await client.publish(f"{PREFIX}treadmill/tm0/command/staff", json.dumps(command), qos=1)
        await wait_until(
            lambda: command["command_id"] in replies, 10, f"the reply to {command['command_id']}"
        )
        return replies[command["command_id"]]

    caplog.set_level(logging.INFO, logger="retrowalk.service.commands")
    async with (
        running_rig(simulator_factory, tmp_path, settings=settings) as rig,
        aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="staff-test") as client,
    ):
        await client.subscribe(f"{PREFIX}treadmill/tm0/reply", qos=1)
        listener = asyncio.create_task(listen(client), name="staff-reply-listener")
        try:
            await rig.wait_connected("tm0")
            await staff_command(client, {"command_id": "s-ana", **healthy_screening("ana")})
            clearance = {"type": "clearance", "user_id": "ana", "cleared_by": "Dr. Lind"}

            blank = await staff_command(client, {"command_id": "c-blank", **clearance, "cleared_by": "   "})
            assert (blank["status"], [(e["loc"], e["msg"]) for e in blank["errors"]]) == (
                "invalid",
                [("clearance.cleared_by", "must name someone (it is blank)")],
            )
            assert rig.service.store.clearances_for_user("ana") == []

            idle = await staff_command(client, {"command_id": "c-ana", **clearance})
            assert (idle["status"], idle["note"]) == ("accepted", NOTHING_TO_CLEAR)
            assert f"[tm0] clearance for ana by Dr. Lind recorded; {NOTHING_TO_CLEAR}" in caplog.messages

            await staff_command(
                client, {"command_id": "s-bo", **healthy_screening("bo"), "recent_knee_surgery": True}
            )
            counted = await staff_command(client, {"command_id": "c-bo", **clearance, "user_id": "bo"})
            assert (counted["status"], counted["note"]) == ("accepted", None)
            assert "[tm0] clearance for bo by Dr. Lind recorded" in caplog.messages
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
