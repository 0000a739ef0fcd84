"""What a home user sees in a real Home Assistant core (2025.4.4) when things go wrong or wait: *Check the
belt* stays on (not unavailable with the treadmill) while the treadmill's Bluetooth link is down during a
session, and the guide's notification automation fires once per loss; a refused pain input shows in
*Last refusal*; *Pain before* shows the score kept for the next Start, and unknown once Start took it."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.mqtt.mqtt_broker import Mosquitto
from tests.service.harness import healthy_screening
from tests.service.served import reaped, retrowalk, treadsim, treadsim_serving

from .home_assistant import COMMANDS, HomeAssistant, ha_python, is_number, value, write_home_config
from .test_real_home_assistant import IN_SESSION, _watched, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.homeassistant, pytest.mark.dbus, pytest.mark.timeout(600)]

CHECK_BELT = "binary_sensor.retrowalk_home_check_belt"
PHASE = "sensor.retrowalk_home_phase"
SPEED = "sensor.retrowalk_home_speed"
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "getting-started-home.md"
COUNTER = "counter.belt_alerts"


def the_guides_automation_counting() -> str:
    """configuration.yaml lines: the guide's belt-check automation as written, its notification replaced
    by counting in a counter (Home Assistant has no phone here)."""
    after = GUIDE.read_text(encoding="utf-8").split("**A notification when the belt needs checking**", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", after, re.DOTALL)
    assert block is not None, "the guide has no belt-check automation"
    triggers, _actions = block.group(1).split("actions:\n", 1)
    assert CHECK_BELT in triggers
    automation = (
        triggers + f"actions:\n  - action: counter.increment\n    target:\n      entity_id: {COUNTER}\n"
    )
    as_item = "\n".join(
        ("  - " if i == 0 else "    ") + line for i, line in enumerate(automation.splitlines())
    )
    return f"counter:\n  belt_alerts:\n    initial: 0\nautomation:\n{as_item}\n"


def test_check_the_belt_stays_on_while_the_link_is_down(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = write_home_config(tmp_path, mosquitto.port)
    ha = HomeAssistant(ha_python(), tmp_path / "ha", extra_config=the_guides_automation_counting())
    _watched[:] = [ha]
    try:
        with treadsim_serving() as bus:
            ha.start()
            ha.configure_mqtt(mosquitto.port)
            with reaped(retrowalk(["serve", "--config", str(config)], bus)) as serve:
                wait_for("the treadmill idle in Home Assistant", lambda: value(ha, PHASE) == "idle")
                screening = {"command_id": "ha-screening-1", **healthy_screening("me")}
                ha.call("mqtt", "publish", topic=COMMANDS, payload=json.dumps(screening), qos=1)
                wait_for("the only walker chosen", lambda: value(ha, "select.retrowalk_home_walker") == "me")
                # A refused input is shown: no session to report pain after yet.
                ha.call("number", "set_value", entity_id="number.retrowalk_home_pain_after", value=3)
                wait_for(
                    "the refusal shown",
                    lambda: (value(ha, "sensor.retrowalk_home_last_refusal") or "").startswith(
                        "walker_pain_report: "
                    ),
                )
                # In the code's plain words: the retained topic names neither the walker nor the score.
                assert value(ha, "sensor.retrowalk_home_last_refusal") == (
                    "walker_pain_report: no session to record this for: nothing recorded"
                )
                # *Pain before* shows the score kept for the next Start, and nothing once Start took it.
                pain_before = "number.retrowalk_home_pain_before"
                assert value(ha, pain_before) == "unknown"
                ha.call("number", "set_value", entity_id=pain_before, value=2)
                wait_for("the before score kept", lambda: is_number(value(ha, pain_before)))
                assert float(value(ha, pain_before) or 0) == 2
                ha.call("button", "press", entity_id="button.retrowalk_home_start")
                wait_for("the before score taken", lambda: value(ha, pain_before) == "unknown")
                wait_for("the belt moving", lambda: float(value(ha, SPEED) or 0) > 0)
                assert value(ha, CHECK_BELT) == "off"
                assert value(ha, COUNTER) == "0"

                # The link drops and the treadmill refuses to connect again: the outage lasts.
                assert treadsim("console", "link", "refuse", bus=bus)["ok"]
                assert treadsim("console", "link", "drop", bus=bus)["ok"]
                wait_for("the treadmill's figures unavailable", lambda: value(ha, SPEED) == "unavailable")
                wait_for("the belt alert on", lambda: value(ha, CHECK_BELT) == "on")
                alert = ha.state(CHECK_BELT)
                assert alert is not None
                assert "link was lost" in alert["attributes"]["detail"]
                # Still on, and the phase still readable, well into the outage.
                time.sleep(3)
                assert value(ha, SPEED) == "unavailable"
                assert value(ha, CHECK_BELT) == "on"
                assert value(ha, PHASE) not in ("unavailable", "unknown", None)
                # Stop still works from Home Assistant: it ends the session, and the belt check stays on.
                ha.call("button", "press", entity_id="button.retrowalk_home_stop")
                wait_for(
                    "the session stopped",
                    lambda: value(ha, "sensor.retrowalk_home_last_end_reason") == "kiosk_stop",
                )
                assert value(ha, CHECK_BELT) == "on"

                # Back in range; the belt is stopped at the console (whoever checks it) or by retrowalk.
                assert treadsim("console", "link", "accept", bus=bus)["ok"]
                wait_for("the treadmill back", lambda: value(ha, SPEED) not in ("unavailable", None))
                if treadsim("state", bus=bus)["belt"] == "running":
                    treadsim("console", "press", "stop", bus=bus)
                wait_for("the belt alert off", lambda: value(ha, CHECK_BELT) == "off", within_s=90)
                assert value(ha, PHASE) not in IN_SESSION
                # The guide's automation fired once for this loss: not again when the treadmill came back.
                assert value(ha, COUNTER) == "1"
                assert serve.poll() is None, "retrowalk serve exited"
                serve.terminate()
    finally:
        ha.stop()
