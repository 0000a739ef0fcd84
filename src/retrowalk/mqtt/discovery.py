"""Home Assistant device-based MQTT discovery: one retained message per treadmill.

Format: `<discovery_prefix>/device/<object_id>/config` with `dev` (device), `o` (origin) and `cmps`
(components, each with its platform in `p`). Both the service's and the treadmill's availability topics
are listed at the device level with mode `all`, so entities go unavailable when either the service or the
treadmill does; the entities the service alone knows (see `_READABLE_WITHOUT_TREADMILL`) name only the
service's availability, which Home Assistant then uses instead of the device's.

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
StateClass = Literal["measurement", "total", "total_increasing"]
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


class HaAvailability(_Ha):
    topic: str


class _Component(_Ha):
    name: str
    unique_id: str
    object_id: str = Field(description="makes the entity id; from the treadmill id, never renamed")
    icon: str | None = None
    entity_category: EntityCategory | None = None
    qos: Literal[1] = 1
    availability: list[HaAvailability] | None = Field(
        default=None, description="replaces the device's availability for this entity alone"
    )


class HaSensor(_Component):
    p: Literal["sensor"] = "sensor"
    state_topic: str
    value_template: str
    unit_of_measurement: str | None = None
    device_class: str | None = None
    state_class: StateClass | None = None
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
    state_topic: str | None = Field(
        default=None, description="what the service holds; without it the number shows the value last sent"
    )


HaComponent = Annotated[
    HaSensor | HaBinarySensor | HaEvent | HaButton | HaSelect | HaNumber, Field(discriminator="p")
]


class HaDeviceDiscovery(_Ha):
    """The retained message on `<discovery_prefix>/device/retrowalk_<id>/config` (null fields omitted)."""

    dev: HaDevice
    o: HaOrigin = HaOrigin()
    cmps: dict[str, HaComponent]
    availability: list[HaAvailability]
    availability_mode: Literal["all", "any", "latest"] = "all"


def _in_session(field: str) -> str:
    """A figure that means something only while a session runs; outside one it renders "None" (unknown)."""
    return f"{{{{ value_json.{field} if value_json.session_id else None }}}}"


def _always(field: str) -> str:
    return f"{{{{ value_json.{field} }}}}"


@dataclass(frozen=True, slots=True)
class _SensorRow:
    """One sensor: which treadmill topic it reads (`telemetry`, `state`, `last_session`) and how."""

    key: str
    name: str
    topic: str
    value_template: str
    device_class: str | None = None
    unit: str | None = None
    state_class: StateClass | None = None
    precision: int | None = None
    icon: str | None = None
    category: EntityCategory | None = None
    options: tuple[str, ...] | None = None


# The live sensors, in the order Home Assistant lists them.
_LIVE_SENSORS: tuple[_SensorRow, ...] = (
    _SensorRow("speed", "Speed", "telemetry", _always("speed_kmh"), "speed", "km/h", "measurement", 1),
    _SensorRow("allowed_speed", "Allowed speed", "telemetry", _in_session("allowed_speed_kmh"), "speed",
               "km/h", None, 1, "mdi:speedometer-slow"),
    _SensorRow("incline", "Incline", "telemetry", _always("incline_pct"), None, "%", "measurement", 1,
               "mdi:slope-uphill"),
    _SensorRow("distance", "Distance", "telemetry", _in_session("distance_m"), "distance", "m", None, 0),
    _SensorRow("elapsed", "Walked time", "telemetry", _in_session("elapsed_s"), "duration", "s", None, 0,
               "mdi:timer-outline"),
    _SensorRow("remaining", "Remaining time", "telemetry", _in_session("remaining_s"), "duration", "s",
               None, 0, "mdi:timer-sand"),
    _SensorRow("heart_rate", "Heart rate", "telemetry", _in_session("heart_rate_bpm"), None, "bpm",
               "measurement", 0, "mdi:heart-pulse"),
    _SensorRow("phase", "Phase", "state", _always("phase"), "enum", icon="mdi:walk",
               options=tuple(phase.value for phase in Phase)),
    _SensorRow("walking", "Walking", "state", "{{ value_json.user_id if value_json.user_id else None }}",
               icon="mdi:account-arrow-left"),
)  # fmt: skip
# The latest session's summary (retained, so they have values after Home Assistant restarts), the session
# id and the latest refused command, after the problem sensor and the event entity.
_SUMMARY_SENSORS: tuple[_SensorRow, ...] = (
    _SensorRow("last_end_reason", "Last session end", "last_session", _always("end_reason"), "enum",
               icon="mdi:flag-checkered", options=tuple(reason.value for reason in EndReason)),
    _SensorRow("last_walked", "Last session walked time", "last_session", _always("walked_s"), "duration",
               "s", None, 0, "mdi:timer-check-outline"),
    _SensorRow("last_distance", "Last session distance", "last_session", _always("distance_m"), "distance",
               "m", None, 0),
    _SensorRow("last_top_speed", "Last session top speed", "last_session", _always("max_speed_kmh"),
               "speed", "km/h", None, 1),
    _SensorRow("last_ended", "Last session ended", "last_session", _always("ended_at"), "timestamp"),
    _SensorRow("last_overspeed", "Last session speed corrections", "last_session",
               _always("overspeed_corrections"), icon="mdi:speedometer", category="diagnostic"),
    _SensorRow("session_id", "Session id", "state",
               "{{ value_json.session_id if value_json.session_id else None }}", icon="mdi:identifier",
               category="diagnostic"),
    # A sensor's state holds at most 255 characters; every plain reason fits, the cut is a safety net.
    _SensorRow("last_refusal", "Last refusal", "last_refusal",
               "{{ (value_json.command_type ~ ': ' ~ value_json.reason)[:255] }}", icon="mdi:cancel"),
)  # fmt: skip
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
# What "unavailable" means: Home Assistant cannot know the value, or the command cannot act, now. Figures
# the treadmill reports (speed, incline, distance, times, heart rate) and the buttons that need its belt
# (Start, Pause, Resume) follow the device's availability (the service's and the treadmill's). What the
# service alone knows or does stays usable while the treadmill is gone, or the alert that the link was lost
# mid-session would be hidden exactly while it matters: the belt check, the phase, who is walking, the
# session events, the last session's summary and id, the latest refusal, the walker choice, the pain inputs
# (the service records those itself) and Stop (it ends the session even with the link down, and says to
# check the belt).
_READABLE_WITHOUT_TREADMILL: frozenset[str] = frozenset(
    {
        "check_belt",
        "phase",
        "walking",
        "event",
        *(row.key for row in _SUMMARY_SENSORS),
        "walker",
        *(f"pain_{when}" for when, _ in _PAIN),
        "stop",
    }
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

    command = topics.treadmill(treadmill_id, "command")

    def sensors(rows: tuple[_SensorRow, ...]) -> dict[str, HaSensor]:
        return {
            row.key: HaSensor(
                name=row.name,
                **ids(row.key),
                state_topic=topics.treadmill(treadmill_id, row.topic),
                value_template=row.value_template,
                unit_of_measurement=row.unit,
                device_class=row.device_class,
                state_class=row.state_class,
                suggested_display_precision=row.precision,
                options=list(row.options) if row.options is not None else None,
                icon=row.icon,
                entity_category=row.category,
            )
            for row in rows
        }

    components: dict[str, HaSensor | HaBinarySensor | HaEvent | HaButton | HaSelect | HaNumber] = {}
    components.update(sensors(_LIVE_SENSORS))
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
    components.update(sensors(_SUMMARY_SENSORS))
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
                # Only a "before" score waits in the service (for the next Start): the number shows it, and
                # unknown once a Start took it or it expired. The other two show the value last sent.
                state_topic=topics.treadmill(treadmill_id, "pain_before") if when == "before" else None,
            )
    service_only = [HaAvailability(topic=topics.service_availability)]
    for key in _READABLE_WITHOUT_TREADMILL & components.keys():
        components[key] = components[key].model_copy(update={"availability": service_only})
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
