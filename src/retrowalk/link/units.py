"""Catching a treadmill whose speed numbers are not km/h.

FTMS speeds are in 0.01 km/h, but one module seen in the field advertises km/h while its numbers are mph
(references §4). Its speed data then agrees with every command and the belt still runs 1.6 times faster
than reported. The only honest witness is the distance counter, which such devices keep in metres: the
belt's travel over a stretch of time is compared with what the reported speed implies.

The check is a pure function of the samples, so tests can feed it any history.
"""

from __future__ import annotations

from dataclasses import dataclass

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


class UnitCheck:
    """Compares travelled distance with the integral of reported speed while the belt runs."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._start_distance: float | None = None
        self._last_at: float | None = None
        self._last_speed = 0.0
        self._implied_m = 0.0

    def restart(self) -> None:
        """Forget the history (link lost, belt stopped, counter reset)."""
        self._reset()

    def observe(self, at: float, speed_kmh: float, distance_m: float | None) -> UnitMismatch | None:
        """Feed one sample; returns a mismatch once enough travel has been seen to judge."""
        if distance_m is None or speed_kmh <= 0:
            self._reset()
            return None
        if self._start_distance is None or self._last_at is None or distance_m < self._start_distance:
            self._start_distance = distance_m
            self._last_at = at
            self._last_speed = speed_kmh
            self._implied_m = 0.0
            return None
        dt = at - self._last_at
        if dt < 0:
            self._reset()
            return None
        # Trapezoid: the belt accelerates smoothly between samples.
        self._implied_m += (self._last_speed + speed_kmh) / 2 / 3.6 * dt
        self._last_at = at
        self._last_speed = speed_kmh
        travelled = distance_m - self._start_distance
        if travelled < MIN_TRAVEL_M and self._implied_m < MIN_TRAVEL_M:
            return None
        if self._implied_m <= 0:
            return UnitMismatch(ratio=float("inf"))
        ratio = travelled / self._implied_m
        if ratio > FASTER_THAN_REPORTED or ratio < SLOWER_THAN_REPORTED:
            return UnitMismatch(ratio=ratio)
        # Enough evidence that the units agree; judge the next stretch afresh so a later change is seen.
        if travelled >= 4 * MIN_TRAVEL_M:
            self._start_distance = distance_m
            self._implied_m = 0.0
        return None
