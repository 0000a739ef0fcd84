"""What a treadmill link reports, in retrowalk's words rather than pyftms's.

The link knows FTMS; the session engine knows sessions. These small records are the seam: the service
turns them into engine events. Every record carries ``at``, the service's monotonic clock when it arrived.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from retrowalk.link.limits import DeviceRange


@dataclass(frozen=True)
class TreadmillInfo:
    """What the link read from a treadmill when it connected."""

    address: str
    name: str
    manufacturer: str | None
    model: str | None
    speed_range: DeviceRange | None
    incline_range: DeviceRange | None
    can_set_speed: bool
    can_set_incline: bool
    # pyftms reports only fields that changed; elapsed time is what changes every second while the belt
    # moves, so without it silence and a steady belt look the same.
    reports_elapsed_time: bool
    reports_distance: bool


@dataclass(frozen=True)
class LinkConnected:
    at: float
    info: TreadmillInfo


@dataclass(frozen=True)
class LinkLost:
    at: float
    reason: str


@dataclass(frozen=True)
class Sample:
    """One complete Treadmill Data record (split records already reassembled by pyftms)."""

    at: float
    speed_kmh: float
    incline_pct: float | None = None
    distance_m: float | None = None
    elapsed_s: int | None = None
    heart_rate_bpm: int | None = None
    energy_kcal: int | None = None


class StatusKind(enum.StrEnum):
    """Machine Status notifications a session cares about (FTMS 0x2ADA)."""

    USER_STOPPED = "user-stopped"
    USER_PAUSED = "user-paused"
    USER_STARTED = "user-started"
    SAFETY_KEY = "safety-key"
    TARGET_SPEED_CHANGED = "target-speed-changed"
    TARGET_INCLINE_CHANGED = "target-incline-changed"
    RESET = "reset"


@dataclass(frozen=True)
class StatusChange:
    at: float
    kind: StatusKind
    value: float | None = None


LinkEvent = LinkConnected | LinkLost | Sample | StatusChange


class Outcome(enum.StrEnum):
    """How a command ended. Only ``OK`` means the treadmill accepted it."""

    OK = "ok"
    NOT_SUPPORTED = "not-supported"
    INVALID_PARAMETER = "invalid-parameter"
    FAILED = "failed"
    CONTROL_NOT_PERMITTED = "control-not-permitted"
    LINK_DOWN = "link-down"
    TIMEOUT = "timeout"
    BAD_REPLY = "bad-reply"


class CommandKind(enum.StrEnum):
    SET_SPEED = "set-speed"
    SET_INCLINE = "set-incline"
    START = "start"
    STOP = "stop"
    PAUSE = "pause"


@dataclass(frozen=True)
class Command:
    kind: CommandKind
    value: float | None = None

    def __str__(self) -> str:
        return self.kind.value if self.value is None else f"{self.kind.value} {self.value:g}"


@dataclass(frozen=True)
class CommandResult:
    command: Command
    outcome: Outcome
    # The value actually sent after flooring onto the device grid (None when nothing was sent).
    sent_value: float | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK
