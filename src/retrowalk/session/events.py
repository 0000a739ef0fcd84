"""What goes into the session engine and what comes out of it: small frozen, plain-data records.

Inputs (``Event``): kiosk commands, telemetry, machine status, control results, link changes, ticks.
Outputs (``Action``): ``Command`` records the service executes on the treadmill, in order, stopping at
the first that fails; ``Notice`` records it publishes (MQTT); and ``DropLink``, for a link that has
gone silent. Enums are ``StrEnum`` because their values become MQTT payload values.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from retrowalk.session import table
from retrowalk.session.plan import SessionPlan

__all__ = [
    "ACTIVE_PHASES",
    "COMMAND_TYPES",
    "FINISHED_REASONS",
    "SESSION_PHASES",
    "STOP_DETAILS",
    "TERMINAL_PHASES",
    "Action",
    "CapWarning",
    "Command",
    "CommandKind",
    "CommandResult",
    "DropLink",
    "EndReason",
    "Event",
    "KioskCommand",
    "LinkDown",
    "LinkUp",
    "MachineStatus",
    "MachineStatusKind",
    "Notice",
    "OverspeedCorrected",
    "PainReported",
    "Pause",
    "PauseBelt",
    "Phase",
    "PhaseChanged",
    "ResultCode",
    "Resume",
    "SessionEnded",
    "SessionStarted",
    "SetTargetIncline",
    "SetTargetSpeed",
    "Start",
    "StartBelt",
    "Stop",
    "StopBelt",
    "StopNotConfirmed",
    "Telemetry",
    "Tick",
    "TreadmillFault",
]

# The phases are defined beside their transition table (table.py). PhaseChanged, SessionEnded and the
# snapshot carry them, so they belong to this vocabulary too and can be imported from here as well.
Phase = table.Phase
ACTIVE_PHASES = table.ACTIVE_PHASES
SESSION_PHASES = table.SESSION_PHASES
TERMINAL_PHASES = table.TERMINAL_PHASES


class EndReason(StrEnum):
    """Why a session ended. Each value tells a person what happened (and so what to do)."""

    COMPLETED = "completed"
    KIOSK_STOP = "kiosk_stop"
    USER_STOP = "user_stop_at_console"
    SAFETY_KEY = "safety_key"
    BELT_STOPPED = "belt_stopped_unexpectedly"
    BELT_DID_NOT_START = "belt_did_not_start"
    START_TIMEOUT = "start_not_confirmed"
    OVERSPEED = "overspeed_not_corrected"
    BELT_DID_NOT_PAUSE = "belt_did_not_pause"
    STALE_TELEMETRY = "telemetry_stopped"
    LINK_LOST = "link_lost"
    CONTROL_LOST = "control_lost"
    MACHINE_RESET = "machine_reset"
    COMMAND_REFUSED = "command_refused"  # "control not permitted" / "not supported" / "invalid parameter"
    COMMAND_FAILED = "command_failed"  # "operation failed", timeout, or a reply nobody understands
    INCLINE_CHANGED = "incline_changed_at_console"
    PAUSED_TOO_LONG = "paused_too_long"
    # The service was told to stop (SIGTERM/SIGINT, e.g. `systemctl stop`) and ended its sessions itself.
    SERVICE_STOPPED = "service_stopped"
    # `retrowalk session start` was stopped at its terminal (Ctrl-C, or `retrowalk session stop`).
    TERMINAL_STOP = "stopped_at_terminal"
    # Recorded by the service, never by the engine: the process died during the session (crash, power).
    SERVICE_RESTARTED = "service_restarted"
    TREADMILL_FAULT = "treadmill_fault"  # the service caught the treadmill lying (e.g. mph sent as km/h)
    # The person walking reported knee pain above the stop threshold during the session.
    PAIN_REPORTED = "pain_reported"


# Who asked for a stop, and what the session's end says by default. A stop by anyone else is not a stop.
STOP_DETAILS: dict[EndReason, str] = {
    EndReason.KIOSK_STOP: "stopped from a kiosk or Home Assistant",
    EndReason.SERVICE_STOPPED: "the service was stopped; the belt was stopped first",
    EndReason.TERMINAL_STOP: "stopped at the terminal; the belt was stopped first",
}

FINISHED_REASONS = frozenset(
    {
        EndReason.COMPLETED,
        EndReason.USER_STOP,
        EndReason.PAUSED_TOO_LONG,
        EndReason.PAIN_REPORTED,
        *STOP_DETAILS,
    }
)


class CommandKind(StrEnum):
    SET_TARGET_SPEED = "set_target_speed"
    SET_TARGET_INCLINE = "set_target_incline"
    START = "start"
    STOP = "stop"
    PAUSE = "pause"


class ResultCode(StrEnum):
    """FTMS control point result codes (refs §3), plus what the link adds for no or unreadable replies."""

    SUCCESS = "success"
    NOT_SUPPORTED = "op_not_supported"
    INVALID_PARAMETER = "invalid_parameter"
    FAILED = "operation_failed"
    CONTROL_NOT_PERMITTED = "control_not_permitted"
    TIMEOUT = "timeout"
    UNKNOWN = "unknown"


class MachineStatusKind(StrEnum):
    """FTMS Machine Status opcodes (refs §3) the engine acts on."""

    RESET = "reset"
    USER_STOP = "stopped_by_user"
    USER_PAUSE = "paused_by_user"
    SAFETY_KEY = "stopped_by_safety_key"
    USER_START = "started_by_user"
    TARGET_SPEED_CHANGED = "target_speed_changed"
    TARGET_INCLINE_CHANGED = "target_incline_changed"
    CONTROL_LOST = "control_permission_lost"


# --- Inputs ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Start:
    """Kiosk: start a session. ``session_id`` empty means the engine numbers it."""

    user_id: str
    plan: SessionPlan
    session_id: str = ""


@dataclass(frozen=True, slots=True)
class Stop:
    """Kiosk: stop now. Always accepted: a stop is never refused.

    The service stops sessions the same way when it is told to stop itself, or when a terminal session
    is stopped: ``reason`` (one of ``STOP_DETAILS``) and ``detail`` say so in the session's end; an empty
    detail means the reason's usual one.
    """

    reason: EndReason = EndReason.KIOSK_STOP
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Pause:
    """Kiosk: pause the belt."""


@dataclass(frozen=True, slots=True)
class Resume:
    """Kiosk: resume after a pause (the only way a paused session moves again)."""


@dataclass(frozen=True, slots=True)
class Telemetry:
    """One treadmill data sample; ``at`` is the monotonic time it was received."""

    speed_kmh: float
    incline_pct: float | None
    at: float


@dataclass(frozen=True, slots=True)
class MachineStatus:
    """A Machine Status notification; ``value`` is the new target for the *_CHANGED kinds."""

    kind: MachineStatusKind
    value: float | None = None


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The outcome of one Command the service executed (the link turns every reply into this)."""

    command: CommandKind
    result: ResultCode

    @property
    def ok(self) -> bool:
        return self.result is ResultCode.SUCCESS


@dataclass(frozen=True, slots=True)
class LinkUp:
    """The link to the treadmill is (re)established and control was requested."""


@dataclass(frozen=True, slots=True)
class LinkDown:
    """The link to the treadmill is gone."""


@dataclass(frozen=True, slots=True)
class TreadmillFault:
    """The service found the treadmill untrustworthy (its own checks, e.g. speeds that look like mph).

    During a session: stop and abort with ``treadmill_fault`` and this detail. Otherwise: nothing.
    """

    detail: str


@dataclass(frozen=True, slots=True)
class PainReported:
    """A knee pain score (0-10) reported during a session, at a kiosk or the terminal.

    From the session's own user and above ``plan.STOP_PAIN``: stop and finish with ``pain_reported``.
    Otherwise (no session, someone else's report, a bearable score): nothing; the report is a record.
    """

    user_id: str
    score: int


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed; the service sends one about 4-10 times a second."""


KioskCommand = Start | Stop | Pause | Resume | PainReported
Event = (
    Start
    | Stop
    | Pause
    | Resume
    | Telemetry
    | MachineStatus
    | CommandResult
    | LinkUp
    | LinkDown
    | TreadmillFault
    | PainReported
    | Tick
)


# --- Outputs: commands for the treadmill ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SetTargetSpeed:
    kmh: float
    kind: CommandKind = CommandKind.SET_TARGET_SPEED


@dataclass(frozen=True, slots=True)
class SetTargetIncline:
    pct: float
    kind: CommandKind = CommandKind.SET_TARGET_INCLINE


@dataclass(frozen=True, slots=True)
class StartBelt:
    kind: CommandKind = CommandKind.START


@dataclass(frozen=True, slots=True)
class StopBelt:
    kind: CommandKind = CommandKind.STOP


@dataclass(frozen=True, slots=True)
class PauseBelt:
    kind: CommandKind = CommandKind.PAUSE


Command = SetTargetSpeed | SetTargetIncline | StartBelt | StopBelt | PauseBelt


# --- Outputs: notices to publish -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SessionStarted:
    session_id: str
    user_id: str
    treadmill_id: str
    plan: SessionPlan


@dataclass(frozen=True, slots=True)
class PhaseChanged:
    session_id: str
    previous: Phase
    phase: Phase
    allowed_kmh: float
    elapsed_backward_s: float


@dataclass(frozen=True, slots=True)
class OverspeedCorrected:
    """The belt ran, or was set at the console, above what is allowed; the allowed speed was commanded
    again (or, in a pause, the belt stopped)."""

    session_id: str
    # The belt's last measured speed; None when no sample has arrived yet.
    measured_kmh: float | None
    allowed_kmh: float
    # The target keyed in at the console when that triggered the correction; None when the belt did.
    console_target_kmh: float | None = None


@dataclass(frozen=True, slots=True)
class CapWarning:
    session_id: str
    threshold_s: int  # 60 or 10
    seconds_left: float


@dataclass(frozen=True, slots=True)
class StopNotConfirmed:
    """A stop command failed: a person must check the belt (the engine cannot do more)."""

    session_id: str
    result: ResultCode


@dataclass(frozen=True, slots=True)
class SessionEnded:
    session_id: str
    user_id: str
    treadmill_id: str
    phase: Phase  # FINISHED or ABORTED
    reason: EndReason
    detail: str  # one sentence a person can act on
    backward_s: float
    max_speed_kmh: float  # highest measured belt speed
    max_allowed_kmh: float
    overspeed_corrections: int


Notice = SessionStarted | PhaseChanged | OverspeedCorrected | CapWarning | StopNotConfirmed | SessionEnded


# --- Outputs: what the service does to the link --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DropLink:
    """Drop the link and let it be rebuilt: it delivered no data while the belt should move, and a link
    that delivers nothing is broken. Comes after the ``SessionEnded`` of that session, and, like the
    notices, is carried out even when the stop before it failed."""

    reason: str


Action = Command | Notice | DropLink

COMMAND_TYPES: tuple[type, ...] = (SetTargetSpeed, SetTargetIncline, StartBelt, StopBelt, PauseBelt)
