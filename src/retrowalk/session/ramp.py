"""The allowed speed as a pure function of backward-walking time.

``base`` is held until the familiarisation hold ends; then one ramp step is allowed at the hold's end and
one more every ramp interval, never above the target. Counting backward-walking time (not wall time)
freezes the ramp during a pause. A slower speed chosen at the console lowers ``base`` and restarts the
interval, so the ramp climbs again from where the person chose to be.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from retrowalk.session.plan import SessionPlan, to_centi

__all__ = ["RampState", "allowed_centi", "floor_to_ramp_grid", "next_ramp_change_s"]


@dataclass(frozen=True, slots=True)
class RampState:
    base_centi: int = 0
    hold_until_s: float = 0.0  # backward time at which the familiarisation hold ends
    anchor_s: float = 0.0  # backward time from which ramp intervals are counted

    @classmethod
    def fresh(cls, plan: SessionPlan, backward_s: float) -> RampState:
        """Start speed, a full hold from ``backward_s``, the first step at the hold's end."""
        hold_until = backward_s + plan.familiarisation_s
        return cls(to_centi(plan.start_speed_kmh), hold_until, hold_until - plan.ramp_interval_s)

    def lowered(self, base_centi: int, backward_s: float, interval_s: int) -> RampState:
        """Climb again from ``base_centi``: next step a full interval from now (or at the hold's end)."""
        return RampState(base_centi, self.hold_until_s, max(backward_s, self.hold_until_s - interval_s))


def allowed_centi(ramp: RampState, plan: SessionPlan, backward_s: float) -> int:
    target = to_centi(plan.target_speed_kmh)
    if backward_s < ramp.hold_until_s:
        return min(ramp.base_centi, target)
    steps = math.floor((backward_s - ramp.anchor_s) / plan.ramp_interval_s)
    return min(target, ramp.base_centi + to_centi(plan.ramp_step_kmh) * max(0, steps))


def next_ramp_change_s(ramp: RampState, plan: SessionPlan, backward_s: float) -> float:
    """The backward time of the next moment :func:`allowed_centi` may change: the end of the hold, or the
    next ramp step (it may not change there, once the target is reached)."""
    if backward_s < ramp.hold_until_s:
        return ramp.hold_until_s
    steps = math.floor((backward_s - ramp.anchor_s) / plan.ramp_interval_s)
    return ramp.anchor_s + (max(0, steps) + 1) * plan.ramp_interval_s


def floor_to_ramp_grid(centi: int, plan: SessionPlan, min_centi: int) -> int:
    """The ramp grid point (start + k * step) at or below ``centi``, but never below what the belt can do."""
    start = to_centi(plan.start_speed_kmh)
    step = to_centi(plan.ramp_step_kmh)
    on_grid = start + ((centi - start) // step) * step
    return max(on_grid, min_centi, 10)
