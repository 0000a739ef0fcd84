"""MQTT 5 with fallback to 3.1.1, Home Assistant discovery, and telemetry on the wire."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from amqtt.broker import Broker

from retrowalk.mqtt import BrokerSettings
from retrowalk.mqtt.commands import COMMAND_ADAPTER
from retrowalk.mqtt.payloads import SessionEnded, Telemetry
from retrowalk.storage import Store

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


async def test_home_assistant_device_discovery(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    settings = settings_for(mosquitto, discovery_prefix="ha-test")
    async with (
        collecting(mosquitto, ("ha-test/#",), client_id="ha") as ha,
        running_bridge(settings, store, handler) as bridge,
    ):
        bridge.treadmill_online("tm1", False)  # the service reports it before the link is up
        bridge.treadmill_online("tm1", True, name="Gym treadmill 1")  # the device's name, once connected
        await wait_until(lambda: bridge.status.retained_pending == 0, "retained sent")
        await wait_until(lambda: bool(ha.on("device/retrowalk_tm1/config")), "discovery")
        config = ha.json_on("device/retrowalk_tm1/config")[-1]
        message = ha.on("device/retrowalk_tm1/config")[-1]
    assert message.topic.value == "ha-test/device/retrowalk_tm1/config"
    assert config["dev"]["ids"] == ["retrowalk_tm1"]
    assert config["dev"]["name"] == "Gym treadmill 1"
    assert config["o"]["name"] == "retrowalk"
    components = config["cmps"]
    sensors = {k for k, v in components.items() if v["p"] == "sensor"}
    buttons = {k for k, v in components.items() if v["p"] == "button"}
    assert sensors == {"speed", "allowed_speed", "distance", "elapsed", "remaining", "heart_rate", "phase"}
    assert buttons == {"stop", "pause"}
    assert components["speed"]["device_class"] == "speed"
    assert components["speed"]["unit_of_measurement"] == "km/h"
    assert components["speed"]["state_topic"] == f"{PREFIX}treadmill/tm1/telemetry"
    assert components["elapsed"]["device_class"] == "duration"
    assert len({c["unique_id"] for c in components.values()}) == len(components)
    assert [a["topic"] for a in config["availability"]] == [
        f"{PREFIX}service/svc1/availability",
        f"{PREFIX}treadmill/tm1/availability",
    ]
    assert config["availability_mode"] == "all"
    # Each field a sensor reads exists in the telemetry model.
    for key in sensors - {"phase"}:
        field = re.fullmatch(r"\{\{ value_json\.(\w+) \}\}", components[key]["value_template"])
        assert field is not None
        assert field.group(1) in Telemetry.model_fields
    # What a button press would send (rendered the way Home Assistant would) is a valid command.
    stop = components["stop"]
    assert stop["command_topic"] == f"{PREFIX}treadmill/tm1/command"
    rendered = (
        stop["command_template"]
        .replace("{{ value }}", stop["payload_press"])
        .replace("{{ now().timestamp() }}", "1764000000.25")
    )
    command = COMMAND_ADAPTER.validate_json(rendered)
    assert command.type == "stop"


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


async def test_payloads_for_the_wrong_treadmill_are_dropped_not_raised(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    async with running_bridge(settings_for(mosquitto), store, handler) as bridge:
        t = Telemetry(treadmill_id="tm1", phase="ramp", speed_kmh=1, allowed_speed_kmh=1, elapsed_s=1)
        bridge.publish_telemetry("tm2", t)
        bridge.treadmill_online("bad/id", True)
        assert store.outbox_count() == 0
