"""The plan a kiosk asked for, and the speed envelope it allows, computed from the request alone.

The judges of the service-level tests (the fault campaign, the quirk tests) must not ask the service or
its engine what the plan is or what speed is allowed: a bug that raised the plan or the allowed speed
would then excuse itself. This module derives both from what the test itself sent, with the defaults
and rules written here as literal numbers from docs/configuration.md and docs/safety.md:

- the plan: a first session's plan (start 1.0 km/h, target 1.5 km/h, both at most the person's speed
  ceiling: 2.0 km/h at 65 or older or with a balance concern, else the operator's, 3.0 by default; cap
  300 s, at most the operator's ceiling), then the configuration's ``[default_plan]`` fields, then the
  start command's plan (``max_speed_kmh`` is the target; a start speed above the target raises it);
- the envelope, a function of backward-walking time: the start speed during the familiarisation hold,
  one ramp step at its end and one per ramp interval, never above the target; at the cap the cool-down
  at the start speed, which the limit reaches from the speed at the cap at the slow-down allowance
  (0.4 km/h per second); a pause freezes it; a resume after a pause longer than
  ``pause_restart_after_s``, or after the link was lost, starts again at the start speed with a fresh
  hold.

Walking time is read from the ground-truth belt record (time the belt's state was ``running``), which
cannot match the engine's own clock to the millisecond. Where the two can differ the envelope takes the
side of the service, by amounts named below; each allowance only ever raises the envelope.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

# docs/configuration.md, [default_plan] and [ceilings] defaults; docs/safety.md's table.
DEFAULTS: dict[str, float] = {
    "start_speed_kmh": 1.0,
    "target_speed_kmh": 1.5,
    "ramp_step_kmh": 0.1,
    "ramp_interval_s": 30,
    "familiarisation_s": 60,
    "duration_cap_s": 300,
    "cool_down_s": 60,
    "overspeed_tolerance_kmh": 0.3,
    "overspeed_grace_s": 3.0,
    "pause_restart_after_s": 30,
}
OPERATOR_MAX_SPEED_KMH = 3.0
OPERATOR_MAX_DURATION_S = 1200
CAUTIOUS_MAX_SPEED_KMH = 2.0  # 65 or older, or a balance concern (Fritz et al. 2013)
CAUTIOUS_AGE = 65
SLOW_DOWN_KMH_S = 0.4  # docs/safety.md rule 4: the limit falls at this rate when retrowalk slows the belt

# Where the belt record and the engine's clock can disagree, the envelope gives the service this much:
# the engine counts walking time from the Start's success (up to one command timeout after the belt
# record shows it running) and stops counting when it sees a pause (up to one Treadmill Data period
# after the record shows it). So the record's walking time runs ahead of the engine's by at most this
# per stretch of walking: the ramp is judged by the record's (earlier) clock, the cap and cool-down by
# the record's clock minus this per stretch.
COMMAND_S = 2.0  # [link] command_timeout_s default
DETECTION_S = 1.0  # one Treadmill Data period at 1 Hz
CLOCK_SLACK_PER_STRETCH_S = COMMAND_S + DETECTION_S
# A pause is "long" (fresh hold on resume) only when the record's gap beats the threshold by the time a
# resume takes to reach the belt (speed, then start) plus the pause's detection.
PAUSE_SLACK_S = 2 * COMMAND_S + DETECTION_S


@dataclass(frozen=True)
class AskedPlan:
    """The plan the service should run for a start request, in the fields the envelope needs."""

    start_speed_kmh: float
    target_speed_kmh: float
    ramp_step_kmh: float
    ramp_interval_s: float
    familiarisation_s: float
    duration_cap_s: float
    cool_down_s: float
    overspeed_tolerance_kmh: float
    overspeed_grace_s: float
    pause_restart_after_s: float


def _floor_tenth(kmh: float) -> float:
    return math.floor(kmh * 10 + 1e-6) / 10


def asked_plan(
    request: Mapping[str, Any] | None,
    *,
    configured: Mapping[str, Any] | None = None,
    age: int | None = None,
    balance_concern: bool = False,
    operator_max_speed_kmh: float = OPERATOR_MAX_SPEED_KMH,
    operator_max_duration_s: int = OPERATOR_MAX_DURATION_S,
) -> AskedPlan:
    """A first session's plan for this person, with ``configured`` (the ``[default_plan]`` table) and
    the start command's ``request`` (its ``plan`` object) applied, as docs/configuration.md says."""
    cautious = balance_concern or (age is not None and age >= CAUTIOUS_AGE)
    ceiling = min(CAUTIOUS_MAX_SPEED_KMH if cautious else OPERATOR_MAX_SPEED_KMH, operator_max_speed_kmh)
    start = _floor_tenth(min(DEFAULTS["start_speed_kmh"], ceiling))
    values: dict[str, float] = {
        **DEFAULTS,
        "start_speed_kmh": start,
        "target_speed_kmh": max(start, _floor_tenth(min(DEFAULTS["target_speed_kmh"], ceiling))),
        "duration_cap_s": min(DEFAULTS["duration_cap_s"], operator_max_duration_s),
    }
    known = {f.name for f in fields(AskedPlan)}
    for name, value in (configured or {}).items():
        if name in known:
            values[name] = float(value)
    asked = dict(request or {})
    unknown = set(asked) - {"start_speed_kmh", "max_speed_kmh", "duration_cap_s", "incline_pct"}
    if unknown:
        raise ValueError(f"not a field of a start command's plan: {sorted(unknown)}")
    if "max_speed_kmh" in asked:
        values["target_speed_kmh"] = float(asked["max_speed_kmh"])
    elif "start_speed_kmh" in asked:
        values["target_speed_kmh"] = max(values["target_speed_kmh"], float(asked["start_speed_kmh"]))
    for name in ("start_speed_kmh", "duration_cap_s"):
        if name in asked:
            values[name] = float(asked[name])
    plan = AskedPlan(**{name: float(values[name]) for name in known})
    if (
        plan.target_speed_kmh > ceiling + 1e-9
        or plan.duration_cap_s > operator_max_duration_s
        or plan.start_speed_kmh > plan.target_speed_kmh
    ):
        raise ValueError(f"the service must refuse this plan (speed ceiling {ceiling} km/h): {plan}")
    return plan


def scaled(plan: AskedPlan, factor: float) -> AskedPlan:
    """The plan in a machine's own unit (a treadmill that counts mph as km/h runs ``factor`` faster)."""
    return replace(
        plan,
        start_speed_kmh=plan.start_speed_kmh * factor,
        target_speed_kmh=plan.target_speed_kmh * factor,
        ramp_step_kmh=plan.ramp_step_kmh * factor,
    )


def ramp_at(plan: AskedPlan, since_hold_start_s: float) -> float:
    """The allowed speed after this much walking since a (fresh) hold began, ignoring the cap."""
    if since_hold_start_s < plan.familiarisation_s:
        return plan.start_speed_kmh
    steps = 1 + math.floor((since_hold_start_s - plan.familiarisation_s) / plan.ramp_interval_s)
    return min(plan.target_speed_kmh, plan.start_speed_kmh + steps * plan.ramp_step_kmh)


@dataclass(frozen=True)
class _Stretch:
    """One unbroken stretch of walking in the belt record."""

    start: float
    end: float  # when the record shows the belt no longer running (+ DETECTION_S), or the session's end
    walked_before: float  # walking time of the session before this stretch
    fresh_hold_at: float  # walking time at which the current hold began


class Envelope:
    """The speed the plan allows at any simulated time of one session, from the belt record alone.

    ``entries`` is the treadsim belt record (dicts with ``time`` and ``state``); ``link_up_times`` are
    the moments the link came back (a resume after any of them starts over at the start speed).
    """

    def __init__(
        self,
        plan: AskedPlan,
        entries: Sequence[Mapping[str, Any]],
        start: float,
        end: float,
        link_up_times: Sequence[float] = (),
    ) -> None:
        self.plan = plan
        self.start, self.end = start, end
        self.stretches = _stretches(plan, entries, start, end, sorted(link_up_times))
        self._starts = [s.start for s in self.stretches]

    def walked_at(self, t: float) -> tuple[float, float, int]:
        """Walking time at ``t`` by the record, the walking time its hold began at, and how many stretches
        have begun."""
        i = bisect.bisect_right(self._starts, t) - 1
        if i < 0:
            return 0.0, 0.0, 0
        stretch = self.stretches[i]
        walked = stretch.walked_before + max(0.0, min(t, stretch.end) - stretch.start)
        return walked, stretch.fresh_hold_at, i + 1

    def allowed_at(self, t: float) -> float:
        """The fastest the plan allows at ``t`` (before tolerance)."""
        walked, hold_at, stretches = self.walked_at(t)
        late = max(hold_at, walked - CLOCK_SLACK_PER_STRETCH_S * max(1, stretches))
        # Before the cap the envelope only rises, so the earlier clock (walked) is the lenient one; after
        # it, it only falls, so the later one is; the peak is at the cap.
        candidates = [walked, late]
        if late <= self.plan.duration_cap_s <= walked:
            candidates.append(self.plan.duration_cap_s)
        return max(self._at_walked(w, hold_at) for w in candidates)

    def limit_at(self, t: float) -> float:
        """The belt may read this much before it counts as overspeed."""
        return self.allowed_at(t) + self.plan.overspeed_tolerance_kmh

    def _at_walked(self, walked: float, hold_at: float) -> float:
        plan = self.plan
        cap = plan.duration_cap_s
        if walked <= cap:
            return ramp_at(plan, walked - hold_at)
        at_cap = ramp_at(plan, cap - hold_at)
        return max(plan.start_speed_kmh, at_cap - SLOW_DOWN_KMH_S * (walked - cap))


def _stretches(
    plan: AskedPlan, entries: Sequence[Mapping[str, Any]], start: float, end: float, link_ups: list[float]
) -> list[_Stretch]:
    spans: list[list[float]] = []
    running_since: float | None = None
    for entry in sorted(entries, key=lambda e: float(e["time"])):
        t = float(entry["time"])
        running = entry["state"] == "running"
        if running and running_since is None:
            running_since = max(t, start)
        elif not running and running_since is not None:
            if t > start:
                spans.append([running_since, t])
            running_since = None
    if running_since is not None:
        spans.append([running_since, end])
    spans = [[lo, min(end, hi + DETECTION_S)] for lo, hi in spans if lo < end]
    for earlier, later in itertools.pairwise(spans):
        earlier[1] = min(earlier[1], later[0])
    out: list[_Stretch] = []
    walked = hold_at = 0.0
    for i, (lo, hi) in enumerate(spans):
        if i > 0:
            previous = spans[i - 1]
            long_pause = lo - previous[1] + DETECTION_S > plan.pause_restart_after_s + PAUSE_SLACK_S
            link_came_back = any(previous[0] < up <= lo for up in link_ups)
            if long_pause or link_came_back:
                hold_at = walked
        out.append(_Stretch(lo, hi, walked, hold_at))
        walked += hi - lo
    return out
