"""Home Assistant device-based MQTT discovery: one retained message per treadmill.

Format: `<discovery_prefix>/device/<object_id>/config` with `dev` (device), `o` (origin) and `cmps`
(components, each with its platform in `p`). Both the service's and the treadmill's availability topics
are listed with mode `all`, so entities go unavailable when either the service or the treadmill does.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

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
_BUTTON_TEMPLATE = '{"command_id": "ha-{{ value }}-{{ now().timestamp() }}", "type": "{{ value }}"}'


class _Ha(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HaDevice(_Ha):
    ids: list[str]
    name: str
    mf: str = "retrowalk"
    mdl: str = "FTMS treadmill (backward walking)"


class HaOrigin(_Ha):
    name: str = "retrowalk"
    sw: str = __version__


class HaSensor(_Ha):
    p: Literal["sensor"] = "sensor"
    name: str
    unique_id: str
    state_topic: str
    value_template: str
    unit_of_measurement: str | None = None
    device_class: str | None = None
    state_class: str | None = None


class HaButton(_Ha):
    p: Literal["button"] = "button"
    name: str
    unique_id: str
    command_topic: str
    payload_press: str
    command_template: str
    retain: bool = False


class HaAvailability(_Ha):
    topic: str


class HaDeviceDiscovery(_Ha):
    """The retained message on `<discovery_prefix>/device/retrowalk_<id>/config` (null fields omitted)."""

    dev: HaDevice
    o: HaOrigin = HaOrigin()
    cmps: dict[str, Annotated[HaSensor | HaButton, Field(discriminator="p")]]
    availability: list[HaAvailability]
    availability_mode: Literal["all", "any", "latest"] = "all"
    qos: int = 1


def discovery_payload(topics: Topics, treadmill_id: str, *, name: str | None = None) -> HaDeviceDiscovery:
    object_id = f"retrowalk_{treadmill_id}"
    components: dict[str, HaSensor | HaButton] = {}
    for key, label, field, device_class, unit in _TELEMETRY_SENSORS:
        components[key] = HaSensor(
            name=label,
            unique_id=f"{object_id}_{key}",
            state_topic=topics.treadmill(treadmill_id, "telemetry"),
            # A null field renders as "None", which Home Assistant shows as unknown.
            value_template=f"{{{{ value_json.{field} }}}}",
            unit_of_measurement=unit,
            device_class=device_class,
            state_class="measurement",
        )
    components["phase"] = HaSensor(
        name="Phase",
        unique_id=f"{object_id}_phase",
        state_topic=topics.treadmill(treadmill_id, "state"),
        value_template="{{ value_json.phase }}",
    )
    for key, label in _BUTTONS:
        components[key] = HaButton(
            name=label,
            unique_id=f"{object_id}_{key}",
            command_topic=topics.treadmill(treadmill_id, "command"),
            payload_press=key,
            # Every press needs a fresh command_id, or the bridge would answer the second press with the
            # stored reply of the first and do nothing.
            command_template=_BUTTON_TEMPLATE,
        )
    return HaDeviceDiscovery(
        dev=HaDevice(ids=[object_id], name=name or f"Treadmill {treadmill_id}"),
        cmps=components,
        availability=[
            HaAvailability(topic=topics.service_availability),
            HaAvailability(topic=topics.treadmill(treadmill_id, "availability")),
        ],
    )
