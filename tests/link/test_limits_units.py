"""The link's last-line value checks and the mph/km/h detector."""

from __future__ import annotations

import math

import pytest

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
    with pytest.raises(ValueError, match="below its minimum"):
        DeviceRange(minimum=5.0, maximum=1.0, step=0.1)


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
