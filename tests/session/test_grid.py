"""Plans fitted to a coarse speed grid: never faster than the plan, on the treadmill's grid.

The judge is the independent envelope model (``plan_envelope.PlanEnvelope``), run once with the plan as
asked and once with the fitted plan; the grid is checked by plain arithmetic on the treadmill's range.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from retrowalk.errors import PlanError
from retrowalk.session.events import (
    SESSION_PHASES,
    Action,
    MachineStatus,
    MachineStatusKind,
    SetTargetSpeed,
    Telemetry,
)
from retrowalk.session.grid import FittedPlan, GridFit, asked_plan, fit_plan_to_grid
from retrowalk.session.plan import OperatorCeilings, SessionPlan, TreadmillCaps, validate_plan

from .plan_envelope import PlanEnvelope
from .session_rig import WALKING_PAD, Rig, started_at_zero

# The recorded UREVO E1L: 0.6-4.0 mph in 0.2 mph steps, sent as km/h (shared real_ftms recording).
UREVO = TreadmillCaps(min_speed_kmh=0.96, max_speed_kmh=6.43, speed_step_kmh=0.32)
# The CitySports walking pad: 1-6 km/h in 0.5 km/h steps.
CITYSPORTS = TreadmillCaps(min_speed_kmh=1.0, max_speed_kmh=6.0, speed_step_kmh=0.5)


def walking(plan: SessionPlan, belt_min_kmh: float = 0.0) -> PlanEnvelope:
    """The envelope model with the belt started at t = 0 (so backward-walking time is t)."""
    model = PlanEnvelope(slack_s=1e-6, belt_min_kmh=belt_min_kmh)
    model.link_recovered(0.0)
    model.start(plan, 0.0)
    model.command_succeeded(speed_not_start=True, now=0.0)
    model.command_succeeded(speed_not_start=False, now=0.0)
    return model


def centi(kmh: float) -> int:
    return round(kmh * 100)


def test_the_default_plan_on_the_urevo_starts_lower_and_climbs_one_increment_per_96_s() -> None:
    fitted = fit_plan_to_grid(SessionPlan(), UREVO)
    assert isinstance(fitted, FittedPlan)
    assert (fitted.start_speed_kmh, fitted.target_speed_kmh) == (0.96, 1.28)  # 1.0 and 1.5 rounded down
    assert (fitted.ramp_step_kmh, fitted.ramp_interval_s) == (0.32, 96)  # 0.1 per 30 s, the same pace
    # The plan reaches 1.28 only with its third step (1.3 at 60 + 2 x 30 s): the fitted step waits for it.
    assert fitted.familiarisation_s == 120
    assert fitted.fit.asked == SessionPlan()
    assert validate_plan(fitted, OperatorCeilings(), UREVO) is fitted


def fastest_before_the_cap(plan: SessionPlan) -> int:
    """The highest speed the independent envelope model allows while the session runs (before its cap)."""
    model = walking(plan)
    return max(model.envelope(tenth / 10) for tenth in range(0, 10 * plan.duration_cap_s, 5))


def test_a_two_minute_session_on_the_urevo_announces_the_start_speed_as_its_top() -> None:
    # The plan as asked reaches 1.2 km/h at 90 s and 1.3 only at 120 s, its cap: 1.28 km/h at any moment
    # of it would be faster than the plan. The session runs 0.96 throughout, and announces it as its top;
    # with no step to wait for, the hold is the plan's.
    fitted = fit_plan_to_grid(SessionPlan(duration_cap_s=120), UREVO)
    assert isinstance(fitted, FittedPlan)
    assert (fitted.start_speed_kmh, fitted.target_speed_kmh, fitted.familiarisation_s) == (0.96, 0.96, 60)
    assert fastest_before_the_cap(fitted) == centi(fitted.target_speed_kmh)
    assert (
        "top speed 1.5 -> 0.96 km/h: the ramp would reach 1.28 km/h only at 120 s, not before the "
        "session's 120 s cap"
    ) in fitted.fit.changes, fitted.fit.changes
    assert validate_plan(fitted, OperatorCeilings(), UREVO) is fitted


@pytest.mark.parametrize(
    ("target_kmh", "cap_s", "top_kmh", "next_step"),
    [
        (1.5, 180, 1.28, None),  # one step (at 120 s), then the grid's top under 1.5: as rounded down
        (1.7, 300, 1.6, None),  # 1.7 lies between 1.60 and 1.92: rounded down, reached at 216 s
        (1.7, 216, 1.28, "1.6 km/h only at 216 s, not before the session's 216 s cap"),  # a step at the cap
        (1.7, 217, 1.6, None),  # a second before it
        (1.5, 60, 0.96, "1.28 km/h only at 120 s, not before the session's 60 s cap"),  # the shortest session
        # Fitted for 3.0 km/h, the hold would be 138 s (for the step to 2.24) and 1.6 would come at 234 s;
        # fitted for the 1.6 it reaches, it holds 120 s and 1.6 comes at 216 s, after the plan's 1.6 (210 s).
        (3.0, 220, 1.6, "1.92 km/h only at 330 s, not before the session's 220 s cap"),
    ],
)
def test_the_fitted_top_speed_is_the_fastest_the_fitted_ramp_reaches_before_the_cap(
    target_kmh: float, cap_s: int, top_kmh: float, next_step: str | None
) -> None:
    fitted = fit_plan_to_grid(SessionPlan(target_speed_kmh=target_kmh, duration_cap_s=cap_s), UREVO)
    assert isinstance(fitted, FittedPlan)
    assert fitted.target_speed_kmh == top_kmh
    assert fastest_before_the_cap(fitted) == centi(top_kmh)
    top_change = next(change for change in fitted.fit.changes if change.startswith("top speed"))
    if next_step is None:
        assert top_change.endswith("rounded down"), top_change
    else:
        assert top_change.endswith(f": the ramp would reach {next_step}"), top_change


def test_a_session_too_short_for_a_step_on_a_half_kmh_grid_stays_at_the_start_speed() -> None:
    # The CitySports' first step (1.5 km/h) waits for the plan as written, which reaches 1.5 at 180 s.
    fitted = fit_plan_to_grid(SessionPlan(duration_cap_s=180), CITYSPORTS)
    assert (fitted.start_speed_kmh, fitted.target_speed_kmh, fitted.familiarisation_s) == (1.0, 1.0, 60)
    assert fastest_before_the_cap(fitted) == centi(1.0)
    assert fit_plan_to_grid(SessionPlan(duration_cap_s=181), CITYSPORTS).target_speed_kmh == 1.5


def test_a_faster_ramp_on_the_urevo_waits_for_the_plan_at_every_step() -> None:
    fitted = fit_plan_to_grid(SessionPlan(target_speed_kmh=3.0, duration_cap_s=1200), UREVO)
    # Steps at 138 + 96 k; the plan reaches 0.96 + 0.32 (k + 1) at 60 + 30 (ceil(3.2 k + 2.8) - 1): the
    # tightest is k = 2 (2.24 km/h: 330 s, 330 - 192 = 138).
    assert (fitted.familiarisation_s, fitted.ramp_interval_s, fitted.target_speed_kmh) == (138, 96, 2.88)


def test_the_citysports_grid_keeps_the_speeds_and_stretches_the_ramp() -> None:
    fitted = fit_plan_to_grid(SessionPlan(), CITYSPORTS)
    assert isinstance(fitted, FittedPlan)
    assert (fitted.start_speed_kmh, fitted.target_speed_kmh) == (1.0, 1.5)
    assert (fitted.ramp_step_kmh, fitted.ramp_interval_s, fitted.familiarisation_s) == (0.5, 150, 180)
    assert [change.split(" ->")[0] for change in fitted.fit.changes] == [
        "ramp step 0.1",
        "ramp interval 30",
        "hold at the start speed 60",
    ]


def test_a_plan_that_fits_is_returned_unchanged() -> None:
    plan = SessionPlan()
    assert fit_plan_to_grid(plan, WALKING_PAD) is plan
    fine = TreadmillCaps(min_speed_kmh=0.2, max_speed_kmh=6, speed_step_kmh=0.05)
    assert fit_plan_to_grid(plan, fine) is plan


def test_fitting_a_fitted_plan_fits_the_plan_as_asked_again() -> None:
    fitted = fit_plan_to_grid(SessionPlan(), UREVO)
    assert fit_plan_to_grid(fitted, UREVO) == fitted
    assert asked_plan(fitted) == SessionPlan()
    assert fit_plan_to_grid(fitted, WALKING_PAD) == SessionPlan()


def test_a_grid_that_starts_above_the_start_speed_is_refused_not_rounded_up() -> None:
    plan = SessionPlan(start_speed_kmh=0.8, target_speed_kmh=1.5)
    fitted = fit_plan_to_grid(plan, UREVO)
    assert fitted is plan
    with pytest.raises(PlanError, match=r"start_speed_kmh=0\.8 is below the treadmill's minimum speed"):
        validate_plan(fitted, OperatorCeilings(), UREVO)


def test_the_tolerance_stays_below_one_increment_of_a_coarse_grid() -> None:
    fitted = fit_plan_to_grid(SessionPlan(overspeed_tolerance_kmh=0.5), CITYSPORTS)
    assert fitted.overspeed_tolerance_kmh == 0.49  # a belt one 0.5 km/h increment too fast is caught
    assert fit_plan_to_grid(SessionPlan(overspeed_tolerance_kmh=0.5), UREVO).overspeed_tolerance_kmh == 0.31


def test_the_top_speed_is_the_treadmills_highest_grid_speed_at_most() -> None:
    caps = TreadmillCaps(min_speed_kmh=0.96, max_speed_kmh=1.5, speed_step_kmh=0.32)
    assert fit_plan_to_grid(SessionPlan(target_speed_kmh=2.0), caps).target_speed_kmh == 1.28


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start_speed_kmh": 1.28}, "start_speed_kmh=1.28 is above the plan's 1.0"),
        ({"start_speed_kmh": 1.0}, "start_speed_kmh=1.0 is not on the grid"),
        ({"ramp_interval_s": 95}, "faster on average"),
        ({"familiarisation_s": 80}, "shorter than the plan's"),
        ({"duration_cap_s": 600}, "may not change duration_cap_s"),
        ({"overspeed_tolerance_kmh": 0.4}, "overspeed_tolerance_kmh=0.4 is above"),
    ],
)
def test_a_fitted_plan_cannot_be_built_faster_than_the_plan_it_fits(
    change: dict[str, object], message: str
) -> None:
    values = fit_plan_to_grid(SessionPlan(), UREVO).model_dump(exclude={"fit"}) | change
    asked = SessionPlan(familiarisation_s=90)
    fit = GridFit(grid_from_kmh=0.96, speed_step_kmh=0.32, asked=asked, changes=("x",))
    FittedPlan(**fit_plan_to_grid(asked, UREVO).model_dump(exclude={"fit"}), fit=fit)  # as fitted: fine
    with pytest.raises(ValidationError, match=message):
        FittedPlan(**values, fit=fit)


def test_a_fitted_plan_cannot_announce_a_top_it_does_not_reach_before_the_cap() -> None:
    asked = SessionPlan(duration_cap_s=120)
    fitted = fit_plan_to_grid(asked, UREVO)
    assert isinstance(fitted, FittedPlan)
    # As fitted before: the 120 s hold fills the session, and 1.28 would come at its end.
    values = fitted.model_dump(exclude={"fit"}) | {"target_speed_kmh": 1.28, "familiarisation_s": 120}
    with pytest.raises(
        ValidationError, match=r"target_speed_kmh=1\.28 is reached only at 120 s, not before the 120 s cap"
    ):
        FittedPlan(**values, fit=fitted.fit)


def test_a_fitted_plan_cannot_take_a_step_before_the_plan_as_asked_reaches_its_speed() -> None:
    # The default plan's pace (0.32 km/h per 96 s) with the plan's own 60 s hold: 1.28 km/h at 60 s, where
    # the plan allows 1.1 (it reaches 1.28 only at 120 s).
    fitted = fit_plan_to_grid(SessionPlan(), UREVO)
    assert isinstance(fitted, FittedPlan)
    values = fitted.model_dump(exclude={"fit"}) | {"familiarisation_s": 60}
    with pytest.raises(
        ValidationError,
        match=r"\(60 s\) lets a step come before the plan reaches its speed \(it needs 120 s\)",
    ):
        FittedPlan(**values, fit=fitted.fit)


# --- any plan on any grid ---------------------------------------------------------------------------------
@st.composite
def plans(draw: st.DrawFn) -> SessionPlan:
    # A plan's ramp step is always 0.1 km/h (it may be no more, and must be on the 0.1 grid).
    start = draw(st.integers(5, 30))  # tenths of km/h
    target = draw(st.integers(start, 35))
    return SessionPlan(
        start_speed_kmh=start / 10,
        target_speed_kmh=target / 10,
        ramp_interval_s=draw(st.integers(30, 600)),
        familiarisation_s=draw(st.integers(60, 600)),
        duration_cap_s=draw(st.integers(60, 1800)),
        overspeed_tolerance_kmh=draw(st.integers(1, 50)) / 100,
    )


@st.composite
def grids(draw: st.DrawFn) -> TreadmillCaps:
    step = draw(st.integers(1, 100))  # hundredths of km/h
    low = draw(st.integers(1, 300))
    high = draw(st.integers(low, 1200))
    return TreadmillCaps(min_speed_kmh=low / 100, max_speed_kmh=high / 100, speed_step_kmh=step / 100)


@settings(max_examples=300, deadline=None)
@given(plan=plans(), caps=grids())
def test_a_fitted_plan_is_on_the_grid_and_never_faster_than_the_plan(
    plan: SessionPlan, caps: TreadmillCaps
) -> None:
    fitted = fit_plan_to_grid(plan, caps)
    try:
        validate_plan(fitted, OperatorCeilings(max_speed_kmh=3.5, max_duration_s=1800), caps)
    except PlanError:
        # Refused only when the grid cannot start as slowly as the plan, or cannot reach its start at all.
        assert centi(plan.start_speed_kmh) < centi(caps.min_speed_kmh) or centi(plan.start_speed_kmh) > centi(
            caps.max_speed_kmh
        )
        return
    low, step = centi(caps.min_speed_kmh), centi(caps.speed_step_kmh)
    asked, ours = walking(plan), walking(fitted)
    for tenth in range(0, 10 * (plan.duration_cap_s + plan.cool_down_s) + 10, 5):
        now = tenth / 10
        allowed = ours.envelope(now)
        assert allowed <= asked.envelope(now), f"faster than the plan at {now} s"
        if allowed:
            assert (allowed - low) % step == 0, f"{allowed} is off the grid at {now} s"
            assert low <= allowed <= centi(caps.max_speed_kmh), f"{allowed} is out of range at {now} s"
    # A fitted plan announces no top it cannot reach: its target is reached before the cap.
    if isinstance(fitted, FittedPlan):
        assert fastest_before_the_cap(fitted) == centi(fitted.target_speed_kmh)
    # The average pace of the ramp is the plan's or slower.
    fitted_pace = centi(fitted.ramp_step_kmh) * plan.ramp_interval_s
    assert fitted_pace <= centi(plan.ramp_step_kmh) * fitted.ramp_interval_s


# --- a slow-down at the console on a coarse grid ----------------------------------------------------------
SAMPLE_EVERY_S = 2.0  # an obedient belt reports this often: well inside the stale-data limit
CHECK_EVERY_S = 0.5  # the allowed speed is compared with the plan as written this often
CEILINGS = OperatorCeilings(max_speed_kmh=3.5, max_duration_s=1800)


class ConsoleWalk:
    """A session on a coarse-grid treadmill whose belt runs at whatever it was last told, by retrowalk or
    at the console; the plan as written (the independent model, fed the plan as asked) follows along."""

    def __init__(self, plan: SessionPlan, caps: TreadmillCaps) -> None:
        self.rig = started_at_zero(plan, Rig(caps, CEILINGS))
        self.written = walking(plan, belt_min_kmh=caps.min_speed_kmh)
        self.belt = 0.0
        self._follow(self.rig.log)

    def _follow(self, out: list[Action]) -> None:
        for action in out:
            if isinstance(action, SetTargetSpeed):
                self.belt = action.kmh
                self.written.commanded(action.kmh)  # an echo of it is no console change, for either

    def walk_until(self, until: float) -> None:
        """Samples every SAMPLE_EVERY_S up to ``until``; before each, the allowed speed is checked against
        the plan as written every CHECK_EVERY_S."""
        while self.rig.now < until and self.rig.phase() in SESSION_PHASES:
            dt = min(SAMPLE_EVERY_S, until - self.rig.now)
            self.check_until(self.rig.now + dt)
            self._follow(self.rig.send(Telemetry(self.belt, 0.0, self.rig.now + dt), dt))

    def check_until(self, until: float) -> None:
        now = self.rig.now
        while now <= until:
            allowed = centi(self.rig.engine.allowed_speed(now))
            assert allowed <= self.written.envelope(now), f"{allowed} above the plan as written at {now} s"
            now += CHECK_EVERY_S

    def console(self, kmh: float) -> None:
        now = self.rig.now + 0.1
        self.check_until(now)
        self.written.console_speed(kmh, now)
        # The belt takes the keyed speed, then whatever the engine answers with: rounded down onto the
        # ramp's grid, or the allowed speed for a speed-up.
        self.belt = kmh
        self._follow(self.rig.send(MachineStatus(MachineStatusKind.TARGET_SPEED_CHANGED, kmh), dt=0.1))


def test_after_a_slow_down_on_the_urevo_the_next_increment_waits_for_the_plan_as_written() -> None:
    walk = ConsoleWalk(SessionPlan(duration_cap_s=900), UREVO)
    walk.walk_until(250)
    assert walk.belt == 1.28  # fitted: 0.96 for 120 s, 1.28 from 120 s (the top: 1.5 rounded down)
    walk.console(0.96)
    # The plan as written climbs 0.1 km/h per 30 s from 0.96: 1.26 at 340.1 s, 1.36 at 370.1 s. One
    # stretched interval (96 s) would allow 1.28 at 346.1 s, 0.02 km/h above the plan then.
    walk.walk_until(368)
    assert walk.belt == 0.96
    walk.walk_until(372)
    assert walk.belt == 1.28


@settings(max_examples=25, deadline=None)
@given(
    plan=plans(),
    caps=grids(),
    # (when, as a fraction of cap + cool-down; how deep, as a fraction of the belt's speed above the lowest)
    slow_downs=st.lists(st.tuples(st.floats(0.02, 0.98), st.floats(0.0, 1.0)), min_size=1, max_size=3),
)
@example(
    # Found by it: 0.36 km/h keyed while the belt ran at 0.34 (the grid's speed below 0.36, after a first
    # slow-down) is a person speeding up, corrected; it restarts the ramp of the plan as written no more
    # than the engine's.
    plan=SessionPlan(
        start_speed_kmh=0.5,
        target_speed_kmh=0.5,
        ramp_interval_s=292,
        duration_cap_s=1058,
        cool_down_s=60,
        overspeed_tolerance_kmh=0.02,
    ),
    caps=TreadmillCaps(min_speed_kmh=0.01, max_speed_kmh=0.5, speed_step_kmh=0.11),
    slow_downs=[(0.125, 0.75), (0.5, 1.0)],
)
# Slowed to 0.91 at 60.1 s, which the engine rounds down to 0.90 (its ramp grid) and tells the belt; at 120.1
# s, the moment of the next step, 0.91 is keyed again: a speed-up from the 0.90 the belt was told, not a
# slow-down. (A belt taken to run at 0.91 made it look like a slow-down that holds the ramp back.)
@example(
    plan=SessionPlan(
        start_speed_kmh=0.9,
        target_speed_kmh=1.0,
        ramp_interval_s=60,
        familiarisation_s=60,
        duration_cap_s=180,
        overspeed_tolerance_kmh=0.01,
    ),
    caps=TreadmillCaps(min_speed_kmh=0.65, max_speed_kmh=0.99, speed_step_kmh=0.01),
    slow_downs=[(0.5, 1.0), (0.25, 0.75)],
)
# The fitted start (0.09 km/h) is below the slowest speed the ramp climbs again from (0.1 km/h): keying 0.1
# km/h at 30.25 s speeds the belt up; the engine corrects it, and the ramp is not lowered.
@example(
    plan=SessionPlan(
        start_speed_kmh=0.5,
        target_speed_kmh=0.6,
        ramp_interval_s=30,
        familiarisation_s=60,
        duration_cap_s=61,
        overspeed_tolerance_kmh=0.01,
    ),
    caps=TreadmillCaps(min_speed_kmh=0.09, max_speed_kmh=0.51, speed_step_kmh=0.42),
    slow_downs=[(0.25, 0.0)],
)
def test_after_slow_downs_at_the_console_a_fitted_ramp_never_climbs_ahead_of_the_plan_as_written(
    plan: SessionPlan, caps: TreadmillCaps, slow_downs: list[tuple[float, float]]
) -> None:
    """Slow-downs at moments spread over the session, each to a speed between the treadmill's lowest (0.1
    km/h at least) and the belt's: the whole session long, the engine allows nothing the plan as written
    does not."""
    fitted = fit_plan_to_grid(plan, caps)
    assume(isinstance(fitted, FittedPlan))
    try:
        validate_plan(fitted, CEILINGS, caps)
    except PlanError:
        assume(False)
    walk = ConsoleWalk(plan, caps)
    end = plan.duration_cap_s + plan.cool_down_s
    for at, depth in sorted(slow_downs):
        walk.walk_until(at * end)
        if walk.rig.phase() not in SESSION_PHASES:
            break
        low = max(centi(caps.min_speed_kmh), 10)  # the engine never climbs again from below 0.1 km/h
        if centi(walk.belt) < low:
            continue  # already slower (a fitted start of 0.09 km/h): keying ``low`` would be a speed-up
        walk.console((low + round(depth * (centi(walk.belt) - low))) / 100)
    walk.walk_until(end + SAMPLE_EVERY_S)
