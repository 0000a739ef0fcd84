"""The phases of a session and every transition between them, as data, in one place.

Like h11's ``_state.py``: the engine never assigns a phase itself; it names a :class:`Trigger` and looks
the next phase up here. A (phase, trigger) pair missing from the table is illegal and raises
:class:`~retrowalk.errors.IllegalTransitionError` before anything changes. ``scripts/safety_doc.py``
draws ``docs/safety.md``'s state diagram from this table, so the picture cannot drift from the code.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from retrowalk.errors import IllegalTransitionError

__all__ = [
    "ACTIVE_PHASES",
    "KIOSK_COMMANDS",
    "SESSION_PHASES",
    "TERMINAL_PHASES",
    "TRANSITIONS",
    "Phase",
    "Trigger",
    "next_phase",
]


class Phase(StrEnum):
    IDLE = "idle"
    ARMED = "armed"  # target speed being set / belt being started (also when resuming)
    FAMILIARISE = "familiarise"
    RAMP = "ramp"
    STEADY = "steady"
    COOL_DOWN = "cool_down"
    PAUSED = "paused"
    FINISHED = "finished"
    ABORTED = "aborted"


# The belt runs and backward-walking time counts.
ACTIVE_PHASES = frozenset({Phase.FAMILIARISE, Phase.RAMP, Phase.STEADY, Phase.COOL_DOWN})
# retrowalk controls the belt for a session.
SESSION_PHASES = ACTIVE_PHASES | {Phase.ARMED, Phase.PAUSED}
TERMINAL_PHASES = frozenset({Phase.FINISHED, Phase.ABORTED})


class Trigger(StrEnum):
    # Kiosk commands.
    START = "start"
    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"
    # What the treadmill reported.
    BELT_STARTED = "belt_started"  # Start/Resume answered success
    CONSOLE_STOP = "console_stop"
    CONSOLE_PAUSE = "console_pause"
    CONSOLE_START = "console_start"
    SLOWED_AT_CONSOLE = "slowed_at_console"
    LINK_RECOVERED = "link_recovered"
    # The clock (backward-walking time).
    HOLD_DONE = "hold_done"
    TARGET_REACHED = "target_reached"
    CAP_REACHED = "cap_reached"
    COOL_DOWN_DONE = "cool_down_done"
    # Anything that makes the session untrustworthy: the engine stops the belt and says why.
    FAULT = "fault"


_P = Phase
_T = Trigger
KIOSK_COMMANDS: Final = (_T.START, _T.STOP, _T.PAUSE, _T.RESUME)
_RUNNING_BEFORE_CAP: Final = (_P.FAMILIARISE, _P.RAMP, _P.STEADY)
_IN_SESSION: Final = (_P.ARMED, *_RUNNING_BEFORE_CAP, _P.COOL_DOWN, _P.PAUSED)
_NO_SESSION: Final = (_P.IDLE, _P.FINISHED, _P.ABORTED)


def _build() -> dict[tuple[Phase, Trigger], Phase]:
    table: dict[tuple[Phase, Trigger], Phase] = {}
    for phase in _NO_SESSION:
        table[phase, _T.START] = _P.ARMED
        # A stop is never refused: with no session it still stops the belt and changes nothing else.
        table[phase, _T.STOP] = phase
    for phase in _IN_SESSION:
        table[phase, _T.STOP] = _P.FINISHED
        table[phase, _T.CONSOLE_STOP] = _P.FINISHED
        table[phase, _T.FAULT] = _P.ABORTED
    table[_P.ARMED, _T.BELT_STARTED] = _P.FAMILIARISE
    table[_P.ARMED, _T.CONSOLE_PAUSE] = _P.FINISHED
    table[_P.FAMILIARISE, _T.HOLD_DONE] = _P.RAMP
    table[_P.FAMILIARISE, _T.TARGET_REACHED] = _P.STEADY  # start speed == target speed
    table[_P.RAMP, _T.TARGET_REACHED] = _P.STEADY
    table[_P.STEADY, _T.SLOWED_AT_CONSOLE] = _P.RAMP
    for phase in _RUNNING_BEFORE_CAP:
        table[phase, _T.PAUSE] = _P.PAUSED
        table[phase, _T.CONSOLE_PAUSE] = _P.PAUSED
        table[phase, _T.CAP_REACHED] = _P.COOL_DOWN
        table[phase, _T.LINK_RECOVERED] = _P.PAUSED
    table[_P.COOL_DOWN, _T.COOL_DOWN_DONE] = _P.FINISHED
    # The session is nearly over: a pause at the console ends it; a lost link means the cool-down was not
    # under control, so the session aborts (the first action on link up was already a stop).
    table[_P.COOL_DOWN, _T.CONSOLE_PAUSE] = _P.FINISHED
    table[_P.COOL_DOWN, _T.LINK_RECOVERED] = _P.ABORTED
    table[_P.PAUSED, _T.RESUME] = _P.ARMED
    table[_P.PAUSED, _T.CONSOLE_START] = _P.FAMILIARISE
    table[_P.PAUSED, _T.LINK_RECOVERED] = _P.PAUSED
    return table


TRANSITIONS: Final[dict[tuple[Phase, Trigger], Phase]] = _build()


def next_phase(phase: Phase, trigger: Trigger) -> Phase:
    """The phase ``trigger`` leads to from ``phase``; IllegalTransitionError when it is not allowed."""
    try:
        return TRANSITIONS[phase, trigger]
    except KeyError:
        if trigger not in KIOSK_COMMANDS:  # the engine's own mistake, never a kiosk's: name everything
            allowed = sorted(t.value for (p, t) in TRANSITIONS if p is phase)
            raise IllegalTransitionError(
                f"{trigger.value!r} is not allowed while the session is {phase.value!r} "
                f"(allowed: {', '.join(allowed)})"
            ) from None
        # A kiosk (or the terminal) reads this: only the commands it can send, in its own words.
        now = "no session is running" if phase in _NO_SESSION else f"the session is {phase.value!r}"
        commands = [t.value for t in KIOSK_COMMANDS if (phase, t) in TRANSITIONS]
        raise IllegalTransitionError(
            f"{trigger.value!r} is not allowed while {now}; the commands that are: {', '.join(commands)}"
        ) from None
