"""Telling a treadmill's echo of our own command from a person at its console.

A treadmill notifies Machine Status for every change, whoever caused it: after our Stop it says
"stopped by user", after our Set Target Speed "target speed changed". pyftms labels both as coming from
the user. Taken at face value, every session would end as "stopped at the console". The link therefore
expects the echo of each command it sends and drops exactly one matching notification that arrives soon
after; anything else (another kind, another value, later) is a person or the machine itself.

Safety: only echoes of what was just commanded are dropped, so a console speed-up (a different value),
a safety key (never commanded) or a stop after our pause (a different kind) always get through.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from retrowalk.session.events import (
    Command,
    MachineStatusKind,
    PauseBelt,
    SetTargetIncline,
    SetTargetSpeed,
    StartBelt,
    StopBelt,
)
from retrowalk.session.safety_constants import ECHO_WINDOW_S

__all__ = ["WIND_DOWN_GAP_S", "EchoFilter", "WindDownFilter", "echo_of"]

# Reports of a belt winding down by itself come about three times a second (UREVO E1L); a person at the
# console presses keys far less often than this with each press lower than the last and nothing else.
WIND_DOWN_GAP_S = 1.0

_VALUE_SLACK = 0.005


def echo_of(command: Command, sent_value: float | None) -> tuple[MachineStatusKind, float | None]:
    match command:
        case StopBelt():
            return MachineStatusKind.USER_STOP, None
        case PauseBelt():
            return MachineStatusKind.USER_PAUSE, None
        case StartBelt():
            return MachineStatusKind.USER_START, None
        case SetTargetSpeed():
            return MachineStatusKind.TARGET_SPEED_CHANGED, sent_value
        case SetTargetIncline():
            return MachineStatusKind.TARGET_INCLINE_CHANGED, sent_value


class EchoFilter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expected: list[tuple[MachineStatusKind, float | None, float]] = []

    def expect(self, command: Command, sent_value: float | None) -> None:
        kind, value = echo_of(command, sent_value)
        self._expected.append((kind, value, self._clock() + ECHO_WINDOW_S))

    def forget(self, command: Command, sent_value: float | None) -> None:
        """The command failed: no echo will come (and a matching status is not ours)."""
        kind, value = echo_of(command, sent_value)
        for i, (k, v, _deadline) in enumerate(self._expected):
            if k is kind and v == value:
                del self._expected[i]
                return

    def clear(self) -> None:
        self._expected.clear()

    def is_echo(self, kind: MachineStatusKind, value: float | None) -> bool:
        """True (and the expectation is used up) when this status is the echo of a recent command."""
        now = self._clock()
        self._expected = [e for e in self._expected if e[2] >= now]
        for i, (k, v, _deadline) in enumerate(self._expected):
            same_value = v is None or (value is not None and abs(v - value) <= _VALUE_SLACK)
            if k is kind and same_value:
                del self._expected[i]
                return True
        return False


class WindDownFilter:
    """Tells a belt winding down by itself from a person at the console.

    Some walking pads notify "target speed changed" about three times a second while the belt slows by
    itself (after a stop, on connect), each with the belt's current speed. Taken as a person at the
    console, each would lower the session's ramp or count as a console speed change. A target speed that
    is lower than the one reported less than ``WIND_DOWN_GAP_S`` before is such a report and is dropped;
    the first report of a burst, and any report of a higher speed, still gets through, so a speed-up at
    the console is never hidden.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: tuple[float, float] | None = None  # (value, when) of the last target speed report

    def clear(self) -> None:
        self._last = None

    def is_wind_down(self, kind: MachineStatusKind, value: float | None) -> bool:
        if kind is not MachineStatusKind.TARGET_SPEED_CHANGED or value is None:
            return False
        now = self._clock()
        last, self._last = self._last, (value, now)
        return last is not None and now - last[1] < WIND_DOWN_GAP_S and value < last[0]
