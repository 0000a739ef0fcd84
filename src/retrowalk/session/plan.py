"""Session plans, the limits they must respect, and their validation.

Speeds are km/h floats on a 0.1 km/h grid, durations are whole seconds, incline is percent on a 0.1 %
grid. Everything is checked exactly (in integer hundredths of km/h), and nothing is silently rounded: a
plan that cannot be honoured as written is refused with a :class:`~retrowalk.errors.PlanError` that names
the value and says why.

The defaults and limits, with their sources, are in :mod:`retrowalk.session.safety_constants` (and the
table of ``docs/safety.md`` generated from it).
"""

from __future__ import annotations

import math
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from retrowalk.errors import PlanError
from retrowalk.session.safety_constants import (
    ABSOLUTE_MAX_DURATION_S,
    ABSOLUTE_MAX_INCLINE_PCT,
    ABSOLUTE_MAX_SPEED_KMH,
    BEGINNER_START_KMH,
    CAUTIOUS_AGE_YEARS,
    CAUTIOUS_MAX_SPEED_KMH,
    DEFAULT_COOL_DOWN_S,
    DEFAULT_DURATION_CEILING_S,
    DEFAULT_GRACE_S,
    DEFAULT_INCLINE_PCT,
    DEFAULT_PAUSE_RESTART_S,
    DEFAULT_STALE_S,
    DEFAULT_TOLERANCE_KMH,
    FIRST_SESSION_CAP_S,
    FIRST_SESSION_TARGET_KMH,
    GENERAL_MAX_SPEED_KMH,
    MAX_COOL_DOWN_S,
    MAX_FAMILIARISATION_S,
    MAX_GRACE_S,
    MAX_PAUSE_RESTART_S,
    MAX_RAMP_INTERVAL_S,
    MAX_RAMP_STEP_KMH,
    MAX_STALE_S,
    MAX_TOLERANCE_KMH,
    MIN_DURATION_CAP_S,
    MIN_FAMILIARISATION_S,
    MIN_RAMP_INTERVAL_S,
)

__all__ = [
    "OperatorCeilings",
    "SessionPlan",
    "TreadmillCaps",
    "UserProfile",
    "default_plan",
    "from_centi",
    "plan_problems",
    "ramp_reaches_s",
    "ramp_steps_to",
    "ramp_top_centi",
    "reachable_top_kmh",
    "speed_ceiling_for",
    "to_centi",
    "validate_plan",
]

_FLOAT_SLACK = 1e-6


def to_centi(value: float) -> int:
    """km/h (or %) as an exact integer count of hundredths."""
    return round(value * 100)


def from_centi(centi: int) -> float:
    # Division is correctly rounded: 135 / 100 is the very float that the literal 1.35 is.
    return centi / 100


def _is_on_grid(value: float, grid_centi: int) -> bool:
    """True when ``value`` is an exact multiple of ``grid_centi`` hundredths (float noise aside)."""
    scaled = value * 100
    return abs(scaled - round(scaled)) < _FLOAT_SLACK and round(scaled) % grid_centi == 0


# strict: "1.0" or True are not speeds; a kiosk that sends them gets a clear validation error. A constant,
# not a function: the models are built at import, where a function's mutants could never be seen.
_FROZEN = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class SessionPlan(BaseModel):
    """What one session may do. The engine enforces every field."""

    model_config = _FROZEN

    start_speed_kmh: float = Field(default=BEGINNER_START_KMH, gt=0, le=ABSOLUTE_MAX_SPEED_KMH)
    target_speed_kmh: float = Field(default=FIRST_SESSION_TARGET_KMH, gt=0, le=ABSOLUTE_MAX_SPEED_KMH)
    ramp_step_kmh: float = Field(default=MAX_RAMP_STEP_KMH, gt=0, le=MAX_RAMP_STEP_KMH)
    ramp_interval_s: int = Field(default=MIN_RAMP_INTERVAL_S, ge=MIN_RAMP_INTERVAL_S, le=MAX_RAMP_INTERVAL_S)
    familiarisation_s: int = Field(
        default=MIN_FAMILIARISATION_S, ge=MIN_FAMILIARISATION_S, le=MAX_FAMILIARISATION_S
    )
    duration_cap_s: int = Field(
        default=FIRST_SESSION_CAP_S, ge=MIN_DURATION_CAP_S, le=ABSOLUTE_MAX_DURATION_S
    )
    cool_down_s: int = Field(default=DEFAULT_COOL_DOWN_S, ge=0, le=MAX_COOL_DOWN_S)
    incline_pct: float = Field(default=DEFAULT_INCLINE_PCT, ge=0, le=ABSOLUTE_MAX_INCLINE_PCT)
    overspeed_tolerance_kmh: float = Field(default=DEFAULT_TOLERANCE_KMH, gt=0, le=MAX_TOLERANCE_KMH)
    overspeed_grace_s: float = Field(default=DEFAULT_GRACE_S, gt=0, le=MAX_GRACE_S)
    stale_telemetry_s: float = Field(default=DEFAULT_STALE_S, gt=0, le=MAX_STALE_S)
    # A pause longer than this resumes at the start speed and ramps again (after a fresh hold).
    pause_restart_after_s: int = Field(default=DEFAULT_PAUSE_RESTART_S, ge=0, le=MAX_PAUSE_RESTART_S)

    @model_validator(mode="after")
    def _exact_and_consistent(self) -> Self:
        # The checks are a plain function: mutation testing does not reach into decorated methods.
        problems = _inconsistencies(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _inconsistencies(plan: SessionPlan) -> list[str]:
    """What the field bounds alone cannot catch: values off the 0.1 grid, a target below the start."""
    problems: list[str] = []
    for name in ("start_speed_kmh", "target_speed_kmh", "ramp_step_kmh"):
        value = getattr(plan, name)
        if not _is_on_grid(value, 10):
            problems.append(f"{name}={value} is not a multiple of 0.1 km/h")
    if not _is_on_grid(plan.incline_pct, 10):
        problems.append(f"incline_pct={plan.incline_pct} is not a multiple of 0.1 %")
    if plan.target_speed_kmh < plan.start_speed_kmh:
        problems.append(
            f"target_speed_kmh={plan.target_speed_kmh} is below start_speed_kmh={plan.start_speed_kmh}"
        )
    return problems


class OperatorCeilings(BaseModel):
    """The operator's limits from the service configuration. A kiosk may ask for less, never more."""

    model_config = _FROZEN

    max_speed_kmh: float = Field(default=GENERAL_MAX_SPEED_KMH, gt=0, le=ABSOLUTE_MAX_SPEED_KMH)
    max_duration_s: int = Field(
        default=DEFAULT_DURATION_CEILING_S, ge=MIN_DURATION_CAP_S, le=ABSOLUTE_MAX_DURATION_S
    )
    max_incline_pct: float = Field(default=ABSOLUTE_MAX_INCLINE_PCT, ge=0, le=ABSOLUTE_MAX_INCLINE_PCT)


class TreadmillCaps(BaseModel):
    """What the link read from the treadmill (FTMS Feature, Supported Speed/Inclination Range)."""

    model_config = _FROZEN

    min_speed_kmh: float = Field(ge=0)
    max_speed_kmh: float = Field(gt=0)
    speed_step_kmh: float = Field(gt=0)
    min_incline_pct: float = 0.0
    max_incline_pct: float = 0.0
    incline_step_pct: float = Field(default=0.1, gt=0)
    can_set_speed: bool = True
    can_set_incline: bool = False

    @model_validator(mode="after")
    def _ranges_make_sense(self) -> Self:
        problem = _range_problem(self)  # a plain function, for the same reason as _inconsistencies
        if problem is not None:
            raise ValueError(problem)
        return self


def _range_problem(caps: TreadmillCaps) -> str | None:
    if caps.min_speed_kmh > caps.max_speed_kmh:
        return f"min_speed_kmh={caps.min_speed_kmh} is above max_speed_kmh={caps.max_speed_kmh}"
    if caps.min_incline_pct > caps.max_incline_pct:
        return f"min_incline_pct={caps.min_incline_pct} is above max_incline_pct={caps.max_incline_pct}"
    if to_centi(caps.speed_step_kmh) < 1:
        return f"speed_step_kmh={caps.speed_step_kmh} is finer than FTMS' 0.01 km/h"
    return None


class UserProfile(BaseModel):
    """Screening inputs that change the plan (not the screening answers themselves)."""

    model_config = _FROZEN

    user_id: str = Field(min_length=1, max_length=128)
    age_years: int | None = Field(default=None, ge=1, le=130)
    balance_concern: bool = False


def speed_ceiling_for(profile: UserProfile, ceilings: OperatorCeilings) -> float:
    """The highest target speed this person may be given (refs §2: Fritz et al. 2013)."""
    cautious = profile.balance_concern or (
        profile.age_years is not None and profile.age_years >= CAUTIOUS_AGE_YEARS
    )
    personal = CAUTIOUS_MAX_SPEED_KMH if cautious else GENERAL_MAX_SPEED_KMH
    return min(personal, ceilings.max_speed_kmh)


def default_plan(profile: UserProfile, ceilings: OperatorCeilings) -> SessionPlan:
    """A first-session plan: 1.0 km/h start, 60 s hold, +0.1 km/h per 30 s, 5 min cap, flat."""
    ceiling = speed_ceiling_for(profile, ceilings)
    start = min(BEGINNER_START_KMH, ceiling)
    target = min(FIRST_SESSION_TARGET_KMH, ceiling)
    # Round down onto the 0.1 km/h grid: an operator ceiling like 1.25 must not round a speed *up*.
    start = math.floor(start * 10 + _FLOAT_SLACK) / 10
    target = max(start, math.floor(target * 10 + _FLOAT_SLACK) / 10)
    return SessionPlan(
        start_speed_kmh=start,
        target_speed_kmh=target,
        duration_cap_s=min(FIRST_SESSION_CAP_S, ceilings.max_duration_s),
    )


def ramp_steps_to(start_centi: int, speed_centi: int, step_centi: int) -> int:
    """How many ramp steps take ``start_centi`` to ``speed_centi`` (the last one shorter when the gap is
    not a whole number of steps, as the ramp's last step to its target is)."""
    return max(0, -(-(speed_centi - start_centi) // step_centi))


def ramp_reaches_s(
    start_centi: int, speed_centi: int, step_centi: int, *, hold_s: int, interval_s: int
) -> int:
    """The backward-walking second from which a fresh ramp allows ``speed_centi``: its k-th step comes at
    ``hold_s + (k - 1) x interval_s`` (:mod:`retrowalk.session.ramp`: the first at the hold's end), and
    the start speed at 0."""
    steps = ramp_steps_to(start_centi, speed_centi, step_centi)
    return hold_s + (steps - 1) * interval_s if steps else 0


def ramp_top_centi(
    start_centi: int, target_centi: int, step_centi: int, *, hold_s: int, interval_s: int, cap_s: int
) -> int:
    """The fastest speed a fresh ramp allows before the cap: ``target_centi`` when its step comes before
    ``cap_s``, else the last step that does (the start speed when none does). A step due at the cap itself
    never comes: the cap is acted on first and the belt slows for the cool-down."""
    top = target_centi
    while (
        top > start_centi
        and ramp_reaches_s(start_centi, top, step_centi, hold_s=hold_s, interval_s=interval_s) >= cap_s
    ):
        top = start_centi + (ramp_steps_to(start_centi, top, step_centi) - 1) * step_centi
    return top


def reachable_top_kmh(plan: SessionPlan) -> float:
    """The top speed ``plan`` really reaches: what is announced as its top (start line, state payload, next
    plan, history). A session shorter than its ramp ends below its target (2 minutes of the default plan
    reach 1.2 km/h, not 1.5); pauses and slower speeds at the console only ever make it slower."""
    return from_centi(
        ramp_top_centi(
            to_centi(plan.start_speed_kmh),
            to_centi(plan.target_speed_kmh),
            to_centi(plan.ramp_step_kmh),
            hold_s=plan.familiarisation_s,
            interval_s=plan.ramp_interval_s,
            cap_s=plan.duration_cap_s,
        )
    )


def _on_treadmill_grid(value: float, caps: TreadmillCaps) -> bool:
    step = to_centi(caps.speed_step_kmh)
    return (to_centi(value) - to_centi(caps.min_speed_kmh)) % step == 0 or to_centi(value) % step == 0


def plan_problems(
    plan: SessionPlan, ceilings: OperatorCeilings, caps: TreadmillCaps, profile: UserProfile | None = None
) -> list[str]:
    """Every reason this plan cannot be honoured, each naming the value; empty when it can."""
    problems: list[str] = []
    speed_ceiling = ceilings.max_speed_kmh
    ceiling_name = "the operator's max_speed_kmh"
    if profile is not None:
        speed_ceiling = speed_ceiling_for(profile, ceilings)
        ceiling_name = f"the speed ceiling for user {profile.user_id!r}"
    if to_centi(plan.target_speed_kmh) > to_centi(speed_ceiling):
        problems.append(
            f"target_speed_kmh={plan.target_speed_kmh} is above {ceiling_name} ({speed_ceiling} km/h)"
        )
    if plan.duration_cap_s > ceilings.max_duration_s:
        problems.append(
            f"duration_cap_s={plan.duration_cap_s} is above the operator's max_duration_s "
            f"({ceilings.max_duration_s} s)"
        )
    if to_centi(plan.incline_pct) > to_centi(ceilings.max_incline_pct):
        problems.append(
            f"incline_pct={plan.incline_pct} is above the operator's max_incline_pct "
            f"({ceilings.max_incline_pct} %)"
        )
    if not caps.can_set_speed:
        problems.append("the treadmill does not accept a target speed, so no speed limit can be enforced")
        return problems
    if to_centi(plan.start_speed_kmh) < to_centi(caps.min_speed_kmh):
        problems.append(
            f"start_speed_kmh={plan.start_speed_kmh} is below the treadmill's minimum speed "
            f"({caps.min_speed_kmh} km/h)"
        )
    if to_centi(plan.target_speed_kmh) > to_centi(caps.max_speed_kmh):
        problems.append(
            f"target_speed_kmh={plan.target_speed_kmh} is above the treadmill's maximum speed "
            f"({caps.max_speed_kmh} km/h)"
        )
    for name in ("start_speed_kmh", "target_speed_kmh"):
        value = getattr(plan, name)
        if not _on_treadmill_grid(value, caps):
            problems.append(
                f"{name}={value} is not reachable in the treadmill's {caps.speed_step_kmh} km/h increments"
            )
    if to_centi(plan.ramp_step_kmh) % to_centi(caps.speed_step_kmh) != 0:
        problems.append(
            f"ramp_step_kmh={plan.ramp_step_kmh} is not a multiple of the treadmill's "
            f"{caps.speed_step_kmh} km/h increment"
        )
    if plan.incline_pct != 0 and not caps.can_set_incline:
        problems.append(f"incline_pct={plan.incline_pct} but the treadmill does not accept a target incline")
    elif caps.can_set_incline:
        incline = to_centi(plan.incline_pct)
        if not to_centi(caps.min_incline_pct) <= incline <= to_centi(caps.max_incline_pct):
            problems.append(
                f"incline_pct={plan.incline_pct} is outside the treadmill's range "
                f"{caps.min_incline_pct}..{caps.max_incline_pct} %"
            )
        elif (incline - to_centi(caps.min_incline_pct)) % to_centi(caps.incline_step_pct) != 0:
            problems.append(
                f"incline_pct={plan.incline_pct} is not reachable in the treadmill's "
                f"{caps.incline_step_pct} % increments"
            )
    return problems


def validate_plan(
    plan: SessionPlan, ceilings: OperatorCeilings, caps: TreadmillCaps, profile: UserProfile | None = None
) -> SessionPlan:
    """Return ``plan`` unchanged when it can be honoured; otherwise raise PlanError naming every problem."""
    problems = plan_problems(plan, ceilings, caps, profile)
    if problems:
        raise PlanError("plan refused: " + "; ".join(problems))
    return plan
