"""The independent envelope model, checked on examples computed by hand from docs/safety.md.

Default plan: start 1.0 km/h, target 1.5, +0.1 km/h per 30 s after a 60 s hold, cap 300 s, cool-down
60 s, a pause longer than 30 s restarts the ramp. The belt starts at t = 0.5 s in every example.
"""

from __future__ import annotations

import pytest

from retrowalk.session.plan import SessionPlan

from .plan_envelope import PlanEnvelope


def walking(plan: SessionPlan | None = None) -> PlanEnvelope:
    model = PlanEnvelope()
    model.link_recovered(0.0)
    model.start(plan or SessionPlan(), 0.0)
    model.command_succeeded(speed_not_start=True, now=0.1)
    model.command_succeeded(speed_not_start=False, now=0.5)
    return model


@pytest.mark.parametrize(
    ("now", "allowed"),
    [
        (0.2, 100),
        (60.4, 100),
        (60.5, 110),
        (90.4, 110),
        (90.5, 120),
        (150.5, 140),
        (180.5, 150),
        (300.4, 150),
    ],
)
def test_hold_then_one_step_per_interval_up_to_the_target(now: float, allowed: int) -> None:
    assert walking().envelope(now) == allowed


def test_start_speed_while_armed_and_nothing_walks_before_the_start_is_confirmed() -> None:
    model = PlanEnvelope()
    model.link_recovered(0.0)
    model.start(SessionPlan(), 0.0)
    model.command_succeeded(speed_not_start=False, now=0.1)  # a Start reply before the speed's: ignored
    assert model.envelope(100.3) == 100  # armed: no backward-walking time, no ramp
    model.command_succeeded(speed_not_start=True, now=100.3)
    model.command_succeeded(speed_not_start=False, now=100.3)
    assert model.envelope(160.2) == 100
    assert model.envelope(160.3) == 110


def test_cool_down_at_the_start_speed_then_zero_with_the_slow_down_allowance() -> None:
    model = walking()
    model.advance(300.5)  # the cap: 1.5 -> 1.0 km/h
    assert model.envelope(300.5) == 100
    assert model.limit(300.5) == 150
    assert model.limit(301.0) == 130  # 1.5 - 0.4 * 0.5
    assert model.limit(301.75) == 100  # 1.5 - 0.4 * 1.25 = 1.0, the cool-down speed
    assert model.envelope(360.4) == 100
    model.advance(360.5)  # cap + cool-down: the end
    assert model.envelope(360.5) == 0
    assert model.limit(361.5) == 60  # 1.0 - 0.4


def test_a_cap_with_no_cool_down_ends_at_the_cap() -> None:
    model = walking(SessionPlan(cool_down_s=0))
    assert model.envelope(300.4) == 150
    assert model.envelope(300.5) == 0


def test_a_short_pause_freezes_the_ramp_and_resumes_where_it_was() -> None:
    model = walking()
    model.pause(70.5)  # 70 s walked: 1.1 km/h
    assert model.envelope(75.3) == 0
    assert model.limit(71.0) == 90  # 1.1 - 0.4 * 0.5
    model.resume(100.5)  # paused exactly 30 s: not longer than the threshold
    assert model.envelope(100.5) == 110
    model.command_succeeded(speed_not_start=True, now=100.5)
    model.command_succeeded(speed_not_start=False, now=100.5)
    assert model.envelope(120.4) == 110  # 90.2 s walked
    assert model.envelope(120.5) == 120  # 90 s walked


def test_a_pause_longer_than_the_threshold_restarts_with_a_fresh_hold() -> None:
    model = walking()
    model.pause(70.5)
    model.resume(100.6)  # 30.4 s > 30 s
    assert model.envelope(100.6) == 100
    model.command_succeeded(speed_not_start=True, now=100.6)
    model.command_succeeded(speed_not_start=False, now=100.6)
    assert model.envelope(160.5) == 100  # 130.2 s walked: the fresh hold ends at 130 s
    assert model.envelope(160.6) == 110
    assert model.envelope(190.6) == 120


def test_a_short_link_loss_restarts_with_a_fresh_hold_and_its_time_still_counts() -> None:
    model = walking()
    model.link_down(70.5)  # 70 s walked
    assert model.envelope(74.3) == 110  # the link being down does not stop the walk's time
    model.link_recovered(75.5)  # 75 s walked: paused, the first action was a stop
    assert model.envelope(75.5) == 0
    model.resume(76.5)  # a 1 s pause, but after a lost link
    assert model.envelope(76.5) == 100
    model.command_succeeded(speed_not_start=True, now=76.5)
    model.command_succeeded(speed_not_start=False, now=76.5)
    assert model.envelope(136.4) == 100  # 135.2 s walked; the fresh hold ends at 135 s
    assert model.envelope(136.5) == 110


def test_a_console_start_in_a_pause_walks_at_once_at_the_resume_speed() -> None:
    model = walking()
    model.pause(100.5)  # 100 s walked: 1.2 km/h
    model.resume(110.5, at_console=True)
    assert model.envelope(110.5) == 120
    assert model.envelope(130.4) == 120  # 120.2 s walked: no arming, the walk's time runs at once
    assert model.envelope(130.5) == 130


def test_a_console_slow_down_is_the_new_base_one_step_a_full_interval_later() -> None:
    model = walking()
    assert model.console_speed(1.0, 100.5) is False  # 100 s walked, 1.2 km/h allowed
    assert model.envelope(130.4) == 100
    assert model.envelope(130.5) == 110  # 130 s walked
    assert model.envelope(160.5) == 120


def test_a_console_slow_down_during_the_hold_steps_first_at_the_holds_end() -> None:
    model = walking()
    model.console_speed(0.8, 10.5)
    assert model.envelope(60.4) == 80
    assert model.envelope(60.5) == 90
    assert model.envelope(90.5) == 100


def test_a_console_speed_up_even_within_the_tolerance_changes_nothing_and_must_be_corrected() -> None:
    model = walking()
    assert model.console_speed(1.3, 10.5) is True
    assert model.console_speed(1.01, 10.6) is True
    assert model.envelope(60.4) == 100
    assert model.envelope(60.5) == 110


def test_a_console_change_faster_than_the_belt_was_told_is_no_slow_down() -> None:
    model = walking()
    model.commanded(0.8)  # a speed below the envelope (1.2 km/h at 100 s), as on a coarse grid
    assert model.console_speed(1.0, 100.5) is False  # within the envelope: nothing to correct ...
    assert model.envelope(130.5) == 130  # ... and the ramp keeps climbing from where it was
    assert model.console_speed(0.9, 130.6) is False  # below 1.0, which the treadmill was last told
    assert model.envelope(160.5) == 90


def test_the_echo_of_the_last_command_is_not_a_console_change() -> None:
    model = walking()
    model.commanded(1.1)  # the 60 s step
    assert model.console_speed(1.1, 61.5) is False
    assert model.envelope(90.5) == 120  # no new base, no later step


def test_console_reports_over_a_lost_link_are_ignored() -> None:
    model = walking()
    model.link_down(10.5)
    assert model.console_speed(0.5, 11.5) is False
    assert model.envelope(60.5) == 110


def test_a_console_slow_down_in_the_cool_down_lowers_it() -> None:
    model = walking()
    model.advance(301.5)
    model.console_speed(0.7, 301.5)
    assert model.envelope(320.5) == 70


def test_a_console_slow_down_below_the_treadmills_minimum_climbs_from_the_minimum() -> None:
    model = PlanEnvelope(belt_min_kmh=0.5)
    model.link_recovered(0.0)
    model.start(SessionPlan(), 0.0)
    model.command_succeeded(speed_not_start=True, now=0.0)
    model.command_succeeded(speed_not_start=False, now=0.0)
    model.console_speed(0.2, 10.0)
    assert model.envelope(59.0) == 50
    assert model.envelope(60.0) == 60
