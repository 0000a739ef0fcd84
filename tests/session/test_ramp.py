"""The allowed speed as a function of backward-walking time, checked against numbers worked out by hand.

The plan used throughout: start 1.0 km/h, a 60 s hold, +0.1 km/h every 30 s, target 1.5 km/h. So the
allowed speed is 1.0 until 60 s, 1.1 from 60 s, 1.2 from 90 s, ... and 1.5 from 180 s on.
"""

from __future__ import annotations

import pytest

from retrowalk.session.grid import fit_plan_to_grid
from retrowalk.session.plan import SessionPlan, TreadmillCaps, reachable_top_kmh
from retrowalk.session.ramp import RampState, allowed_centi, floor_to_ramp_grid, next_ramp_change_s

PLAN = SessionPlan(start_speed_kmh=1.0, target_speed_kmh=1.5, familiarisation_s=60, ramp_interval_s=30)


@pytest.mark.parametrize(
    ("backward_s", "centi"),
    [
        (0.0, 100),
        (59.99, 100),
        (60.0, 110),  # the first step at the hold's end
        (89.99, 110),
        (90.0, 120),
        (119.99, 120),
        (120.0, 130),
        (179.99, 140),
        (180.0, 150),
        (3600.0, 150),  # never above the target
    ],
)
def test_a_fresh_ramp_holds_then_climbs_one_step_per_interval(backward_s: float, centi: int) -> None:
    assert allowed_centi(RampState.fresh(PLAN, 0.0), PLAN, backward_s) == centi


@pytest.mark.parametrize(("backward_s", "centi"), [(400.0, 100), (459.99, 100), (460.0, 110), (490.0, 120)])
def test_a_ramp_restarted_later_holds_from_then(backward_s: float, centi: int) -> None:
    # After a long pause the session restarts at the start speed with a fresh 60 s hold from 400 s.
    assert allowed_centi(RampState.fresh(PLAN, 400.0), PLAN, backward_s) == centi


def test_a_slower_plan_and_a_longer_hold() -> None:
    plan = SessionPlan(start_speed_kmh=0.5, target_speed_kmh=0.8, familiarisation_s=120, ramp_interval_s=45)
    ramp = RampState.fresh(plan, 10.0)
    assert [allowed_centi(ramp, plan, t) for t in (129.99, 130.0, 174.99, 175.0, 220.0, 300.0)] == [
        50,
        60,
        60,
        70,
        80,
        80,
    ]


@pytest.mark.parametrize(
    ("backward_s", "centi"),
    [(200.0, 120), (229.99, 120), (230.0, 130), (260.0, 140), (290.0, 150), (320.0, 150)],
)
def test_a_speed_chosen_lower_at_the_console_climbs_again_a_full_interval_later(
    backward_s: float, centi: int
) -> None:
    ramp = RampState.fresh(PLAN, 0.0).lowered(120, 200.0, PLAN)
    assert allowed_centi(ramp, PLAN, backward_s) == centi


def test_lowered_during_the_hold_still_waits_for_the_hold_to_end() -> None:
    ramp = RampState.fresh(PLAN, 0.0).lowered(90, 10.0, PLAN)
    assert [allowed_centi(ramp, PLAN, t) for t in (10.0, 59.99, 60.0, 90.0)] == [90, 90, 100, 110]


def test_the_start_above_the_target_is_capped() -> None:
    ramp = RampState(base_centi=180, hold_until_s=60.0, anchor_s=30.0)
    assert allowed_centi(ramp, PLAN, 0.0) == 150
    assert allowed_centi(ramp, PLAN, 100.0) == 150


@pytest.mark.parametrize(
    ("backward_s", "next_s"),
    [(0.0, 60.0), (59.99, 60.0), (60.0, 90.0), (75.0, 90.0), (90.0, 120.0), (500.0, 510.0)],
)
def test_the_next_moment_the_allowed_speed_may_change(backward_s: float, next_s: float) -> None:
    assert next_ramp_change_s(RampState.fresh(PLAN, 0.0), PLAN, backward_s) == next_s


def test_the_next_change_after_a_console_slow_down() -> None:
    ramp = RampState.fresh(PLAN, 0.0).lowered(120, 200.0, PLAN)
    assert next_ramp_change_s(ramp, PLAN, 200.0) == 230.0
    assert next_ramp_change_s(ramp, PLAN, 229.99) == 230.0
    assert next_ramp_change_s(ramp, PLAN, 230.0) == 260.0


@pytest.mark.parametrize(
    ("centi", "min_centi", "floored"),
    [
        (137, 50, 130),
        (130, 50, 130),
        (129, 50, 120),
        (100, 50, 100),
        (99, 50, 90),  # below the start, the grid goes on downwards
        (137, 135, 135),  # never below what the belt can do
        (5, 0, 10),  # nor below 0.1 km/h
    ],
)
def test_a_speed_is_floored_onto_the_ramp_grid(centi: int, min_centi: int, floored: int) -> None:
    assert floor_to_ramp_grid(centi, PLAN, min_centi) == floored


# The default plan fitted to the UREVO E1L's grid (0.96 + n x 0.32 km/h): 0.32 km/h per 96 s from 0.96.
UREVO = TreadmillCaps(min_speed_kmh=0.96, max_speed_kmh=6.43, speed_step_kmh=0.32)
FITTED = fit_plan_to_grid(SessionPlan(target_speed_kmh=3.0), UREVO)


@pytest.mark.parametrize(
    ("backward_s", "centi"),
    # The plan as written climbs from 0.96 by 0.1 per 30 s from 600 s: 1.26 at 690 s, 1.36 at 720 s, 1.56
    # at 780 s, 1.66 at 810 s. Each 0.32 increment waits for it (720 s, 810 s), not 96 s (696 s, 792 s).
    [(600.0, 96), (695.99, 96), (696.0, 96), (719.99, 96), (720.0, 128), (809.99, 128), (810.0, 160)],
)
def test_a_fitted_ramp_lowered_at_the_console_waits_for_the_plan_as_written(
    backward_s: float, centi: int
) -> None:
    ramp = RampState.fresh(FITTED, 0.0).lowered(96, 600.0, FITTED)
    assert allowed_centi(ramp, FITTED, backward_s) == centi


def test_a_fitted_ramp_lowered_at_the_console_may_change_at_either_plans_step() -> None:
    ramp = RampState.fresh(FITTED, 0.0).lowered(96, 600.0, FITTED)
    assert [next_ramp_change_s(ramp, FITTED, t) for t in (600.0, 690.0, 696.0, 720.0)] == [
        630.0,
        696.0,
        720.0,
        750.0,
    ]


@pytest.mark.parametrize(
    "plan",
    [
        SessionPlan(duration_cap_s=120),
        SessionPlan(duration_cap_s=180),
        SessionPlan(duration_cap_s=300),
        SessionPlan(start_speed_kmh=1.2, target_speed_kmh=2.0, familiarisation_s=120, duration_cap_s=120),
        SessionPlan(target_speed_kmh=2.0, ramp_interval_s=45, duration_cap_s=195),
        fit_plan_to_grid(SessionPlan(target_speed_kmh=2.0, duration_cap_s=600), UREVO),
    ],
)
def test_the_announced_top_is_what_the_engines_ramp_allows_just_before_the_cap(plan: SessionPlan) -> None:
    # The announcement and the enforcement must be one ramp: at the cap's last moment the fresh ramp
    # allows exactly the reachable top, and never more at any moment before.
    fresh = RampState.fresh(plan, 0.0)
    just_before_cap = plan.duration_cap_s - 0.001
    assert allowed_centi(fresh, plan, just_before_cap) == round(reachable_top_kmh(plan) * 100)
    assert max(allowed_centi(fresh, plan, t / 2) for t in range(2 * plan.duration_cap_s)) == round(
        reachable_top_kmh(plan) * 100
    )
