"""Catching a treadmill whose speed numbers are not km/h.

FTMS speeds are in 0.01 km/h, but one module seen in the field advertises km/h while its numbers are mph
(references §4). Its speed data then agrees with every command and the belt still runs 1.6 times faster
than reported. The only honest witness is the distance counter, which such devices keep in metres: the
belt's travel over a stretch of time is compared with what the reported speed implies.

The check is a pure function of the samples, so tests can feed it any history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["FASTER_THAN_REPORTED", "MIN_TRAVEL_M", "SLOWER_THAN_REPORTED", "UnitCheck", "UnitMismatch"]

# Distance counters move in whole metres; below this much travel the rounding drowns the signal.
MIN_TRAVEL_M = 6.0
# A ratio this far from 1 is not noise: mph read as km/h gives 1.61, km/h read as mph 0.62.
FASTER_THAN_REPORTED = 1.3
SLOWER_THAN_REPORTED = 0.7


@dataclass(frozen=True)
class UnitMismatch:
    """The belt travels ``ratio`` times as far as its reported speed implies."""

    ratio: float

    @property
    def reason(self) -> str:
        if 1.45 <= self.ratio <= 1.8:
            hint = "its speeds look like mph reported as km/h"
        elif 0.55 <= self.ratio <= 0.7:
            hint = "its speeds look like km/h while its distance is in miles"
        else:
            hint = "its speed and distance data disagree"
        return (
            f"the belt travelled {self.ratio:.2f} times the distance its reported speed implies: {hint}; "
            "retrowalk cannot trust its speeds"
        )


@dataclass
class _Stretch:
    """The stretch of belt travel being judged: where it started and what the data implied since."""

    start_distance: float
    last_at: float
    last_speed: float
    implied_m: float = 0.0


class UnitCheck:
    """Compares travelled distance with the integral of reported speed while the belt runs."""

    def __init__(self) -> None:
        self._stretch: _Stretch | None = None

    def restart(self) -> None:
        """Forget the history (link lost, belt stopped, counter reset)."""
        self._stretch = None

    def observe(self, at: float, speed_kmh: float, distance_m: float | None) -> UnitMismatch | None:
        """Feed one sample; returns a mismatch once enough travel has been seen to judge."""
        if distance_m is None or speed_kmh <= 0:
            self._stretch = None
            return None
        stretch = self._stretch
        if stretch is None or distance_m < stretch.start_distance:
            self._stretch = _Stretch(start_distance=distance_m, last_at=at, last_speed=speed_kmh)
            return None
        dt = at - stretch.last_at
        if dt < 0:
            self._stretch = None
            return None
        # Trapezoid: the belt accelerates smoothly between samples.
        stretch.implied_m += (stretch.last_speed + speed_kmh) / 2 / 3.6 * dt
        stretch.last_at = at
        stretch.last_speed = speed_kmh
        travelled = distance_m - stretch.start_distance
        if travelled < MIN_TRAVEL_M and stretch.implied_m < MIN_TRAVEL_M:
            return None
        if stretch.implied_m <= 0:
            return UnitMismatch(ratio=math.inf)
        ratio = travelled / stretch.implied_m
        if ratio > FASTER_THAN_REPORTED or ratio < SLOWER_THAN_REPORTED:
            return UnitMismatch(ratio=ratio)
        # Enough evidence that the units agree; judge the next stretch afresh so a later change is seen.
        if travelled >= 4 * MIN_TRAVEL_M:
            stretch.start_distance = distance_m
            stretch.implied_m = 0.0
        return None
