"""Plans fitted to a treadmill whose speed increment is coarser than the plan's.

A walking pad that counts in mph offers 0.96, 1.28, 1.60 ... km/h (0.6 mph + n x 0.2 mph); one that counts
in half km/h offers 1.0, 1.5, 2.0 ... A plan of "1.0 km/h, +0.1 km/h every 30 s" cannot be honoured on
either as written, and rounding each speed the treadmill is sent would make some of them faster than
planned. So the plan itself is fitted to the grid before the session starts, never faster:

- the start and top speeds are rounded *down* onto the grid (counted from the treadmill's minimum, as
  FTMS' Supported Speed Range is); a start below the grid's lowest speed cannot be rounded down and is left
  for :func:`~retrowalk.session.plan.validate_plan` to refuse;
- each ramp step is a whole number of grid steps no larger than the plan's step, at least one grid step;
- the ramp interval is stretched so that the ramp's average pace is no faster than the plan's
  (0.1 km/h per 30 s becomes 0.32 km/h per 96 s);
- the familiarisation hold is lengthened until every fitted step comes no earlier than the moment the
  plan as written would have reached that speed: a grid step is bigger than a plan step, so without this
  the first one would come at the end of the hold, faster than the plan allows there;
- the top speed is the fastest the fitted ramp reaches before the session's cap, each lower top tried
  with the hold its own steps need: a short session on a coarse grid may end before its first step up
  (2 minutes of the default plan on 0.32 km/h steps run 0.96 km/h throughout, as the plan as written
  reaches 1.3 km/h only at 120 s), and the start line, the state payload and the history then announce
  the speed the belt will really run, not one it never does;
- the overspeed tolerance stays below one grid step, so that a belt one increment faster than allowed is
  always caught.

The result is a :class:`FittedPlan`, a :class:`~retrowalk.session.plan.SessionPlan` that carries the plan
as asked and one sentence per change: the engine enforces it like any plan, and the state payload and the
terminal say what was fitted and why. A plan that already fits is returned unchanged.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from retrowalk.session.plan import (
    SessionPlan,
    TreadmillCaps,
    from_centi,
    ramp_reaches_s,
    ramp_steps_to,
    ramp_top_centi,
    to_centi,
)
from retrowalk.session.safety_constants import (
    ABSOLUTE_MAX_SPEED_KMH,
    MAX_FAMILIARISATION_S,
    MAX_RAMP_INTERVAL_S,
    MAX_RAMP_STEP_KMH,
    MAX_TOLERANCE_KMH,
    MIN_FAMILIARISATION_S,
    MIN_RAMP_INTERVAL_S,
    PLAN_SPEED_GRID_KMH,
)

__all__ = ["FittedPlan", "GridFit", "asked_plan", "fit_plan_to_grid"]

# A whole ramp from 0 to the absolute ceiling, one 0.1 km/h step per longest interval, plus the longest
# hold: no fitted interval or hold can be longer.
_LONGEST_FITTED_S = (
    round(ABSOLUTE_MAX_SPEED_KMH / MAX_RAMP_STEP_KMH) * MAX_RAMP_INTERVAL_S + MAX_FAMILIARISATION_S
)


class GridFit(BaseModel):
    """What fitting changed: the treadmill's grid, the plan as asked, and one sentence per change."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    grid_from_kmh: float = Field(ge=0, le=ABSOLUTE_MAX_SPEED_KMH)
    speed_step_kmh: float = Field(gt=0)
    asked: SessionPlan
    changes: tuple[str, ...] = Field(min_length=1)


class FittedPlan(SessionPlan):
    """A plan fitted to a treadmill's coarse speed grid (see the module docstring).

    Its speeds are on the treadmill's grid instead of the 0.1 km/h one, and its ramp interval and hold may
    be longer than a plan asked for directly may be: the validator checks that it is on the grid, never
    faster than the plan it was fitted from, and that its ramp reaches its top before the cap (the top is
    announced), so a fitted plan cannot be built any other way. A stored one kept by a version that
    announced a top past the cap fails it, and the history then shows the plan as asked.
    """

    start_speed_kmh: float = Field(gt=0, le=ABSOLUTE_MAX_SPEED_KMH)
    target_speed_kmh: float = Field(gt=0, le=ABSOLUTE_MAX_SPEED_KMH)
    ramp_step_kmh: float = Field(gt=0, le=ABSOLUTE_MAX_SPEED_KMH)
    # Longer than any session when the grid is coarse: a step that never comes within the cap is fine.
    ramp_interval_s: int = Field(ge=MIN_RAMP_INTERVAL_S, le=_LONGEST_FITTED_S)
    familiarisation_s: int = Field(ge=MIN_FAMILIARISATION_S, le=_LONGEST_FITTED_S)
    overspeed_tolerance_kmh: float = Field(gt=0, le=MAX_TOLERANCE_KMH)
    fit: GridFit

    # Same name as SessionPlan's validator, so it replaces it: the 0.1 km/h grid does not apply here.
    @model_validator(mode="after")
    def _exact_and_consistent(self) -> Self:
        problems = _fitted_inconsistencies(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def asked_plan(plan: SessionPlan) -> SessionPlan:
    """The plan as the person or kiosk asked for it (what progression builds the next session from)."""
    return plan.fit.asked if isinstance(plan, FittedPlan) else plan


def _fitted_inconsistencies(plan: FittedPlan) -> list[str]:
    fit, asked = plan.fit, plan.fit.asked
    origin, step = to_centi(fit.grid_from_kmh), to_centi(fit.speed_step_kmh)
    problems: list[str] = []
    for name in ("start_speed_kmh", "target_speed_kmh", "ramp_step_kmh"):
        value = to_centi(getattr(plan, name))
        offset = value if name == "ramp_step_kmh" else value - origin
        if offset < 0 or offset % step != 0:
            problems.append(f"{name}={getattr(plan, name)} is not on the grid it was fitted to")
    for name in ("start_speed_kmh", "target_speed_kmh", "overspeed_tolerance_kmh"):
        if to_centi(getattr(plan, name)) > to_centi(getattr(asked, name)):
            problems.append(f"{name}={getattr(plan, name)} is above the plan's {getattr(asked, name)}")
    if plan.target_speed_kmh < plan.start_speed_kmh:
        problems.append(f"target_speed_kmh={plan.target_speed_kmh} is below start_speed_kmh")
    # Average pace, compared exactly: step / interval <= asked step / asked interval.
    fitted_pace = to_centi(plan.ramp_step_kmh) * asked.ramp_interval_s
    if fitted_pace > to_centi(asked.ramp_step_kmh) * plan.ramp_interval_s:
        problems.append("the fitted ramp is faster on average than the plan's")
    if plan.familiarisation_s < asked.familiarisation_s:
        problems.append("the fitted familiarisation hold is shorter than the plan's")
    start, target, step = (
        to_centi(plan.start_speed_kmh),
        to_centi(plan.target_speed_kmh),
        to_centi(plan.ramp_step_kmh),
    )
    # The average pace alone would let the first steps come too early: each must wait for the plan.
    needed_hold_s = _fitted_hold_s(asked, start, target, step, plan.ramp_interval_s)
    if asked.familiarisation_s <= plan.familiarisation_s < needed_hold_s:
        problems.append(
            f"the fitted hold at the start speed ({plan.familiarisation_s} s) lets a step come before the "
            f"plan reaches its speed (it needs {needed_hold_s} s)"
        )
    reached_s = ramp_reaches_s(
        start, target, step, hold_s=plan.familiarisation_s, interval_s=plan.ramp_interval_s
    )
    if reached_s >= plan.duration_cap_s:
        # The top is announced (start line, state payload, history): it must be one the belt will run.
        problems.append(
            f"target_speed_kmh={plan.target_speed_kmh} is reached only at {reached_s} s, not before the "
            f"{plan.duration_cap_s} s cap"
        )
    kept = set(SessionPlan.model_fields) - _FITTED_FIELDS
    changed = sorted(name for name in kept if getattr(plan, name) != getattr(asked, name))
    if changed:
        problems.append(f"fitting may not change {', '.join(changed)}")
    return problems


_FITTED_FIELDS = frozenset(
    {
        "start_speed_kmh",
        "target_speed_kmh",
        "ramp_step_kmh",
        "ramp_interval_s",
        "familiarisation_s",
        "overspeed_tolerance_kmh",
    }
)


def _floor_to_grid(centi: int, origin: int, step: int) -> int:
    return origin + (centi - origin) // step * step


def _fitted_hold_s(plan: SessionPlan, start: int, target: int, step: int, interval_s: int) -> int:
    """The shortest hold (at least the plan's) after which every fitted step, one per ``interval_s``, comes
    no earlier than the plan would have reached its speed."""
    hold = plan.familiarisation_s
    value, k = start, 0
    while value < target:
        value = min(target, value + step)
        written_s = ramp_reaches_s(
            to_centi(plan.start_speed_kmh),
            value,
            to_centi(plan.ramp_step_kmh),
            hold_s=plan.familiarisation_s,
            interval_s=plan.ramp_interval_s,
        )
        hold = max(hold, written_s - k * interval_s)
        k += 1
    return hold


def _fitted_top_and_hold(
    plan: SessionPlan, start: int, top: int, step: int, interval_s: int
) -> tuple[int, int, str]:
    """The fastest ramp speed up to ``top`` that the fitted ramp reaches before the session's cap, the
    hold fitted for the steps up to it, and why the speed above it is not reached ("" for ``top``).

    Each lower top is tried with its own hold: a step that never comes need not hold the others back, so
    the ramp keeps every step it can fit before the cap (and at the cap the belt slows for the cool-down,
    so a step there would never be walked)."""
    target, why = top, ""
    while True:
        hold_s = _fitted_hold_s(plan, start, target, step, interval_s)
        reached = ramp_top_centi(
            start, target, step, hold_s=hold_s, interval_s=interval_s, cap_s=plan.duration_cap_s
        )
        if reached == target:  # always so for the start itself
            return target, hold_s, why
        reached_s = ramp_reaches_s(start, target, step, hold_s=hold_s, interval_s=interval_s)
        why = (
            f"the ramp would reach {from_centi(target)} km/h only at {reached_s} s, not before the "
            f"session's {plan.duration_cap_s} s cap"
        )
        target = start + (ramp_steps_to(start, target, step) - 1) * step


def fit_plan_to_grid(plan: SessionPlan, caps: TreadmillCaps) -> SessionPlan:
    """``plan`` fitted to the treadmill's speed grid, never faster (see the module docstring); ``plan``
    itself when it already fits, or when it cannot be fitted (validate_plan then says why)."""
    plan = asked_plan(plan)
    origin, grid = to_centi(caps.min_speed_kmh), to_centi(caps.speed_step_kmh)
    start, target = to_centi(plan.start_speed_kmh), to_centi(plan.target_speed_kmh)
    ramp_step = to_centi(plan.ramp_step_kmh)
    top = min(target, to_centi(caps.max_speed_kmh))
    if not caps.can_set_speed or start < origin or top < start:
        return plan
    fitted_start = _floor_to_grid(start, origin, grid)
    fitted_target = _floor_to_grid(top, origin, grid)
    if fitted_start == start and fitted_target == target and ramp_step % grid == 0:
        return plan  # on the grid as written: nothing to fit
    fitted_step = max(grid, ramp_step // grid * grid)
    # Rounded up, never a faster pace; a grid finer than the step leaves a shorter interval, kept at the
    # shortest a plan may have.
    interval_s = max(MIN_RAMP_INTERVAL_S, -(-fitted_step * plan.ramp_interval_s // ramp_step))
    reached, hold_s, top_reason = _fitted_top_and_hold(
        plan, fitted_start, fitted_target, fitted_step, interval_s
    )
    tolerance = to_centi(plan.overspeed_tolerance_kmh)
    if grid > to_centi(PLAN_SPEED_GRID_KMH):  # finer grids: the plan's own tolerance already spans steps
        tolerance = min(tolerance, grid - 1)
    values = plan.model_dump() | {
        "start_speed_kmh": from_centi(fitted_start),
        "target_speed_kmh": from_centi(reached),
        "ramp_step_kmh": from_centi(fitted_step),
        "ramp_interval_s": interval_s,
        "familiarisation_s": hold_s,
        "overspeed_tolerance_kmh": from_centi(tolerance),
    }
    fit = GridFit(
        grid_from_kmh=from_centi(origin),
        speed_step_kmh=from_centi(grid),
        asked=plan,
        changes=_change_sentences(plan, values, caps, top_reason),
    )
    return FittedPlan(**values, fit=fit)


def _change_sentences(
    plan: SessionPlan, fitted: dict[str, object], caps: TreadmillCaps, top_reason: str
) -> tuple[str, ...]:
    grid = f"the treadmill offers {caps.min_speed_kmh} km/h + n x {caps.speed_step_kmh} km/h"
    words = {
        "start_speed_kmh": f"start speed {{}} -> {{}} km/h: {grid}, rounded down",
        "target_speed_kmh": f"top speed {{}} -> {{}} km/h: {top_reason or grid + ', rounded down'}",
        "ramp_step_kmh": "ramp step {} -> {} km/h: one treadmill increment per step",
        "ramp_interval_s": "ramp interval {} -> {} s: the ramp's average pace stays the plan's",
        "familiarisation_s": (
            "hold at the start speed {} -> {} s: no step comes before the plan reaches its speed"
        ),
        "overspeed_tolerance_kmh": "overspeed tolerance {} -> {} km/h: below one treadmill increment",
    }
    return tuple(
        template.format(getattr(plan, name), fitted[name])
        for name, template in words.items()
        if fitted[name] != getattr(plan, name)
    )
