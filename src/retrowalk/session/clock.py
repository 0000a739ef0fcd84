"""The clock: backward-walking time, the timed rules and the speed that follows the plan.

Functions over one :class:`~retrowalk.session.turn.Turn`. Which timed rules exist, when each comes due
and what it does is the table in :mod:`retrowalk.session.deadlines`; this module only reads it: it
counts backward-walking time up to the event's time, stopping at every row that ends the session or the
phase, publishes the cap warnings on the way, and after the event acts on the first wall-clock row due.
"""

from __future__ import annotations

import math

from retrowalk.session.deadlines import (
    COOL_DOWN_DONE,
    Clock,
    Deadline,
    EndSession,
    ReachCap,
    Rows,
    StepRamp,
    WarnOfCap,
    pending,
)
from retrowalk.session.events import ACTIVE_PHASES, SESSION_PHASES, CapWarning, EndReason, Phase
from retrowalk.session.plan import to_centi
from retrowalk.session.table import Trigger
from retrowalk.session.turn import Turn

__all__ = ["advance_clock", "check_deadlines", "follow_plan_speed", "settle_phase"]


def advance_clock(turn: Turn) -> None:
    """Count backward-walking time up to ``now``, stopping exactly at every boundary on the way.

    Boundaries are the rows of the deadline table that end the session or the phase: the cap, the
    end of cool-down, and the moment a safety rule would have stopped the belt (stale data, overspeed
    grace, a belt that never moved). So even a clock jump (a caller that stalled) never counts time
    past cap + cool-down, nor past the moment the belt should have stopped, and the session ends with
    the reason that came first.
    """
    s = turn.s
    t = s.last_now if math.isfinite(s.last_now) else turn.now
    s.last_now = turn.now
    # True once the last pass counted up to now without acting: it then found no wall-clock row past
    # due (one would have stopped the count short of now, or acted), and nothing it changed (backward
    # time, the warnings) is read by those rows, so the check for an overdue rule has nothing to find.
    counted_clear = False
    while t < turn.now and s.phase in ACTIVE_PHASES and s.plan is not None:
        deadlines = pending(s, Rows.CLOCK_ADVANCE)
        boundary = next(d for d in deadlines if d.rule.clock is Clock.WALKING and d.rule.ends_counting)
        # Strictly before now: at now itself the check after the event decides, with its news.
        passed = [d for d in deadlines if d.rule.clock is Clock.WALL and d.mark < turn.now]
        safety = min(passed, key=lambda d: d.mark, default=None)
        until = turn.now if safety is None else min(turn.now, safety.mark)
        step = min(until - t, boundary.mark - s.backward_s)
        s.backward_s += step
        t += step
        _warn_cap(turn, deadlines)
        counted_clear = False
        if boundary.due(s, t):
            _act_on(turn, boundary)
        elif safety is not None and t >= safety.mark:
            _act_on(turn, safety)
        else:
            counted_clear = True
    if not counted_clear:
        _act_on_overdue_rule(turn)
    settle_phase(turn)


def _act_on_overdue_rule(turn: Turn) -> None:
    """Outside the active phases no time is counted, but a wall-clock rule may still have fallen due
    since the last event (a belt still moving in a pause, a pause too long, a start never confirmed).
    It acts before the event is handled: the event could restart its clock (a link that returns restarts
    the pause, news of the link or a late sample clears the overspeed) and so hide a rule that a tick in
    between would have acted on. Strictly before now, as in the active phases."""
    s = turn.s
    if s.phase not in SESSION_PHASES:
        return
    overdue = [d for d in pending(s, Rows.WALL_CLOCK) if d.mark < turn.now]
    first = min(overdue, key=lambda d: d.mark, default=None)
    if first is not None:
        _act_on(turn, first)


def _warn_cap(turn: Turn, deadlines: list[Deadline]) -> None:
    """Publish the cap warnings among ``deadlines`` (the rows armed at the start of this step of the count:
    nothing in the step changes which warnings are armed) that backward time has reached."""
    s = turn.s
    for deadline in deadlines:
        outcome = deadline.rule.outcome
        if isinstance(outcome, WarnOfCap) and deadline.due(s, turn.now):
            assert s.plan is not None
            s.warned = s.warned | {outcome.threshold_s}
            left = s.plan.duration_cap_s - s.backward_s
            turn.out.append(CapWarning(s.session_id, outcome.threshold_s, max(0.0, left)))


def _act_on(turn: Turn, deadline: Deadline) -> None:
    match deadline.rule.outcome:
        case EndSession() as ending:
            turn.end_as(ending)
        case ReachCap():
            _reach_cap(turn)
        case WarnOfCap() | StepRamp():  # pragma: no cover - acted on by _warn_cap and settle_phase
            raise AssertionError(f"{deadline.rule.name} does not stop the clock")


def _reach_cap(turn: Turn) -> None:
    s = turn.s
    assert s.plan is not None
    if not s.link_up:
        # No cool-down can be commanded: end at the cap; the first action on link up is a stop.
        turn.fault(EndReason.LINK_LOST, "the cap was reached while the link was down: check the belt")
        return
    before = max(turn.allowed(), s.last_commanded_centi or 0)
    s.cool_down_centi = min(to_centi(s.plan.start_speed_kmh), turn.allowed())
    if s.cool_down_centi < before:
        # The belt needs time to slow down to the cool-down speed: that is not an overspeed.
        s.slowdown_from_centi, s.slowdown_at = before, turn.now
    turn.go(Trigger.CAP_REACHED)
    if s.plan.cool_down_s == 0:
        turn.end_as(COOL_DOWN_DONE)


def settle_phase(turn: Turn) -> None:
    """Label changes that follow from the ramp: hold over, target reached, ramp lowered."""
    s = turn.s
    if s.plan is None:
        return
    target = to_centi(s.plan.target_speed_kmh)
    allowed = turn.allowed()
    if s.phase is Phase.FAMILIARISE and s.backward_s >= s.ramp.hold_until_s:
        turn.go(Trigger.TARGET_REACHED if allowed >= target else Trigger.HOLD_DONE)
    elif s.phase is Phase.RAMP and allowed >= target:
        turn.go(Trigger.TARGET_REACHED)
    elif s.phase is Phase.STEADY and allowed < target:
        turn.go(Trigger.SLOWED_AT_CONSOLE)


def check_deadlines(turn: Turn) -> None:
    """After the event: the first wall-clock row of the table that is due acts (at most one)."""
    s = turn.s
    for deadline in pending(s, Rows.WALL_CLOCK):
        if deadline.due(s, turn.now):
            _act_on(turn, deadline)
            return


def follow_plan_speed(turn: Turn) -> None:
    """Command the allowed speed whenever it differs from what was last commanded (ramp, cool-down)."""
    s = turn.s
    if s.phase in ACTIVE_PHASES:
        allowed = turn.allowed()
        if allowed != s.last_commanded_centi:
            turn.set_speed(allowed)
