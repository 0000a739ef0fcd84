"""Home Assistant device-based MQTT discovery: one retained message per treadmill.

Format: `<discovery_prefix>/device/<object_id>/config` with `dev` (device), `o` (origin) and `cmps`
(components, each with its platform in `p`). Both the service's and the treadmill's availability topics
are listed with mode `all`, so entities go unavailable when either the service or the treadmill does.
"""

from __future__ import annotations

from typing import Any

from retrowalk import __version__
from retrowalk.mqtt.topics import Topics

# (key, name, json field, device class, unit); all read from the telemetry topic.
_TELEMETRY_SENSORS: tuple[tuple[str, str, str, str | None, str | None], ...] = (
    ("speed", "Speed", "speed_kmh", "speed", "km/h"),
    ("allowed_speed", "Allowed speed", "allowed_speed_kmh", "speed", "km/h"),
    ("distance", "Distance", "distance_m", "distance", "m"),
    ("elapsed", "Elapsed time", "elapsed_s", "duration", "s"),
    ("remaining", "Remaining time", "remaining_s", "duration", "s"),
    ("heart_rate", "Heart rate", "heart_rate_bpm", None, "bpm"),
)
_BUTTONS: tuple[tuple[str, str], ...] = (("stop", "Stop"), ("pause", "Pause"))


def discovery_payload(topics: Topics, treadmill_id: str, *, name: str | None = None) -> dict[str, Any]:
    object_id = f"retrowalk_{treadmill_id}"
    components: dict[str, dict[str, Any]] = {}
    for key, label, field, device_class, unit in _TELEMETRY_SENSORS:
        sensor: dict[str, Any] = {
            "p": "sensor",
            "name": label,
            "unique_id": f"{object_id}_{key}",
            "state_topic": topics.treadmill(treadmill_id, "telemetry"),
            # A null field renders as "None", which Home Assistant shows as unknown.
            "value_template": f"{{{{ value_json.{field} }}}}",
            "unit_of_measurement": unit,
            "state_class": "measurement",
        }
        if device_class is not None:
            sensor["device_class"] = device_class
        components[key] = sensor
    components["phase"] = {
        "p": "sensor",
        "name": "Phase",
        "unique_id": f"{object_id}_phase",
        "state_topic": topics.treadmill(treadmill_id, "state"),
        "value_template": "{{ value_json.phase }}",
    }
    for key, label in _BUTTONS:
        components[key] = {
            "p": "button",
            "name": label,
            "unique_id": f"{object_id}_{key}",
            "command_topic": topics.treadmill(treadmill_id, "command"),
            "payload_press": key,
            # Every press needs a fresh command_id, or the bridge would answer the second press with the
            # stored reply of the first and do nothing.
            "command_template": (
                '{"command_id": "ha-{{ value }}-{{ now().timestamp() }}", "type": "{{ value }}"}'
            ),
            "retain": False,
        }
    return {
        "dev": {
            "ids": [object_id],
            "name": name or f"Treadmill {treadmill_id}",
            "mf": "retrowalk",
            "mdl": "FTMS treadmill (backward walking)",
        },
        "o": {"name": "retrowalk", "sw": __version__},
        "cmps": components,
        "availability": [
            {"topic": topics.service_availability},
            {"topic": topics.treadmill(treadmill_id, "availability")},
        ],
        "availability_mode": "all",
        "qos": 1,
    }
