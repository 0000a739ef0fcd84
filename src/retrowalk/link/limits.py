"""Last line of defence before a value reaches a treadmill.

pyftms sends whatever number it is given. Plans are validated against the treadmill's ranges long
before this point (and refused, not rounded, when they do not fit), so anything that still falls outside
the device's range here is a bug upstream; the link must still never send it. Speeds are therefore only
ever rounded *down* onto the device's increment and clamped to its range: a belt may end up slower than
asked, never faster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DeviceRange"]


@dataclass(frozen=True)
class DeviceRange:
    """A supported range as the treadmill reports it (Supported Speed/Inclination Range)."""

    minimum: float
    maximum: float
    step: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.minimum) and math.isfinite(self.maximum) and math.isfinite(self.step)):
            raise ValueError(f"range has a non-finite bound: {self}")
        if self.maximum < self.minimum:
            raise ValueError(f"range maximum {self.maximum} is below its minimum {self.minimum}")
        if self.step < 0:
            raise ValueError(f"range step {self.step} is negative")

    def floor(self, value: float) -> float:
        """The largest value the device accepts that is not above ``value`` (clamped to the range).

        Below the minimum there is nothing safe to round to, so the minimum itself is returned and the
        caller decides (the engine never asks for less than a validated start speed).
        """
        if not math.isfinite(value):
            raise ValueError(f"refusing to send a non-finite value: {value}")
        clamped = min(max(value, self.minimum), self.maximum)
        if self.step <= 0:
            return clamped
        # Steps count from the minimum, as the FTMS range does. The epsilon keeps 1.0/0.1 from landing
        # on 9.999... steps.
        steps = math.floor((clamped - self.minimum) / self.step + 1e-6)
        return round(self.minimum + steps * self.step, 6)
