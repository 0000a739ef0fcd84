"""Commands and replies through a real mosquitto: accepted, refused, duplicates, retained, bad payloads."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from retrowalk.mqtt.bridge import MqttBridge
from retrowalk.mqtt.commands import Command, StartCommand, StopCommand
from retrowalk.storage import Store

from .mqtt_broker import Mosquitto
from .mqtt_helpers import PREFIX, RecordingHandler, collecting, running_bridge, send, settings_for, wait_until

COMMAND = f"{PREFIX}treadmill/tm1/command"


def command(**fields: Any) -> str:
    return json.dumps(fields)


async def started(bridge_ready: MqttBridge) -> None:
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


async def test_refusal_carries_the_engines_reason_and_is_kept_for_home_assistant(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    handler.refuse_with = "max_speed_kmh 3.0 is above the operator ceiling 2.0"
    handler.refuse_code = "plan_refused"
    async with (
        collecting(mosquitto) as seen,
        running_bridge(settings_for(mosquitto), store, handler) as bridge,
    ):
        bridge.treadmill_online("tm1", True)
        await started(bridge)
        await send(mosquitto, COMMAND, command(command_id="c-2", type="start", user_id="ann"))
        replies = await seen.wait_json("tm1/reply")
        kept = await seen.wait_json("tm1/last_refusal")
    assert replies[0]["status"] == "refused"
    assert replies[0]["reason"] == "max_speed_kmh 3.0 is above the operator ceiling 2.0"
    assert replies[0]["code"] == "plan_refused"
    # Retained for Home Assistant's *Last refusal* sensor (a refused button press shows nothing else),
    # with the code's plain sentence: the reply's own words may name the person and their scores.
    assert {k: kept[-1][k] for k in ("treadmill_id", "command_id", "command_type", "code", "reason")} == {
        "treadmill_id": "tm1",
        "command_id": "c-2",
        "command_type": "start",
        "code": "plan_refused",
        "reason": "the plan cannot be honoured (a ceiling, or the treadmill's ranges); "
        "the service log says why",
    }


@pytest.mark.parametrize("discovery", [True, False], ids=["discovery", "no-discovery"])
async def test_every_refusal_is_logged_once_by_the_bridge_with_its_treadmill(
    mosquitto: Mosquitto,
    store: Store,
    handler: RecordingHandler,
    caplog: pytest.LogCaptureFixture,
    discovery: bool,
) -> None:
    handler.refuse_with = "no session to report after pain for"
    handler.refuse_code = "no_session"
    caplog.set_level(logging.INFO, logger="retrowalk")
    refused = command(command_id="c-2", type="pain_report", user_id="ann", when="after", pain=7)
    settings = settings_for(mosquitto, discovery=discovery)
    async with collecting(mosquitto) as seen, running_bridge(settings, store, handler) as bridge:
        bridge.treadmill_online("tm1", True)
        await started(bridge)
        await send(mosquitto, COMMAND, refused)
        await seen.wait_json("tm1/reply")
        # Unknown treadmills are refused before any handler: logged the same way.
        await send(mosquitto, f"{PREFIX}treadmill/tm9/command", command(command_id="c-3", type="stop"))
        await seen.wait_json("tm9/reply")
        # A repeat is answered from the stored reply: the same refusal, not logged again.
        await send(mosquitto, COMMAND, refused)
        replies = await seen.wait_json("tm1/reply", 2)
    assert [r["replayed"] for r in replies] == [False, True]
    # One INFO line per refusal, from one place: the treadmill, the command's type and id and the reason,
    # never the payload (the person and their score).
    refusals = [
        (r.name, r.levelname, getattr(r, "treadmill", "-"), r.getMessage())
        for r in caplog.records
        if "refused" in r.getMessage()
    ]
    assert refusals == [
        (
            "retrowalk.mqtt.bridge",
            "INFO",
            "tm1",
            "pain_report command c-2 refused: no session to report after pain for",
        ),
        ("retrowalk.mqtt.bridge", "INFO", "tm9", "stop command c-3 refused: unknown treadmill 'tm9'"),
    ]


async def test_a_repeated_command_id_is_answered_again_never_applied_twice_even_after_a_restart(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    settings = settings_for(mosquitto)
    stop = command(command_id="dup-1", type="stop")
    async with collecting(mosquitto) as seen:
        async with running_bridge(settings, store, handler) as bridge:
            bridge.treadmill_online("tm1", True)
            await started(bridge)
            await send(mosquitto, COMMAND, stop)
            await send(mosquitto, COMMAND, stop)
            await seen.wait_json("tm1/reply", 2)
        # A new bridge on the same database: the service restarted.
        async with running_bridge(settings, store, handler) as bridge:
            bridge.treadmill_online("tm1", True)
            await started(bridge)
            await send(mosquitto, COMMAND, stop)
            replies = await seen.wait_json("tm1/reply", 3)
    assert len(handler.calls) == 1
    assert isinstance(handler.calls[0][1], StopCommand)
    assert [r["status"] for r in replies] == ["accepted"] * 3
    assert [r["replayed"] for r in replies] == [False, True, True]
    assert {r["at"] for r in replies} == {replies[0]["at"]}  # the stored reply, not a new decision


async def test_command_ids_are_per_treadmill(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    settings = settings_for(mosquitto)
    async with collecting(mosquitto) as seen, running_bridge(settings, store, handler) as bridge:
        bridge.treadmill_online("tm1", True)
        bridge.treadmill_online("tm2", True)
        await started(bridge)
        await send(mosquitto, COMMAND, command(command_id="same", type="pause"))
        await send(mosquitto, f"{PREFIX}treadmill/tm2/command", command(command_id="same", type="pause"))
        await seen.wait_json("tm1/reply")
        await seen.wait_json("tm2/reply")
    assert sorted(t for t, _ in handler.calls) == ["tm1", "tm2"]


async def test_mqtt5_response_topic_gets_the_reply_with_the_correlation_data(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    settings = settings_for(mosquitto)
    async with running_bridge(settings, store, handler) as bridge:
        bridge.treadmill_online("tm1", True)
        await started(bridge)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5) as kiosk:
            await kiosk.subscribe("kiosk/7/responses", qos=1)
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.ResponseTopic = "kiosk/7/responses"
            props.CorrelationData = b"\x01corr-42"
            await kiosk.publish(COMMAND, command(command_id="c-5", type="resume"), qos=1, properties=props)
            async with asyncio.timeout(5):
                message = await anext(aiter(kiosk.messages))
    assert message.topic.value == "kiosk/7/responses"
    assert message.properties is not None
    assert getattr(message.properties, "CorrelationData", None) == b"\x01corr-42"
    assert isinstance(message.payload, bytes)
    reply = json.loads(message.payload)
    assert (reply["command_id"], reply["status"]) == ("c-5", "accepted")


async def test_retained_commands_are_refused_cleared_and_never_applied(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    settings = settings_for(mosquitto)
    start = command(command_id="r-1", type="start", user_id="ann")
    # Retained before the bridge connects: delivered with the retain flag on subscribe.
    await send(mosquitto, COMMAND, start, retain=True)
    async with collecting(mosquitto) as seen, running_bridge(settings, store, handler) as bridge:
        bridge.treadmill_online("tm1", True)
        await started(bridge)
        first = await seen.wait_json("tm1/reply")
        # Retained while the bridge is connected: MQTT 5 retain-as-published keeps the flag visible.
        await send(mosquitto, COMMAND, command(command_id="r-2", type="start", user_id="ann"), retain=True)
        # A retained command whose id is not well formed: nothing of it is echoed.
        await send(mosquitto, COMMAND, command(command_id="r 3/#", type="start", user_id="ann"), retain=True)
        replies = await seen.wait_json("tm1/reply", 3)
        # Every retained command was cleared (an empty retained publish each).
        await wait_until(lambda: [m.payload for m in seen.on("tm1/command")].count(b"") >= 3, "three clears")
    assert handler.calls == []
    assert first[0]["status"] == "invalid"
    assert "retained" in (first[0]["reason"] or "")
    assert [r["status"] for r in replies] == ["invalid", "invalid", "invalid"]
    # The kiosk can tell which command was refused: the id is echoed when it was readable.
    assert [r["command_id"] for r in replies] == ["r-1", "r-2", None]
    # Nothing is left retained on the command topic for the next subscriber.
    async with collecting(mosquitto, (COMMAND,), client_id="late-subscriber") as late:
        # Published after the subscription, so it arrives after anything retained on the topic.
        await send(mosquitto, COMMAND, b"marker")
        await wait_until(lambda: any(m.payload == b"marker" for m in late.messages), "the marker")
    assert [m.payload for m in late.messages if m.payload not in (b"", b"marker")] == []
    assert not any(m.retain for m in late.messages), [m.payload for m in late.messages]


PAIN = {"command_id": "b2", "type": "pain_report", "user_id": "ann", "when": "after"}
START = {"command_id": "b5", "type": "start", "user_id": "ann"}
BAD_PAYLOADS: list[tuple[str, bytes, str | None, str]] = [
    ("not json", b"start please", None, "not JSON"),
    ("not utf-8", b"\xff\xfe{", None, "not JSON"),
    ("empty", b"", None, "empty"),
    ("array", b"[1, 2]", None, "JSON object"),
    ("no command id", b'{"type": "stop"}', None, "command_id"),
    ("unknown type", b'{"command_id": "b1", "type": "fly"}', "b1", "type"),
    ("string for int", json.dumps({**PAIN, "pain": "3"}).encode(), "b2", "pain"),
    ("bool for int", json.dumps({**PAIN, "pain": True}).encode(), "b2", "pain"),
    ("pain above 10", json.dumps({**PAIN, "pain": 11}).encode(), "b2", "pain"),
    ("unknown field", b'{"command_id": "b4", "type": "stop", "force": true}', "b4", "force"),
    (
        "out of range",
        json.dumps({**START, "plan": {"max_speed_kmh": 9.0}}).encode(),
        "b5",
        "plan.max_speed_kmh",
    ),
    (
        "nan",
        json.dumps({**START, "plan": {"max_speed_kmh": float("nan")}}).encode(),
        "b5",
        "plan.max_speed_kmh",
    ),
    ("blank user id", json.dumps({**START, "user_id": "   "}).encode(), "b5", "must not be blank"),
    ("padded user id", json.dumps({**START, "user_id": "ann "}).encode(), "b5", "begin or end with a space"),
    ("bad command id", b'{"command_id": "a/b#", "type": "stop"}', None, "command_id"),
    ("oversized", b'{"command_id": "b7", "type": "stop", "pad": "' + b"x" * 17000 + b'"}', None, "limit"),
]


@pytest.mark.parametrize("case", BAD_PAYLOADS, ids=[p[0] for p in BAD_PAYLOADS])
async def test_bad_payloads_get_an_invalid_reply_change_nothing_and_the_bridge_keeps_working(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler, case: tuple[str, bytes, str | None, str]
) -> None:
    _, raw, echoed_id, mentions = case
    settings = settings_for(mosquitto)
    async with collecting(mosquitto) as seen, running_bridge(settings, store, handler) as bridge:
        bridge.treadmill_online("tm1", True)
        await started(bridge)
        await send(mosquitto, COMMAND, raw)
        bad = (await seen.wait_json("tm1/reply"))[0]
        await send(mosquitto, COMMAND, command(command_id="after-bad", type="stop"))
        good = (await seen.wait_json("tm1/reply", 2))[1]
    assert bad["status"] == "invalid"
    assert bad["command_id"] == echoed_id
    described = (bad["reason"] or "") + " " + " ".join(e["loc"] + " " + e["msg"] for e in bad["errors"])
    assert mentions in described
    assert good["status"] == "accepted"
    assert [c.command_id for _, c in handler.calls] == ["after-bad"]
    if echoed_id is not None:
        # Invalid commands are not remembered: the kiosk may fix the payload and resend the same id.
        assert store.command_reply("tm1", echoed_id) is None


async def test_unknown_treadmill_is_refused(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    settings = settings_for(mosquitto)
    async with collecting(mosquitto) as seen, running_bridge(settings, store, handler) as bridge:
        bridge.treadmill_online("tm1", True)
        await started(bridge)
        await send(mosquitto, f"{PREFIX}treadmill/ghost/command", command(command_id="g1", type="stop"))
        reply = (await seen.wait_json("ghost/reply"))[0]
    assert reply["status"] == "refused"
    assert "unknown treadmill" in reply["reason"]
    assert reply["code"] == "unknown_treadmill"
    assert handler.calls == []


class ExplodingHandler(RecordingHandler):
    async def handle_command(self, treadmill_id: str, command: Command) -> None:
        await super().handle_command(treadmill_id, command)
        if len(self.calls) == 1:
            raise RuntimeError("engine bug")


async def test_an_engine_failure_gives_an_error_reply_and_the_bridge_survives(
    mosquitto: Mosquitto, store: Store
) -> None:
    handler = ExplodingHandler()
    settings = settings_for(mosquitto)
    async with collecting(mosquitto) as seen, running_bridge(settings, store, handler) as bridge:
        bridge.treadmill_online("tm1", True)
        await started(bridge)
        await send(mosquitto, COMMAND, command(command_id="e1", type="stop"))
        await seen.wait_json("tm1/reply")
        await send(mosquitto, COMMAND, command(command_id="e2", type="stop"))
        replies = await seen.wait_json("tm1/reply", 2)
    assert [(r["command_id"], r["status"]) for r in replies] == [("e1", "error"), ("e2", "accepted")]
    assert "engine bug" not in (replies[0]["reason"] or "")  # internals stay in the log


async def test_commands_for_one_treadmill_are_applied_in_arrival_order(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    handler.delay_s = 0.2  # a slow start must not be overtaken by the stop behind it
    settings = settings_for(mosquitto)
    async with collecting(mosquitto) as seen, running_bridge(settings, store, handler) as bridge:
        bridge.treadmill_online("tm1", True)
        await started(bridge)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as kiosk:
            await kiosk.publish(COMMAND, command(command_id="o1", type="start", user_id="ann"), qos=1)
            await kiosk.publish(COMMAND, command(command_id="o2", type="stop"), qos=1)
        await seen.wait_json("tm1/reply", 2)
    assert [c.command_id for _, c in handler.calls] == ["o1", "o2"]


async def test_a_response_topic_inside_retrowalks_tree_is_not_used(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    """Else a kiosk could make the service publish a reply onto another treadmill's event topic."""
    settings = settings_for(mosquitto)
    async with collecting(mosquitto) as seen, running_bridge(settings, store, handler) as bridge:
        bridge.treadmill_online("tm1", True)
        bridge.treadmill_online("tm2", True)
        await started(bridge)
        for command_id, response_topic in (
            ("rt-1", f"{PREFIX}treadmill/tm2/event"),
            ("rt-2", f"{PREFIX}responses/kiosk-7/abc"),
        ):
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.ResponseTopic = response_topic
            await send(mosquitto, COMMAND, command(command_id=command_id, type="stop"), properties=props)
        await seen.wait_json("tm1/reply", 2)
        await seen.wait_json("responses/kiosk-7/abc")
    assert seen.on("tm2/event") == []
    assert [r["command_id"] for r in seen.json_on("responses/kiosk-7/abc")] == ["rt-2"]
