"""The next session's plan from a person's history and pain reports (refs §2, pain-monitoring model,
Silbernagel et al. 2007). Pure functions over records.

Per session, with in-session pain = the highest DURING or AFTER score and the baseline = that session's
BEFORE score (else the previous session's NEXT_MORNING score):

- refer to a clinician: swelling, giving way or pain >= 7 reported since the last clearance (about any
  session, the next one included: a "before" score given for it), or 2 regressions since it; no plan is
  offered until a clearance is recorded;
- a clearance counts only when it cleared something at the moment it was recorded: a referral by these
  rules, or a screening "yes" no earlier clearance had cleared. One recorded with nothing to clear changes
  nothing (the earned plan stands, regressions still add up); after one that counts, the next session
  repeats the last plan ("cleared") and the rules judge only what came after it;
- regress: in-session pain > 5, or next morning >= baseline + 2: -0.2 km/h target, -20 % duration;
- hold: in-session pain 4-5, next morning = baseline + 1, a session that did not complete, or missing
  reports (what cannot be judged does not progress);
- progress: in-session pain <= 3 and next morning not worse: +0.1 km/h target, +2 min duration.

Every plan is clamped to the person's speed ceiling and the operator's ceilings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from retrowalk.session.events import EndReason
from retrowalk.session.history import (
    Clearance,
    PainReport,
    PainTiming,
    ScreeningAnswers,
    SessionRecord,
    in_recorded_order,
    recorded_before,
)
from retrowalk.session.plan import (
    OperatorCeilings,
    SessionPlan,
    UserProfile,
    default_plan,
    from_centi,
    speed_ceiling_for,
    to_centi,
)
from retrowalk.session.safety_constants import (
    ABSOLUTE_MAX_DURATION_S,
    HOLD_PAIN,
    MIN_DURATION_CAP_S,
    PROGRESS_DURATION_S,
    PROGRESS_SPEED_KMH,
    REFER_AFTER_REGRESSIONS,
    REFER_PAIN,
    REGRESS_DURATION_FACTOR,
    REGRESS_MORNING_RISE,
    REGRESS_SPEED_KMH,
    STOP_PAIN,
)

__all__ = ["Decision", "Progression", "next_plan", "red_flag_words"]


class Decision(StrEnum):
    FIRST = "first_session"
    PROGRESS = "progress"
    HOLD = "hold"
    REGRESS = "regress"
    REFER = "refer_to_clinician"


@dataclass(frozen=True, slots=True)
class Progression:
    decision: Decision
    plan: SessionPlan | None  # None when the person must see a clinician first
    reasons: tuple[str, ...]
    # The clearance the rules counted from (None: none did), so that whoever records one can say when it
    # had nothing to clear.
    cleared: Clearance | None = None

    @property
    def cleared_at(self) -> datetime | None:
        return self.cleared.cleared_at if self.cleared is not None else None


def _verdict(
    record: SessionRecord, reports: Sequence[PainReport], baseline: int | None
) -> tuple[Decision, str]:
    in_session = [r.score for r in reports if r.when in (PainTiming.DURING, PainTiming.AFTER)]
    morning = [r.score for r in reports if r.when is PainTiming.NEXT_MORNING]
    worst = max(in_session) if in_session else None
    next_morning = max(morning) if morning else None
    if worst is not None and worst > STOP_PAIN:
        return Decision.REGRESS, f"pain {worst}/10 during or after session {record.session_id}"
    if next_morning is not None and baseline is not None and next_morning >= baseline + REGRESS_MORNING_RISE:
        return (
            Decision.REGRESS,
            f"next-morning pain {next_morning} vs {baseline} before ({record.session_id})",
        )
    if worst is None or next_morning is None:
        return Decision.HOLD, f"pain reports missing for session {record.session_id}"
    if baseline is None:
        return Decision.HOLD, f"no baseline pain to compare the next morning with ({record.session_id})"
    if worst >= HOLD_PAIN:
        return Decision.HOLD, f"pain {worst}/10 during or after session {record.session_id}"
    if next_morning > baseline:
        return Decision.HOLD, f"next-morning pain up by {next_morning - baseline} ({record.session_id})"
    if record.end_reason is not EndReason.COMPLETED:
        return Decision.HOLD, f"session {record.session_id} ended early ({record.end_reason.value})"
    return Decision.PROGRESS, f"pain {worst}/10 and the next morning not worse ({record.session_id})"


def red_flag_words(score: int, *, swelling: bool, giving_way: bool) -> str:
    """The red flags of one pain report in words ("pain 8/10, swelling"); empty when it has none."""
    flags = [f"pain {score}/10"] if score >= REFER_PAIN else []
    flags += ["swelling"] * swelling + ["knee giving way"] * giving_way
    return ", ".join(flags)


def _red_flags(reports: Sequence[PainReport]) -> list[str]:
    flags = []
    for r in reports:
        # "before it": a score for the next session, which the reasons are given for.
        about = (
            f"({r.session_id})" if r.session_id else f"before it at {r.at.astimezone(UTC):%Y-%m-%d %H:%M UTC}"
        )
        if r.swelling:
            flags.append(f"swelling reported {about}")
        if r.giving_way:
            flags.append(f"knee giving way reported {about}")
        if r.score >= REFER_PAIN:
            flags.append(f"pain {r.score}/10 reported {about}")
    return flags


def next_plan(
    profile: UserProfile,
    ceilings: OperatorCeilings,
    history: Sequence[SessionRecord],
    pain: Sequence[PainReport],
    clearances: Sequence[Clearance] = (),
    *,
    answers: Sequence[ScreeningAnswers] = (),
) -> Progression:
    """The plan for ``profile``'s next session, with the decision and the reasons behind it.

    ``answers`` are the person's screening answers: a clearance given for a "yes" counts even without a
    referral by the pain rule."""
    user_id = profile.user_id
    # In the order they started in (the storage's, not the clock's): the last is the plan to build on.
    sessions = in_recorded_order(r for r in history if r.user_id == user_id)
    mine = [p for p in pain if p.user_id == user_id]
    cleared = _counted_clearance(
        sessions,
        mine,
        in_recorded_order(c for c in clearances if c.user_id == user_id),
        [a for a in answers if a.user_id == user_id],
    )
    verdicts, flags = _judged(sessions, mine, cleared)
    if flags:
        return Progression(Decision.REFER, None, tuple(flags), cleared)
    if not sessions:
        return Progression(Decision.FIRST, default_plan(profile, ceilings), ("first session",), cleared)

    last_plan = sessions[-1].plan
    if not verdicts:  # every session predates the counted clearance: carry on from the last plan
        return Progression(Decision.HOLD, _clamped(last_plan, profile, ceilings), ("cleared",), cleared)
    decision, reason = verdicts[-1]
    last_target = to_centi(last_plan.target_speed_kmh)
    if decision is Decision.PROGRESS:
        plan = last_plan.model_copy(
            update={
                "target_speed_kmh": from_centi(last_target + to_centi(PROGRESS_SPEED_KMH)),
                "duration_cap_s": last_plan.duration_cap_s + PROGRESS_DURATION_S,
            }
        )
    elif decision is Decision.REGRESS:
        target = max(to_centi(last_plan.start_speed_kmh), last_target - to_centi(REGRESS_SPEED_KMH))
        plan = last_plan.model_copy(
            update={
                "target_speed_kmh": from_centi(target),
                "duration_cap_s": max(
                    MIN_DURATION_CAP_S, math.floor(last_plan.duration_cap_s * REGRESS_DURATION_FACTOR)
                ),
            }
        )
    else:
        plan = last_plan
    return Progression(decision, _clamped(plan, profile, ceilings), (reason,), cleared)


def _judged(
    sessions: Sequence[SessionRecord], reports: Sequence[PainReport], cleared: Clearance | None
) -> tuple[list[tuple[Decision, str]], list[str]]:
    """The verdicts on the sessions since ``cleared`` (oldest first), and the reasons to refer."""
    verdicts: list[tuple[Decision, str]] = []
    flags: list[str] = []
    previous_morning: int | None = None
    for record in sessions:
        mine = [p for p in reports if p.session_id == record.session_id]
        before = [p.score for p in mine if p.when is PainTiming.BEFORE]
        baseline = max(before) if before else previous_morning
        verdict = _verdict(record, mine, baseline)
        if cleared is None or not recorded_before(record, cleared):
            verdicts.append(verdict)
            flags.extend(_red_flags(mine))
        else:
            # A red flag reported after the clearance is news the clinician did not have, even about a
            # session before it (swelling noticed late): it refers again.
            flags.extend(_red_flags([p for p in mine if _news_to(cleared, p)]))
        mornings = [p.score for p in mine if p.when is PainTiming.NEXT_MORNING]
        previous_morning = max(mornings) if mornings else None
    # Scores for the next session, not started yet: no verdict, but their red flags refer.
    flags.extend(_red_flags([p for p in reports if p.session_id is None and _news_to(cleared, p)]))
    regressions = sum(1 for d, _ in verdicts if d is Decision.REGRESS)
    if regressions >= REFER_AFTER_REGRESSIONS:
        flags.append(f"{regressions} regressions since the last clearance")
    return verdicts, flags


def _news_to(cleared: Clearance | None, report: PainReport) -> bool:
    """Whether ``report`` was not known to the clearance (recorded after it; any report when none)."""
    return cleared is None or not recorded_before(report, cleared)


def _counted_clearance(
    sessions: Sequence[SessionRecord],
    reports: Sequence[PainReport],
    clearances: Sequence[Clearance],
    answers: Sequence[ScreeningAnswers],
) -> Clearance | None:
    """The latest of ``clearances`` (oldest first) that cleared something when it was recorded: the rules
    referred the person then (on what was known before it), or a "yes" in the answers given by then was
    not cleared yet (a clearance at the moment of the answers clears them, as screening reads it). One
    with nothing to clear is not counted: it would hold back an earned plan and forget regressions.

    What was known before a clearance is what was recorded (or started) before it, in the storage's
    order: a clock set back cannot make a red flag or a session look older than the clearance it came
    after."""
    counted: Clearance | None = None
    for clearance in clearances:
        known_sessions = [s for s in sessions if recorded_before(s, clearance)]
        known_reports = [p for p in reports if recorded_before(p, clearance)]
        _, flags = _judged(known_sessions, known_reports, counted)
        given = in_recorded_order(a for a in answers if not recorded_before(clearance, a))
        newest = given[-1] if given else None
        uncleared_yes = (
            newest is not None and newest.any_yes and (counted is None or recorded_before(counted, newest))
        )
        if flags or uncleared_yes:
            counted = clearance
    return counted


def _clamped(plan: SessionPlan, profile: UserProfile, ceilings: OperatorCeilings) -> SessionPlan:
    """Never beyond the ceilings (which may have been lowered since the last session); re-validated."""
    speed_ceiling = math.floor(to_centi(speed_ceiling_for(profile, ceilings)) / 10) * 10
    target = min(to_centi(plan.target_speed_kmh), speed_ceiling)
    start = min(to_centi(plan.start_speed_kmh), target)
    values = plan.model_dump()
    values.update(
        start_speed_kmh=from_centi(start),
        target_speed_kmh=from_centi(target),
        duration_cap_s=min(plan.duration_cap_s, ceilings.max_duration_s, ABSOLUTE_MAX_DURATION_S),
        incline_pct=from_centi(
            min(to_centi(plan.incline_pct), math.floor(ceilings.max_incline_pct * 10) * 10)
        ),
    )
    # model_validate re-runs every check (model_copy would not): a clamped plan is still a valid plan.
    return SessionPlan.model_validate(values)
