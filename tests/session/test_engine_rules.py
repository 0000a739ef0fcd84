"""One test (or table of cases) per rule of issue 3, with the clock stepped by the test."""

from __future__ import annotations

import pytest

from retrowalk.errors import IllegalTransitionError, PlanError, RefusedError
from retrowalk.session.events import (
    CapWarning,
    CommandKind,
    EndReason,
    LinkDown,
    LinkUp,
    MachineStatus,
    MachineStatusKind,
    OverspeedCorrected,
    PainReported,
    Pause,
    PauseBelt,
    Phase,
    PhaseChanged,
    ResultCode,
    Resume,
    SessionEnded,
    SetTargetIncline,
    SetTargetSpeed,
    Start,
    StartBelt,
    Stop,
    StopBelt,
    StopNotConfirmed,
    Telemetry,
    Tick,
)
from retrowalk.session.plan import SessionPlan

from .session_rig import GYM, Rig, commands, full_state, of_type, speeds


def ended(rig: Rig) -> SessionEnded:
    ends = of_type(rig.log, SessionEnded)
    assert len(ends) == 1, ends
    return ends[0]


# --- the target speed is set before the belt is started -----------------------------------------------
def test_target_speed_is_set_and_accepted_before_the_belt_starts() -> None:
    rig = Rig()
    rig.send(LinkUp())
    out = rig.send(Start("walker", SessionPlan()), dt=1)
    assert commands(out) == [SetTargetSpeed(1.0)]
    assert rig.phase() is Phase.ARMED
    assert commands(rig.result(CommandKind.SET_TARGET_SPEED)) == [StartBelt()]
    out = rig.result(CommandKind.START)
    assert rig.phase() is Phase.FAMILIARISE
    assert of_type(out, PhaseChanged)[-1].phase is Phase.FAMILIARISE


def test_incline_is_set_first_when_the_treadmill_takes_one() -> None:
    rig = Rig(caps=GYM)
    rig.send(LinkUp())
    out = rig.send(Start("walker", SessionPlan(incline_pct=1.0)))
    assert commands(out) == [SetTargetIncline(1.0), SetTargetSpeed(1.0)]
    # The incline's success does not start the belt: only the speed's does.
    assert commands(rig.result(CommandKind.SET_TARGET_INCLINE)) == []
    assert commands(rig.result(CommandKind.SET_TARGET_SPEED)) == [StartBelt()]


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (ResultCode.CONTROL_NOT_PERMITTED, EndReason.COMMAND_REFUSED),
        (ResultCode.INVALID_PARAMETER, EndReason.COMMAND_REFUSED),
        (ResultCode.NOT_SUPPORTED, EndReason.COMMAND_REFUSED),
        (ResultCode.FAILED, EndReason.COMMAND_FAILED),
        (ResultCode.TIMEOUT, EndReason.COMMAND_FAILED),
        (ResultCode.UNKNOWN, EndReason.COMMAND_FAILED),
    ],
)
def test_a_target_speed_not_accepted_means_no_start(result: ResultCode, reason: EndReason) -> None:
    rig = Rig()
    rig.send(LinkUp())
    rig.send(Start("walker", SessionPlan()))
    out = rig.result(CommandKind.SET_TARGET_SPEED, result)
    assert StartBelt() not in rig.log
    assert commands(out) == [StopBelt()]
    assert rig.phase() is Phase.ABORTED
    assert ended(rig).reason is reason
    assert result.value in ended(rig).detail


def test_start_not_confirmed_in_time_aborts() -> None:
    rig = Rig()
    rig.send(LinkUp())
    rig.send(Start("walker", SessionPlan()))
    assert commands(rig.tick(9.0)) == []
    out = rig.tick(1.5)
    assert commands(out) == [StopBelt()]
    assert ended(rig).reason is EndReason.START_TIMEOUT


def test_start_refused_while_link_down_changes_nothing() -> None:
    rig = Rig()
    before = full_state(rig.engine)
    with pytest.raises(RefusedError, match="link"):
        rig.send(Start("walker", SessionPlan()))
    assert full_state(rig.engine) == before


def test_a_plan_beyond_the_ceiling_is_refused_by_the_engine_too() -> None:
    rig = Rig()
    rig.send(LinkUp())
    before = full_state(rig.engine)
    with pytest.raises(PlanError, match=r"target_speed_kmh=3\.5"):
        rig.send(Start("walker", SessionPlan(target_speed_kmh=3.5)))
    assert full_state(rig.engine) == before


# --- start speed and overspeed -------------------------------------------------------------------------
def test_a_treadmill_that_starts_at_its_own_speed_is_corrected_at_once() -> None:
    rig = Rig()
    rig.start()
    out = rig.sample(3.0, dt=0.5)  # some start at their own default speed
    assert commands(out) == [SetTargetSpeed(1.0)]
    assert of_type(out, OverspeedCorrected) == [OverspeedCorrected("tm-1-1", 3.0, 1.0)]
    out = rig.sample(1.1, dt=1.0)  # it obeyed within the grace period
    assert commands(out) == []
    assert rig.phase() is Phase.FAMILIARISE


def test_overspeed_still_above_after_the_grace_period_stops_the_belt() -> None:
    rig = Rig()
    rig.start()
    rig.sample(1.0, dt=0.5)
    rig.sample(1.4, dt=0.5)  # 1.0 + 0.3 tolerance exceeded
    assert commands(rig.sample(1.4, dt=1.5)) == []
    assert commands(rig.sample(1.4, dt=1.0)) == []  # 2.5 s into the grace period
    out = rig.tick(0.5)  # 3.0 s: stop, even without a new sample
    assert commands(out) == [StopBelt()]
    assert ended(rig).reason is EndReason.OVERSPEED
    assert ended(rig).phase is Phase.ABORTED


def test_within_tolerance_is_not_overspeed() -> None:
    rig = Rig()
    rig.start()
    out = rig.walk(10, speed=1.3)
    assert of_type(out, OverspeedCorrected) == []
    assert rig.phase() is Phase.FAMILIARISE


def test_a_treadmill_that_accepts_a_speed_and_ignores_it_is_stopped() -> None:
    rig = Rig()
    rig.start()
    rig.walk(60, speed=1.0)
    rig.walk(1.0)  # ramped to 1.1
    assert rig.phase() is Phase.RAMP
    # It answers success to every speed but the belt runs at 2.0.
    rig.result(CommandKind.SET_TARGET_SPEED)
    out = rig.walk(4, speed=2.0)
    assert len(of_type(out, OverspeedCorrected)) == 1
    assert commands(out)[-1] == StopBelt()
    assert ended(rig).reason is EndReason.OVERSPEED


def test_a_speed_jump_by_the_treadmill_itself_is_overspeed() -> None:
    rig = Rig()
    rig.start()
    rig.walk(30, speed=1.0)
    out = rig.sample(22.0, dt=0.5)
    assert speeds(out) == [1.0]
    rig.walk(3.0, speed=22.0)
    assert ended(rig).reason is EndReason.OVERSPEED


def test_speed_up_at_the_console_counts_as_overspeed() -> None:
    rig = Rig()
    rig.start()
    rig.walk(10, speed=1.0)
    rig.sample(1.05, dt=0.1)
    out = rig.send(MachineStatus(MachineStatusKind.TARGET_SPEED_CHANGED, 2.5), dt=0.1)
    assert speeds(out) == [1.0]
    corrected = of_type(out, OverspeedCorrected)
    # Measured is the belt's last sample, not the speed keyed in; that goes in a field of its own.
    assert [c.measured_kmh for c in corrected] == [1.05]
    assert corrected == [OverspeedCorrected("tm-1-1", 1.05, 1.0, console_target_kmh=2.5)]
    rig.walk(4, speed=2.5)
    assert ended(rig).reason is EndReason.OVERSPEED


def test_a_console_speed_up_before_any_sample_has_no_measured_speed() -> None:
    rig = Rig()
    rig.start()
    out = rig.send(MachineStatus(MachineStatusKind.TARGET_SPEED_CHANGED, 2.5), dt=0.1)
    assert speeds(out) == [1.0]
    assert [c.measured_kmh for c in of_type(out, OverspeedCorrected)] == [None]


def test_a_belt_overspeed_has_no_console_target() -> None:
    rig = Rig()
    rig.start()
    corrected = of_type(rig.sample(2.0, dt=0.5), OverspeedCorrected)
    assert [(c.measured_kmh, c.console_target_kmh) for c in corrected] == [(2.0, None)]


def test_our_own_target_echoed_by_the_treadmill_is_not_a_console_change() -> None:
    rig = Rig()
    rig.start()
    rig.walk(5)
    out = rig.send(MachineStatus(MachineStatusKind.TARGET_SPEED_CHANGED, 1.0), dt=0.1)
    assert out == []


# --- the allowed speed follows the plan ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("backward_s", "allowed"),
    [(0, 1.0), (30, 1.0), (59.5, 1.0), (60, 1.1), (89.5, 1.1), (90, 1.2), (150, 1.4), (180, 1.5), (299, 1.5)],
)
def test_allowed_speed_follows_hold_and_ramp(backward_s: float, allowed: float) -> None:
    rig = Rig()
    rig.start()
    rig.walk(backward_s, every=0.5)
    assert rig.engine.elapsed_backward_s == backward_s
    assert rig.engine.allowed_speed(rig.now) == allowed
    assert rig.engine.snapshot().allowed_kmh == allowed


def test_allowed_speed_is_zero_once_a_safety_rule_would_have_stopped_the_belt() -> None:
    rig = Rig()
    rig.start()
    rig.walk(10)
    assert rig.engine.allowed_speed(rig.now + 2.9) == 1.0
    assert rig.engine.allowed_speed(rig.now + 30) == 0.0  # stale data by then
    assert rig.phase() is Phase.FAMILIARISE  # a preview changes nothing


def test_the_ramp_commands_one_step_per_interval_and_never_above_target() -> None:
    rig = Rig()
    out = rig.start(SessionPlan(target_speed_kmh=1.3, duration_cap_s=600))
    out += rig.walk(400)
    assert speeds(out) == [1.0, 1.1, 1.2, 1.3]
    phases = [p.phase for p in of_type(out, PhaseChanged)]
    assert phases == [Phase.ARMED, Phase.FAMILIARISE, Phase.RAMP, Phase.STEADY]


def test_start_equal_to_target_goes_steady_after_the_hold() -> None:
    rig = Rig()
    out = rig.start(SessionPlan(target_speed_kmh=1.0))
    out += rig.walk(61)
    assert [p.phase for p in of_type(out, PhaseChanged)][-1] is Phase.STEADY
    assert speeds(out) == [1.0]


def test_slower_at_the_console_is_allowed_and_lowers_the_ramp_base() -> None:
    rig = Rig()
    rig.start(SessionPlan(target_speed_kmh=2.0, duration_cap_s=900))
    rig.walk(120)  # 1.0 -> 1.3 at 120 s of backward time
    assert rig.engine.allowed_speed(rig.now) == 1.3
    out = rig.send(MachineStatus(MachineStatusKind.TARGET_SPEED_CHANGED, 1.1), dt=0.1)
    assert commands(out) == []  # slower is fine: nothing to correct
    assert rig.engine.allowed_speed(rig.now) == 1.1
    out = rig.walk(29.5, speed=1.1)
    assert speeds(out) == []  # the next step comes a full interval after the slow-down
    out = rig.walk(1.0)
    assert speeds(out) == [1.2]


def test_slowing_in_steady_goes_back_to_ramp() -> None:
    rig = Rig()
    rig.start(SessionPlan(target_speed_kmh=1.1))
    rig.walk(65)
    assert rig.phase() is Phase.STEADY
    out = rig.send(MachineStatus(MachineStatusKind.TARGET_SPEED_CHANGED, 0.8), dt=0.1)
    assert [p.phase for p in of_type(out, PhaseChanged)] == [Phase.RAMP]
    rig.walk(31)
    assert rig.phase() is Phase.RAMP
    assert rig.engine.allowed_speed(rig.now) == 0.9


# --- the duration cap --------------------------------------------------------------------------------
def test_cap_warnings_cool_down_and_stop() -> None:
    rig = Rig()
    out = rig.start(SessionPlan(duration_cap_s=300, cool_down_s=60))
    out += rig.walk(240)
    assert [w.threshold_s for w in of_type(out, CapWarning)] == [60]
    out = rig.walk(50)
    assert [w.threshold_s for w in of_type(out, CapWarning)] == [10]
    out = rig.walk(10)
    assert rig.phase() is Phase.COOL_DOWN
    assert speeds(out) == [1.0]  # cool-down at the start speed
    out = rig.walk(60)
    assert commands(out)[-1] == StopBelt()
    end = ended(rig)
    assert (end.reason, end.phase, end.backward_s) == (EndReason.COMPLETED, Phase.FINISHED, 360.0)


def test_cap_counts_backward_time_not_pauses() -> None:
    rig = Rig()
    rig.start(SessionPlan(duration_cap_s=120))
    rig.walk(100)
    rig.send(Pause(), dt=0.1)
    rig.tick(500)
    assert rig.engine.elapsed_backward_s == pytest.approx(100.1)
    assert rig.phase() is Phase.PAUSED


def test_a_clock_jump_ends_the_session_at_the_first_rule_that_would_have_stopped_it() -> None:
    # A caller that stalls for hours: the belt should have been stopped 3 s after the last sample.
    rig = Rig()
    rig.start(SessionPlan(duration_cap_s=300, cool_down_s=60))
    rig.walk(10)
    out = rig.tick(10_000)
    assert rig.engine.elapsed_backward_s == 13.0
    assert commands(out) == [StopBelt()]
    assert ended(rig).reason is EndReason.STALE_TELEMETRY


def test_a_clock_jump_with_the_link_down_ends_exactly_at_the_cap() -> None:
    rig = Rig()
    rig.start(SessionPlan(duration_cap_s=300, cool_down_s=60))
    rig.walk(10)
    rig.send(LinkDown())
    out = rig.tick(10_000)
    assert rig.engine.elapsed_backward_s == 300.0
    assert [w.threshold_s for w in of_type(out, CapWarning)] == [60, 10]
    assert commands(out) == []
    assert ended(rig).reason is EndReason.LINK_LOST


def test_a_jump_across_the_cap_stops_exactly_there() -> None:
    rig = Rig()
    rig.start(SessionPlan(duration_cap_s=300, cool_down_s=0))
    rig.walk(298.5)
    out = rig.tick(2.5)
    assert rig.engine.elapsed_backward_s == 300.0
    assert commands(out) == [StopBelt()]
    assert ended(rig).reason is EndReason.COMPLETED


# --- pause and resume --------------------------------------------------------------------------------
def test_short_pause_resumes_where_it_was() -> None:
    rig = Rig()
    rig.start(SessionPlan(target_speed_kmh=2.0, duration_cap_s=900))
    rig.walk(120)
    assert commands(rig.send(Pause(), dt=0.1)) == [PauseBelt()]
    rig.walk(20, speed=0.0)
    out = rig.send(Resume(), dt=0.1)
    assert commands(out) == [SetTargetSpeed(1.3)]
    assert commands(rig.result(CommandKind.SET_TARGET_SPEED)) == [StartBelt()]
    rig.result(CommandKind.START)
    assert rig.phase() is Phase.RAMP


def test_long_pause_resumes_at_start_speed_and_ramps_again() -> None:
    rig = Rig()
    rig.start(SessionPlan(target_speed_kmh=2.0, duration_cap_s=900))
    rig.walk(120)
    rig.send(Pause(), dt=0.1)
    rig.walk(31, speed=0.0)
    out = rig.send(Resume(), dt=0.1)
    assert commands(out) == [SetTargetSpeed(1.0)]
    rig.result(CommandKind.SET_TARGET_SPEED)
    rig.result(CommandKind.START)
    assert rig.phase() is Phase.FAMILIARISE
    out = rig.walk(60)
    assert speeds(out) == [1.1]  # a fresh hold, then the ramp again


def test_a_pause_at_the_console_pauses_the_session() -> None:
    rig = Rig()
    rig.start()
    rig.walk(10)
    out = rig.send(MachineStatus(MachineStatusKind.USER_PAUSE), dt=0.1)
    assert rig.phase() is Phase.PAUSED
    assert commands(out) == []


def test_a_belt_that_keeps_moving_in_a_pause_is_stopped() -> None:
    rig = Rig()
    rig.start()
    rig.walk(10)
    rig.send(Pause(), dt=0.1)
    out = rig.sample(1.0, dt=0.5)
    assert commands(out) == []  # still slowing down: within the slow-down allowance
    out = rig.sample(1.0, dt=2.5)  # 1.0 km/h at 0.4 km/h per second: the allowance has run out
    assert commands(out) == [StopBelt()]
    rig.walk(3.5, speed=1.0)
    assert ended(rig).reason is EndReason.BELT_DID_NOT_PAUSE


def brisk_plan() -> SessionPlan:
    # 1.0 km/h up to 3.0 (reached after 60 s + 20 steps of 30 s); the cool-down returns to 1.0.
    return SessionPlan(start_speed_kmh=1.0, target_speed_kmh=3.0, duration_cap_s=900, cool_down_s=60)


def test_a_cool_down_from_a_brisk_walk_is_not_an_overspeed() -> None:
    # 3.0 -> 1.0 km/h takes 4 s at 0.5 km/h per second; without the slow-down allowance the belt would be
    # "overspeed" for 3.4 s and stopped before the cool-down even began.
    rig = Rig()
    rig.start(brisk_plan())
    rig.walk(890)
    assert rig.engine.allowed_speed(rig.now) == 3.0
    speed, corrections = 3.0, 0
    for _ in range(40):
        out = rig.sample(speed, dt=0.5)
        corrections += len(of_type(out, OverspeedCorrected))
        if rig.phase() is Phase.COOL_DOWN:
            speed = max(1.0, speed - 0.25)  # the belt slows at 0.5 km/h per second
    assert rig.phase() is Phase.COOL_DOWN
    assert corrections == 0


def test_a_belt_that_does_not_slow_after_the_cool_down_began_is_corrected_then_stopped() -> None:
    rig = Rig()
    rig.start(brisk_plan())
    rig.walk(890)
    while rig.phase() is not Phase.COOL_DOWN:
        rig.sample(3.0, dt=0.5)
    # The allowance falls at 0.4 km/h/s from 3.0: a belt still at 3.0 is past it (+ 0.3) within 1 s.
    out = rig.walk(1.0, speed=3.0)
    assert of_type(out, OverspeedCorrected)
    rig.walk(4.0, speed=3.0)
    assert ended(rig).reason is EndReason.OVERSPEED


# --- things that end a session -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "reason", "phase"),
    [
        (MachineStatusKind.SAFETY_KEY, EndReason.SAFETY_KEY, Phase.ABORTED),
        (MachineStatusKind.USER_STOP, EndReason.USER_STOP, Phase.FINISHED),
        (MachineStatusKind.CONTROL_LOST, EndReason.CONTROL_LOST, Phase.ABORTED),
        (MachineStatusKind.RESET, EndReason.MACHINE_RESET, Phase.ABORTED),
    ],
)
def test_machine_status_ends_the_session(status: MachineStatusKind, reason: EndReason, phase: Phase) -> None:
    rig = Rig()
    rig.start()
    rig.walk(70)
    out = rig.send(MachineStatus(status), dt=0.1)
    assert commands(out) == [StopBelt()]
    assert (ended(rig).reason, rig.phase()) == (reason, phase)


def test_a_belt_stopped_by_nobody_ends_the_session() -> None:
    rig = Rig()
    rig.start()
    rig.walk(20)
    out = rig.sample(0.0, dt=0.5)
    assert commands(out) == [StopBelt()]
    assert ended(rig).reason is EndReason.BELT_STOPPED


def test_a_belt_that_never_moves_after_start_ends_the_session() -> None:
    rig = Rig()
    rig.start()
    rig.walk(9.5, speed=0.0)
    assert rig.phase() is Phase.FAMILIARISE  # consoles count down before the belt moves
    rig.walk(1.0, speed=0.0)
    assert ended(rig).reason is EndReason.BELT_DID_NOT_START


def test_kiosk_stop_ends_at_once_and_is_never_refused() -> None:
    rig = Rig()
    rig.start()
    rig.walk(20)
    assert commands(rig.send(Stop(), dt=0.1)) == [StopBelt()]
    assert ended(rig).reason is EndReason.KIOSK_STOP
    # A second stop still stops the belt, and changes nothing else.
    assert commands(rig.send(Stop(), dt=0.1)) == [StopBelt()]
    assert len(of_type(rig.log, SessionEnded)) == 1


def test_pain_above_the_threshold_from_the_walker_stops_the_belt_and_finishes_with_its_own_reason() -> None:
    rig = Rig()
    rig.start(user_id="ana")
    rig.walk(20)
    # Bearable pain, or pain reported by someone else at the same treadmill: the session goes on.
    assert rig.send(PainReported("ana", 5), dt=0.1) == []
    assert rig.send(PainReported("bo", 9), dt=0.1) == []
    assert rig.phase() in (Phase.FAMILIARISE, Phase.RAMP)
    assert commands(rig.send(PainReported("ana", 6), dt=0.1)) == [StopBelt()]
    end = ended(rig)
    assert (end.reason, end.phase) == (EndReason.PAIN_REPORTED, Phase.FINISHED)
    assert end.detail == "pain 6/10 reported during the session, above the stop threshold of 5/10"
    # After the end, more pain is a record, not a second end.
    assert rig.send(PainReported("ana", 8), dt=0.1) == []
    assert len(of_type(rig.log, SessionEnded)) == 1


def test_pain_with_no_session_changes_nothing() -> None:
    rig = Rig()
    rig.send(LinkUp())
    assert rig.send(PainReported("ana", 10), dt=0.1) == []
    assert rig.phase() is Phase.IDLE


@pytest.mark.parametrize(
    ("reason", "detail", "expected_detail"),
    [
        (
            EndReason.SERVICE_STOPPED,
            "the service was stopped (SIGTERM); the belt was stopped first",
            "the service was stopped (SIGTERM); the belt was stopped first",
        ),
        (EndReason.SERVICE_STOPPED, "", "the service was stopped; the belt was stopped first"),
        (EndReason.TERMINAL_STOP, "", "stopped at the terminal; the belt was stopped first"),
        # Not a reason anyone stops with: still a stop, said to come from the kiosk.
        (EndReason.COMPLETED, "", "stopped from a kiosk or Home Assistant"),
    ],
)
def test_a_stop_by_the_service_or_at_the_terminal_says_so_and_finishes(
    reason: EndReason, detail: str, expected_detail: str
) -> None:
    rig = Rig()
    rig.start()
    rig.walk(20)
    assert commands(rig.send(Stop(reason, detail), dt=0.1)) == [StopBelt()]
    end = ended(rig)
    expected_reason = EndReason.KIOSK_STOP if reason is EndReason.COMPLETED else reason
    assert (end.reason, end.detail, end.phase) == (expected_reason, expected_detail, Phase.FINISHED)


def test_stale_telemetry_while_the_belt_should_move_stops_it() -> None:
    rig = Rig()
    rig.start()
    rig.walk(20)
    assert commands(rig.tick(3.0)) == []
    out = rig.tick(0.1)
    assert commands(out) == [StopBelt()]
    assert ended(rig).reason is EndReason.STALE_TELEMETRY


def test_late_and_duplicate_samples_do_not_refresh_or_override() -> None:
    rig = Rig()
    rig.start()
    rig.walk(20)
    fresh_at = rig.now
    rig.tick(2.0)
    # A late sample from before the last one carries no news.
    assert rig.send(Telemetry(5.0, 0.0, fresh_at - 1.0)) == []
    out = rig.tick(1.1)
    assert ended(rig).reason is EndReason.STALE_TELEMETRY
    assert commands(out) == [StopBelt()]


# --- failed commands fail closed ---------------------------------------------------------------------
@pytest.mark.parametrize("command", [CommandKind.SET_TARGET_SPEED, CommandKind.PAUSE, CommandKind.START])
def test_a_failed_command_during_a_session_stops_and_says_why(command: CommandKind) -> None:
    rig = Rig()
    rig.start()
    rig.walk(70)
    out = rig.result(command, ResultCode.FAILED, dt=0.1)
    assert commands(out) == [StopBelt()]
    assert ended(rig).reason is EndReason.COMMAND_FAILED
    assert command.value in ended(rig).detail


def test_a_failed_stop_is_published_for_a_person() -> None:
    rig = Rig()
    rig.start()
    rig.walk(10)
    rig.send(Stop(), dt=0.1)
    out = rig.result(CommandKind.STOP, ResultCode.CONTROL_NOT_PERMITTED)
    assert of_type(out, StopNotConfirmed) == [StopNotConfirmed("tm-1-1", ResultCode.CONTROL_NOT_PERMITTED)]


def test_control_dropped_after_a_pause_means_no_resume() -> None:
    rig = Rig()
    rig.start()
    rig.walk(70)
    rig.send(Pause(), dt=0.1)
    rig.tick(5)
    rig.send(Resume(), dt=0.1)
    out = rig.result(CommandKind.SET_TARGET_SPEED, ResultCode.CONTROL_NOT_PERMITTED)
    assert StartBelt() not in commands(out)
    assert ended(rig).reason is EndReason.COMMAND_REFUSED
    assert "control" in ended(rig).detail


# --- the link ----------------------------------------------------------------------------------------
def test_nothing_is_issued_while_the_link_is_down_and_time_keeps_running() -> None:
    rig = Rig()
    rig.start(SessionPlan(duration_cap_s=300))
    rig.walk(30)
    assert rig.send(LinkDown(), dt=0.1) == []
    out = rig.tick(20) + rig.tick(20)
    assert commands(out) == []
    assert rig.engine.elapsed_backward_s == pytest.approx(70.1)
    with pytest.raises(RefusedError, match="link"):
        rig.send(Pause())


def test_link_up_during_a_session_first_stops_and_never_resumes_by_itself() -> None:
    rig = Rig()
    rig.start()
    rig.walk(30)
    rig.send(LinkDown(), dt=0.1)
    out = rig.send(LinkUp(), dt=5)
    assert commands(out)[0] == StopBelt()
    assert rig.phase() is Phase.PAUSED
    out = rig.tick(100) + rig.walk(10, speed=0.0)
    assert commands(out) == []
    assert rig.phase() is Phase.PAUSED
    # Only a person resumes it, and then at the start speed with a fresh hold.
    assert commands(rig.send(Resume(), dt=0.1)) == [SetTargetSpeed(1.0)]


def test_link_up_after_the_cap_passed_while_down_still_stops_first() -> None:
    rig = Rig()
    rig.start(SessionPlan(duration_cap_s=120))
    rig.walk(30)
    rig.send(LinkDown(), dt=0.1)
    rig.tick(500)
    assert rig.phase() is Phase.ABORTED
    assert ended(rig).reason is EndReason.LINK_LOST
    assert rig.engine.elapsed_backward_s == 120.0
    out = rig.send(LinkUp(), dt=1)
    assert commands(out) == [StopBelt()]


def test_link_lost_while_starting_aborts() -> None:
    rig = Rig()
    rig.send(LinkUp())
    rig.send(Start("walker", SessionPlan()))
    assert rig.send(LinkDown()) == of_type(rig.log, PhaseChanged)[-1:] + of_type(rig.log, SessionEnded)
    assert ended(rig).reason is EndReason.LINK_LOST


# --- refusals change nothing -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("paused", "event"),
    [
        (False, Resume()),
        (False, Start("walker", SessionPlan())),
        (True, Pause()),
        (True, Start("walker", SessionPlan())),
    ],
)
def test_illegal_commands_raise_and_leave_state_unchanged(
    paused: bool, event: Resume | Start | Pause
) -> None:
    rig = Rig()
    rig.start()
    rig.walk(5)
    if paused:
        rig.send(Pause(), dt=0.1)
    before = full_state(rig.engine)
    with pytest.raises(IllegalTransitionError, match="not allowed while"):
        rig.send(event, dt=0.1)
    assert full_state(rig.engine) == before


def test_pause_during_cool_down_is_illegal() -> None:
    rig = Rig()
    rig.start(SessionPlan(duration_cap_s=60))
    rig.walk(61)
    assert rig.phase() is Phase.COOL_DOWN
    before = full_state(rig.engine)
    with pytest.raises(IllegalTransitionError, match="cool_down"):
        rig.send(Pause())
    assert full_state(rig.engine) == before


@pytest.mark.parametrize(
    "bad",
    [
        ("telemetry", float("nan")),
        ("telemetry", -1.0),
        ("telemetry", "fast"),
        ("status", None),
        ("status", float("inf")),
        ("now", float("nan")),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(bad: tuple[str, object]) -> None:
    rig = Rig()
    rig.start()
    rig.walk(5)
    before = full_state(rig.engine)
    kind, value = bad
    event: Telemetry | MachineStatus | Tick = Tick()
    now: object = rig.now
    if kind == "telemetry":
        event = Telemetry(value, 0.0, rig.now)  # type: ignore[arg-type]
    elif kind == "status":
        event = MachineStatus(MachineStatusKind.TARGET_SPEED_CHANGED, value)  # type: ignore[arg-type]
    else:
        now = value
    with pytest.raises(RefusedError):
        rig.engine.handle(event, now)  # type: ignore[arg-type]
    assert full_state(rig.engine) == before


def test_a_treadmill_that_accepts_a_speed_and_ignores_it_is_stopped_with_the_reason() -> None:
    rig = Rig()
    rig.start()
    # The belt accepted 1.0 km/h but crawls at its minimum of 0.5.
    rig.walk(9.5, speed=0.5)
    assert rig.phase() is Phase.FAMILIARISE
    out = rig.walk(2.0, speed=0.5)
    assert StopBelt() in commands(out)
    end = ended(rig)
    assert end.reason is EndReason.TREADMILL_FAULT
    assert "ignores speed commands" in end.detail


def test_a_person_slowing_at_the_console_is_not_a_treadmill_ignoring_commands() -> None:
    rig = Rig()
    rig.start()
    rig.walk(5)
    rig.send(MachineStatus(MachineStatusKind.TARGET_SPEED_CHANGED, 0.6), dt=0.1)
    rig.walk(30, speed=0.6)
    assert rig.phase() in (Phase.FAMILIARISE, Phase.RAMP)
    assert of_type(rig.log, SessionEnded) == []


def test_a_session_paused_for_too_long_ends_and_frees_the_treadmill() -> None:
    rig = Rig()
    rig.start()
    rig.walk(10)
    rig.send(Pause(), dt=0.1)
    rig.sample(0.0, dt=1.0)
    rig.tick(14 * 60)
    assert rig.phase() is Phase.PAUSED
    rig.tick(61)
    end = ended(rig)
    assert end.reason is EndReason.PAUSED_TOO_LONG
    assert rig.phase() is Phase.FINISHED
