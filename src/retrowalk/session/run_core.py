"""The engine's clock, safety deadlines and plumbing, shared by every event handler.

:class:`RunCore` holds one event's working state: it counts backward-walking time across the cap,
cool-down and safety boundaries, enforces the deadlines (overspeed grace, stale data, start timeouts),
keeps the commanded speed on the plan, and is the only place that changes the phase (through the table)
or emits a command (never while the link is down).
"""

from __future__ import annotations

import math

from retrowalk.session.events import (
    ACTIVE_PHASES,
    COMMAND_TYPES,
    FINISHED_REASONS,
    SESSION_PHASES,
    Action,
    CapWarning,
    Command,
    DropLink,
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
from retrowalk.session.ramp import next_ramp_change_s
from retrowalk.session.state import EngineContext, SessionState, allowed_now, limit_now
from retrowalk.session.table import Trigger, next_phase

# Judgement (E): a pause longer than this ends the session; resuming after it would be a new session.
MAX_PAUSE_S = 15 * 60

CAP_WARNINGS_S = (60, 10)
# Judgement: Start + Set Target Speed answered within 10 s on every treadmill described in refs §4
# (the slowest needs ~2.5 s after Start); longer means the machine is not doing what it was told.
ARMED_TIMEOUT_S = 10.0
# Judgement: consoles count down ~3 s before the belt moves; a belt still at 0 after 10 s did not start.
BELT_START_TIMEOUT_S = 10.0

_OVERSPEED = "the belt stayed above the allowed speed + tolerance for longer than the grace period"
_STALE = "no treadmill data while the belt should move: check the treadmill and the connection"
_STILL = "the treadmill confirmed the start but the belt stayed still"
_DROP_SILENT_LINK = "telemetry stopped while the belt should move"


def quiet_until(s: SessionState) -> float:
    """The earliest time at which a Tick could emit an action or change the phase, for the state as the
    last event left it (at ``s.last_now``); ``math.inf`` outside a session.

    A runner may skip the ticks before it, which spares a fleet most of its ticks: while samples keep
    coming, a steady session has nothing due until the next sample is late. Every rule that acts
    without an event is here: the stale-data and belt-start deadlines, the cap and its warnings, the end
    of cool-down, the end of the hold and each ramp step. What is not worked out exactly answers "now"
    (tick as usual): a start in progress, a pause, a pending overspeed, a link that is down, a speed
    still to be commanded. Being early costs a tick that does nothing; being late would delay a safety
    rule, which the engine's state-machine test checks against the engine itself.
    """
    now = s.last_now
    plan = s.plan
    if plan is None or s.phase not in SESSION_PHASES:
        return math.inf
    if s.phase not in ACTIVE_PHASES or not s.link_up or s.overspeed_since is not None:
        return now
    if allowed_now(s) != s.last_commanded_centi:
        return now
    due = [max(s.last_sample_at, s.belt_started_at) + plan.stale_telemetry_s]
    if not s.belt_seen_moving:
        due.append(s.belt_started_at + BELT_START_TIMEOUT_S)
    # In these phases backward-walking time runs with the clock: a mark b is reached at now + (b - backward).
    if s.phase is Phase.COOL_DOWN:
        marks = [float(plan.duration_cap_s + plan.cool_down_s)]
    else:
        marks = [float(plan.duration_cap_s)]
        marks += [float(plan.duration_cap_s - t) for t in CAP_WARNINGS_S if t not in s.warned]
        if s.phase is not Phase.STEADY:
            marks.append(next_ramp_change_s(s.ramp, plan, s.backward_s))
    due += [now + (mark - s.backward_s) for mark in marks]
    return min(due)


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

        Boundaries are the cap, the end of cool-down, and the moment a safety rule would have stopped
        the belt (stale data, overspeed grace, a belt that never moved). So even a clock jump (a caller
        that stalled) never counts time past cap + cool-down, nor past the moment the belt should have
        stopped, and the session ends with the reason that came first.
        """
        s = self.s
        t = s.last_now if math.isfinite(s.last_now) else self.now
        s.last_now = self.now
        while t < self.now and s.phase in ACTIVE_PHASES and s.plan is not None:
            cap = float(s.plan.duration_cap_s)
            boundary = cap + s.plan.cool_down_s if s.phase is Phase.COOL_DOWN else cap
            safety = self._first_safety_deadline()
            until = self.now if safety is None else min(self.now, safety[0])
            step = min(until - t, boundary - s.backward_s)
            s.backward_s += step
            t += step
            self._warn_cap()
            if s.backward_s >= boundary:
                if s.phase is Phase.COOL_DOWN:
                    self._finish(Trigger.COOL_DOWN_DONE, EndReason.COMPLETED, "the session is complete")
                else:
                    self._reach_cap()
            elif safety is not None and t >= safety[0]:
                self._fault(safety[1], safety[2])
        self._settle_phase()

    def _first_safety_deadline(self) -> tuple[float, EndReason, str] | None:
        """The earliest time before ``now`` at which a rule stops the belt (strictly before: at ``now``
        itself the checks after the event decide, with the event's news taken into account)."""
        s = self.s
        assert s.plan is not None
        deadlines: list[tuple[float, EndReason, str]] = []
        if s.overspeed_since is not None:
            deadlines.append((s.overspeed_since + s.plan.overspeed_grace_s, EndReason.OVERSPEED, _OVERSPEED))
        if s.link_up:
            fresh = max(s.last_sample_at, s.belt_started_at)
            deadlines.append((fresh + s.plan.stale_telemetry_s, EndReason.STALE_TELEMETRY, _STALE))
            if not s.belt_seen_moving:
                deadlines.append(
                    (s.belt_started_at + BELT_START_TIMEOUT_S, EndReason.BELT_DID_NOT_START, _STILL)
                )
        due = [d for d in deadlines if d[0] < self.now]
        return min(due, key=lambda d: d[0]) if due else None

    def _warn_cap(self) -> None:
        s = self.s
        if s.plan is None or s.phase is Phase.COOL_DOWN:
            return
        left = s.plan.duration_cap_s - s.backward_s
        for threshold in CAP_WARNINGS_S:
            if left <= threshold and threshold not in s.warned:
                s.warned = s.warned | {threshold}
                self.out.append(CapWarning(s.session_id, threshold, max(0.0, left)))

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
            self._finish(Trigger.COOL_DOWN_DONE, EndReason.COMPLETED, "the session is complete")

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
        s = self.s
        if s.plan is None or s.phase not in SESSION_PHASES:
            return
        if s.overspeed_since is not None and self.now - s.overspeed_since >= s.plan.overspeed_grace_s:
            if s.phase is Phase.PAUSED:
                self._fault(EndReason.BELT_DID_NOT_PAUSE, "the belt kept moving after a pause")
            else:
                self._fault(EndReason.OVERSPEED, _OVERSPEED)
            return
        if s.phase is Phase.PAUSED and self.now - s.paused_at > MAX_PAUSE_S:
            # Nobody came back (a kiosk closed, a link lost and never resumed): the treadmill is freed.
            self._finish(
                Trigger.STOP, EndReason.PAUSED_TOO_LONG, f"paused for over {MAX_PAUSE_S // 60:.0f} minutes"
            )
            return
        if not s.link_up:
            return  # nothing can be commanded; the clock still runs (handled in advance_clock)
        if s.phase is Phase.ARMED and self.now - s.armed_at > ARMED_TIMEOUT_S:
            self._fault(
                EndReason.START_TIMEOUT, f"the treadmill did not confirm the start in {ARMED_TIMEOUT_S} s"
            )
        elif s.phase in ACTIVE_PHASES:
            fresh = max(s.last_sample_at, s.belt_started_at)
            if self.now - fresh > s.plan.stale_telemetry_s:
                self._fault(EndReason.STALE_TELEMETRY, _STALE)
            elif not s.belt_seen_moving and self.now - s.belt_started_at > BELT_START_TIMEOUT_S:
                self._fault(EndReason.BELT_DID_NOT_START, _STILL)

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
        if reason is EndReason.STALE_TELEMETRY:
            self.out.append(DropLink(_DROP_SILENT_LINK))

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
