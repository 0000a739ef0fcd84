"""Plans, ceilings and treadmill limits: exact validation, clear refusals, defaults from the evidence."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from session_rig import GYM, WALKING_PAD

from retrowalk.errors import PlanError
from retrowalk.session.plan import (
    OperatorCeilings,
    SessionPlan,
    TreadmillCaps,
    UserProfile,
    default_plan,
    speed_ceiling_for,
    validate_plan,
)

CEILINGS = OperatorCeilings()


def test_defaults_are_the_evidence_based_ones() -> None:
    plan = SessionPlan()
    assert (plan.start_speed_kmh, plan.ramp_step_kmh, plan.ramp_interval_s) == (1.0, 0.1, 30)
    assert (plan.familiarisation_s, plan.duration_cap_s, plan.incline_pct) == (60, 300, 0.0)
    assert (plan.overspeed_grace_s, plan.stale_telemetry_s, plan.overspeed_tolerance_kmh) == (3.0, 3.0, 0.3)
    assert (CEILINGS.max_speed_kmh, CEILINGS.max_duration_s, CEILINGS.max_incline_pct) == (3.0, 1200, 5.0)


@pytest.mark.parametrize(
    ("profile", "ceiling"),
    [
        (UserProfile(user_id="a"), 3.0),
        (UserProfile(user_id="a", age_years=64), 3.0),
        (UserProfile(user_id="a", age_years=65), 2.0),
        (UserProfile(user_id="a", balance_concern=True), 2.0),
        (UserProfile(user_id="a", age_years=30, balance_concern=True), 2.0),
    ],
)
def test_speed_ceiling_for_a_person(profile: UserProfile, ceiling: float) -> None:
    assert speed_ceiling_for(profile, CEILINGS) == ceiling
    assert speed_ceiling_for(profile, OperatorCeilings(max_speed_kmh=1.8)) == 1.8


def test_default_plan_is_a_first_session_within_every_ceiling() -> None:
    plan = default_plan(UserProfile(user_id="a", age_years=70), OperatorCeilings(max_duration_s=240))
    assert (plan.start_speed_kmh, plan.target_speed_kmh, plan.duration_cap_s) == (1.0, 1.5, 240)
    low = default_plan(UserProfile(user_id="a"), OperatorCeilings(max_speed_kmh=0.85))
    assert (low.start_speed_kmh, low.target_speed_kmh) == (0.8, 0.8)  # rounded down, never up
    assert validate_plan(plan, CEILINGS, WALKING_PAD) is plan


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"start_speed_kmh": 1.05}, "start_speed_kmh=1.05 is not a multiple of 0.1"),
        ({"target_speed_kmh": 0.9}, "below start_speed_kmh"),
        ({"target_speed_kmh": 3.6}, "less than or equal to 3.5"),
        ({"ramp_step_kmh": 0.2}, "less than or equal to 0.1"),
        ({"ramp_interval_s": 10}, "greater than or equal to 30"),
        ({"familiarisation_s": 30}, "greater than or equal to 60"),
        ({"duration_cap_s": 1801}, "less than or equal to 1800"),
        ({"incline_pct": 6.0}, "less than or equal to 5"),
        ({"incline_pct": 0.05}, "incline_pct=0.05 is not a multiple of 0.1"),
        ({"overspeed_grace_s": 5.0}, "less than or equal to 3"),
        ({"start_speed_kmh": "1.0"}, "valid number"),
        ({"start_speed_kmh": True}, "valid number"),
        ({"start_speed_kmh": float("nan")}, "finite number"),
        ({"duration_cap_s": 300.5}, "valid integer"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
    ],
)
def test_a_bad_plan_is_refused_with_the_reason(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SessionPlan.model_validate(fields)


def test_plans_are_frozen() -> None:
    plan = SessionPlan()
    with pytest.raises(ValidationError):
        plan.start_speed_kmh = 3.0


@pytest.mark.parametrize(
    ("plan", "caps", "ceilings", "profile", "message"),
    [
        (
            SessionPlan(target_speed_kmh=3.2),
            WALKING_PAD,
            CEILINGS,
            None,
            r"target_speed_kmh=3\.2 is above the operator",
        ),
        (
            SessionPlan(target_speed_kmh=2.1),
            WALKING_PAD,
            CEILINGS,
            UserProfile(user_id="u", age_years=80),
            "ceiling for user 'u'",
        ),
        (
            SessionPlan(duration_cap_s=1500),
            WALKING_PAD,
            CEILINGS,
            None,
            "duration_cap_s=1500 is above the operator",
        ),
        (
            SessionPlan(incline_pct=2.0),
            WALKING_PAD,
            OperatorCeilings(max_incline_pct=1.0),
            None,
            "max_incline_pct",
        ),
        (
            SessionPlan(),
            TreadmillCaps(min_speed_kmh=1.5, max_speed_kmh=6, speed_step_kmh=0.1),
            CEILINGS,
            None,
            r"start_speed_kmh=1\.0 is below the treadmill's minimum speed \(1\.5 km/h\)",
        ),
        (
            SessionPlan(target_speed_kmh=2.0),
            TreadmillCaps(min_speed_kmh=0.5, max_speed_kmh=1.8, speed_step_kmh=0.1),
            CEILINGS,
            None,
            "above the treadmill's maximum",
        ),
        (
            SessionPlan(),
            TreadmillCaps(min_speed_kmh=0.5, max_speed_kmh=6, speed_step_kmh=0.5),
            CEILINGS,
            None,
            "ramp_step_kmh=0.1 is not a multiple",
        ),
        (
            SessionPlan(),
            TreadmillCaps(min_speed_kmh=0.5, max_speed_kmh=6, speed_step_kmh=0.1, can_set_speed=False),
            CEILINGS,
            None,
            "does not accept a target speed",
        ),
        (SessionPlan(incline_pct=1.0), WALKING_PAD, CEILINGS, None, "does not accept a target incline"),
        (
            SessionPlan(incline_pct=1.2),
            GYM,
            CEILINGS,
            None,
            r"incline_pct=1\.2 is not reachable in the treadmill's 0\.5 %",
        ),
    ],
)
def test_validate_plan_refuses_and_names_the_value(
    plan: SessionPlan,
    caps: TreadmillCaps,
    ceilings: OperatorCeilings,
    profile: UserProfile | None,
    message: str,
) -> None:
    with pytest.raises(PlanError, match=message):
        validate_plan(plan, ceilings, caps, profile)


def test_every_problem_is_named_at_once() -> None:
    caps = TreadmillCaps(min_speed_kmh=1.5, max_speed_kmh=6.0, speed_step_kmh=0.5)
    with pytest.raises(PlanError) as caught:
        validate_plan(SessionPlan(duration_cap_s=1500), CEILINGS, caps)
    text = str(caught.value)
    assert "duration_cap_s=1500" in text
    assert "start_speed_kmh=1.0" in text
    assert "ramp_step_kmh=0.1" in text


@pytest.mark.parametrize(
    "fields",
    [
        {"min_speed_kmh": 3.0, "max_speed_kmh": 1.0, "speed_step_kmh": 0.1},
        {"min_speed_kmh": 0.5, "max_speed_kmh": 6.0, "speed_step_kmh": 0.0},
        {"min_speed_kmh": 0.5, "max_speed_kmh": 6.0, "speed_step_kmh": 0.001},
        {
            "min_speed_kmh": 0.5,
            "max_speed_kmh": 6.0,
            "speed_step_kmh": 0.1,
            "min_incline_pct": 3,
            "max_incline_pct": 1,
        },
    ],
)
def test_impossible_treadmill_limits_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TreadmillCaps.model_validate(fields)
