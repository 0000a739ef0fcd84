"""The engine's clock, safety deadlines and plumbing, shared by every event handler.

:class:`RunCore` holds one event's working state: it counts backward-walking time across the cap,
cool-down and safety boundaries, enforces the deadlines (overspeed grace, stale data, start timeouts),
keeps the commanded speed on the plan, and is the only place that changes the phase (through the table)
or emits a command (never while the link is down).
"""

from __future__ import annotations

import math

from retrowalk.session.deadlines import (
    COOL_DOWN_DONE,
    Clock,
    Deadline,
    EndSession,
    ReachCap,
    StepRamp,
    WarnOfCap,
    pending,
)
from retrowalk.session.events import (
    ACTIVE_PHASES,
    COMMAND_TYPES,
    FINISHED_REASONS,
    SESSION_PHASES,
    Action,
    CapWarning,
    Command,
    EndReason,
    PauseBelt,
    Phase,
    PhaseChanged,
    SessionEnded,
    SetTargetSpeed,
    StartBelt,
    StopBelt,
)
from retrowalk.session.plan import from_centi, to_centi
from retrowalk.session.state import EngineContext, SessionState, allowed_now, limit_now
from retrowalk.session.table import Trigger, next_phase


class RunCore:
    """One event's working state and what every rule shares (``rules.EventRun`` adds the handlers)."""

    def __init__(self, ctx: EngineContext, state: SessionState, out: list[Action], now: float) -> None:
        self.ctx = ctx
        self.s = state
        self.out = out
        self.now = now

    # --- time ----------------------------------------------------------------------------------------
    def advance_clock(self) -> None:
        """Count backward-walking time up to ``now``, stopping exactly at every boundary on the way.

        Boundaries are the rows of the deadline table that end the session or the phase: the cap, the
        end of cool-down, and the moment a safety rule would have stopped the belt (stale data, overspeed
        grace, a belt that never moved). So even a clock jump (a caller that stalled) never counts time
        past cap + cool-down, nor past the moment the belt should have stopped, and the session ends with
        the reason that came first.
        """
        s = self.s
        t = s.last_now if math.isfinite(s.last_now) else self.now
        s.last_now = self.now
        while t < self.now and s.phase in ACTIVE_PHASES and s.plan is not None:
            deadlines = [d for d in pending(s) if d.rule.ends_counting]
            boundary = next(d for d in deadlines if d.rule.clock is Clock.WALKING)
            # Strictly before now: at now itself the check after the event decides, with its news.
            passed = [d for d in deadlines if d.rule.clock is Clock.WALL and d.mark < self.now]
            safety = min(passed, key=lambda d: d.mark, default=None)
            until = self.now if safety is None else min(self.now, safety.mark)
            step = min(until - t, boundary.mark - s.backward_s)
            s.backward_s += step
            t += step
            self._warn_cap()
            if boundary.due(s, t):
                self._act_on(boundary)
            elif safety is not None and t >= safety.mark:
                self._act_on(safety)
        self._settle_phase()

    def _warn_cap(self) -> None:
        s = self.s
        for deadline in pending(s):
            outcome = deadline.rule.outcome
            if isinstance(outcome, WarnOfCap) and deadline.due(s, self.now):
                assert s.plan is not None
                s.warned = s.warned | {outcome.threshold_s}
                left = s.plan.duration_cap_s - s.backward_s
                self.out.append(CapWarning(s.session_id, outcome.threshold_s, max(0.0, left)))

    def _act_on(self, deadline: Deadline) -> None:
        match deadline.rule.outcome:
            case EndSession() as ending:
                self._end_as(ending)
            case ReachCap():
                self._reach_cap()
            case WarnOfCap() | StepRamp():  # pragma: no cover - acted on by _warn_cap and _settle_phase
                raise AssertionError(f"{deadline.rule.name} does not stop the clock")

    def _reach_cap(self) -> None:
        s = self.s
        assert s.plan is not None
        if not s.link_up:
            # No cool-down can be commanded: end at the cap; the first action on link up is a stop.
            self._fault(EndReason.LINK_LOST, "the cap was reached while the link was down: check the belt")
            return
        before = max(allowed_now(s), s.last_commanded_centi or 0)
        s.cool_down_centi = min(to_centi(s.plan.start_speed_kmh), allowed_now(s))
        if s.cool_down_centi < before:
            # The belt needs time to slow down to the cool-down speed: that is not an overspeed.
            s.slowdown_from_centi, s.slowdown_at = before, self.now
        self._go(Trigger.CAP_REACHED)
        if s.plan.cool_down_s == 0:
            self._end_as(COOL_DOWN_DONE)

    def _settle_phase(self) -> None:
        """Label changes that follow from the ramp: hold over, target reached, ramp lowered."""
        s = self.s
        if s.plan is None:
            return
        target = to_centi(s.plan.target_speed_kmh)
        allowed = allowed_now(s)
        if s.phase is Phase.FAMILIARISE and s.backward_s >= s.ramp.hold_until_s:
            self._go(Trigger.TARGET_REACHED if allowed >= target else Trigger.HOLD_DONE)
        elif s.phase is Phase.RAMP and allowed >= target:
            self._go(Trigger.TARGET_REACHED)
        elif s.phase is Phase.STEADY and allowed < target:
            self._go(Trigger.SLOWED_AT_CONSOLE)

    def _check_deadlines(self) -> None:
        """After the event: the first wall-clock row of the table that is due acts (at most one)."""
        s = self.s
        if s.phase not in SESSION_PHASES:
            return
        for deadline in pending(s):
            if deadline.rule.clock is Clock.WALL and deadline.due(s, self.now):
                self._act_on(deadline)
                return

    def _follow_plan_speed(self) -> None:
        """Command the allowed speed whenever it differs from what was last commanded (ramp, cool-down)."""
        s = self.s
        if s.phase in ACTIVE_PHASES:
            allowed = allowed_now(s)
            if allowed != s.last_commanded_centi:
                self._set_speed(allowed)

    # --- endings and plumbing ------------------------------------------------------------------------
    def _fault(self, reason: EndReason, detail: str) -> None:
        self._end(Trigger.FAULT, reason, detail)

    def _finish(self, trigger: Trigger, reason: EndReason, detail: str) -> None:
        self._end(trigger, reason, detail)

    def _end_as(self, ending: EndSession) -> None:
        self._end(ending.trigger, ending.reason, ending.detail)

    def _end(self, trigger: Trigger, reason: EndReason, detail: str) -> None:
        s = self.s
        next_phase(s.phase, trigger)  # raise before anything is emitted
        self._stop()
        self._go(trigger)
        if not s.link_up:
            detail += " (the link is down, so no stop could be sent: check the belt)"
        s.end_reason = reason
        s.end_detail = detail
        s.ended_at = self.now
        s.awaiting = None
        s.overspeed_since = None
        if (reason in FINISHED_REASONS) != (s.phase is Phase.FINISHED):  # pragma: no cover - a table bug
            raise AssertionError(f"{trigger} from the table ended in {s.phase} with reason {reason}")
        self.out.append(
            SessionEnded(
                session_id=s.session_id,
                user_id=s.user_id,
                treadmill_id=self.ctx.treadmill_id,
                phase=s.phase,
                reason=reason,
                detail=detail,
                backward_s=s.backward_s,
                max_speed_kmh=from_centi(s.max_speed_centi),
                max_allowed_kmh=from_centi(s.max_allowed_centi),
                overspeed_corrections=s.corrections,
            )
        )

    def _go(self, trigger: Trigger) -> None:
        s = self.s
        previous = s.phase
        s.phase = next_phase(previous, trigger)
        if s.phase is not previous:
            self.out.append(
                PhaseChanged(
                    s.session_id,
                    previous,
                    s.phase,
                    from_centi(allowed_now(s)),
                    s.backward_s,
                )
            )

    def _set_speed(self, centi: int) -> None:
        s = self.s
        if self._command(SetTargetSpeed(from_centi(centi))):
            s.last_commanded_centi = centi
            s.max_allowed_centi = max(s.max_allowed_centi, centi)

    def _stop(self) -> None:
        """StopBelt, unless the command just before it already was one."""
        last_command = next((a for a in reversed(self.out) if isinstance(a, COMMAND_TYPES)), None)
        if not isinstance(last_command, StopBelt):
            self._command(StopBelt())

    def _note_slowdown(self, command: Command) -> None:
        """Lowering the speed starts the slow-down allowance; starting the belt ends it."""
        s = self.s
        if isinstance(command, StartBelt | SetTargetSpeed):
            s.slow_since = None  # the belt gets a fresh chance to follow
        if isinstance(command, StartBelt):
            s.slowdown_from_centi = 0
            return
        if s.overspeed_since is not None:
            return  # a correction of a belt that is too fast earns no new allowance
        if isinstance(command, SetTargetSpeed):
            new = to_centi(command.kmh)
        elif isinstance(command, PauseBelt | StopBelt):
            new = 0
        else:
            return
        previous = max(s.last_commanded_centi or 0, limit_now(s, self.now))
        if new < previous:
            s.slowdown_from_centi = previous
            s.slowdown_at = self.now

    def _command(self, command: Command) -> bool:
        """Emit a treadmill command, or nothing at all while the link is down (never queue across a loss)."""
        if not self.s.link_up:
            return False
        self._note_slowdown(command)
        if isinstance(command, PauseBelt | StopBelt):
            # The belt was told to stop: a later stop (a link that blips in a pause, a belt that ignores
            # the stop) must not restart the slow-down allowance from the speed before (rule 4).
            self.s.last_commanded_centi = 0
        self.out.append(command)
        return True
