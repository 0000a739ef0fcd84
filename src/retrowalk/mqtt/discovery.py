"""Home Assistant device-based MQTT discovery: one retained message per treadmill.

Format: `<discovery_prefix>/device/<object_id>/config` with `dev` (device), `o` (origin) and `cmps`
(components, each with its platform in `p`). Both the service's and the treadmill's availability topics
are listed with mode `all`, so entities go unavailable when either the service or the treadmill does.

Home Assistant's conventions this follows (checked against its own discovery schemas by a test):
- Only availability, state and command topics are inherited from the device level; `qos` is not, so
  every component names QoS 1 itself (commands must not be lost on the way to the service).
- Entity ids are made once, at first discovery, from `object_id`; ours come from the treadmill id, so
  they do not depend on the device name or on which of Home Assistant and retrowalk started first.
- Values with no meaning outside a session render as ``None``, which Home Assistant shows as unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from retrowalk import __version__
from retrowalk.mqtt.payloads import EventPayload
from retrowalk.mqtt.topics import Topics
from retrowalk.session.events import EndReason
from retrowalk.session.table import Phase

__all__ = [
    "EVENT_KINDS",
    "DeviceFacts",
    "EntityCategory",
    "HaAvailability",
    "HaBinarySensor",
    "HaButton",
    "HaComponent",
    "HaDevice",
    "HaDeviceDiscovery",
    "HaEvent",
    "HaNumber",
    "HaOrigin",
    "HaSelect",
    "HaSensor",
    "discovery_payload",
]

EntityCategory = Literal["diagnostic", "config"]
# A figure that means something only while a session runs; outside one it renders "None" (unknown).
_IN_SESSION = "{{{{ value_json.{field} if value_json.session_id else None }}}}"
_ALWAYS = "{{{{ value_json.{field} }}}}"
# Every press needs a fresh command_id, or the bridge would answer the second press with the stored reply
# of the first and do nothing.
_FRESH_ID = '"command_id": "ha-{key}-{{{{ now().timestamp() }}}}"'
# The kinds the event entity announces: every event the service publishes on the event topic.
EVENT_KINDS: tuple[str, ...] = tuple(
    sorted(str(t.model_fields["kind"].default) for t in EventPayload.__args__)
)


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """What the configuration says about one treadmill, for its Home Assistant device."""

    label: str | None = None
    area: str | None = None
    kiosk_url: str | None = None


class _Ha(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HaDevice(_Ha):
    ids: list[str]
    name: str
    mf: str = "retrowalk"
    mdl: str = "FTMS treadmill (backward walking)"
    sw: str = __version__
    cu: str | None = Field(default=None, description="configuration_url: the treadmill's kiosk page")
    sa: str | None = Field(default=None, description="suggested_area")


class HaOrigin(_Ha):
    name: str = "retrowalk"
    sw: str = __version__


class _Component(_Ha):
    name: str
    unique_id: str
    object_id: str = Field(description="makes the entity id; from the treadmill id, never renamed")
    icon: str | None = None
    entity_category: EntityCategory | None = None
    qos: Literal[1] = 1


class HaSensor(_Component):
    p: Literal["sensor"] = "sensor"
    state_topic: str
    value_template: str
    unit_of_measurement: str | None = None
    device_class: str | None = None
    state_class: Literal["measurement", "total", "total_increasing"] | None = None
    suggested_display_precision: int | None = None
    options: list[str] | None = Field(default=None, description="the values of an enum sensor")


class HaBinarySensor(_Component):
    p: Literal["binary_sensor"] = "binary_sensor"
    state_topic: str
    value_template: str
    device_class: str | None = None
    json_attributes_topic: str | None = None
    json_attributes_template: str | None = None


class HaEvent(_Component):
    p: Literal["event"] = "event"
    state_topic: str
    value_template: str
    event_types: list[str]


class HaButton(_Component):
    p: Literal["button"] = "button"
    command_topic: str
    payload_press: str
    command_template: str
    retain: Literal[False] = False


class HaSelect(_Component):
    p: Literal["select"] = "select"
    command_topic: str
    command_template: str
    state_topic: str
    options: list[str]
    retain: Literal[False] = False


class HaNumber(_Component):
    p: Literal["number"] = "number"
    command_topic: str
    command_template: str
    min: float
    max: float
    step: float
    mode: Literal["auto", "box", "slider"] = "box"
    retain: Literal[False] = False


HaComponent = Annotated[
    HaSensor | HaBinarySensor | HaEvent | HaButton | HaSelect | HaNumber, Field(discriminator="p")
]


class HaAvailability(_Ha):
    topic: str


class HaDeviceDiscovery(_Ha):
    """The retained message on `<discovery_prefix>/device/retrowalk_<id>/config` (null fields omitted)."""

    dev: HaDevice
    o: HaOrigin = HaOrigin()
    cmps: dict[str, HaComponent]
    availability: list[HaAvailability]
    availability_mode: Literal["all", "any", "latest"] = "all"


# (key, name, json field, device class, unit, state class, precision, icon, only in a session)
_TELEMETRY: tuple[tuple[str, str, str, str | None, str | None, str | None, int, str | None, bool], ...] = (
    ("speed", "Speed", "speed_kmh", "speed", "km/h", "measurement", 1, None, False),
    ("allowed_speed", "Allowed speed", "allowed_speed_kmh", "speed", "km/h", None, 1, "mdi:speedometer-slow",
     True),
    ("incline", "Incline", "incline_pct", None, "%", "measurement", 1, "mdi:slope-uphill", False),
    ("distance", "Distance", "distance_m", "distance", "m", None, 0, None, True),
    ("elapsed", "Walked time", "elapsed_s", "duration", "s", None, 0, "mdi:timer-outline", True),
    ("remaining", "Remaining time", "remaining_s", "duration", "s", None, 0, "mdi:timer-sand", True),
    ("heart_rate", "Heart rate", "heart_rate_bpm", None, "bpm", "measurement", 0, "mdi:heart-pulse", True),
)  # fmt: skip
# (key, name, summary field, device class, unit, precision, icon)
_LAST_SESSION: tuple[tuple[str, str, str, str | None, str | None, int | None, str | None], ...] = (
    ("last_walked", "Last session walked time", "walked_s", "duration", "s", 0, "mdi:timer-check-outline"),
    ("last_distance", "Last session distance", "distance_m", "distance", "m", 0, None),
    ("last_top_speed", "Last session top speed", "max_speed_kmh", "speed", "km/h", 1, None),
    ("last_ended", "Last session ended", "ended_at", "timestamp", None, None, None),
)
# (key, name, payload, icon); never a speed: Home Assistant does not set speeds.
_BUTTONS: tuple[tuple[str, str, str, str], ...] = (
    ("start", "Start", "start_walker", "mdi:play"),
    ("pause", "Pause", "pause", "mdi:pause"),
    ("resume", "Resume", "resume", "mdi:play-pause"),
    ("stop", "Stop", "stop", "mdi:stop"),
)
_PAIN: tuple[tuple[str, str], ...] = (
    ("before", "Pain before"),
    ("after", "Pain after"),
    ("next_morning", "Pain next morning"),
)


def discovery_payload(
    topics: Topics,
    treadmill_id: str,
    facts: DeviceFacts = DeviceFacts(),
    walkers: Sequence[str] = (),
) -> HaDeviceDiscovery:
    """The device for one treadmill; `walkers` are the people Home Assistant may start (none: no walker
    select, no Start button and no pain inputs, which all need a chosen walker)."""
    object_id = f"retrowalk_{treadmill_id}"

    def ids(key: str) -> dict[str, str]:
        return {"unique_id": f"{object_id}_{key}", "object_id": f"{object_id}_{key}"}

    telemetry = topics.treadmill(treadmill_id, "telemetry")
    last_session = topics.treadmill(treadmill_id, "last_session")
    command = topics.treadmill(treadmill_id, "command")
    components: dict[str, HaSensor | HaBinarySensor | HaEvent | HaButton | HaSelect | HaNumber] = {}
    for key, name, field, device_class, unit, state_class, precision, icon, in_session in _TELEMETRY:
        components[key] = HaSensor(
            name=name,
            **ids(key),
            state_topic=telemetry,
            value_template=(_IN_SESSION if in_session else _ALWAYS).format(field=field),
            unit_of_measurement=unit,
            device_class=device_class,
            state_class=state_class,
            suggested_display_precision=precision,
            icon=icon,
        )
    components["phase"] = HaSensor(
        name="Phase",
        **ids("phase"),
        state_topic=topics.treadmill(treadmill_id, "state"),
        value_template="{{ value_json.phase }}",
        device_class="enum",
        options=[phase.value for phase in Phase],
        icon="mdi:walk",
    )
    components["walking"] = HaSensor(
        name="Walking",
        **ids("walking"),
        state_topic=topics.treadmill(treadmill_id, "state"),
        value_template="{{ value_json.user_id if value_json.user_id else None }}",
        icon="mdi:account-arrow-left",
    )
    components["check_belt"] = HaBinarySensor(
        name="Check the belt",
        **ids("check_belt"),
        state_topic=topics.treadmill(treadmill_id, "attention"),
        value_template="{{ 'ON' if value_json.check_belt else 'OFF' }}",
        device_class="problem",
        json_attributes_topic=topics.treadmill(treadmill_id, "attention"),
        json_attributes_template="{{ {'detail': value_json.detail, 'since': value_json.since} | tojson }}",
    )
    components["event"] = HaEvent(
        name="Session event",
        **ids("event"),
        state_topic=topics.treadmill(treadmill_id, "event"),
        # Home Assistant wants the kind in `event_type`; the other fields become the event's attributes.
        value_template="{{ dict(value_json, event_type=value_json.kind) | tojson }}",
        event_types=list(EVENT_KINDS),
        icon="mdi:bell-alert-outline",
    )
    components["last_end_reason"] = HaSensor(
        name="Last session end",
        **ids("last_end_reason"),
        state_topic=last_session,
        value_template="{{ value_json.end_reason }}",
        device_class="enum",
        options=[reason.value for reason in EndReason],
        icon="mdi:flag-checkered",
    )
    for key, name, field, device_class, unit, digits, icon in _LAST_SESSION:
        components[key] = HaSensor(
            name=name,
            **ids(key),
            state_topic=last_session,
            value_template=f"{{{{ value_json.{field} }}}}",
            unit_of_measurement=unit,
            device_class=device_class,
            suggested_display_precision=digits,
            icon=icon,
        )
    components["last_overspeed"] = HaSensor(
        name="Last session speed corrections",
        **ids("last_overspeed"),
        state_topic=last_session,
        value_template="{{ value_json.overspeed_corrections }}",
        entity_category="diagnostic",
        icon="mdi:speedometer",
    )
    components["session_id"] = HaSensor(
        name="Session id",
        **ids("session_id"),
        state_topic=topics.treadmill(treadmill_id, "state"),
        value_template="{{ value_json.session_id if value_json.session_id else None }}",
        entity_category="diagnostic",
        icon="mdi:identifier",
    )
    for key, name, payload, icon in _BUTTONS:
        if key == "start" and not walkers:
            continue
        components[key] = HaButton(
            name=name,
            **ids(key),
            command_topic=command,
            payload_press=payload,
            command_template="{" + _FRESH_ID.format(key=key) + ', "type": "{{ value }}"}',
            icon=icon,
        )
    if walkers:
        components["walker"] = HaSelect(
            name="Walker",
            **ids("walker"),
            command_topic=command,
            command_template="{"
            + _FRESH_ID.format(key="walker")
            + ', "type": "select_walker", "user_id": {{ value | tojson }}}',
            state_topic=topics.treadmill(treadmill_id, "walker"),
            options=list(walkers),
            icon="mdi:account",
        )
        for when, name in _PAIN:
            components[f"pain_{when}"] = HaNumber(
                name=name,
                **ids(f"pain_{when}"),
                command_topic=command,
                command_template="{"
                + _FRESH_ID.format(key=f"pain-{when}")
                + f', "type": "walker_pain_report", "when": "{when}", "pain": {{{{ value | int }}}}}}',
                min=0,
                max=10,
                step=1,
                icon="mdi:emoticon-sad-outline",
            )
    return HaDeviceDiscovery(
        dev=HaDevice(
            ids=[object_id],
            name=facts.label or f"Treadmill {treadmill_id}",
            cu=facts.kiosk_url,
            sa=facts.area,
        ),
        cmps=components,
        availability=[
            HaAvailability(topic=topics.service_availability),
            HaAvailability(topic=topics.treadmill(treadmill_id, "availability")),
        ],
    )
