"""MQTT 5 with fallback to 3.1.1, Home Assistant discovery, and telemetry on the wire."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from amqtt.broker import Broker

from retrowalk.mqtt import BrokerSettings
from retrowalk.mqtt.commands import COMMAND_ADAPTER
from retrowalk.mqtt.discovery import DeviceFacts, discovery_payload
from retrowalk.mqtt.payloads import SessionEnded, SessionSummary, StopNotConfirmed, Telemetry
from retrowalk.mqtt.topics import Topics
from retrowalk.storage import Store, StoredSession

from .mqtt_broker import Mosquitto, free_port
from .mqtt_helpers import PREFIX, RecordingHandler, collecting, running_bridge, settings_for, wait_until


@pytest.fixture
async def amqtt_broker() -> AsyncIterator[int]:
    """amqtt 0.12 speaks only MQTT 3.1.1: it refuses a plain version-5 CONNECT with a CONNACK, and stalls
    on one that carries a will (which the bridge's always does)."""
    port = free_port()
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "sys_interval": 0,
            "auth": {"allow-anonymous": True, "plugins": ["auth_anonymous"]},
            "topic-check": {"enabled": False},
        }
    )
    await broker.start()
    try:
        yield port
    finally:
        await broker.shutdown()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # amqtt's own config deprecations
async def test_auto_falls_back_to_311_on_a_broker_without_mqtt5(
    amqtt_broker: int, store: Store, handler: RecordingHandler
) -> None:
    settings = BrokerSettings(
        host="127.0.0.1", port=amqtt_broker, prefix=PREFIX, reconnect_min_s=0.05, connect_timeout_s=1
    )
    async with running_bridge(settings, store, handler) as bridge:
        bridge.treadmill_online("tm1", True)
        await asyncio.wait_for(bridge.connected.wait(), 10)
        assert bridge.status.protocol == "3.1.1"
        bridge.publish_event("tm1", SessionEnded(treadmill_id="tm1", reason="stopped_by_user"))
        await wait_until(lambda: store.outbox_count() == 0, "the event to be acknowledged over 3.1.1")


async def test_mqtt5_is_used_where_the_broker_speaks_it(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    async with running_bridge(settings_for(mosquitto), store, handler) as bridge:
        await asyncio.wait_for(bridge.connected.wait(), 5)
        assert bridge.status.protocol == "5"


def _rendered(component: dict[str, Any], value: str) -> str:
    """A command template rendered as Home Assistant would for one press or choice."""
    template: str = component["command_template"]
    return (
        template.replace("{{ value | tojson }}", json.dumps(value))
        .replace("{{ value | int }}", value)
        .replace("{{ value }}", value)
        .replace("{{ now().timestamp() }}", "1764000000.25")
    )


class _Walkers:
    def startable_walkers(self) -> tuple[str, ...]:
        return ("ann", "bo")

    def chosen_walker(self, treadmill_id: str) -> str | None:
        return "bo"

    def kept_before_pain(self, treadmill_id: str, user_id: str) -> int | None:
        return 4 if user_id == "bo" else None


async def test_home_assistant_device_discovery(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    settings = settings_for(mosquitto, discovery_prefix="ha-test")
    async with (
        collecting(mosquitto, ("ha-test/#", f"{PREFIX}#"), client_id="ha") as ha,
        running_bridge(settings, store, handler) as bridge,
    ):
        bridge.home_assistant.walkers = _Walkers()
        facts = DeviceFacts(label="Gym treadmill 1", area="Gym", kiosk_url="http://kiosk.local:8080/tm1")
        bridge.home_assistant.describe("tm1", facts)
        bridge.treadmill_online("tm1", False)  # the service reports it before the link is up
        bridge.treadmill_online("tm1", True, name="TreadSim 0")  # the device's Bluetooth name, once connected
        await wait_until(lambda: bridge.status.retained_pending == 0, "retained sent")
        await wait_until(lambda: bool(ha.on("device/retrowalk_tm1/config")), "discovery")
        await wait_until(lambda: bool(ha.on("tm1/walker")), "the chosen walker")
        await wait_until(lambda: bool(ha.on("tm1/pain_before")), "the kept before score")
        configs = ha.json_on("device/retrowalk_tm1/config")
        message = ha.on("device/retrowalk_tm1/config")[-1]
        walker = ha.on("tm1/walker")[-1]
        kept_before = ha.on("tm1/pain_before")[-1]
    assert message.topic.value == "ha-test/device/retrowalk_tm1/config"
    # Named from the label once, never renamed after the Bluetooth name became known: entity names and
    # ids must not depend on whether Home Assistant saw the device before the link came up.
    assert [c["dev"]["name"] for c in configs] == ["Gym treadmill 1"]
    config = configs[-1]
    assert config["dev"]["ids"] == ["retrowalk_tm1"]
    assert config["dev"]["cu"] == "http://kiosk.local:8080/tm1"
    assert config["dev"]["sa"] == "Gym"
    assert config["dev"]["sw"] == config["o"]["sw"]
    assert config["o"]["name"] == "retrowalk"
    assert walker.payload == b"bo"
    assert kept_before.payload == b"4"
    components = config["cmps"]
    by_platform: dict[str, set[str]] = {}
    for key, component in components.items():
        by_platform.setdefault(component["p"], set()).add(key)
    assert by_platform["button"] == {"start", "pause", "resume", "stop"}
    assert by_platform["select"] == {"walker"}
    assert by_platform["number"] == {"pain_before", "pain_after", "pain_next_morning"}
    assert by_platform["event"] == {"event"}
    assert by_platform["binary_sensor"] == {"check_belt"}
    assert {"speed", "incline", "phase", "last_end_reason", "last_walked"} <= by_platform["sensor"]
    # QoS is not inherited from the device level by Home Assistant: every component says 1 itself.
    assert {key for key, component in components.items() if component.get("qos") != 1} == set()
    assert components["speed"]["device_class"] == "speed"
    assert components["speed"]["unit_of_measurement"] == "km/h"
    assert components["speed"]["state_topic"] == f"{PREFIX}treadmill/tm1/telemetry"
    assert components["phase"]["device_class"] == "enum"
    assert "cool_down" in components["phase"]["options"]
    assert components["check_belt"]["device_class"] == "problem"
    assert components["last_refusal"]["state_topic"] == f"{PREFIX}treadmill/tm1/last_refusal"
    # *Pain before* shows the score the service keeps for the next Start; the others what was sent.
    assert components["pain_before"]["state_topic"] == f"{PREFIX}treadmill/tm1/pain_before"
    assert "state_topic" not in components["pain_after"]
    # Statistics only of what is measured over time, never of countdowns and session figures.
    assert {k for k, c in components.items() if "state_class" in c} == {"speed", "incline", "heart_rate"}
    assert {c["object_id"] for c in components.values()} == {f"retrowalk_tm1_{k}" for k in components}
    assert len({c["unique_id"] for c in components.values()}) == len(components)
    assert [a["topic"] for a in config["availability"]] == [
        f"{PREFIX}service/svc1/availability",
        f"{PREFIX}treadmill/tm1/availability",
    ]
    assert config["availability_mode"] == "all"
    # What the service alone knows stays readable while the treadmill is gone (the belt alert above all);
    # what the treadmill reports or does keeps the device's availability.
    service_only = {k for k, c in components.items() if "availability" in c}
    readable = {
        "check_belt",
        "phase",
        "walking",
        "event",
        "last_end_reason",
        "last_refusal",
        "walker",
        "pain_after",
        "stop",
    }
    assert readable <= service_only
    assert not service_only & {"speed", "elapsed", "remaining", "start", "pause", "resume"}
    assert {str(components[k]["availability"]) for k in service_only} == {
        str([{"topic": f"{PREFIX}service/svc1/availability"}])
    }
    # Each telemetry field a sensor reads exists in the telemetry model.
    for key in by_platform["sensor"]:
        if components[key]["state_topic"].endswith("/telemetry"):
            field = re.search(r"value_json\.(\w+)", components[key]["value_template"])
            assert field is not None
            assert field.group(1) in Telemetry.model_fields
    # What each button press, walker choice and pain input sends is a valid command, for this treadmill.
    sent = [_rendered(components[key], components[key]["payload_press"]) for key in by_platform["button"]]
    sent.append(_rendered(components["walker"], "ann"))
    sent += [_rendered(components[key], "3") for key in by_platform["number"]]
    commands = [COMMAND_ADAPTER.validate_json(text) for text in sent]
    assert {c.type for c in commands} == {
        "start_walker", "pause", "resume", "stop", "select_walker", "walker_pain_report"
    }  # fmt: skip
    assert {components[key]["command_topic"] for key in by_platform["button"] | by_platform["number"]} == {
        f"{PREFIX}treadmill/tm1/command"
    }
    # Never a speed: nothing Home Assistant can send sets one.
    assert not any("speed" in text for text in sent)


async def test_no_walkers_no_start(mosquitto: Mosquitto, store: Store, handler: RecordingHandler) -> None:
    """Without walkers Home Assistant has no one to start: no Start, walker select or pain inputs."""
    payload = discovery_payload(Topics(PREFIX, "homeassistant", "svc1"), "tm1")
    platforms = {component.p for component in payload.cmps.values()}
    assert platforms.isdisjoint({"select", "number"})
    assert "start" not in payload.cmps
    assert "stop" in payload.cmps
    assert payload.dev.name == "Treadmill tm1"


async def test_discovery_can_be_turned_off(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    settings = settings_for(mosquitto, discovery=False)
    async with (
        collecting(mosquitto, ("homeassistant/#", f"{PREFIX}#"), client_id="ha") as seen,
        running_bridge(settings, store, handler) as bridge,
    ):
        bridge.treadmill_online("tm1", True)
        await wait_until(lambda: bool(seen.on("tm1/availability")), "availability")
        await wait_until(lambda: bridge.status.retained_pending == 0, "retained sent")
    assert not [m for m in seen.messages if m.topic.value.startswith("homeassistant/")]


async def test_telemetry_reaches_subscribers_as_the_model_says(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    async with (
        collecting(mosquitto) as seen,
        running_bridge(settings_for(mosquitto), store, handler) as bridge,
    ):
        await asyncio.wait_for(bridge.connected.wait(), 5)
        for second in range(5):
            bridge.publish_telemetry(
                "tm1",
                Telemetry(
                    treadmill_id="tm1", phase="ramp", speed_kmh=1.0 + second / 10, allowed_speed_kmh=1.5,
                    elapsed_s=second, remaining_s=300 - second, heart_rate_bpm=None if second < 3 else 95,
                ),
            )  # fmt: skip
        samples = await seen.wait_json("tm1/telemetry", 5)
    assert [s["elapsed_s"] for s in samples] == [0, 1, 2, 3, 4]
    assert [s["heart_rate_bpm"] for s in samples] == [None, None, None, 95, 95]
    assert all(Telemetry.model_validate(s) for s in samples)
    assert all(m.retain is False for m in seen.on("tm1/telemetry"))


async def test_home_assistant_finds_the_belt_alert_last_session_and_telemetry_retained(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    """What a Home Assistant that (re)connects later reads at once: the retained copies."""
    running = Telemetry(treadmill_id="tm1", phase="ramp", speed_kmh=1.2, allowed_speed_kmh=1.3, elapsed_s=60)
    summary = SessionSummary(
        treadmill_id="tm1", session_id="s1", user_id="me", started_at=running.at, ended_at=running.at,
        end_reason="kiosk_stop", walked_s=60.0, distance_m=20.0, max_speed_kmh=1.2,
    )  # fmt: skip
    async with running_bridge(settings_for(mosquitto), store, handler) as bridge:
        bridge.treadmill_online("tm1", True)
        await asyncio.wait_for(bridge.connected.wait(), 5)
        bridge.publish_telemetry("tm1", running)
        bridge.publish_event("tm1", StopNotConfirmed(treadmill_id="tm1", session_id="s1", detail="check it"))
        bridge.publish_summary("tm1", summary)
        await wait_until(lambda: bridge.status.retained_pending == 0, "retained sent")
        await wait_until(lambda: bridge.status.outbox_pending == 0, "outbox sent")
        async with collecting(mosquitto, client_id="late-ha") as late:
            alert = (await late.wait_json("tm1/attention"))[-1]
            last = (await late.wait_json("tm1/last_session"))[-1]
            sample = (await late.wait_json("tm1/telemetry"))[-1]
        assert alert["check_belt"] is True
        assert alert["detail"] == "check it"
        assert last["end_reason"] == "kiosk_stop"
        assert sample["speed_kmh"] == 1.2
        # A standing belt in a sample the schema refuses (an endless elapsed time) is no news: refused
        # before anything reads it, so the alert stays.
        bridge.publish_telemetry("tm1", running.model_copy(update={"speed_kmh": 0.0, "elapsed_s": math.inf}))
        await wait_until(lambda: bridge.status.retained_pending == 0, "retained sent")
        async with collecting(mosquitto, client_id="refused-ha") as refused:
            assert (await refused.wait_json("tm1/attention"))[-1]["check_belt"] is True
        # The treadmill reports its belt standing: the alert is over, for late subscribers too.
        bridge.publish_telemetry("tm1", running.model_copy(update={"speed_kmh": 0.0}))
        async with collecting(mosquitto, client_id="later-ha") as later:
            await wait_until(
                lambda: any(not a["check_belt"] for a in later.json_on("tm1/attention")), "the alert cleared"
            )


async def test_a_restarted_service_publishes_the_last_session_from_the_history(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    """A new broker (or one without persistence) has no last_session; the service's history has it."""
    summary = SessionSummary(
        treadmill_id="tm1", session_id="s1", user_id="me", started_at=datetime(2026, 12, 1, 9, tzinfo=UTC),
        ended_at=datetime(2026, 12, 1, 9, 5, tzinfo=UTC), end_reason="completed", walked_s=300.0,
        distance_m=110.0, max_speed_kmh=1.5, overspeed_corrections=2, pain_during=3,
    )  # fmt: skip
    store.record_session(
        StoredSession(
            session_id="s1", user_id="me", treadmill_id="tm1", started_at=summary.started_at,
            ended_at=summary.ended_at, end_reason="completed", walked_s=300.0, distance_m=110.0,
            max_speed_kmh=1.5, duration_cap_s=300, summary_json=summary.model_dump_json(),
        )
    )  # fmt: skip
    async with running_bridge(settings_for(mosquitto), store, handler) as bridge:
        bridge.treadmill_online("tm1", False)
        bridge.treadmill_online("tm2", False)
        await asyncio.wait_for(bridge.connected.wait(), 5)
        await wait_until(lambda: bridge.status.retained_pending == 0, "retained sent")
        async with collecting(mosquitto, client_id="late-ha") as late:
            last = (await late.wait_json("tm1/last_session"))[-1]
            await late.wait_json("tm2/attention")  # tm2's retained topics came too ...
        assert late.on("tm2/last_session") == []  # ... but it has no session to show
    assert SessionSummary.model_validate(last) == summary


async def test_payloads_for_the_wrong_treadmill_are_dropped_not_raised(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    async with running_bridge(settings_for(mosquitto), store, handler) as bridge:
        t = Telemetry(treadmill_id="tm1", phase="ramp", speed_kmh=1, allowed_speed_kmh=1, elapsed_s=1)
        bridge.publish_telemetry("tm2", t)
        bridge.treadmill_online("bad/id", True)
        assert store.outbox_count() == 0
