"""A home user's whole session from a real Home Assistant core (2025.4.4): `retrowalk serve` against
`treadsim serve` and a real mosquitto, Home Assistant driven only through its REST API.

What this proves, beside the states Home Assistant shows: the broker receives every command Home
Assistant sends at QoS 1; entity ids do not depend on whether Home Assistant or retrowalk started first;
the sensors have values again right after Home Assistant restarts.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.mqtt.mqtt_broker import Mosquitto
from tests.service.harness import healthy_screening
from tests.service.served import BIN, reaped, retrowalk, treadsim_serving

from .home_assistant import (
    COMMANDS,
    HomeAssistant,
    ha_python,
    is_number,
    value,
    wait_until,
    write_home_config,
)

# Three Home Assistant starts (about 15 s each here) and a session: minutes on a shared machine.
pytestmark = [pytest.mark.slow, pytest.mark.homeassistant, pytest.mark.dbus, pytest.mark.timeout(900)]

REPLIES = "retrowalk/v1/treadmill/home/reply"
IN_SESSION = {"armed", "familiarise", "ramp", "steady", "cool_down"}


@dataclass
class BrokerWitness:
    """Subscribed at QoS 2 to the command and reply topics: a message arrives with the QoS it was
    published with (a subscription only ever lowers it), so this sees what the broker received."""

    commands: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_message(self, _client: Any, _userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            payload = json.loads(message.payload)
        except ValueError:
            payload = {"command_id": None, "type": None, "not JSON": message.payload.decode(errors="replace")}
        with self.lock:
            if message.topic == COMMANDS:
                self.commands.append((message.qos, payload))
            else:
                self.replies[payload["command_id"]] = payload

    def reply_to(self, command_type: str) -> dict[str, Any] | None:
        """The reply to the latest command of this type, once it came."""
        with self.lock:
            ids = [p["command_id"] for _, p in self.commands if p.get("type") == command_type]
            return self.replies.get(ids[-1]) if ids else None


@contextmanager
def broker_witness(port: int) -> Iterator[BrokerWitness]:
    witness = _witnessed
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="witness")
    client.on_message = witness.on_message
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe([(COMMANDS, 2), (REPLIES, 2)])
    assert subscribed.wait(10), "the witness could not subscribe"
    try:
        yield witness
    finally:
        client.loop_stop()
        client.disconnect()


_watched: list[HomeAssistant] = []
_witnessed = BrokerWitness()


def wait_for(what: str, check: Callable[[], Any], within_s: float = 60.0) -> Any:
    return wait_until(what, check, within_s, explain=everything_seen)


def everything_seen() -> str:
    seen = "\n".join(ha.diagnosis() for ha in _watched)
    return seen + f"\ncommands: {_witnessed.commands}\nreplies: {_witnessed.replies}"


def test_a_home_user_runs_a_session_from_home_assistant(mosquitto: Mosquitto, tmp_path: Path) -> None:
    python = ha_python()
    config = write_home_config(tmp_path, mosquitto.port)
    first = HomeAssistant(python, tmp_path / "ha-first")
    later = HomeAssistant(python, tmp_path / "ha-later")
    _watched[:] = [first, later]
    try:
        with treadsim_serving() as bus, broker_witness(mosquitto.port) as witness:
            # Home Assistant first: it sees the device announced live, before the treadmill's link is up.
            first.start()
            first.configure_mqtt(mosquitto.port)
            with reaped(retrowalk(["serve", "--config", str(config)], bus)) as serve:
                wait_for(
                    "retrowalk serve connected",
                    lambda: serve.poll() is not None or first.entity_ids("retrowalk"),
                )
                assert serve.poll() is None, serve.communicate()
                drive_a_session(first, witness, config, bus)
                first_ids = first.entity_ids("retrowalk_home")
                # A second Home Assistant started after retrowalk finds the same entity ids.
                later.start()
                later.configure_mqtt(mosquitto.port)
                wait_for(
                    "the same entities in the later Home Assistant",
                    lambda: later.entity_ids("retrowalk_home") == first_ids,
                )
                later.stop()
                # After a Home Assistant restart every sensor has a value at once (retained state).
                first.restart()
                after_restart(first)
                assert serve.poll() is None, "retrowalk serve exited"
                serve.terminate()
            # Every command Home Assistant sent reached the broker at QoS 1 and was accepted.
            assert witness.commands, "no commands seen"
            assert {qos for qos, _ in witness.commands} == {1}
            statuses = {
                p["command_id"]: witness.replies[p["command_id"]]["status"] for _, p in witness.commands
            }
            assert set(statuses.values()) == {"accepted"}, statuses
    finally:
        later.stop()
        first.stop()


def drive_a_session(ha: HomeAssistant, witness: BrokerWitness, config: Path, bus: str) -> None:
    phase = "sensor.retrowalk_home_phase"
    wait_for("the treadmill idle in Home Assistant", lambda: value(ha, phase) == "idle")
    device_named = ha.state("sensor.retrowalk_home_speed")
    assert device_named is not None
    assert device_named["attributes"]["friendly_name"] == "Walking pad Speed"
    # Nobody may be started yet: "me" has not answered the screening questions.
    assert ha.state("select.retrowalk_home_walker") is None
    assert ha.state("button.retrowalk_home_start") is None
    # Screening from Home Assistant (an automation or script does this with mqtt.publish, QoS 1).
    screening = {"command_id": "ha-screening-1", **healthy_screening("me")}
    ha.call("mqtt", "publish", topic=COMMANDS, payload=json.dumps(screening), qos=1)
    walker = wait_for("the walker select", lambda: ha.state("select.retrowalk_home_walker"))
    assert walker["attributes"]["options"] == ["me"]
    # The only walker who may start is chosen already (the service says so on the select's state topic).
    wait_for("the only walker chosen", lambda: value(ha, "select.retrowalk_home_walker") == "me")
    ha.call("select", "select_option", entity_id="select.retrowalk_home_walker", option="me")
    wait_for("the choice confirmed", lambda: witness.reply_to("select_walker"))
    assert value(ha, "select.retrowalk_home_walker") == "me"
    ha.call("number", "set_value", entity_id="number.retrowalk_home_pain_before", value=2)
    wait_for("pain before kept", lambda: witness.reply_to("walker_pain_report"))

    ha.call("button", "press", entity_id="button.retrowalk_home_start")
    wait_for("the session running", lambda: value(ha, phase) in IN_SESSION - {"armed"})
    wait_for("the belt moving", lambda: float(value(ha, "sensor.retrowalk_home_speed") or 0) > 0)
    assert value(ha, "sensor.retrowalk_home_walking") == "me"
    wait_for("a few seconds walked", lambda: float(value(ha, "sensor.retrowalk_home_elapsed") or 0) >= 3)
    ha.call("button", "press", entity_id="button.retrowalk_home_pause")
    wait_for("paused", lambda: value(ha, phase) == "paused")
    ha.call("button", "press", entity_id="button.retrowalk_home_resume")
    wait_for("walking again", lambda: value(ha, phase) in IN_SESSION - {"armed"})
    assert is_number(value(ha, "sensor.retrowalk_home_remaining"))
    ha.call("button", "press", entity_id="button.retrowalk_home_stop")
    wait_for("the session over", lambda: value(ha, "sensor.retrowalk_home_last_end_reason") == "kiosk_stop")
    ha.call("number", "set_value", entity_id="number.retrowalk_home_pain_after", value=1)
    wait_for(
        "pain after recorded",
        lambda: len([p for _, p in witness.commands if p["type"] == "walker_pain_report"]) == 2,
    )

    assert value(ha, phase) in ("finished", "idle")
    assert float(value(ha, "sensor.retrowalk_home_last_walked") or 0) >= 3
    assert is_number(value(ha, "sensor.retrowalk_home_last_top_speed"))
    assert value(ha, "binary_sensor.retrowalk_home_check_belt") == "off"
    event = ha.state("event.retrowalk_home_event")
    assert event is not None
    assert event["attributes"]["event_type"] in {"session_ended", "phase_changed"}
    # What an automation tells a repeated copy by (docs/getting-started-home.md, acting once per event).
    assert UUID(event["attributes"]["event_id"])
    # Figures with no meaning outside a session are unknown once it is over.
    wait_for("walked time unknown", lambda: value(ha, "sensor.retrowalk_home_elapsed") == "unknown")
    # Both pain reports are in the history, tied to the session Home Assistant started.
    shown = subprocess.run(
        [str(BIN / "retrowalk"), "user", "show", "--config", str(config), "--user", "me"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "pain before 2" in shown
    assert "after 1" in shown


def after_restart(ha: HomeAssistant) -> None:
    # The engine stays "finished" until the next start; either way the phase is known at once.
    wait_for("the device back", lambda: value(ha, "sensor.retrowalk_home_phase") in ("finished", "idle"))
    assert is_number(value(ha, "sensor.retrowalk_home_speed"))
    assert value(ha, "sensor.retrowalk_home_last_end_reason") == "kiosk_stop"
    assert is_number(value(ha, "sensor.retrowalk_home_last_walked"))
    assert value(ha, "binary_sensor.retrowalk_home_check_belt") == "off"
    assert value(ha, "select.retrowalk_home_walker") == "me"
