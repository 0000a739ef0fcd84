"""The link's last-line value checks and the mph/km/h detector."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrowalk.link.limits import DeviceRange
from retrowalk.link.units import UnitCheck, UnitMismatch

WALKING_PAD = DeviceRange(minimum=0.5, maximum=6.0, step=0.1)
COARSE = DeviceRange(minimum=0.8, maximum=19.3, step=0.5)


@pytest.mark.parametrize(
    ("device", "asked", "sent"),
    [
        (WALKING_PAD, 1.0, 1.0),
        (WALKING_PAD, 1.05, 1.0),  # never rounded up onto the next step
        (WALKING_PAD, 1.1, 1.1),  # 1.1 is not lost to float error
        (WALKING_PAD, 9.0, 6.0),  # clamped to the maximum
        (WALKING_PAD, 0.2, 0.5),  # below the range: the minimum, the engine never asks for that
        (COARSE, 1.2, 0.8),  # steps count from the minimum: 0.8, 1.3, ...
        (COARSE, 1.3, 1.3),
        (COARSE, 2.0, 1.8),
    ],
)
def test_speed_is_floored_onto_the_device_grid(device: DeviceRange, asked: float, sent: float) -> None:
    assert device.floor(asked) == pytest.approx(sent)
    assert device.floor(asked) <= max(asked, device.minimum) + 1e-9


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        WALKING_PAD.floor(bad)


def test_an_inverted_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"range maximum 1\.0 is below its minimum 5\.0"):
        DeviceRange(minimum=5.0, maximum=1.0, step=0.1)


# Every grid the link meets: a walking pad's 0.05 and 0.1 km/h, a 0.2 mph console (0.32 km/h, from a
# 0.5 mph = 0.8 km/h minimum) and a gym treadmill's 0.5 km/h. Each row is just under, at and just over
# a grid point, with the expected value worked out by hand: never rounded up, never past a step.
FINE = DeviceRange(minimum=0.5, maximum=6.0, step=0.05)
MPH_CONSOLE = DeviceRange(minimum=0.8, maximum=16.0, step=0.32)


@pytest.mark.parametrize(
    ("device", "asked", "sent"),
    [
        (FINE, 1.3499, 1.3),
        (FINE, 1.35, 1.35),
        (FINE, 1.37, 1.35),  # not 1.4: rounding to one decimal would speed the belt up
        (FINE, 1.3999, 1.35),
        (FINE, 1.4, 1.4),
        (WALKING_PAD, 1.0999, 1.0),
        (WALKING_PAD, 1.19, 1.1),
        (WALKING_PAD, 2.3, 2.3),  # (2.3 - 0.5) / 0.1 is 17.999...96 in floats
        (MPH_CONSOLE, 1.4399, 1.12),
        (MPH_CONSOLE, 1.44, 1.44),  # (1.44 - 0.8) / 0.32 is 1.999...96 in floats
        (MPH_CONSOLE, 1.45, 1.44),
        (MPH_CONSOLE, 1.75, 1.44),
        (MPH_CONSOLE, 1.76, 1.76),
        (COARSE, 1.2999, 0.8),
        (COARSE, 1.31, 1.3),
        (COARSE, 19.3, 19.3),
        (COARSE, 19.31, 19.3),
    ],
)
def test_floor_at_just_under_and_just_over_each_step(device: DeviceRange, asked: float, sent: float) -> None:
    assert device.floor(asked) == sent


@given(
    st.sampled_from([(50, 5), (50, 10), (80, 32), (80, 50)]),
    st.integers(min_value=0, max_value=2000),
)
def test_floor_never_exceeds_the_asked_speed_and_loses_less_than_a_step(
    grid: tuple[int, int], asked_centi: int
) -> None:
    """Judged in whole hundredths of km/h, the unit FTMS speaks, independently of the float arithmetic."""
    minimum, step = grid
    device = DeviceRange(minimum=minimum / 100, maximum=10.0, step=step / 100)
    sent_centi = round(device.floor(asked_centi / 100) * 100)
    assert sent_centi == pytest.approx(device.floor(asked_centi / 100) * 100, abs=1e-6)  # no float noise
    assert (sent_centi - minimum) % step == 0
    wanted = min(max(asked_centi, minimum), 1000)
    highest_on_grid = minimum + (wanted - minimum) // step * step
    assert sent_centi == highest_on_grid


def test_a_range_of_one_speed_is_accepted() -> None:
    single = DeviceRange(minimum=1.0, maximum=1.0, step=0.1)
    assert single.floor(3.0) == 1.0
    assert single.floor(0.2) == 1.0


def test_a_zero_step_means_any_speed_in_the_range() -> None:
    # Some treadmills report no increment; the value is then only clamped, never moved up.
    continuous = DeviceRange(minimum=0.5, maximum=6.0, step=0.0)
    assert continuous.floor(1.37) == 1.37
    assert continuous.floor(7.0) == 6.0


def test_a_negative_step_is_refused() -> None:
    with pytest.raises(ValueError, match=r"range step -0\.1 is negative"):
        DeviceRange(minimum=0.5, maximum=6.0, step=-0.1)


@pytest.mark.parametrize(
    ("minimum", "maximum", "step"),
    [(math.nan, 6.0, 0.1), (0.5, math.inf, 0.1), (0.5, 6.0, math.inf), (0.5, 6.0, math.nan)],
)
def test_a_range_with_a_non_finite_bound_is_refused(minimum: float, maximum: float, step: float) -> None:
    with pytest.raises(ValueError, match="range has a non-finite bound"):
        DeviceRange(minimum=minimum, maximum=maximum, step=step)


def run_belt(check: UnitCheck, *, true_kmh: float, reported_kmh: float, seconds: int) -> UnitMismatch | None:
    """A belt at ``true_kmh`` whose data says ``reported_kmh``; distance counter in whole metres."""
    verdict = None
    for second in range(seconds + 1):
        distance = math.floor(true_kmh / 3.6 * second + 3.4)  # the counter started mid-metre
        verdict = check.observe(float(second), reported_kmh, float(distance)) or verdict
    return verdict


def test_honest_treadmill_passes_a_long_walk() -> None:
    assert run_belt(UnitCheck(), true_kmh=1.0, reported_kmh=1.0, seconds=300) is None
    assert run_belt(UnitCheck(), true_kmh=3.0, reported_kmh=3.0, seconds=300) is None


def test_mph_reported_as_kmh_is_caught_with_a_reason() -> None:
    verdict = run_belt(UnitCheck(), true_kmh=1.609, reported_kmh=1.0, seconds=30)
    assert verdict is not None
    assert 1.3 < verdict.ratio < 2.0
    assert "mph reported as km/h" in verdict.reason


def test_detection_needs_only_the_first_stretch_of_travel() -> None:
    check = UnitCheck()
    caught_at = None
    for second in range(60):
        distance = math.floor(1.609 / 3.6 * second)
        if check.observe(float(second), 1.0, float(distance)) is not None:
            caught_at = second
            break
    assert caught_at is not None
    assert caught_at <= 20


def test_km_h_with_miles_distance_is_caught() -> None:
    verdict = run_belt(UnitCheck(), true_kmh=1.0 / 1.609, reported_kmh=1.0, seconds=60)
    assert verdict is not None
    assert verdict.ratio < 0.7


def test_a_stopped_belt_or_missing_distance_forgets_the_history() -> None:
    check = UnitCheck()
    for second in range(5):
        # 3.6 times too far, but too little travel yet to judge.
        assert check.observe(float(second), 1.0, float(second)) is None
    assert check.observe(5.0, 0.0, 5.0) is None
    assert check.observe(11.0, 1.0, None) is None
    assert run_belt(check, true_kmh=1.0, reported_kmh=1.0, seconds=120) is None


def caught_ratio(check: UnitCheck, at: float, reported_kmh: float, distance_m: float) -> float:
    verdict = check.observe(at, reported_kmh, distance_m)
    assert verdict is not None, "the mismatch was not caught"
    return verdict.ratio


def judge_one_stretch(seconds: float, travelled_m: float, reported_kmh: float = 3.6) -> UnitMismatch | None:
    """Two samples ``seconds`` apart at a steady reported speed (3.6 km/h: the data implies 1 m a second)."""
    check = UnitCheck()
    assert check.observe(50.0, reported_kmh, 100.0) is None
    return check.observe(50.0 + seconds, reported_kmh, 100.0 + travelled_m)


@pytest.mark.parametrize(
    ("travelled_m", "caught"),
    [
        (12.9, False),
        (13.0, False),  # 1.3 times what the data implies is still believed
        (13.1, True),
        (14.0, True),  # 1.4: would pass a threshold moved to 1.5
        (7.1, False),
        (7.0, False),  # 0.7 times is still believed
        (6.9, True),
    ],
)
def test_the_distance_ratio_is_judged_at_1_3_and_0_7(travelled_m: float, caught: bool) -> None:
    verdict = judge_one_stretch(10.0, travelled_m)
    assert (verdict is not None) is caught
    if verdict is not None:
        assert verdict.ratio == pytest.approx(travelled_m / 10.0)


def test_no_verdict_before_6_m_of_travel() -> None:
    # 5.9 m travelled where the data implies 2 m: three times too far, but too little to judge.
    assert judge_one_stretch(2.0, 5.9) is None
    verdict = judge_one_stretch(2.0, 6.0)
    assert verdict is not None
    assert verdict.ratio == pytest.approx(3.0)
    # Half a metre implied, 6 travelled: judged on the ratio, 12.
    assert judge_one_stretch(0.5, 6.0) == UnitMismatch(ratio=12.0)
    # The other way round: 6 m implied, none travelled.
    assert judge_one_stretch(5.9, 0.0) is None
    verdict = judge_one_stretch(6.0, 0.0)
    assert verdict is not None
    assert verdict.ratio == 0.0


def test_the_speed_between_samples_is_averaged() -> None:
    check = UnitCheck()
    assert check.observe(0.0, 1.8, 100.0) is None
    # From 1.8 to 5.4 km/h over 10 s: 10 m by the trapezoid (5 m by the first speed, 15 m by the last).
    assert check.observe(10.0, 5.4, 113.0) is None
    check = UnitCheck()
    check.observe(0.0, 1.8, 100.0)
    assert caught_ratio(check, 10.0, 5.4, 113.1) == pytest.approx(1.31)


def test_distance_with_no_reported_speed_is_caught() -> None:
    # Two samples at the same moment: the data implies no travel at all, yet the counter moved 6 m.
    check = UnitCheck()
    assert check.observe(10.0, 1.0, 100.0) is None
    verdict = check.observe(10.0, 1.0, 106.0)
    assert verdict is not None
    assert verdict.ratio == math.inf
    assert "speed and distance data disagree" in verdict.reason


def test_a_late_unit_switch_is_caught_after_a_long_honest_stretch() -> None:
    check = UnitCheck()
    assert check.observe(0.0, 3.6, 100.0) is None
    # 24 m agreeing with the data: enough evidence, the next stretch is judged afresh.
    assert check.observe(24.0, 3.6, 124.0) is None
    # Then the module starts reporting mph as km/h: 1.31 times the implied distance over 10 s.
    assert caught_ratio(check, 34.0, 3.6, 137.1) == pytest.approx(1.31)


def test_a_shorter_honest_stretch_keeps_counting() -> None:
    check = UnitCheck()
    assert check.observe(0.0, 3.6, 100.0) is None
    assert check.observe(23.0, 3.6, 123.0) is None
    # Not yet re-armed: the 4 m surplus of the next 10 s is judged over all 33 m (ratio 1.12).
    assert check.observe(33.0, 3.6, 137.0) is None


@pytest.mark.parametrize(
    "interruption",
    [
        (30.0, 0.0, 130.0),  # belt stopped
        (30.0, 3.6, None),  # distance missing
        (5.0, 3.6, 130.0),  # clock went backwards
        (30.0, 3.6, 50.0),  # counter reset
    ],
)
def test_an_interruption_starts_the_stretch_again(interruption: tuple[float, float, float | None]) -> None:
    check = UnitCheck()
    assert check.observe(10.0, 3.6, 100.0) is None
    assert check.observe(*interruption) is None
    at, _speed, distance = interruption
    # Resumed honestly from here: a new stretch, not one that spans the interruption.
    base_at, base_distance = at, distance if distance is not None else 130.0
    assert check.observe(base_at, 3.6, base_distance) is None
    assert check.observe(base_at + 10.0, 3.6, base_distance + 10.0) is None
    assert caught_ratio(check, base_at + 20.0, 3.6, base_distance + 26.1) == pytest.approx(1.305)


def test_restart_forgets_the_stretch() -> None:
    check = UnitCheck()
    check.observe(0.0, 3.6, 100.0)
    check.observe(5.0, 3.6, 103.0)  # 3 m against 5 implied: too little to judge yet
    check.restart()
    # Without the restart, 400 m against 100 m implied would be caught here.
    assert check.observe(100.0, 3.6, 500.0) is None
    assert check.observe(110.0, 3.6, 510.0) is None


@pytest.mark.parametrize(
    ("ratio", "hint"),
    [
        (1.44, "its speed and distance data disagree"),
        (1.45, "its speeds look like mph reported as km/h"),
        (1.61, "its speeds look like mph reported as km/h"),
        (1.8, "its speeds look like mph reported as km/h"),
        (1.81, "its speed and distance data disagree"),
        (0.54, "its speed and distance data disagree"),
        (0.55, "its speeds look like km/h while its distance is in miles"),
        (0.62, "its speeds look like km/h while its distance is in miles"),
        (0.7, "its speeds look like km/h while its distance is in miles"),
        (0.71, "its speed and distance data disagree"),
    ],
)
def test_the_reason_names_the_likely_unit_mix_up(ratio: float, hint: str) -> None:
    assert UnitMismatch(ratio=ratio).reason == (
        f"the belt travelled {ratio:.2f} times the distance its reported speed implies: {hint}; "
        "retrowalk cannot trust its speeds"
    )
