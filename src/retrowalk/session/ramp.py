"""The allowed speed as a pure function of backward-walking time.

``base`` is held until the familiarisation hold ends; then one ramp step is allowed at the hold's end and
one more every ramp interval, never above the target. Counting backward-walking time (not wall time)
freezes the ramp during a pause. A slower speed chosen at the console lowers ``base`` and restarts the
interval, so the ramp climbs again from where the person chose to be.

A plan fitted to a coarse speed grid (:mod:`retrowalk.session.grid`) climbs one grid increment per
stretched interval: from its start, fitting placed every step behind the plan as written. From a base
lowered at the console that placement no longer holds (0.32 km/h after 96 s, where the plan as written
has climbed only 0.3), so a lowered ramp also waits for the plan as written: an increment is allowed only
once the plan's own steps since the slow-down add up to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from retrowalk.session.grid import asked_plan
from retrowalk.session.plan import SessionPlan, to_centi

__all__ = ["RampState", "allowed_centi", "floor_to_ramp_grid", "next_ramp_change_s"]


@dataclass(frozen=True, slots=True)
class RampState:
    base_centi: int = 0
    hold_until_s: float = 0.0  # backward time at which the familiarisation hold ends
    anchor_s: float = 0.0  # backward time from which ramp intervals are counted
    # After a console slow-down: the backward time from which the plan as written counts its intervals.
    # None for a fresh ramp, whose fitted steps already come no earlier than the plan as written's.
    written_anchor_s: float | None = None

    @classmethod
    def fresh(cls, plan: SessionPlan, backward_s: float) -> RampState:
        """Start speed, a full hold from ``backward_s``, the first step at the hold's end."""
        hold_until = backward_s + plan.familiarisation_s
        return cls(to_centi(plan.start_speed_kmh), hold_until, hold_until - plan.ramp_interval_s)

    def lowered(self, base_centi: int, backward_s: float, plan: SessionPlan) -> RampState:
        """Climb again from ``base_centi``: next step a full interval from now (or at the hold's end), of
        the enforced plan and, for a fitted one, of the plan as written too."""
        return RampState(
            base_centi,
            self.hold_until_s,
            max(backward_s, self.hold_until_s - plan.ramp_interval_s),
            max(backward_s, self.hold_until_s - asked_plan(plan).ramp_interval_s),
        )


def allowed_centi(ramp: RampState, plan: SessionPlan, backward_s: float) -> int:
    target = to_centi(plan.target_speed_kmh)
    if backward_s < ramp.hold_until_s:
        return min(ramp.base_centi, target)
    return min(target, ramp.base_centi + _climbed_centi(ramp, plan, backward_s))


def _climbed_centi(ramp: RampState, plan: SessionPlan, backward_s: float) -> int:
    """How far the ramp has climbed above its base: whole steps of the enforced plan, and after a
    slow-down no more than the plan as written has climbed since, rounded down to whole steps."""
    step = to_centi(plan.ramp_step_kmh)
    climbed = step * _intervals_since(ramp.anchor_s, plan.ramp_interval_s, backward_s)
    if ramp.written_anchor_s is None:
        return climbed
    written = asked_plan(plan)  # the plan itself when it was not fitted: then this changes nothing
    gained = to_centi(written.ramp_step_kmh) * _intervals_since(
        ramp.written_anchor_s, written.ramp_interval_s, backward_s
    )
    return min(climbed, gained // step * step)


def _intervals_since(anchor_s: float, interval_s: int, backward_s: float) -> int:
    return max(0, math.floor((backward_s - anchor_s) / interval_s))


def next_ramp_change_s(ramp: RampState, plan: SessionPlan, backward_s: float) -> float:
    """The backward time of the next moment :func:`allowed_centi` may change: the end of the hold, or the
    next ramp step of the enforced plan or, after a slow-down, of the plan as written (it may not change
    there: once the target is reached, or while the other one holds it back)."""
    if backward_s < ramp.hold_until_s:
        return ramp.hold_until_s
    following = _next_interval_s(ramp.anchor_s, plan.ramp_interval_s, backward_s)
    if ramp.written_anchor_s is not None:
        interval_s = asked_plan(plan).ramp_interval_s
        following = min(following, _next_interval_s(ramp.written_anchor_s, interval_s, backward_s))
    return following


def _next_interval_s(anchor_s: float, interval_s: int, backward_s: float) -> float:
    return anchor_s + (_intervals_since(anchor_s, interval_s, backward_s) + 1) * interval_s


def floor_to_ramp_grid(centi: int, plan: SessionPlan, min_centi: int) -> int:
    """The ramp grid point (start + k * step) at or below ``centi``, but never below what the belt can do."""
    start = to_centi(plan.start_speed_kmh)
    step = to_centi(plan.ramp_step_kmh)
    on_grid = start + ((centi - start) // step) * step
    return max(on_grid, min_centi, 10)
