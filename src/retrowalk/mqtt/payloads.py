"""Every payload the bridge publishes, as pydantic models (the JSON Schemas in docs/schemas come from here).

Phases and end reasons are plain strings on the wire so that the engine can add values without breaking
consumers; the engine's enums (`retrowalk.session.events`) serialise to the same strings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal, assert_never
from uuid import UUID, uuid4

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    computed_field,
)

from retrowalk.errors import RefusalCode
from retrowalk.session.events import EndReason

__all__ = [
    "HEART_RATE_MAX",
    "KMH_MAX",
    "PHASE_PATTERN",
    "TREADMILL_ID_PATTERN",
    "Attention",
    "Availability",
    "CapWarning",
    "EndReasonName",
    "Event",
    "EventPayload",
    "GridFitInfo",
    "Kmh",
    "LinkLost",
    "Metres",
    "OrphanedBeltStopped",
    "OverspeedCorrected",
    "Percent",
    "PhaseChanged",
    "PhaseName",
    "PlanInfo",
    "Refusal",
    "SafetyKeyPulled",
    "Seconds",
    "SessionEnded",
    "SessionStarted",
    "SessionSummary",
    "StopNotConfirmed",
    "Telemetry",
    "TreadmillId",
    "TreadmillState",
    "UserId",
    "kmh_text",
    "plain_refusal",
    "utc_now",
]

# A treadmill id becomes a topic level: no '/', '+', '#', and short enough for client ids and ACLs.
TREADMILL_ID_PATTERN = r"[A-Za-z0-9_-]{1,64}"
TreadmillId = Annotated[str, StringConstraints(pattern=f"^{TREADMILL_ID_PATTERN}$")]


def _unpadded(name: str) -> str:
    if name != name.strip():
        raise ValueError("must not be blank or begin or end with a space (' ann' and 'ann' are two people)")
    return name


# A person's name as the history keeps it: 1-64 characters, no control characters, not blank or padded.
UserId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$"), AfterValidator(_unpadded)
]
PHASE_PATTERN = r"[a-z_]{1,32}"
PhaseName = Annotated[str, StringConstraints(pattern=f"^{PHASE_PATTERN}$")]


def _to(digits: int) -> AfterValidator:
    """Round to what the value means: the engine's clock and sums carry float noise (7.860000000000001 s)
    that a kiosk would otherwise show, and no figure is known better than the treadmill reports it."""
    return AfterValidator(lambda value: round(value, digits))


# FTMS reports speed in 0.01 km/h, incline in 0.1 % and distance in whole metres; times are shown to 0.1 s.
# No figure may be NaN or infinite: pydantic would publish either as null, which the schema refuses.
# The ranges are named for `telemetry_wire`, whose encoder checks the same ones without pydantic.
KMH_MAX = 30  # an int, as the published JSON schemas write it ("maximum": 30)
HEART_RATE_MAX = 255
Kmh = Annotated[float, Field(ge=0, le=KMH_MAX, allow_inf_nan=False), _to(2)]
Percent = Annotated[float, Field(allow_inf_nan=False), _to(1)]
Metres = Annotated[float, Field(ge=0, allow_inf_nan=False), _to(0)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False), _to(1)]
# A plain string on the wire (see above); the description lists today's values for consumers.
EndReasonName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z_]{1,40}$"),
    Field(
        description="why the session ended (docs/safety.md; more values may be added): "
        + ", ".join(reason.value for reason in EndReason)
    ),
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def kmh_text(kmh: float) -> str:
    """A speed as a person is shown it: to 0.1 km/h as plans write it, and to the hundredth when it is
    off that grid (a treadmill's 0.96 km/h), rather than rounded up to a speed faster than the belt runs."""
    return f"{kmh:.1f}" if round(kmh * 100) % 10 == 0 else f"{kmh:.2f}"


class _Payload(BaseModel):
    # Published payloads are built by our own code: unknown fields there are bugs, so forbid them too.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Availability(RootModel[Literal["online", "offline"]]):
    """Retained availability of the service or of one treadmill, a bare string (Home Assistant's default
    `payload_available`/`payload_not_available`)."""


class GridFitInfo(_Payload):
    """How a plan was fitted to a treadmill whose speed increment is coarser than the plan's 0.1 km/h."""

    speed_step_kmh: Annotated[Kmh, Field(description="the treadmill's speed increment")]
    asked_start_speed_kmh: Annotated[Kmh, Field(description="the start speed before fitting")]
    asked_max_speed_kmh: Annotated[Kmh, Field(description="the top speed before fitting")]
    changes: list[Annotated[str, StringConstraints(max_length=200)]] = Field(
        description="one sentence per fitted value: what it was, what it is, and why"
    )

    def lines(self) -> list[str]:
        """What a terminal or a kiosk shows under the plan: a heading, then one indented line per change."""
        return [
            f"the plan was fitted to the treadmill's {self.speed_step_kmh} km/h speed steps:",
            *(f"  {change}" for change in self.changes),
        ]


class PlanInfo(_Payload):
    """The plan a session runs under, as enforced (after the operator ceilings were applied, and fitted to
    the treadmill's speed grid)."""

    start_speed_kmh: Kmh
    max_speed_kmh: Annotated[
        Kmh,
        Field(
            description="the fastest the plan's ramp allows before duration_cap_s: its target speed, or "
            "the last step before the cap when the session ends before the ramp gets there"
        ),
    ]
    # A fitted ramp steps by the treadmill's increment, at a stretched interval (docs/safety.md).
    ramp_step_kmh: Annotated[float, Field(ge=0, le=30), _to(2)]
    ramp_interval_s: Annotated[int, Field(ge=0, le=24 * 3600)]
    duration_cap_s: Annotated[int, Field(ge=0, le=3 * 3600)]
    incline_pct: Annotated[float, Field(ge=-10, le=20), _to(1)] = 0.0
    fitted_to_grid: GridFitInfo | None = Field(
        default=None,
        description="present when the plan was fitted to the treadmill's coarse speed grid: what changed "
        "and why",
    )


class TreadmillState(_Payload):
    """Retained state of one treadmill: what a kiosk shows when it (re)connects."""

    treadmill_id: TreadmillId
    connected: bool = Field(description="the Bluetooth link to the treadmill is up")
    phase: PhaseName
    session_id: str | None = None
    user_id: UserId | None = None
    plan: PlanInfo | None = None
    updated_at: datetime = Field(default_factory=utc_now)


class Telemetry(_Payload):
    """One sample at the treadmill's rate (QoS 0, not retained, dropped while the broker is away)."""

    treadmill_id: TreadmillId
    at: datetime = Field(default_factory=utc_now)
    phase: PhaseName
    session_id: str | None = None
    speed_kmh: Kmh
    allowed_speed_kmh: Kmh = Field(description="the fastest the plan allows right now")
    incline_pct: Percent | None = None
    distance_m: Metres | None = None
    elapsed_s: Seconds
    remaining_s: Seconds | None = None
    heart_rate_bpm: Annotated[int, Field(ge=0, le=HEART_RATE_MAX)] | None = None


class _EventBase(_Payload):
    # The id is made when the event is created, stored with it in the outbox and re-sent unchanged on
    # every retry: consumers drop a second copy by this id.
    event_id: UUID = Field(default_factory=uuid4)
    treadmill_id: TreadmillId
    session_id: str | None = None
    at: datetime = Field(default_factory=utc_now)


class SessionStarted(_EventBase):
    kind: Literal["session_started"] = "session_started"
    user_id: UserId
    plan: PlanInfo


class PhaseChanged(_EventBase):
    kind: Literal["phase_changed"] = "phase_changed"
    from_phase: PhaseName
    to_phase: PhaseName


class OverspeedCorrected(_EventBase):
    kind: Literal["overspeed_corrected"] = "overspeed_corrected"
    measured_kmh: Kmh | None = Field(
        description="the belt's last measured speed when retrowalk corrected it; null when the belt had "
        "not been measured yet"
    )
    allowed_kmh: Kmh
    commanded_kmh: Kmh = Field(description="the speed retrowalk set to correct it")
    console_target_kmh: Kmh | None = Field(
        default=None,
        description="the speed keyed in at the treadmill's console when that triggered the correction; "
        "null when the belt's measured speed did",
    )

    def sentence(self) -> str:
        """What happened, for a person reading a terminal (the session command and the demo print it)."""
        corrected = (
            f"above the allowed {self.allowed_kmh:.1f} km/h; retrowalk set it back to "
            f"{self.commanded_kmh:.1f} km/h"
        )
        belt = "not measured yet" if self.measured_kmh is None else f"{self.measured_kmh:.1f} km/h"
        if self.console_target_kmh is not None:
            keyed = f"the console was set to {self.console_target_kmh:.1f} km/h"
            return f"{keyed}, {corrected} (the belt: {belt})"
        return f"the belt ran {belt}, {corrected}"


class CapWarning(_EventBase):
    kind: Literal["cap_warning"] = "cap_warning"
    remaining_s: Annotated[int, Field(ge=0)]


class SessionEnded(_EventBase):
    kind: Literal["session_ended"] = "session_ended"
    reason: EndReasonName
    detail: str | None = None


class LinkLost(_EventBase):
    kind: Literal["link_lost"] = "link_lost"
    detail: str | None = None


class SafetyKeyPulled(_EventBase):
    kind: Literal["safety_key"] = "safety_key"


class OrphanedBeltStopped(_EventBase):
    kind: Literal["orphaned_belt_stopped"] = "orphaned_belt_stopped"
    speed_kmh: Kmh = Field(description="belt speed seen before retrowalk stopped it")


class StopNotConfirmed(_EventBase):
    """The treadmill did not confirm a stop: a person must check the belt."""

    kind: Literal["stop_not_confirmed"] = "stop_not_confirmed"
    detail: str


EventPayload = (
    SessionStarted
    | PhaseChanged
    | OverspeedCorrected
    | CapWarning
    | SessionEnded
    | LinkLost
    | SafetyKeyPulled
    | OrphanedBeltStopped
    | StopNotConfirmed
)


class Event(RootModel[Annotated[EventPayload, Field(discriminator="kind")]]):
    """Any event, told apart by `kind` (what the schema for the event topic describes)."""


class SessionSummary(_Payload):
    """Published once at the end of every session (QoS 1, through the outbox)."""

    event_id: UUID = Field(default_factory=uuid4)
    kind: Literal["session_summary"] = "session_summary"
    treadmill_id: TreadmillId
    session_id: str
    user_id: UserId
    started_at: datetime
    ended_at: datetime
    end_reason: EndReasonName
    walked_s: Seconds
    distance_m: Metres
    max_speed_kmh: Kmh
    overspeed_corrections: Annotated[int, Field(ge=0)] = 0
    pain_during: Annotated[int, Field(ge=0, le=10)] | None = None


class Attention(_Payload):
    """Retained per treadmill: whether a person must check the belt now (Home Assistant's problem sensor).

    On when the treadmill did not confirm a stop, or the link was lost during a session (the belt state is
    then unknown); off again once the treadmill, connected, reports its belt standing, or a new session
    starts."""

    treadmill_id: TreadmillId
    check_belt: bool
    detail: str | None = None
    since: datetime | None = None


class Refusal(_Payload):
    """Retained per treadmill: the latest command the service refused there, from any sender (Home
    Assistant's *Last refusal* sensor; a button press or pain input shows nothing else when refused).

    The reason is the code's plain sentence, never the reply's own words: a retained topic is read by
    every client the broker lets in and outlives restarts, and the reply's words name the person and
    their pain scores or screening answers. The sender gets those words in its reply; the log has them."""

    treadmill_id: TreadmillId
    command_id: str
    command_type: str
    code: RefusalCode
    at: datetime = Field(default_factory=utc_now)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reason(self) -> str:
        return plain_refusal(self.code)


def plain_refusal(code: RefusalCode) -> str:
    """What a refusal with ``code`` means, and what to do, naming nobody and no score."""
    match code:
        case "screening_needed":
            return "the walker has not answered the screening questions yet: answer them, then try again"
        case "see_clinician":
            return (
                "the walker should see a clinician first (a screening answer or the pain rule); "
                "'retrowalk user show' says why"
            )
        case "plan_refused":
            return (
                "the plan cannot be honoured (a ceiling, or the treadmill's ranges); the service log says why"
            )
        case "not_connected":
            return "the treadmill is not connected: wait until it is online"
        case "wrong_phase":
            return "not possible in the session's current phase"
        case "already_walking":
            return (
                "the walker's session is still running, here or on another treadmill: nothing recorded; "
                "stop it first, or report pain after it has ended"
            )
        case "no_session":
            return "no session to record this for: nothing recorded"
        case "no_walker":
            return "no walker chosen, or not one of the service's walkers: choose one in Walker"
        case "unknown_treadmill":
            return "this service does not drive that treadmill"
        case "other":
            return "refused; the service log says why"
    assert_never(code)
