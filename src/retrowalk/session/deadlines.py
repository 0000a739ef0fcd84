"""Every rule that comes due with time alone, as data: one row per rule.

Like :mod:`retrowalk.session.table` for phase changes, this table is the one place where a timed rule is
written: which phases it watches, when its clock started, how long it lasts, whether it is due at its
limit or only once past it, and what happens then. Three readers use it and nothing else:

- the clock advance (``clock.advance_clock``) stops counting backward-walking time at the first row
  that ends the session or the phase, so a clock jump never carries a session past a rule;
- the check after every event (``clock.check_deadlines``) acts on the first wall-clock row that is due,
  in the order of the table (which is therefore the rules' priority);
- :func:`quiet_until` names the earliest moment at which any row can come due, so runners may skip the
  ticks before it.

Two clocks: the wall clock (the monotonic time events carry) and backward-walking time, which runs with
the wall clock in an active phase and stands still otherwise (see ``docs/safety.md`` rule 6).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Final, NamedTuple

from retrowalk.session.events import ACTIVE_PHASES, SESSION_PHASES, EndReason, Phase
from retrowalk.session.plan import SessionPlan
from retrowalk.session.ramp import next_ramp_change_s
from retrowalk.session.safety_constants import (
    ARMED_TIMEOUT_S,
    BELT_START_TIMEOUT_S,
    CAP_WARNINGS_S,
    MAX_PAUSE_S,
)
from retrowalk.session.state import SessionState, allowed_now
from retrowalk.session.table import Trigger

__all__ = [
    "COOL_DOWN_DONE",
    "OVERSPEED_DETAIL",
    "STALE_DETAIL",
    "STILL_DETAIL",
    "TIMED_RULES",
    "Clock",
    "Deadline",
    "EndSession",
    "Outcome",
    "ReachCap",
    "Rows",
    "StepRamp",
    "TimedRule",
    "WarnOfCap",
    "pending",
    "quiet_until",
]


class Clock(StrEnum):
    WALL = "wall"  # monotonic seconds, as every event carries them
    WALKING = "walking"  # backward-walking time: runs only in an active phase (SessionState.backward_s)


@dataclass(frozen=True, slots=True)
class EndSession:
    """The rule ends the session: through ``trigger``, for ``reason``, saying ``detail``."""

    trigger: Trigger
    reason: EndReason
    detail: str


@dataclass(frozen=True, slots=True)
class WarnOfCap:
    """A :class:`~retrowalk.session.events.CapWarning` is published, ``threshold_s`` before the cap."""

    threshold_s: int


@dataclass(frozen=True, slots=True)
class ReachCap:
    """The cap: the cool-down begins (or, with the link down, the session aborts at the cap)."""


@dataclass(frozen=True, slots=True)
class StepRamp:
    """The allowed speed changes (end of the hold, a ramp step): the phase settles, the speed follows."""


Outcome = EndSession | WarnOfCap | ReachCap | StepRamp


@dataclass(frozen=True, slots=True)
class TimedRule:
    """One row of the table."""

    name: str
    clock: Clock
    phases: frozenset[Phase]
    # True when the rule acts on the belt or reads its data, so that it waits while the link is down.
    needs_link: bool
    # When the rule's clock started, on its own clock; None while the rule is not armed.
    starts: Callable[[SessionState], float | None]
    # How long it may run from there.
    lasts: Callable[[SessionState, SessionPlan], float]
    # Due once the elapsed time reaches the limit (>=), or only once it is past it (>).
    due_at_limit: bool
    outcome: Outcome

    @property
    def ends_counting(self) -> bool:
        """Rows that end the session or the phase are where the clock advance stops counting."""
        return isinstance(self.outcome, EndSession | ReachCap)


class Deadline(NamedTuple):
    """A row armed for the current state, with its numbers worked out.

    A named tuple rather than a frozen dataclass: the engine builds a few of these several times per
    event, and a frozen dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost more than the
    rest of :func:`pending` together."""

    rule: TimedRule
    starts: float
    lasts: float

    @property
    def mark(self) -> float:
        """When the rule comes due, on its own clock."""
        return self.starts + self.lasts

    def due(self, s: SessionState, now: float) -> bool:
        """True when the rule acts at ``now`` (for a walking-time rule: at the backward time counted)."""
        reading = now if self.rule.clock is Clock.WALL else s.backward_s
        elapsed = reading - self.starts
        return elapsed >= self.lasts if self.rule.due_at_limit else elapsed > self.lasts

    def moment(self, s: SessionState, at: float) -> float:
        """When the rule comes due on the wall clock, for the state as it stood at ``at``."""
        return _wall_moment(self.rule, self.mark, s, at)


def _wall_moment(rule: TimedRule, mark: float, s: SessionState, at: float) -> float:
    """When a rule whose mark (on its own clock) is ``mark`` comes due on the wall clock, for the state as
    it stood at ``at``; a walking-time rule's mark is reached at ``at + (mark - backward)`` while
    backward-walking time runs."""
    if rule.clock is Clock.WALL:
        return mark
    return at + (mark - s.backward_s)


# --- when each rule's clock started ------------------------------------------------------------------------
def _freshest_data(s: SessionState) -> float:
    # The belt's start counts as fresh news: data is expected from it on, not from some older sample.
    return max(s.last_sample_at, s.belt_started_at)


def _belt_started_still(s: SessionState) -> float | None:
    return None if s.belt_seen_moving else s.belt_started_at


def _session_start(s: SessionState) -> float:
    return 0.0  # backward-walking time counts from the session's start


def _until_warned(threshold_s: int) -> Callable[[SessionState], float | None]:
    def starts(s: SessionState) -> float | None:
        return None if threshold_s in s.warned else 0.0

    return starts


# --- how long each rule lasts ------------------------------------------------------------------------------
def _cap_and_cool_down(s: SessionState, plan: SessionPlan) -> float:
    return float(plan.duration_cap_s + plan.cool_down_s)


def _before_cap(threshold_s: int) -> Callable[[SessionState, SessionPlan], float]:
    def lasts(s: SessionState, plan: SessionPlan) -> float:
        return float(plan.duration_cap_s - threshold_s)

    return lasts


def _next_ramp_change(s: SessionState, plan: SessionPlan) -> float:
    return next_ramp_change_s(s.ramp, plan, s.backward_s)


OVERSPEED_DETAIL: Final = (
    "the belt stayed above the allowed speed + tolerance for longer than the grace period"
)
STALE_DETAIL: Final = "no treadmill data while the belt should move: check the treadmill and the connection"
STILL_DETAIL: Final = "the treadmill confirmed the start but the belt stayed still"
# Also the end of a cap reached with no cool-down to walk.
COOL_DOWN_DONE: Final = EndSession(Trigger.COOL_DOWN_DONE, EndReason.COMPLETED, "the session is complete")
_BEFORE_CAP = frozenset({Phase.FAMILIARISE, Phase.RAMP, Phase.STEADY})
_WALL, _WALKING = Clock.WALL, Clock.WALKING

# In order of priority: when several wall-clock rows are due after one event, the first one acts.
TIMED_RULES: Final[tuple[TimedRule, ...]] = (
    TimedRule(
        "overspeed grace",
        _WALL,
        SESSION_PHASES - {Phase.PAUSED},
        needs_link=False,
        starts=lambda s: s.overspeed_since,
        lasts=lambda s, plan: plan.overspeed_grace_s,
        due_at_limit=True,
        outcome=EndSession(Trigger.FAULT, EndReason.OVERSPEED, OVERSPEED_DETAIL),
    ),
    TimedRule(
        "belt still moving in a pause",
        _WALL,
        frozenset({Phase.PAUSED}),
        needs_link=False,
        starts=lambda s: s.overspeed_since,
        lasts=lambda s, plan: plan.overspeed_grace_s,
        due_at_limit=True,
        outcome=EndSession(Trigger.FAULT, EndReason.BELT_DID_NOT_PAUSE, "the belt kept moving after a pause"),
    ),
    TimedRule(
        "pause that ends the session",
        _WALL,
        frozenset({Phase.PAUSED}),
        needs_link=False,
        starts=lambda s: s.paused_at,
        lasts=lambda s, plan: MAX_PAUSE_S,
        due_at_limit=False,
        # Nobody came back (a kiosk closed, a link lost and never resumed): the treadmill is freed.
        outcome=EndSession(
            Trigger.STOP, EndReason.PAUSED_TOO_LONG, f"paused for over {MAX_PAUSE_S // 60:.0f} minutes"
        ),
    ),
    TimedRule(
        "start confirmation",
        _WALL,
        frozenset({Phase.ARMED}),
        needs_link=True,
        starts=lambda s: s.armed_at,
        lasts=lambda s, plan: ARMED_TIMEOUT_S,
        due_at_limit=False,
        outcome=EndSession(
            Trigger.FAULT,
            EndReason.START_TIMEOUT,
            f"the treadmill did not confirm the start in {ARMED_TIMEOUT_S} s",
        ),
    ),
    TimedRule(
        "stale telemetry",
        _WALL,
        ACTIVE_PHASES,
        needs_link=True,
        starts=_freshest_data,
        lasts=lambda s, plan: plan.stale_telemetry_s,
        due_at_limit=False,
        outcome=EndSession(Trigger.FAULT, EndReason.STALE_TELEMETRY, STALE_DETAIL),
    ),
    TimedRule(
        "belt that never moved",
        _WALL,
        ACTIVE_PHASES,
        needs_link=True,
        starts=_belt_started_still,
        lasts=lambda s, plan: BELT_START_TIMEOUT_S,
        due_at_limit=False,
        outcome=EndSession(Trigger.FAULT, EndReason.BELT_DID_NOT_START, STILL_DETAIL),
    ),
    *(
        TimedRule(
            f"cap warning {threshold_s} s",
            _WALKING,
            _BEFORE_CAP,
            needs_link=False,
            starts=_until_warned(threshold_s),
            lasts=_before_cap(threshold_s),
            due_at_limit=True,
            outcome=WarnOfCap(threshold_s),
        )
        for threshold_s in CAP_WARNINGS_S
    ),
    TimedRule(
        "duration cap",
        _WALKING,
        _BEFORE_CAP,
        needs_link=False,
        starts=_session_start,
        lasts=lambda s, plan: float(plan.duration_cap_s),
        due_at_limit=True,
        outcome=ReachCap(),
    ),
    TimedRule(
        "end of cool-down",
        _WALKING,
        frozenset({Phase.COOL_DOWN}),
        needs_link=False,
        starts=_session_start,
        lasts=_cap_and_cool_down,
        due_at_limit=True,
        outcome=COOL_DOWN_DONE,
    ),
    TimedRule(
        "end of the hold, ramp step",
        _WALKING,
        frozenset({Phase.FAMILIARISE, Phase.RAMP}),
        needs_link=False,
        starts=_session_start,
        lasts=_next_ramp_change,
        due_at_limit=True,
        outcome=StepRamp(),
    ),
)


class Rows(Enum):
    """Which rows of the table a reader asks about (each reader needs only some of them)."""

    ALL = "all"
    WALL_CLOCK = "on the wall clock"
    # What the clock advance looks at: where counting stops, and the warnings published on the way.
    CLOCK_ADVANCE = "ending the session or the phase, and cap warnings"

    def include(self, rule: TimedRule) -> bool:
        match self:
            case Rows.ALL:
                return True
            case Rows.WALL_CLOCK:
                return rule.clock is Clock.WALL
            case Rows.CLOCK_ADVANCE:
                return rule.ends_counting or isinstance(rule.outcome, WarnOfCap)


# The rows that can be armed in each phase, with the link up and down, for each reader, in the table's
# order: worked out once, as the engine looks at the table several times per event.
_WATCHING: Final[dict[tuple[Phase, bool, Rows], tuple[TimedRule, ...]]] = {
    (phase, link_up, rows): tuple(
        rule
        for rule in TIMED_RULES
        if phase in rule.phases and (link_up or not rule.needs_link) and rows.include(rule)
    )
    for phase in Phase
    for link_up in (False, True)
    for rows in Rows
}


def pending(s: SessionState, rows: Rows = Rows.ALL) -> list[Deadline]:
    """The rows (of those ``rows`` selects) armed for the state as it stands, in the table's order."""
    plan = s.plan
    if plan is None:
        return []
    armed: list[Deadline] = []
    for rule in _WATCHING[s.phase, s.link_up, rows]:
        starts = rule.starts(s)
        if starts is not None:
            armed.append(Deadline(rule, starts, rule.lasts(s, plan)))
    return armed


def quiet_until(s: SessionState, allowed_centi: int | None = None) -> float:
    """The earliest time at which a Tick could emit an action or change the phase, for the state as the
    last event left it (at ``s.last_now``); ``math.inf`` outside a session. ``allowed_centi`` is
    ``allowed_now(s)`` when the caller has it already.

    A runner may skip the ticks before it, which spares a fleet most of its ticks: while samples keep
    coming, a steady session has nothing due until the next sample is late. It is the earliest moment of
    the rows armed in the table. What is not worked out exactly answers "now" (tick as usual): a start in
    progress, a pause, a pending overspeed, a link that is down, a speed still to be commanded. Being
    early costs a tick that does nothing; being late would delay a safety rule, which the engine's
    state-machine test checks against the engine itself.
    """
    now = s.last_now
    if s.plan is None or s.phase not in SESSION_PHASES:
        return math.inf
    if s.phase not in ACTIVE_PHASES or not s.link_up or s.overspeed_since is not None:
        return now
    if (allowed_now(s) if allowed_centi is None else allowed_centi) != s.last_commanded_centi:
        return now
    # pending(s) worked through without building its Deadlines, and _wall_moment written out (the same
    # sums in the same order): the runner asks after every sample.
    # An active phase always has its cap (or the end of cool-down) armed, so the minimum is finite.
    plan = s.plan
    earliest = math.inf
    for rule in _WATCHING[s.phase, s.link_up, Rows.ALL]:
        starts = rule.starts(s)
        if starts is not None:
            moment = starts + rule.lasts(s, plan)
            if rule.clock is not _WALL:
                moment = now + (moment - s.backward_s)
            # A comparison rather than min(): the builtin's call was a third of this function's time.
            if moment < earliest:  # noqa: PLR1730
                earliest = moment
    return earliest
