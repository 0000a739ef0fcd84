"""Every discovery payload retrowalk publishes, checked by Home Assistant's own discovery schemas (in its
own environment: it cannot be imported into retrowalk's)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from retrowalk.mqtt.discovery import DeviceFacts, discovery_payload
from retrowalk.mqtt.topics import Topics

from .home_assistant import ha_python

pytestmark = [pytest.mark.slow, pytest.mark.homeassistant]

VALIDATOR = Path(__file__).with_name("validate_discovery.py")


def problems(payloads: list[dict[str, Any]]) -> list[str]:
    """What Home Assistant's schemas say about these payloads (nothing when they pass)."""
    checked = subprocess.run(
        [str(ha_python()), str(VALIDATOR)],
        input=json.dumps(payloads),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert checked.returncode in (0, 1), checked.stderr
    return checked.stdout.splitlines()


def as_published(topics: Topics, treadmill_id: str, facts: DeviceFacts, walkers: tuple[str, ...]) -> Any:
    # Exactly what the bridge sends: null fields left out.
    return json.loads(
        discovery_payload(topics, treadmill_id, facts, walkers).model_dump_json(exclude_none=True)
    )


def test_home_assistant_accepts_every_discovery_payload() -> None:
    default = Topics("retrowalk/v1/", "homeassistant", "home")
    other = Topics("gym/rw/", "ha-discovery", "gym-a")
    everything = DeviceFacts(
        label="Walking pad in the spare room", area="Spare room", kiosk_url="https://kiosk.local/tm1"
    )
    payloads = [
        as_published(default, "home", DeviceFacts(), ()),
        as_published(default, "home", everything, ("me",)),
        as_published(
            other, "tm-2", DeviceFacts(label="Treadmill 2 by the window"), ("ann", "bo", "Élise K.")
        ),
    ]
    assert problems(payloads) == []
    # The check can fail: an enum sensor with a state class, and an option Home Assistant does not know.
    broken = as_published(default, "home", everything, ("me",))
    broken["cmps"]["phase"]["state_class"] = "measurement"
    broken["cmps"]["stop"]["qos_level"] = 1
    found = problems([broken])
    assert [line.split(":")[0] for line in found] == ["phase (sensor)", "stop (button)"]
