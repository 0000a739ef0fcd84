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
    console, each would lower the session's ramp or count as a console speed change. Such a report is
    dropped when

    - it is lower than the target speed reported less than ``WIND_DOWN_GAP_S`` before (the burst), or
    - it is the first of a burst: the belt is coming to a halt (retrowalk sent Stop or Pause, or the
      treadmill reported a stop or pause, or the link has just connected, and neither retrowalk nor the
      console has started the belt since) and the report is no faster than the belt last measured and
      than the speed retrowalk last set: the belt saying where it is on its way down.

    A report above the last one, above the belt's measured speed or above what retrowalk set always gets
    through, so a speed-up at the console is never hidden; a person slowing a running belt is not
    affected either (the belt is not coming to a halt then).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: tuple[float, float] | None = None  # (value, when) of the last target speed report
        # Connected and not started since: a belt found moving may be winding down from before.
        self._halting = True
        self._belt_kmh: float | None = None  # the last measured speed, this connection
        self._set_kmh: float | None = None  # the last target speed retrowalk sent, this connection

    def clear(self) -> None:
        """A new connection: nothing is known about the belt but that retrowalk has not started it."""
        self._last, self._halting, self._belt_kmh, self._set_kmh = None, True, None, None

    def sent(self, command: Command, sent_value: float | None) -> None:
        """retrowalk is sending ``command`` (with the value that goes out)."""
        match command:
            case StopBelt() | PauseBelt():
                self._halting = True
            case StartBelt():
                self._halting = False
            case SetTargetSpeed():
                self._set_kmh = sent_value

    def measured(self, speed_kmh: float) -> None:
        self._belt_kmh = speed_kmh

    def is_wind_down(self, kind: MachineStatusKind, value: float | None) -> bool:
        if kind in (MachineStatusKind.USER_STOP, MachineStatusKind.USER_PAUSE):
            self._halting = True
        elif kind is MachineStatusKind.USER_START:
            self._halting = False
        if kind is not MachineStatusKind.TARGET_SPEED_CHANGED or value is None:
            return False
        now = self._clock()
        last, self._last = self._last, (value, now)
        if last is not None and now - last[1] < WIND_DOWN_GAP_S and value < last[0]:
            return True
        return self._halting and self._no_faster_than_the_belt_and_our_target(value)

    def _no_faster_than_the_belt_and_our_target(self, value: float) -> bool:
        belt, ours = self._belt_kmh, self._set_kmh
        if belt is None:
            return False  # nothing measured yet: cannot tell, so it counts as a person's
        return value <= belt + _VALUE_SLACK and (ours is None or value <= ours + _VALUE_SLACK)
