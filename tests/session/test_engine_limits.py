"""Every safety limit of the engine at, just under and just over its boundary, with literal numbers.

Times are chosen to be exact in binary floating point (the test sets the rig's clock), so "at the limit"
means exactly at it. The numbers are docs/safety.md's, written out here, never read from the modules.
Default plan: start 1.0 km/h, target 1.5, +0.1 km/h per 30 s after a 60 s hold, cap 300 s, cool-down
60 s, tolerance 0.3 km/h, grace 3 s, stale data after 3 s, a pause over 30 s restarts the ramp.
"""

from __future__ import annotations

import pydantic
import pytest

from retrowalk.errors import PlanError
from retrowalk.session.events import (
    Action,
    CapWarning,
    CommandKind,
    DropLink,
    EndReason,
    Event,
    LinkDown,
    LinkUp,
    MachineStatus,
    MachineStatusKind,
    OverspeedCorrected,
    Pause,
    Phase,
    PhaseChanged,
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
from retrowalk.session.plan import OperatorCeilings, SessionPlan

from .session_rig import GYM, Rig, commands, full_state, of_type, speeds, started_at_zero


def end_reason(rig: Rig) -> EndReason | None:
    ends = of_type(rig.log, SessionEnded)
    assert len(ends) <= 1, ends
    return ends[0].reason if ends else None


def console_speed(rig: Rig, kmh: float, dt: float = 0.0) -> list[Action]:
    return list(rig.send(MachineStatus(MachineStatusKind.TARGET_SPEED_CHANGED, kmh), dt))


# --- console speed-ups, however small, are overspeed (rule 4) ---------------------------------------------
@pytest.mark.parametrize("keyed", [1.01, 1.3, 1.31])
def test_a_console_speed_up_within_the_tolerance_is_corrected_and_does_not_move_the_ramp(
    keyed: float,
) -> None:
    rig = started_at_zero()
    rig.walk(10)
    for press in range(3):  # repeated presses must not ratchet the allowed speed up
        out = console_speed(rig, keyed, dt=0.5)
        assert speeds(out) == [1.0], press
        # The belt itself was last measured at 1.0 km/h (started_at_zero walks at the plan's speed).
        assert of_type(out, OverspeedCorrected) == [
            OverspeedCorrected("tm-1-1", 1.0, 1.0, console_target_kmh=keyed)
        ]
    rig.walk(48)  # 59.5 s: still the hold at 1.0 km/h
    assert speeds(rig.log).count(1.0) == 4
    assert speeds(rig.walk(0.5)) == [1.1]  # the ramp's first step, exactly at 60 s as planned
    rig.send(Stop())
    assert of_type(rig.log, SessionEnded)[0].overspeed_corrections == 3


def test_a_console_speed_equal_to_the_allowed_one_is_not_a_speed_up() -> None:
    rig = started_at_zero()
    rig.walk(70)  # 1.1 km/h since 60 s
    out = console_speed(rig, 1.0, dt=0.5)  # slower: the new base, the next step 30 s later
    assert commands(out) == []
    assert speeds(rig.walk(29.5)) == []
    assert speeds(rig.walk(0.5)) == [1.1]  # 100 s: one step up from 1.0


def test_the_newly_allowed_speed_keyed_at_the_moment_of_a_ramp_step_is_not_a_speed_up() -> None:
    rig = started_at_zero()
    rig.walk(59.5)
    out = console_speed(rig, 1.1, dt=0.5)  # 60 s: the step to 1.1 and the person keying 1.1 together
    assert of_type(out, OverspeedCorrected) == []
    assert speeds(rig.walk(29.5)) == []
    assert speeds(rig.walk(0.5)) == [1.2]  # 90 s: the ramp goes on from there


def test_a_console_slow_down_gives_the_belt_a_fresh_10_s_to_follow() -> None:
    rig = started_at_zero()
    rig.walk(2)
    rig.walk(6, speed=0.5)  # from 2.5 s: more than 0.3 km/h below the accepted 1.0 km/h
    console_speed(rig, 0.9)  # at 8 s: the person slows down; 0.5 is still too slow for 0.9
    rig.walk(10.5, speed=0.5)  # 18.5 s: 10 s since the first slow sample after the change
    assert end_reason(rig) is None
    rig.walk(0.5, speed=0.5)
    assert end_reason(rig) is EndReason.TREADMILL_FAULT


def test_a_duplicate_sample_with_the_same_time_is_ignored_whatever_it_says() -> None:
    rig = started_at_zero()
    rig.walk(10)
    out = rig.send(Telemetry(3.0, 0.0, rig.now))  # the same time as the last sample
    assert out == []
    assert rig.engine.snapshot().last_speed_kmh == 1.0


def test_a_belt_reporting_0_01_km_h_is_moving_so_a_stop_after_it_is_noticed() -> None:
    rig = started_at_zero()
    rig.walk(1.0, speed=0.01)
    rig.walk(0.5, speed=0.0)
    assert end_reason(rig) is EndReason.BELT_STOPPED


def test_phase_changes_say_from_where_to_where_at_which_speed_and_time() -> None:
    rig = started_at_zero()
    rig.walk(60)
    assert of_type(rig.log, PhaseChanged)[-1] == PhaseChanged(
        "tm-1-1", Phase.FAMILIARISE, Phase.RAMP, 1.1, 60.0
    )


@pytest.mark.parametrize("target_kmh", [1.0, 1.1])
def test_a_target_reached_at_the_end_of_the_hold_goes_straight_to_steady(target_kmh: float) -> None:
    rig = started_at_zero(SessionPlan(target_speed_kmh=target_kmh))
    rig.walk(60)
    assert [(c.previous, c.phase) for c in of_type(rig.log, PhaseChanged)][-1:] == [
        (Phase.FAMILIARISE, Phase.STEADY)
    ]
    assert Phase.RAMP not in [c.phase for c in of_type(rig.log, PhaseChanged)]


# --- pauses and link losses (rules 7 and 10) --------------------------------------------------------------
def resume_at(rig: Rig, at: float) -> list[float]:
    rig.now = at
    out = rig.send(Resume())
    rig.result(CommandKind.SET_TARGET_SPEED)
    rig.result(CommandKind.START)
    return speeds(out)


def test_resume_after_a_short_link_loss_restarts_at_the_start_speed_with_a_fresh_hold() -> None:
    rig = started_at_zero(SessionPlan(target_speed_kmh=2.0, duration_cap_s=900))
    rig.walk(120)  # 1.3 km/h
    rig.send(LinkDown(), dt=0.5)
    out = rig.send(LinkUp(), dt=5.0)  # 5 s: far shorter than the 30 s pause rule
    assert commands(out) == [StopBelt()]
    assert rig.phase() is Phase.PAUSED
    assert resume_at(rig, 126.0) == [1.0]
    assert rig.phase() is Phase.FAMILIARISE
    assert speeds(rig.walk(59.5)) == []
    assert speeds(rig.walk(0.5)) == [1.1]  # a full 60 s hold, then the ramp from the start speed


def test_after_the_restart_that_followed_a_link_loss_a_short_pause_resumes_where_it_was() -> None:
    rig = started_at_zero(SessionPlan(target_speed_kmh=2.0, duration_cap_s=900))
    rig.walk(10)
    rig.send(LinkDown())
    rig.send(LinkUp(), dt=1.0)
    assert resume_at(rig, 12.0) == [1.0]  # the restart: a fresh hold from 11 s walked
    rig.walk(80)  # 92 s: 91 s walked, one step since the hold ended at 71 s
    rig.send(Pause())
    assert resume_at(rig, 97.0) == [1.1]  # a 5 s pause: where it was, not another restart


@pytest.mark.parametrize(("paused_s", "resumed_kmh"), [(30.0, 1.3), (30.5, 1.0)])
def test_a_pause_restarts_the_ramp_only_when_longer_than_30_s(paused_s: float, resumed_kmh: float) -> None:
    rig = started_at_zero(SessionPlan(target_speed_kmh=2.0, duration_cap_s=900))
    rig.walk(120)
    rig.send(Pause())
    assert resume_at(rig, 120.0 + paused_s) == [resumed_kmh]


@pytest.mark.parametrize(("paused_s", "ended"), [(900.0, False), (900.5, True)])
def test_a_pause_ends_the_session_only_after_15_minutes(paused_s: float, ended: bool) -> None:
    rig = started_at_zero()
    rig.walk(20)
    rig.send(Pause())
    rig.tick(paused_s)
    assert (end_reason(rig) is EndReason.PAUSED_TOO_LONG) is ended


@pytest.mark.parametrize("loses_link", [True, False])
def test_a_link_that_returns_in_a_pause_does_not_give_the_pause_another_15_minutes(loses_link: bool) -> None:
    rig = started_at_zero()
    rig.walk(20)
    rig.send(Pause())
    rig.tick(600)
    if loses_link:
        rig.send(LinkDown(), dt=0.0)
    rig.send(LinkUp(), dt=60.0)  # a return (or a repeated "up") 11 minutes into the pause
    assert rig.phase() is Phase.PAUSED
    rig.tick(240)  # 15 minutes of pause: not yet over
    assert end_reason(rig) is None
    rig.tick(1)
    assert end_reason(rig) is EndReason.PAUSED_TOO_LONG


# --- stale data (rule 9) ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stale_s", "silent_s", "stopped"), [(3.0, 3.0, False), (3.0, 3.25, True), (1.5, 1.75, True)]
)
def test_stale_telemetry_stops_the_belt_just_after_the_plans_limit(
    stale_s: float, silent_s: float, stopped: bool
) -> None:
    rig = started_at_zero(SessionPlan(stale_telemetry_s=stale_s))
    rig.walk(20)
    out = rig.tick(silent_s)
    assert (commands(out) == [StopBelt()]) is stopped
    assert (end_reason(rig) is EndReason.STALE_TELEMETRY) is stopped
    # Silent data may be a half-dead connection: the engine asks for the link to be rebuilt.
    assert of_type(out, DropLink) == (
        [DropLink("telemetry stopped while the belt should move")] if stopped else []
    )


def test_data_older_than_3_s_by_a_rounding_error_is_stale_too() -> None:
    # 32.56 - 29.56 is a hair over 3.0 in binary floating point while 29.56 + 3.0 equals 32.56: the
    # clock's step and the after-event check must both fail closed.
    rig = started_at_zero()
    rig.walk(29.5)
    rig.sample(1.0, dt=0.06)  # 29.56 s
    rig.now = 32.56
    assert commands(rig.send(Tick())) == [StopBelt()]
    assert [(e.reason, e.detail) for e in of_type(rig.log, SessionEnded)] == [
        (
            EndReason.STALE_TELEMETRY,
            "no treadmill data while the belt should move: check the treadmill and the connection",
        )
    ]


def test_a_belt_still_after_10_s_and_a_rounding_error_ends_the_session_too() -> None:
    # The same for the start rule: 6.1 + 10.0 equals 16.1, but 16.1 - 6.1 is a hair over 10.
    rig = Rig()
    rig.send(LinkUp())
    rig.now = 6.1
    rig.send(Start("walker", SessionPlan()))
    rig.result(CommandKind.SET_TARGET_SPEED)
    rig.result(CommandKind.START)
    rig.walk(9.5, speed=0.0)
    rig.now = 16.1
    assert commands(rig.send(Tick())) == [StopBelt()]
    assert [(e.reason, e.detail) for e in of_type(rig.log, SessionEnded)] == [
        (EndReason.BELT_DID_NOT_START, "the treadmill confirmed the start but the belt stayed still")
    ]


# --- overspeed: tolerance and grace (rule 4) --------------------------------------------------------------
@pytest.mark.parametrize(("measured", "corrected"), [(1.3, False), (1.31, True)])
def test_overspeed_begins_just_above_allowed_plus_tolerance(measured: float, corrected: bool) -> None:
    rig = started_at_zero()
    rig.walk(10)
    out = rig.sample(measured, dt=0.5)
    assert (speeds(out) == [1.0]) is corrected
    assert bool(of_type(out, OverspeedCorrected)) is corrected


def test_a_belt_still_too_fast_is_stopped_exactly_when_the_grace_runs_out() -> None:
    rig = started_at_zero()
    rig.walk(10)
    rig.sample(1.5, dt=0.5)  # 10.5 s: corrected
    assert commands(rig.sample(1.5, dt=2.75)) == []  # 13.25 s: 2.75 s into the 3 s grace
    assert commands(rig.tick(0.25)) == [StopBelt()]  # 13.5 s
    assert end_reason(rig) is EndReason.OVERSPEED


# --- the slow-down allowance: 0.4 km/h per second (rule 4) ------------------------------------------------
@pytest.mark.parametrize(
    ("after_s", "measured", "corrected"), [(1.0, 1.4, False), (1.0, 1.41, True), (0.5, 1.61, True)]
)
def test_the_limit_falls_from_the_cap_speed_at_0_4_km_h_per_second(
    after_s: float, measured: float, corrected: bool
) -> None:
    rig = started_at_zero()
    rig.walk(300)  # 1.5 km/h, then the cap: cool-down at 1.0
    assert rig.phase() is Phase.COOL_DOWN
    out = rig.sample(measured, dt=after_s)  # the limit is 1.5 - 0.4 * after_s, plus the 0.3 tolerance
    assert bool(of_type(out, OverspeedCorrected)) is corrected


@pytest.mark.parametrize(("cool_down_s", "phase_at_the_cap"), [(0, Phase.FINISHED), (1, Phase.COOL_DOWN)])
def test_a_session_without_cool_down_completes_at_the_cap_itself(
    cool_down_s: int, phase_at_the_cap: Phase
) -> None:
    rig = started_at_zero(SessionPlan(cool_down_s=cool_down_s))
    rig.walk(300)
    assert rig.phase() is phase_at_the_cap
    rig.walk(1)
    assert [(e.reason, e.detail, e.backward_s) for e in of_type(rig.log, SessionEnded)] == [
        (EndReason.COMPLETED, "the session is complete", 300.0 + cool_down_s)
    ]


# --- the start (rules 1 and 2) ----------------------------------------------------------------------------
@pytest.mark.parametrize(("waited_s", "aborted"), [(10.0, False), (10.25, True)])
def test_a_start_not_confirmed_aborts_just_after_10_s(waited_s: float, aborted: bool) -> None:
    rig = Rig()
    rig.send(LinkUp())
    rig.send(Start("walker", SessionPlan()))
    rig.tick(waited_s)
    assert (end_reason(rig) is EndReason.START_TIMEOUT) is aborted


@pytest.mark.parametrize(("still_s", "aborted"), [(10.0, False), (10.5, True)])
def test_a_belt_that_stays_still_after_the_start_aborts_just_after_10_s(
    still_s: float, aborted: bool
) -> None:
    rig = started_at_zero()
    rig.walk(still_s, speed=0.0)
    assert (end_reason(rig) is EndReason.BELT_DID_NOT_START) is aborted


@pytest.mark.parametrize(
    ("zero_samples_until", "reason", "walked_s"),
    [
        (0.0, EndReason.STALE_TELEMETRY, 3.0),  # no data at all: stale at 3 s, before the 10 s start rule
        (7.0, EndReason.STALE_TELEMETRY, 10.0),  # both fall due at 10 s: the data rule is named
        (8.0, EndReason.BELT_DID_NOT_START, 10.0),
    ],
)
def test_after_a_clock_jump_the_rule_that_fell_due_first_ends_the_session(
    zero_samples_until: float, reason: EndReason, walked_s: float
) -> None:
    rig = started_at_zero()
    rig.walk(zero_samples_until, speed=0.0)
    rig.tick(60.0 - rig.now)
    assert [(e.reason, e.backward_s) for e in of_type(rig.log, SessionEnded)] == [(reason, walked_s)]


# A rule that fell due while no event came (no ticks: a stalled runner) acts before the next event, in a
# pause or a start too; the event must not restart the rule's clock (a link that returns restarts the pause,
# news of the link or a late sample clears the overspeed).
def _belt_ignoring_the_stop_in_a_pause() -> Rig:
    rig = started_at_zero()
    rig.walk(10)
    rig.send(Pause())
    assert commands(rig.sample(1.0, dt=3.0)) == [StopBelt()]  # the allowance is over: stopped at 13 s
    return rig


@pytest.mark.parametrize("late_s", [13.0, 1000.0])  # the grace ran out at 16 s; 15 minutes of pause at 910 s
@pytest.mark.parametrize("late_event", ["link up", "link down", "sample"])
def test_a_belt_moving_in_a_pause_past_the_grace_ends_the_session_at_the_next_event(
    late_event: str, late_s: float
) -> None:
    rig = _belt_ignoring_the_stop_in_a_pause()
    events: dict[str, Event] = {
        "link up": LinkUp(),
        "link down": LinkDown(),
        "sample": Telemetry(0.0, 0.0, rig.now + late_s),
    }
    rig.send(events[late_event], dt=late_s)  # nothing came in between: the rule that fell due first acts
    assert [(e.reason, e.phase) for e in of_type(rig.log, SessionEnded)] == [
        (EndReason.BELT_DID_NOT_PAUSE, Phase.ABORTED)
    ]


def test_a_pause_past_15_minutes_ends_the_session_even_when_the_link_returns_then() -> None:
    rig = started_at_zero()
    rig.walk(10)
    rig.send(Pause())
    rig.sample(0.0, dt=1.0)
    rig.send(LinkDown(), dt=1.0)
    # Paused at 10 s: 15 minutes were over at 910 s, and nothing came until 912 s.
    rig.send(LinkUp(), dt=15 * 60.0)
    assert [(e.reason, e.phase) for e in of_type(rig.log, SessionEnded)] == [
        (EndReason.PAUSED_TOO_LONG, Phase.FINISHED)
    ]


def test_a_start_confirmed_after_10_s_without_ticks_in_between_aborts() -> None:
    rig = Rig()
    rig.send(LinkUp())
    rig.send(Start("walker", SessionPlan()))
    rig.result(CommandKind.SET_TARGET_SPEED)
    out = rig.result(CommandKind.START, dt=10.5)
    assert (end_reason(rig), commands(out)) == (EndReason.START_TIMEOUT, [StopBelt()])


@pytest.mark.parametrize(("fast_s", "aborted"), [(2.5, False), (3.0, True)])
def test_a_belt_too_fast_before_its_start_is_confirmed_is_stopped_when_the_grace_runs_out(
    fast_s: float, aborted: bool
) -> None:
    rig = Rig()
    rig.send(LinkUp())
    rig.send(Start("walker", SessionPlan()))
    rig.result(CommandKind.SET_TARGET_SPEED)  # Start is sent; its confirmation does not come
    rig.sample(3.0, dt=1.0)  # a belt that started at its own speed: corrected at 1 s
    rig.walk(fast_s, speed=3.0)  # grace 3 s; the start timeout (10 s) is far
    assert rig.phase() is (Phase.ABORTED if aborted else Phase.ARMED)
    assert end_reason(rig) is (EndReason.OVERSPEED if aborted else None)


# --- a belt that ignores speed commands (rule 4) ----------------------------------------------------------
@pytest.mark.parametrize(
    ("measured", "slow_s", "fault"), [(0.7, 30.0, False), (0.69, 10.0, False), (0.69, 10.5, True)]
)
def test_a_belt_more_than_the_tolerance_below_its_speed_for_over_10_s_is_a_fault(
    measured: float, slow_s: float, fault: bool
) -> None:
    rig = started_at_zero()
    rig.walk(2)
    rig.walk(0.5, speed=measured)  # the first slow sample
    rig.walk(slow_s, speed=measured)
    assert (end_reason(rig) is EndReason.TREADMILL_FAULT) is fault


# --- after the end: a belt that ignores the stop (rule 11) ------------------------------------------------
@pytest.mark.parametrize(
    ("sampled_at", "restopped_at"),
    [
        ((22.75, 23.0, 25.75, 26.0, 47.0, 50.25), (23.0, 26.0, 47.0)),  # 3 s apart, not after 30 s
        ((23.0, 26.0, 50.0), (23.0, 26.0, 50.0)),  # exactly 30 s after the end still counts
    ],
)
def test_a_belt_that_ignores_the_stop_is_stopped_again_every_3_s_for_30_s(
    sampled_at: tuple[float, ...], restopped_at: tuple[float, ...]
) -> None:
    rig = started_at_zero()
    rig.walk(20)
    rig.send(Stop())  # at 20 s
    restops = []
    for at in sampled_at:
        rig.now = at
        out = rig.sample(1.0)
        if StopBelt() in commands(out):
            assert of_type(out, StopNotConfirmed)
            restops.append(at)
    assert tuple(restops) == restopped_at


@pytest.mark.parametrize(("measured", "restopped"), [(0.8, True), (0.51, True), (0.5, False)])
def test_a_stop_sent_again_earns_the_belt_no_new_slow_down_allowance(
    measured: float, restopped: bool
) -> None:
    rig = started_at_zero(SessionPlan(overspeed_grace_s=1.0))
    rig.walk(20)
    rig.send(Stop())  # at 20 s, from 1.0 km/h
    rig.now = 21.0
    assert StopBelt() in commands(rig.sample(1.0))  # sent again: a correction, the limit keeps falling
    rig.now = 22.0  # limit 1.0 - 0.4 * 2 = 0.2 km/h, plus the 0.3 tolerance
    assert (StopBelt() in commands(rig.sample(measured))) is restopped


@pytest.mark.parametrize(("measured", "restopped"), [(0.3, False), (0.31, True)])
def test_after_the_end_a_belt_within_the_tolerance_of_stopped_is_left_alone(
    measured: float, restopped: bool
) -> None:
    rig = started_at_zero()
    rig.walk(20)
    rig.send(Stop())
    rig.now = 24.0  # the slow-down allowance from 1.0 km/h is spent after 2.5 s
    assert (StopBelt() in commands(rig.sample(measured))) is restopped


# --- the cap (rule 6) -------------------------------------------------------------------------------------
def test_cap_warnings_come_exactly_60_and_10_s_before_the_cap() -> None:
    rig = started_at_zero()
    rig.walk(239.5)
    assert of_type(rig.log, CapWarning) == []
    rig.walk(0.5)
    rig.walk(49.5)
    assert of_type(rig.log, CapWarning) == [CapWarning("tm-1-1", 60, 60.0)]
    rig.walk(0.5)
    assert of_type(rig.log, CapWarning) == [CapWarning("tm-1-1", 60, 60.0), CapWarning("tm-1-1", 10, 10.0)]


def test_a_cap_passed_while_the_link_was_down_still_warns_with_no_time_left() -> None:
    rig = started_at_zero()
    rig.walk(200)
    rig.send(LinkDown())
    rig.tick(150.0)
    assert of_type(rig.log, CapWarning) == [CapWarning("tm-1-1", 60, 0.0), CapWarning("tm-1-1", 10, 0.0)]
    assert [(e.reason, e.backward_s) for e in of_type(rig.log, SessionEnded)] == [
        (EndReason.LINK_LOST, 300.0)
    ]


# --- incline at the console (rule 8) ----------------------------------------------------------------------
@pytest.mark.parametrize(("keyed", "aborted"), [(0.0, False), (0.5, True), (0.1, True)])
def test_any_incline_rise_at_a_console_retrowalk_cannot_set_ends_the_session(
    keyed: float, aborted: bool
) -> None:
    rig = started_at_zero()
    rig.walk(5)
    rig.send(MachineStatus(MachineStatusKind.TARGET_INCLINE_CHANGED, keyed), dt=0.5)
    assert (end_reason(rig) is EndReason.INCLINE_CHANGED) is aborted


@pytest.mark.parametrize(("keyed", "set_back"), [(0.5, False), (1.0, False), (1.1, True), (1.5, True)])
def test_an_incline_rise_is_set_back_where_retrowalk_can_set_it(keyed: float, set_back: bool) -> None:
    rig = started_at_zero(SessionPlan(incline_pct=1.0), Rig(caps=GYM))
    rig.walk(5)
    out = rig.send(MachineStatus(MachineStatusKind.TARGET_INCLINE_CHANGED, keyed), dt=0.5)
    assert commands(out) == ([SetTargetIncline(1.0)] if set_back else [])
    assert rig.phase() is Phase.FAMILIARISE


# --- the absolute limits no plan may exceed ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "at_limit", "over"),
    [
        ("stale_telemetry_s", 3.0, 3.01),
        ("overspeed_tolerance_kmh", 0.5, 0.51),
        ("overspeed_grace_s", 3.0, 3.01),
        ("duration_cap_s", 1800, 1801),
    ],
)
def test_a_plan_looser_than_an_absolute_limit_is_refused(field: str, at_limit: float, over: float) -> None:
    assert getattr(SessionPlan(**{field: at_limit}), field) == at_limit
    with pytest.raises(pydantic.ValidationError, match=field):
        SessionPlan(**{field: over})


@pytest.mark.parametrize(("cap_s", "refused"), [(1200, False), (1201, True), (1260, True)])
def test_the_engine_refuses_a_cap_above_the_operators_ceiling(cap_s: int, refused: bool) -> None:
    rig = Rig(ceilings=OperatorCeilings(max_duration_s=1200))
    rig.send(LinkUp())
    if refused:
        with pytest.raises(PlanError, match="duration_cap_s"):
            rig.send(Start("walker", SessionPlan(duration_cap_s=cap_s)))
        assert rig.phase() is Phase.IDLE
    else:
        assert commands(rig.send(Start("walker", SessionPlan(duration_cap_s=cap_s)))) == [SetTargetSpeed(1.0)]
    assert StartBelt() not in rig.log


def test_after_a_pause_the_limit_falls_to_zero_at_0_4_km_h_per_second() -> None:
    rig = started_at_zero()
    rig.walk(200)  # 1.5 km/h
    rig.send(Pause())
    assert [rig.engine.limit_speed(200.0 + t) for t in (0.0, 2.5, 3.5, 3.75, 4.0)] == [
        1.5,
        0.5,
        0.1,
        0.0,
        0.0,
    ]


def test_a_stop_after_a_pause_earns_the_belt_no_new_allowance() -> None:
    # Rule 4: the allowance runs from when retrowalk lowered the speed. A link that blips during a
    # pause is answered with a stop; that stop must not restart the allowance from the walking speed,
    # or a belt that keeps moving in a pause would never be stopped while the link keeps blipping.
    rig = started_at_zero()
    rig.walk(200)  # 1.5 km/h
    rig.send(Pause())  # at 200 s: the limit falls from 1.5 km/h to 0 over 3.75 s
    rig.send(LinkUp(), dt=1.5)
    out = rig.sample(0.4, dt=2.25)  # 203.75 s: the limit is 0, plus the 0.3 km/h tolerance
    assert of_type(out, OverspeedCorrected) == [OverspeedCorrected("tm-1-1", 0.4, 0.0)]
    assert commands(out) == [StopBelt()]


def test_a_cool_down_at_the_speed_already_walked_gives_a_later_console_slow_down_no_allowance() -> None:
    rig = started_at_zero(SessionPlan(start_speed_kmh=1.0, target_speed_kmh=1.0, duration_cap_s=60))
    rig.walk(60)  # the cap at 60 s: the cool-down is at 1.0 km/h, the speed walked; nothing was lowered
    console_speed(rig, 0.5, dt=0.5)  # the person slows down
    out = rig.sample(0.9)
    assert of_type(out, OverspeedCorrected) == [OverspeedCorrected("tm-1-1", 0.9, 0.5)]


def test_a_console_slow_down_right_after_a_console_speed_up_gets_no_allowance() -> None:
    rig = started_at_zero()
    rig.walk(10)
    console_speed(rig, 1.5)  # corrected: 1.0 km/h commanded again
    console_speed(rig, 0.5, dt=0.5)  # the person slows down: retrowalk lowered nothing
    out = rig.sample(0.9, dt=0.0)
    assert of_type(out, OverspeedCorrected) == [OverspeedCorrected("tm-1-1", 0.9, 0.5)]


def test_speeds_the_link_could_not_carry_are_not_reported_as_commanded() -> None:
    rig = started_at_zero()
    rig.walk(85)  # 1.1 km/h since 60 s
    rig.send(LinkDown())
    rig.tick(10.0)  # the step to 1.2 km/h at 90 s could not be sent
    rig.send(LinkUp(), dt=0.5)
    rig.send(Stop(), dt=0.5)
    assert of_type(rig.log, SessionEnded)[0].max_allowed_kmh == 1.1


def test_no_slow_down_allowance_without_a_belt_that_was_told_to_move() -> None:
    rig = started_at_zero()
    rig.walk(10)
    rig.send(MachineStatus(MachineStatusKind.USER_PAUSE))  # the person paused: retrowalk lowered nothing
    assert rig.engine.limit_speed(rig.now) == 0.0
    rig.send(LinkDown())
    rig.send(LinkUp(), dt=1.0)  # stop first; the earlier target is forgotten
    rig.tick(10.0)
    rig.send(Stop())  # nothing was moving by plan: the stop earns no allowance
    assert rig.engine.limit_speed(rig.now) == 0.0


def test_the_limit_the_engine_reports_falls_at_0_4_km_h_per_second_and_asking_changes_nothing() -> None:
    rig = started_at_zero()
    rig.walk(300)  # the cap at exactly 300 s: 1.5 -> 1.0 km/h
    engine = rig.engine
    assert [engine.limit_speed(300.0 + t) for t in (0.0, 0.5, 1.0, 1.25, 2.0)] == [1.5, 1.3, 1.1, 1.0, 1.0]
    assert engine.limit_speed(299.0) == 1.5  # an earlier time is taken as the last event's
    assert engine.allowed_speed(300.5) == 1.0
    before = full_state(engine)
    # Far ahead the data is stale: the session ends, nothing is allowed, and the stop could only be sent
    # then, so the belt's slow-down allowance starts then, from the 1.0 km/h it was told.
    assert (engine.limit_speed(1000.0), engine.allowed_speed(1000.0)) == (1.0, 0.0)
    assert full_state(engine) == before
