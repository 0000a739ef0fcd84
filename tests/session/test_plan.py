"""Plans, ceilings and treadmill limits: exact validation, clear refusals, defaults from the evidence."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from retrowalk.errors import PlanError
from retrowalk.session.plan import (
    OperatorCeilings,
    SessionPlan,
    TreadmillCaps,
    UserProfile,
    default_plan,
    plan_problems,
    ramp_reaches_s,
    ramp_top_centi,
    reachable_top_kmh,
    speed_ceiling_for,
    validate_plan,
)

from .session_rig import GYM, WALKING_PAD

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
        ({"start_speed_kmh": 1.00005}, "start_speed_kmh=1.00005 is not a multiple of 0.1"),
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
    assert str(caught.value) == (
        "plan refused: duration_cap_s=1500 is above the operator's max_duration_s (1200 s); "
        "start_speed_kmh=1.0 is below the treadmill's minimum speed (1.5 km/h); "
        "ramp_step_kmh=0.1 is not a multiple of the treadmill's 0.5 km/h increment"
    )


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


# --- Boundaries: every absolute limit at, just under and just over, with the numbers written out. -------


@pytest.mark.parametrize(
    ("field", "last_accepted", "first_refused"),
    [
        ("start_speed_kmh", 3.5, 3.6),
        ("target_speed_kmh", 3.5, 3.6),
        ("ramp_step_kmh", 0.1, 0.2),
        ("duration_cap_s", 1800, 1801),
        ("incline_pct", 5.0, 5.1),
        ("overspeed_tolerance_kmh", 0.5, 0.51),
        ("overspeed_grace_s", 3.0, 3.01),
        ("stale_telemetry_s", 3.0, 3.01),
        ("ramp_interval_s", 600, 601),
        ("familiarisation_s", 600, 601),
        ("cool_down_s", 300, 301),
        ("pause_restart_after_s", 600, 601),
        # and from below
        ("start_speed_kmh", 0.1, 0.0),
        ("ramp_step_kmh", 0.1, 0.0),
        ("ramp_interval_s", 30, 29),
        ("familiarisation_s", 60, 59),
        ("duration_cap_s", 60, 59),
        ("cool_down_s", 0, -1),
        ("incline_pct", 0.0, -0.1),
        ("overspeed_tolerance_kmh", 0.01, 0.0),
        ("overspeed_grace_s", 0.1, 0.0),
        ("stale_telemetry_s", 0.1, 0.0),
        ("pause_restart_after_s", 0, -1),
    ],
)
def test_the_absolute_limits_of_a_plan(field: str, last_accepted: float, first_refused: float) -> None:
    # A start of 3.5 needs a target as high (the target may not be below the start).
    base = {"target_speed_kmh": 3.5} if field == "start_speed_kmh" else {}
    plan = SessionPlan.model_validate({**base, field: last_accepted})
    assert getattr(plan, field) == last_accepted
    with pytest.raises(ValidationError, match=field):
        SessionPlan.model_validate({**base, field: first_refused})


@pytest.mark.parametrize(
    ("fields", "accepted"),
    [
        ({"max_speed_kmh": 3.5}, True),
        ({"max_speed_kmh": 3.6}, False),
        ({"max_speed_kmh": 0.0}, False),
        ({"max_duration_s": 1800}, True),
        ({"max_duration_s": 1801}, False),
        ({"max_duration_s": 60}, True),
        ({"max_duration_s": 59}, False),
        ({"max_incline_pct": 5.0}, True),
        ({"max_incline_pct": 5.1}, False),
        ({"max_incline_pct": -0.1}, False),
    ],
)
def test_the_operator_cannot_configure_past_the_absolute_limits(
    fields: dict[str, float], accepted: bool
) -> None:
    if accepted:
        OperatorCeilings.model_validate(fields)
    else:
        with pytest.raises(ValidationError):
            OperatorCeilings.model_validate(fields)


def test_every_inconsistency_is_named_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        SessionPlan.model_validate(
            {"start_speed_kmh": 1.25, "target_speed_kmh": 1.15, "ramp_step_kmh": 0.05, "incline_pct": 0.15}
        )
    text = str(caught.value)
    assert "start_speed_kmh=1.25 is not a multiple of 0.1 km/h" in text
    assert "target_speed_kmh=1.15 is not a multiple of 0.1 km/h" in text
    assert "ramp_step_kmh=0.05 is not a multiple of 0.1 km/h" in text
    assert "incline_pct=0.15 is not a multiple of 0.1 %" in text
    assert "target_speed_kmh=1.15 is below start_speed_kmh=1.25" in text


def test_a_target_equal_to_the_start_is_a_plan_without_ramp() -> None:
    plan = SessionPlan(start_speed_kmh=1.2, target_speed_kmh=1.2)
    assert plan.target_speed_kmh == 1.2
    with pytest.raises(ValidationError, match=r"target_speed_kmh=1\.1 is below start_speed_kmh=1\.2"):
        SessionPlan(start_speed_kmh=1.2, target_speed_kmh=1.1)


@pytest.mark.parametrize("speed", [0.3, 0.7, 1.1, 2.3, 2.9, 3.3])
def test_speeds_on_the_grid_survive_float_noise(speed: float) -> None:
    # 0.3, 0.7, 1.1 ... times 100 are not whole numbers in floats; they are still on the 0.1 grid.
    assert SessionPlan(start_speed_kmh=0.1, target_speed_kmh=speed).target_speed_kmh == speed


@pytest.mark.parametrize(
    ("max_speed", "start", "target"),
    [
        (1.27, 1.0, 1.2),  # never 1.3: round() would go up
        (1.35, 1.0, 1.3),
        (1.5, 1.0, 1.5),
        (0.89, 0.8, 0.8),  # below the beginner start: the start comes down too, to 0.8 not 0.9
        (0.87, 0.8, 0.8),
        (0.3, 0.3, 0.3),
        (1.299, 1.0, 1.2),  # the float slack must not lift 12.99 tenths to 13
        (1.29999, 1.0, 1.2),
    ],
)
def test_a_first_plan_under_a_low_ceiling_rounds_down(max_speed: float, start: float, target: float) -> None:
    plan = default_plan(UserProfile(user_id="a"), OperatorCeilings(max_speed_kmh=max_speed))
    assert (plan.start_speed_kmh, plan.target_speed_kmh) == (start, target)
    assert plan.duration_cap_s == 300


def test_a_first_plan_for_a_cautious_person_under_a_higher_ceiling() -> None:
    plan = default_plan(UserProfile(user_id="a", balance_concern=True), OperatorCeilings(max_duration_s=1800))
    assert (plan.start_speed_kmh, plan.target_speed_kmh, plan.duration_cap_s) == (1.0, 1.5, 300)


@pytest.mark.parametrize(
    ("plan", "ceilings", "profile", "refused"),
    [
        (SessionPlan(target_speed_kmh=3.0), CEILINGS, None, False),
        (SessionPlan(target_speed_kmh=3.1), CEILINGS, None, True),
        (SessionPlan(target_speed_kmh=2.0), CEILINGS, UserProfile(user_id="u", age_years=65), False),
        (SessionPlan(target_speed_kmh=2.1), CEILINGS, UserProfile(user_id="u", age_years=65), True),
        (SessionPlan(target_speed_kmh=3.0), CEILINGS, UserProfile(user_id="u", age_years=64), False),
        (SessionPlan(duration_cap_s=1200), CEILINGS, None, False),
        (SessionPlan(duration_cap_s=1201), CEILINGS, None, True),
        (SessionPlan(duration_cap_s=1260), CEILINGS, None, True),
        (SessionPlan(duration_cap_s=240), OperatorCeilings(max_duration_s=240), None, False),
        (SessionPlan(duration_cap_s=241), OperatorCeilings(max_duration_s=240), None, True),
        (SessionPlan(incline_pct=1.0), OperatorCeilings(max_incline_pct=1.0), None, False),
        (SessionPlan(incline_pct=1.1), OperatorCeilings(max_incline_pct=1.0), None, True),
    ],
)
def test_the_operator_and_personal_ceilings_at_their_edge(
    plan: SessionPlan, ceilings: OperatorCeilings, profile: UserProfile | None, refused: bool
) -> None:
    # A treadmill that can do anything asked here, so that only the ceilings decide.
    caps = TreadmillCaps(
        min_speed_kmh=0.1, max_speed_kmh=10, speed_step_kmh=0.1, max_incline_pct=5, can_set_incline=True
    )
    problems = plan_problems(plan, ceilings, caps, profile)
    assert bool(problems) is refused, problems
    if refused:
        with pytest.raises(PlanError, match="plan refused: "):
            validate_plan(plan, ceilings, caps, profile)
    else:
        assert validate_plan(plan, ceilings, caps, profile) is plan


def _caps(minimum: float, maximum: float, step: float, **more: object) -> TreadmillCaps:
    return TreadmillCaps.model_validate(
        {"min_speed_kmh": minimum, "max_speed_kmh": maximum, "speed_step_kmh": step, **more}
    )


def _tilting(minimum: float, maximum: float, step: float) -> TreadmillCaps:
    """A walking pad that also takes a target incline in this range."""
    return _caps(
        0.5,
        6.0,
        0.1,
        min_incline_pct=minimum,
        max_incline_pct=maximum,
        incline_step_pct=step,
        can_set_incline=True,
    )


def _unreachable(speed: float, step: float) -> list[str]:
    return [
        f"{name}={speed} is not reachable in the treadmill's {step} km/h increments"
        for name in ("start_speed_kmh", "target_speed_kmh")
    ]


def _ramp_off(step: float) -> list[str]:
    return [f"ramp_step_kmh=0.1 is not a multiple of the treadmill's {step} km/h increment"]


@pytest.mark.parametrize(
    ("plan", "caps", "problems"),
    [
        # The treadmill's minimum: a start below it would be clamped up by the link, so it is refused.
        (SessionPlan(), _caps(1.0, 6.0, 0.1), []),
        (
            SessionPlan(),
            _caps(1.05, 6.0, 0.05),
            ["start_speed_kmh=1.0 is below the treadmill's minimum speed"],
        ),
        (SessionPlan(), _caps(1.1, 6.0, 0.1), ["start_speed_kmh=1.0 is below the treadmill's minimum speed"]),
        # The treadmill's maximum.
        (SessionPlan(target_speed_kmh=2.0), _caps(0.5, 2.0, 0.1), []),
        (
            SessionPlan(target_speed_kmh=2.0),
            _caps(0.5, 1.95, 0.05),
            ["target_speed_kmh=2.0 is above the treadmill's maximum speed (1.95 km/h)"],
        ),
        # Grids: 0.05 and 0.1 km/h hold every 0.1 plan. 0.5 from 0.8 holds 1.3 (0.8 + 0.5) and 1.0 (a
        # multiple of 0.5), not 1.2, and never the 0.1 km/h ramp step; nor does 0.2 mph (0.32 km/h).
        (SessionPlan(target_speed_kmh=1.5), _caps(0.5, 6.0, 0.05), []),
        (SessionPlan(target_speed_kmh=1.5), _caps(0.55, 6.0, 0.05), []),
        (SessionPlan(start_speed_kmh=1.3, target_speed_kmh=1.3), _caps(0.8, 6.0, 0.5), _ramp_off(0.5)),
        (SessionPlan(start_speed_kmh=1.0, target_speed_kmh=1.0), _caps(0.8, 6.0, 0.5), _ramp_off(0.5)),
        (SessionPlan(start_speed_kmh=1.0, target_speed_kmh=1.5), _caps(0.8, 6.0, 0.5), _ramp_off(0.5)),
        (
            SessionPlan(start_speed_kmh=1.2, target_speed_kmh=1.2),
            _caps(0.8, 6.0, 0.5),
            _unreachable(1.2, 0.5) + _ramp_off(0.5),
        ),
        (
            SessionPlan(start_speed_kmh=1.2, target_speed_kmh=1.2),
            _caps(0.8, 6.0, 0.32),
            _unreachable(1.2, 0.32) + _ramp_off(0.32),
        ),
        # Incline: only on a treadmill that takes a target incline, inside its range, on its grid.
        (SessionPlan(incline_pct=0.0), _caps(0.5, 6.0, 0.1), []),
        (
            SessionPlan(incline_pct=0.1),
            _caps(0.5, 6.0, 0.1),
            ["incline_pct=0.1 but the treadmill does not accept a target incline"],
        ),
        (SessionPlan(incline_pct=1.0), _tilting(0.0, 1.0, 0.1), []),
        (
            SessionPlan(incline_pct=1.1),
            _tilting(0.0, 1.0, 0.1),
            ["incline_pct=1.1 is outside the treadmill's range 0.0..1.0 %"],
        ),
        (SessionPlan(incline_pct=0.5), _tilting(0.5, 3.0, 0.1), []),
        (
            SessionPlan(incline_pct=0.4),
            _tilting(0.5, 3.0, 0.1),
            ["incline_pct=0.4 is outside the treadmill's range 0.5..3.0 %"],
        ),
        # 0.3 % steps from 0.5: 0.8, 1.1, ...
        (
            SessionPlan(incline_pct=1.0),
            _tilting(0.5, 3.0, 0.3),
            ["incline_pct=1.0 is not reachable in the treadmill's 0.3 % increments"],
        ),
        (SessionPlan(incline_pct=1.1), _tilting(0.5, 3.0, 0.3), []),
    ],
)
def test_what_the_treadmill_can_do_at_its_edges(
    plan: SessionPlan, caps: TreadmillCaps, problems: list[str]
) -> None:
    found = plan_problems(plan, OperatorCeilings(max_speed_kmh=3.5, max_duration_s=1800), caps)
    assert len(found) == len(problems), found
    for text, expected in zip(found, problems, strict=True):
        assert text.startswith(expected), found


def test_a_treadmill_without_speed_control_is_refused_with_only_that_reason() -> None:
    caps = _caps(1.5, 6.0, 0.5, can_set_speed=False)
    assert plan_problems(SessionPlan(), CEILINGS, caps) == [
        "the treadmill does not accept a target speed, so no speed limit can be enforced"
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"min_speed_kmh": 3.0, "max_speed_kmh": 1.0, "speed_step_kmh": 0.1},
            "min_speed_kmh=3.0 is above max",
        ),
        ({"min_speed_kmh": 0.5, "max_speed_kmh": 6.0, "speed_step_kmh": 0.004}, "finer than FTMS' 0.01"),
        (
            {"min_speed_kmh": 0.5, "max_speed_kmh": 6.0, "speed_step_kmh": 0.1, "min_incline_pct": 3},
            "min_incline_pct=3.0 is above max_incline_pct=0.0",
        ),
    ],
)
def test_impossible_treadmill_limits_are_named(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TreadmillCaps.model_validate(fields)


@pytest.mark.parametrize(
    "fields",
    [
        {"min_speed_kmh": 1.0, "max_speed_kmh": 1.0, "speed_step_kmh": 0.01},
        {"min_speed_kmh": 0.5, "max_speed_kmh": 6.0, "speed_step_kmh": 0.006},  # 0.01 in FTMS units
        {
            "min_speed_kmh": 0.5,
            "max_speed_kmh": 6.0,
            "speed_step_kmh": 0.1,
            "min_incline_pct": 2,
            "max_incline_pct": 2,
        },
    ],
)
def test_treadmill_limits_at_their_edges_are_accepted(fields: dict[str, object]) -> None:
    TreadmillCaps.model_validate(fields)


# The reachable top, worked out by hand: start 1.0 km/h, a 60 s hold, +0.1 km/h every 30 s, target 1.5
# km/h. Steps come at 60, 90, 120, 150 and 180 s, so the target is reached at 180 s.
@pytest.mark.parametrize(
    ("cap_s", "top"),
    [
        (300, 1.5),  # the default 5 minutes: the target comes at 180 s, long before the cap
        (181, 1.5),  # a second after the target's step
        (180, 1.4),  # the target's step due at the cap itself is never walked
        (120, 1.2),  # 2 minutes: 1.3 would come at the cap, so 1.2 (from 90 s) is the top
        (61, 1.1),  # only the first step, at the hold's end, comes before the cap
    ],
)
def test_the_reachable_top_is_the_last_step_before_the_cap(cap_s: int, top: float) -> None:
    plan = SessionPlan(start_speed_kmh=1.0, target_speed_kmh=1.5, duration_cap_s=cap_s)
    assert reachable_top_kmh(plan) == top


def test_a_hold_as_long_as_the_session_reaches_only_the_start_speed() -> None:
    plan = SessionPlan(start_speed_kmh=1.2, target_speed_kmh=2.0, familiarisation_s=120, duration_cap_s=120)
    assert reachable_top_kmh(plan) == 1.2
    longer = plan.model_copy(update={"familiarisation_s": 180, "duration_cap_s": 90})
    assert reachable_top_kmh(longer) == 1.2


def test_a_plan_that_starts_at_its_target_reaches_it_at_once() -> None:
    assert reachable_top_kmh(SessionPlan(start_speed_kmh=1.3, target_speed_kmh=1.3, duration_cap_s=60)) == 1.3


def test_a_slower_ramp_reaches_less_in_the_same_time() -> None:
    # 45 s per step after the 60 s hold: 1.1 at 60 s, 1.2 at 105 s, 1.3 at 150 s, 1.4 at 195 s.
    plan = SessionPlan(start_speed_kmh=1.0, target_speed_kmh=2.0, ramp_interval_s=45, duration_cap_s=195)
    assert reachable_top_kmh(plan) == 1.3


@pytest.mark.parametrize(
    ("speed_centi", "seconds"),
    # On a coarse grid the last step to a target between grid points is shorter: 96 -> 128 -> 150.
    [(96, 0), (128, 120), (150, 216), (160, 216)],
)
def test_a_ramp_reaches_each_speed_at_its_step(speed_centi: int, seconds: int) -> None:
    assert ramp_reaches_s(96, speed_centi, 32, hold_s=120, interval_s=96) == seconds


def test_the_top_of_a_ramp_whose_last_step_is_shorter() -> None:
    assert ramp_top_centi(96, 150, 32, hold_s=120, interval_s=96, cap_s=217) == 150
    assert ramp_top_centi(96, 150, 32, hold_s=120, interval_s=96, cap_s=216) == 128
