"""How the session engine answers each event: the event-driven rules of docs/safety.md, as code.

:func:`handle` takes one event through a :class:`~retrowalk.session.turn.Turn` (a working copy of the
state; the engine keeps it only when the whole event was handled, so a refusal changes nothing): the
clock first, then the event's own rule, then the timed rules due and the speed the plan allows. The timed
rules (stale data, overspeed grace, cap, ...) are the table in :mod:`retrowalk.session.deadlines`.
"""

from __future__ import annotations

import math

from retrowalk.errors import RefusedError
from retrowalk.session.clock import advance_clock, check_deadlines, follow_plan_speed, settle_phase
from retrowalk.session.events import (
    ACTIVE_PHASES,
    SESSION_PHASES,
    STOP_DETAILS,
    TERMINAL_PHASES,
    CommandKind,
    CommandResult,
    EndReason,
    Event,
    LinkDown,
    LinkUp,
    MachineStatus,
    MachineStatusKind,
    OverspeedCorrected,
    PainReported,
    Pause,
    PauseBelt,
    Phase,
    ResultCode,
    Resume,
    SessionStarted,
    SetTargetIncline,
    Start,
    StartBelt,
    Stop,
    StopBelt,
    StopNotConfirmed,
    Telemetry,
    Tick,
    TreadmillFault,
)
from retrowalk.session.grid import fit_plan_to_grid
from retrowalk.session.plan import SessionPlan, from_centi, to_centi, validate_plan
from retrowalk.session.ramp import RampState, floor_to_ramp_grid
from retrowalk.session.safety_constants import FOLLOW_TIMEOUT_S, STOP_PAIN, STOP_WATCH_S
from retrowalk.session.state import SessionState
from retrowalk.session.table import Trigger, next_phase
from retrowalk.session.turn import Turn

__all__ = ["handle"]

_REFUSALS = frozenset(
    {ResultCode.CONTROL_NOT_PERMITTED, ResultCode.NOT_SUPPORTED, ResultCode.INVALID_PARAMETER}
)


# --- dispatch ------------------------------------------------------------------------------------
def handle(turn: Turn, event: Event) -> None:
    """Apply ``event`` at ``turn.now``: raise RefusedError for what is not allowed (the caller then drops
    the turn's copy of the state), else append the actions to ``turn.out``."""
    if isinstance(event, LinkDown):
        # Whatever the clock brings up to now could only be issued over a link already gone.
        turn.s.link_up = False
    advance_clock(turn)
    match event:
        case Start():
            _on_start(turn, event)
        case Stop():
            _on_stop(turn, event)
        case Pause():
            _on_pause(turn)
        case Resume():
            _on_resume(turn)
        case Telemetry():
            _on_telemetry(turn, event)
        case MachineStatus():
            _on_machine_status(turn, event)
        case CommandResult():
            _on_command_result(turn, event)
        case LinkUp():
            _on_link_up(turn)
        case LinkDown():
            _on_link_down(turn)
        case TreadmillFault():
            _on_treadmill_fault(turn, event)
        case PainReported():
            _on_pain_reported(turn, event)
        case Tick():
            pass
        case _:
            raise RefusedError(f"unknown event {event!r}")
    check_deadlines(turn)
    settle_phase(turn)
    follow_plan_speed(turn)


# --- kiosk commands ------------------------------------------------------------------------------
def _on_start(turn: Turn, event: Start) -> None:
    s = turn.s
    target_phase = next_phase(s.phase, Trigger.START)
    if not isinstance(event.user_id, str) or not event.user_id:
        raise RefusedError("a session needs a user_id")
    if not isinstance(event.plan, SessionPlan):
        raise RefusedError(f"plan must be a SessionPlan, got {type(event.plan).__name__}")
    # A treadmill with a coarser speed increment than the plan's runs the plan fitted to its grid.
    plan = validate_plan(fit_plan_to_grid(event.plan, turn.ctx.caps), turn.ctx.ceilings, turn.ctx.caps)
    if not s.link_up:
        raise RefusedError("cannot start: the link to the treadmill is down", code="not_connected")
    number = s.sessions_started + 1
    # The newest sample stays the newest: a late one from before this session must not count as news.
    fresh = SessionState(
        link_up=True,
        sessions_started=number,
        last_now=turn.now,
        phase=s.phase,
        last_sample_at=s.last_sample_at,
        last_speed_centi=s.last_speed_centi,
        safety_key_out=s.safety_key_out,
    )
    fresh.session_id = event.session_id or f"{turn.ctx.treadmill_id}-{number}"
    fresh.user_id = event.user_id
    fresh.plan = plan
    fresh.ramp = RampState.fresh(plan, backward_s=0.0)
    turn.s = s = fresh
    turn.out.append(SessionStarted(s.session_id, s.user_id, turn.ctx.treadmill_id, plan))
    assert target_phase is Phase.ARMED
    _arm(turn, Trigger.START)


def _arm(turn: Turn, trigger: Trigger) -> None:
    """Set incline and target speed first; the belt is started only once the speed was accepted.

    The speed is the last command of the list, so its success is what releases the start.
    """
    s = turn.s
    assert s.plan is not None
    turn.go(trigger)
    s.armed_at = turn.now
    s.awaiting = CommandKind.SET_TARGET_SPEED
    s.overspeed_since = None
    if turn.ctx.caps.can_set_incline:
        turn.command(SetTargetIncline(s.plan.incline_pct))
    turn.set_speed(turn.allowed())


def _on_stop(turn: Turn, event: Stop) -> None:
    s = turn.s
    if s.phase in SESSION_PHASES:
        # Never refused: a stop with a reason that is not a stop's is still a stop, from the kiosk.
        reason = event.reason if event.reason in STOP_DETAILS else EndReason.KIOSK_STOP
        detail = event.detail if isinstance(event.detail, str) and event.detail else STOP_DETAILS[reason]
        turn.end(Trigger.STOP, reason, detail)
    else:
        next_phase(s.phase, Trigger.STOP)  # legal everywhere; kept for the table's sake
        turn.command(StopBelt())


def _on_pause(turn: Turn) -> None:
    s = turn.s
    next_phase(s.phase, Trigger.PAUSE)
    if not s.link_up:
        raise RefusedError(
            "cannot pause: the link is down (the session stops when it returns)", code="not_connected"
        )
    turn.command(PauseBelt())
    _pause(turn, Trigger.PAUSE)


def _pause(turn: Turn, trigger: Trigger) -> None:
    s = turn.s
    turn.go(trigger)
    s.paused_at = turn.now
    s.overspeed_since = None
    # In a pause the belt has been told to stop, by retrowalk or at the console (which sends nothing of
    # ours): a stop sent later (a link that returns) is to a belt already told to stop and must not
    # restart the slow-down allowance from the walking speed (rule 4).
    s.last_commanded_centi = 0
    # belt_seen_moving is read only in the active phases, and every way back to them starts the belt
    # (_belt_started), which resets it.


def _on_resume(turn: Turn) -> None:
    s = turn.s
    next_phase(s.phase, Trigger.RESUME)
    if not s.link_up:
        raise RefusedError("cannot resume: the link to the treadmill is down", code="not_connected")
    _prepare_resume(turn)
    _arm(turn, Trigger.RESUME)


def _prepare_resume(turn: Turn) -> None:
    """A long pause (or a lost link) restarts at the start speed with a fresh hold, then ramps again."""
    s = turn.s
    assert s.plan is not None
    if s.restart_on_resume or turn.now - s.paused_at > s.plan.pause_restart_after_s:
        s.ramp = RampState.fresh(s.plan, backward_s=s.backward_s)
    s.restart_on_resume = False
    s.last_commanded_centi = None  # the treadmill may have forgotten our target while stopped


# --- treadmill reports ---------------------------------------------------------------------------
def _on_telemetry(turn: Turn, event: Telemetry) -> None:
    s = turn.s
    speed, at = event.speed_kmh, event.at
    for name, value in (("speed_kmh", speed), ("at", at)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise RefusedError(f"telemetry {name} must be a finite number, got {value!r}")
    if speed < 0:
        raise RefusedError(f"telemetry speed_kmh must not be negative, got {speed}")
    at = min(float(at), turn.now)
    if not s.link_up or at <= s.last_sample_at:
        # Nothing can come over a lost link; a sample that does is stale. Late or duplicate samples
        # must not hide a newer one.
        return
    s.last_sample_at = at
    measured = to_centi(speed)
    s.last_speed_centi = measured
    if measured > 0:
        s.safety_key_out = False  # a moving belt has its key in
    if s.phase in TERMINAL_PHASES and s.plan is not None:
        _watch_after_the_end(turn, measured)
        return
    if s.phase not in SESSION_PHASES or s.plan is None:
        return
    s.max_speed_centi = max(s.max_speed_centi, measured)
    if s.phase in ACTIVE_PHASES:
        if measured > 0:
            s.belt_seen_moving = True
        elif s.belt_seen_moving:
            turn.fault(EndReason.BELT_STOPPED, "the belt stopped but nobody stopped it from retrowalk")
            return
    _check_overspeed(turn, measured, at)
    if s.phase in ACTIVE_PHASES:
        _check_following(turn, measured, at)


def _check_following(turn: Turn, measured: int, at: float) -> None:
    """Some treadmills answer success to Set Target Speed and ignore it (refs §4). Slower is safe, but
    the session is not the one planned and nobody would know: a belt that stays well below what it
    accepted is a treadmill that cannot honour the plan."""
    s = turn.s
    assert s.plan is not None
    commanded = s.last_commanded_centi
    if commanded is None or measured >= commanded - to_centi(s.plan.overspeed_tolerance_kmh):
        s.slow_since = None
        return
    if s.slow_since is None:
        s.slow_since = at
    elif at - s.slow_since > FOLLOW_TIMEOUT_S:
        turn.fault(
            EndReason.TREADMILL_FAULT,
            f"the treadmill accepted {from_centi(commanded)} km/h but the belt stayed at "
            f"{from_centi(measured)} km/h for {FOLLOW_TIMEOUT_S:.0f} s: it ignores speed commands",
        )


def _watch_after_the_end(turn: Turn, measured: int) -> None:
    """Some treadmills answer success and ignore commands (refs §4): a belt still moving well after
    retrowalk stopped it is stopped again and reported, for a short while after the end (after that a
    person may be using the console on purpose)."""
    s = turn.s
    assert s.plan is not None
    since_end = turn.now - s.ended_at
    if (
        measured > turn.limit(turn.now) + to_centi(s.plan.overspeed_tolerance_kmh)
        and s.plan.overspeed_grace_s <= since_end <= STOP_WATCH_S
        and turn.now - s.last_restop_at >= s.plan.overspeed_grace_s
    ):
        s.last_restop_at = turn.now
        turn.command(StopBelt())
        turn.out.append(StopNotConfirmed(s.session_id, ResultCode.UNKNOWN))


def _check_overspeed(turn: Turn, measured: int, at: float) -> None:
    s = turn.s
    assert s.plan is not None
    allowed = turn.allowed()
    # Right after retrowalk lowered the speed, the belt is still slowing down: judge it by the limit.
    if measured <= turn.limit(at) + to_centi(s.plan.overspeed_tolerance_kmh):
        s.overspeed_since = None
        return
    if s.overspeed_since is not None:
        return  # already corrected; _check_deadlines stops the belt when the grace runs out
    s.overspeed_since = at
    s.corrections += 1
    turn.out.append(OverspeedCorrected(s.session_id, from_centi(measured), from_centi(allowed)))
    if s.phase is Phase.PAUSED:
        turn.command(StopBelt())
    else:
        turn.set_speed(allowed)


def _on_machine_status(turn: Turn, event: MachineStatus) -> None:
    s = turn.s
    kind = event.kind
    if not isinstance(kind, MachineStatusKind):
        raise RefusedError(f"unknown machine status {kind!r}")
    if s.link_up and kind in (MachineStatusKind.SAFETY_KEY, MachineStatusKind.USER_START):
        # Remembered outside sessions too: the key is often pulled after one ends.
        s.safety_key_out = kind is MachineStatusKind.SAFETY_KEY
    if s.phase not in SESSION_PHASES or s.plan is None or not s.link_up:
        return  # not our session (a person may use the console freely), or a stale report
    match kind:
        case MachineStatusKind.SAFETY_KEY:
            turn.fault(EndReason.SAFETY_KEY, "the safety key was pulled")
        case MachineStatusKind.CONTROL_LOST:
            turn.fault(EndReason.CONTROL_LOST, "the treadmill withdrew retrowalk's control")
        case MachineStatusKind.RESET:
            turn.fault(EndReason.MACHINE_RESET, "the treadmill reset itself")
        case MachineStatusKind.USER_STOP:
            turn.end(Trigger.CONSOLE_STOP, EndReason.USER_STOP, "stopped at the treadmill's console")
        case MachineStatusKind.USER_PAUSE:
            _on_console_pause(turn)
        case MachineStatusKind.USER_START:
            if s.phase is Phase.PAUSED:
                _on_console_start(turn)
        case MachineStatusKind.TARGET_SPEED_CHANGED:
            _on_console_speed(turn, _finite_or_refuse(event.value, "target speed"))
        case MachineStatusKind.TARGET_INCLINE_CHANGED:
            _on_console_incline(turn, _finite_or_refuse(event.value, "target incline"))


def _on_treadmill_fault(turn: Turn, event: TreadmillFault) -> None:
    if not isinstance(event.detail, str) or not event.detail:
        raise RefusedError("a treadmill fault needs a detail a person can act on")
    if turn.s.phase in SESSION_PHASES:
        turn.fault(EndReason.TREADMILL_FAULT, event.detail)


def _on_pain_reported(turn: Turn, event: PainReported) -> None:
    """Pain above the threshold ends the session at once: the walker is hurting, not the treadmill."""
    if not isinstance(event.user_id, str) or not event.user_id:
        raise RefusedError("a pain report needs a user_id")
    score = event.score
    if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 10:
        raise RefusedError(f"pain must be a whole number from 0 to 10, got {score!r}")
    s = turn.s
    if s.phase in SESSION_PHASES and event.user_id == s.user_id and score > STOP_PAIN:
        turn.end(
            Trigger.STOP,
            EndReason.PAIN_REPORTED,
            f"pain {score}/10 reported during the session, above the stop threshold of {STOP_PAIN}/10",
        )


def _on_console_pause(turn: Turn) -> None:
    s = turn.s
    if s.phase in (Phase.FAMILIARISE, Phase.RAMP, Phase.STEADY):
        _pause(turn, Trigger.CONSOLE_PAUSE)
    elif s.phase in (Phase.ARMED, Phase.COOL_DOWN):
        turn.end(Trigger.CONSOLE_PAUSE, EndReason.USER_STOP, "paused at the console; the session ended")


def _on_console_start(turn: Turn) -> None:
    """Someone pressed start at the console during a pause: take over at the resume speed at once."""
    _prepare_resume(turn)
    turn.go(Trigger.CONSOLE_START)
    _belt_started(turn)
    turn.set_speed(turn.allowed())


def _on_console_speed(turn: Turn, value: float) -> None:
    s = turn.s
    assert s.plan is not None
    if s.phase is Phase.PAUSED:
        return
    changed = to_centi(value)
    allowed = turn.allowed()
    if changed == s.last_commanded_centi:
        return  # the treadmill echoing our own command
    if changed > allowed:
        # A speed-up at the console is overspeed: answer it at once (telemetry decides about the stop).
        s.corrections += 1
        belt = None if s.last_speed_centi is None else from_centi(s.last_speed_centi)
        turn.out.append(
            OverspeedCorrected(
                s.session_id, belt, from_centi(allowed), console_target_kmh=from_centi(changed)
            )
        )
        turn.set_speed(allowed)
        return
    # Slower is always allowed, and becomes the base the ramp climbs from.
    s.last_commanded_centi = changed
    s.slow_since = None
    if s.phase is Phase.COOL_DOWN:
        s.cool_down_centi = min(s.cool_down_centi, changed)
    elif s.phase in (Phase.FAMILIARISE, Phase.RAMP, Phase.STEADY, Phase.ARMED):
        base = floor_to_ramp_grid(changed, s.plan, min_centi=to_centi(turn.ctx.caps.min_speed_kmh))
        s.ramp = s.ramp.lowered(base, backward_s=s.backward_s, plan=s.plan)


def _on_console_incline(turn: Turn, value: float) -> None:
    s = turn.s
    assert s.plan is not None
    if to_centi(value) <= to_centi(s.plan.incline_pct):
        return
    if turn.ctx.caps.can_set_incline:
        turn.command(SetTargetIncline(s.plan.incline_pct))
    else:
        turn.fault(EndReason.INCLINE_CHANGED, f"the incline was raised to {value} % at the console")


def _on_command_result(turn: Turn, event: CommandResult) -> None:
    s = turn.s
    if not isinstance(event.command, CommandKind) or not isinstance(event.result, ResultCode):
        raise RefusedError(f"malformed command result {event!r}")
    in_session = s.phase in SESSION_PHASES
    if not event.ok:
        if event.command is CommandKind.STOP:
            turn.out.append(StopNotConfirmed(s.session_id, event.result))
        if in_session and event.command is CommandKind.START and s.safety_key_out:
            turn.fault(
                EndReason.SAFETY_KEY,
                f"the treadmill did not start ({event.result.value}) and its last report said the "
                "safety key is out: put the safety key back in, then start the session again",
            )
        elif in_session:
            reason = EndReason.COMMAND_REFUSED if event.result in _REFUSALS else EndReason.COMMAND_FAILED
            turn.fault(reason, _failure_detail(event))
        return
    if event.command is CommandKind.START:
        s.safety_key_out = False  # the treadmill started: the key is in
    if s.phase is not Phase.ARMED or event.command is not s.awaiting:
        return  # a success nobody waits for (an echo, a late reply): nothing to do
    if event.command is CommandKind.SET_TARGET_SPEED:
        s.awaiting = CommandKind.START
        turn.command(StartBelt())
    else:
        s.awaiting = None
        turn.go(Trigger.BELT_STARTED)
        _belt_started(turn)


def _belt_started(turn: Turn) -> None:
    s = turn.s
    s.belt_started_at = turn.now
    s.belt_seen_moving = False
    # overspeed_since is kept: a belt that was already too fast while starting keeps its grace clock.


# --- the link ------------------------------------------------------------------------------------
def _on_link_down(turn: Turn) -> None:
    s = turn.s
    s.link_up = False
    s.overspeed_since = None  # samples cannot arrive; the grace restarts with the next fresh one
    if s.phase is Phase.ARMED:
        turn.fault(EndReason.LINK_LOST, "the link was lost while the belt was being started")


def _on_link_up(turn: Turn) -> None:
    s = turn.s
    # After a loss this is None (the link-down cleared it). A link reported up while it was up lost no
    # data: a belt already found too fast keeps its grace clock through the re-pause below, or every such
    # report would give it a fresh grace period.
    too_fast_since = s.overspeed_since
    s.link_up = True
    # The belt's state after a loss is unknown (some restart by themselves): the first action is a
    # stop, during a session, after one, or before any; and a session never resumes by itself.
    turn.stop()
    s.last_commanded_centi = None
    s.restart_on_resume = True
    if s.phase is Phase.ARMED:
        turn.fault(EndReason.LINK_LOST, "the link dropped and returned while the belt was being started")
    elif s.phase is Phase.COOL_DOWN:
        turn.end(Trigger.LINK_RECOVERED, EndReason.LINK_LOST, "the link was lost during cool-down")
    elif s.phase in ACTIVE_PHASES or s.phase is Phase.PAUSED:
        # A session already paused stays paused since its pause began: a link that drops and returns (or
        # is reported up again) must not give it another 15 minutes before the treadmill is freed.
        paused_since = s.paused_at if s.phase is Phase.PAUSED else None
        _pause(turn, Trigger.LINK_RECOVERED)
        s.overspeed_since = too_fast_since
        if paused_since is not None:
            s.paused_at = paused_since


def _finite_or_refuse(value: float | None, what: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise RefusedError(f"machine status {what} must be a finite number, got {value!r}")
    return float(value)


def _failure_detail(event: CommandResult) -> str:
    advice = {
        ResultCode.CONTROL_NOT_PERMITTED: "the treadmill refused control; check its console and reconnect",
        ResultCode.NOT_SUPPORTED: "the treadmill does not support this; check its capabilities",
        ResultCode.INVALID_PARAMETER: "the treadmill rejected the value; check its speed range",
        ResultCode.FAILED: "the treadmill could not do it; check the treadmill",
        ResultCode.TIMEOUT: "the treadmill did not answer; check the connection",
        ResultCode.UNKNOWN: "the treadmill's reply was not understood; check the treadmill",
    }[event.result]
    return f"{event.command.value} answered {event.result.value}: {advice}"
