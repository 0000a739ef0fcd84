"""Fuzzing kiosk commands: random and mutated payloads into ``parse_command`` (thousands) and through
the MQTT bridge over a real mosquitto (fewer).

Properties: every payload is either a valid command or refused with an ``invalid`` reply that names
what was wrong; nothing refused reaches the CommandHandler; the bridge answers every payload and keeps
running; no other exception escapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from retrowalk.mqtt import MqttBridge
from retrowalk.mqtt.commands import (
    COMMAND_ADAPTER,
    ClearanceCommand,
    CommandReply,
    InvalidCommandError,
    parse_command,
)
from retrowalk.storage import Store
from tests.mqtt.mqtt_broker import Mosquitto
from tests.mqtt.mqtt_helpers import PREFIX, RecordingHandler, settings_for

from .budget import fuzz_settings, timeout_s
from .command_payloads import payloads

MAX_BYTES = 16 * 1024


@pytest.mark.slow
@pytest.mark.timeout(timeout_s(60))
@fuzz_settings(1500)
@given(raw=payloads)
def test_parse_command_accepts_valid_commands_and_refuses_everything_else_with_a_reply(raw: bytes) -> None:
    try:
        command = parse_command("tm1", raw, max_bytes=MAX_BYTES)
    except InvalidCommandError as refused:
        reply = refused.reply
        assert reply.status == "invalid"
        assert reply.treadmill_id == "tm1"
        assert reply.reason, "a refusal says why"
        # The echoed id is well formed or absent, and the reply itself serialises for the wire.
        assert reply.command_id is None or COMMAND_ADAPTER.validate_python(
            {"command_id": reply.command_id, "type": "stop"}
        )
        CommandReply.model_validate_json(reply.model_dump_json())
        return
    # Accepted: it was a JSON object of a known type, and every number in it is a real, bounded one.
    document = json.loads(raw)
    assert isinstance(document, dict)
    assert document["type"] == command.type
    assert document["command_id"] == command.command_id
    for value in command.model_dump().values():
        if isinstance(value, float):
            assert math.isfinite(value)
    plan = getattr(command, "plan", None)
    if plan is not None and plan.max_speed_kmh is not None:
        assert 0.5 <= plan.max_speed_kmh <= 3.5


# --------------------------------------------------------------------------- through mosquitto

RESPONSES = "fuzz/responses"


@dataclass
class BridgeRig:
    broker: Mosquitto
    bridge: MqttBridge
    bridge_task: asyncio.Task[None]
    handler: RecordingHandler
    kiosk: aiomqtt.Client
    replies: dict[bytes, dict[str, Any]] = field(default_factory=dict)
    numbers: itertools.count[int] = field(default_factory=itertools.count)

    async def send(self, treadmill_id: str, raw: bytes) -> bytes:
        correlation = f"corr-{next(self.numbers)}".encode()
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = RESPONSES
        props.CorrelationData = correlation
        await self.kiosk.publish(f"{PREFIX}treadmill/{treadmill_id}/command", raw, qos=1, properties=props)
        return correlation

    async def collect(self) -> None:
        async for message in self.kiosk.messages:
            correlation = getattr(message.properties, "CorrelationData", None)
            if isinstance(correlation, bytes) and isinstance(message.payload, bytes):
                self.replies[correlation] = json.loads(message.payload)


@pytest.fixture
async def bridge_rig(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[BridgeRig]:
    """One broker, one bridge and one kiosk client for all examples of a test (starting mosquitto per
    example would cost more than the examples)."""
    broker = mosquitto
    store = Store(tmp_path / "retrowalk.sqlite")
    handler = RecordingHandler()
    bridge = MqttBridge(settings_for(broker), store, handler, service_id="fuzz")
    bridge.treadmill_online("tm1", True)
    bridge_task = asyncio.create_task(bridge.run(), name="fuzz-bridge")
    try:
        await asyncio.wait_for(bridge.connected.wait(), 10)
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, protocol=aiomqtt.ProtocolVersion.V5, identifier="fuzz-kiosk"
        ) as kiosk:
            await kiosk.subscribe(RESPONSES, qos=1)
            rig = BridgeRig(broker, bridge, bridge_task, handler, kiosk)
            collector = asyncio.create_task(rig.collect(), name="fuzz-kiosk-replies")
            try:
                yield rig
            finally:
                collector.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await collector
    finally:
        bridge_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await bridge_task
        store.close()
        broker.stop()


@pytest.mark.slow
@pytest.mark.timeout(timeout_s(90, slow=True))
@fuzz_settings(100, slow=True)
@given(batch=st.lists(st.tuples(st.sampled_from(["tm1", "tm1", "nope"]), payloads), min_size=1, max_size=8))
async def test_every_bad_payload_gets_an_invalid_reply_and_never_reaches_the_handler(
    bridge_rig: BridgeRig, batch: list[tuple[str, bytes]]
) -> None:
    rig = bridge_rig
    calls_before = len(rig.handler.calls)
    sent: list[tuple[bytes, str, bytes]] = []
    for treadmill_id, raw in batch:
        sent.append((await rig.send(treadmill_id, raw), treadmill_id, raw))
    async with asyncio.timeout(10):
        while not all(correlation in rig.replies for correlation, _, _ in sent):
            assert not rig.bridge_task.done(), "the bridge stopped"
            await asyncio.sleep(0.01)
    reached = 0
    for correlation, treadmill_id, raw in sent:
        reply = rig.replies[correlation]
        try:
            command = parse_command(treadmill_id, raw, max_bytes=MAX_BYTES)
        except InvalidCommandError:
            assert reply["status"] == "invalid", (raw, reply)
            assert reply["reason"]
            continue
        if isinstance(command, ClearanceCommand):
            # Clearances count only on the staff topic, which these kiosks do not use.
            assert reply["status"] == "invalid", (raw, reply)
            assert "command/staff" in reply["reason"], reply
            continue
        if treadmill_id != "tm1":
            assert reply["status"] in ("refused", "accepted"), reply  # accepted only as a stored replay
            assert reply["status"] == "refused" or reply["replayed"], reply
            continue
        assert reply["status"] == "accepted", (raw, reply)
        assert reply["command_id"] == command.command_id
        reached += not reply["replayed"]
    # Exactly the valid, first-seen commands for a known treadmill reached the engine's door.
    new_calls = rig.handler.calls[calls_before:]
    assert len(new_calls) == reached, (new_calls, sent)
    assert all(treadmill_id == "tm1" for treadmill_id, _ in new_calls)
    assert not rig.bridge_task.done()
