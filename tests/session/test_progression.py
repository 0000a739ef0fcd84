"""The pain-monitoring rules choose the next plan, never beyond the ceilings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from retrowalk.session.events import EndReason
from retrowalk.session.history import Clearance, PainReport, PainTiming, SessionRecord
from retrowalk.session.plan import OperatorCeilings, SessionPlan, UserProfile
from retrowalk.session.progression import Decision, next_plan

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANN = UserProfile(user_id="ann", age_years=50)
CEILINGS = OperatorCeilings()
PLAN = SessionPlan(target_speed_kmh=1.5, duration_cap_s=300)


def session(n: int, plan: SessionPlan = PLAN, reason: EndReason = EndReason.COMPLETED) -> SessionRecord:
    return SessionRecord(
        session_id=f"s{n}",
        user_id="ann",
        started_at=T0 + timedelta(days=2 * n),
        plan=plan,
        backward_s=plan.duration_cap_s,
        max_speed_kmh=plan.target_speed_kmh,
        end_reason=reason,
    )


def pain(n: int, when: PainTiming, score: int, **flags: bool) -> PainReport:
    return PainReport(
        user_id="ann", session_id=f"s{n}", when=when, score=score, at=T0 + timedelta(days=2 * n), **flags
    )


def reports(n: int, before: int | None, during: int | None, morning: int | None) -> list[PainReport]:
    out = []
    for when, score in (
        (PainTiming.BEFORE, before),
        (PainTiming.DURING, during),
        (PainTiming.NEXT_MORNING, morning),
    ):
        if score is not None:
            out.append(pain(n, when, score))
    return out


def test_first_session_gets_the_default_plan() -> None:
    result = next_plan(ANN, CEILINGS, [], [])
    assert result.decision is Decision.FIRST
    assert result.plan is not None
    assert (result.plan.start_speed_kmh, result.plan.duration_cap_s) == (1.0, 300)


@pytest.mark.parametrize(
    ("scores", "decision", "expected"),
    [
        ((2, 3, 2), Decision.PROGRESS, (1.6, 420)),
        ((2, 0, 1), Decision.PROGRESS, (1.6, 420)),
        ((2, 4, 2), Decision.HOLD, (1.5, 300)),
        ((2, 5, 2), Decision.HOLD, (1.5, 300)),
        ((2, 2, 3), Decision.HOLD, (1.5, 300)),
        ((2, 6, 2), Decision.REGRESS, (1.3, 240)),
        ((2, 2, 4), Decision.REGRESS, (1.3, 240)),
        ((2, 2, None), Decision.HOLD, (1.5, 300)),
        ((None, 2, 2), Decision.HOLD, (1.5, 300)),
        ((2, None, 2), Decision.HOLD, (1.5, 300)),
    ],
)
def test_pain_rule(
    scores: tuple[int | None, int | None, int | None], decision: Decision, expected: tuple[float, int]
) -> None:
    """scores: pain before, during and the next morning (None: not reported); expected: target, cap."""
    result = next_plan(ANN, CEILINGS, [session(1)], reports(1, *scores))
    assert result.decision is decision, result.reasons
    assert result.plan is not None
    assert (result.plan.target_speed_kmh, result.plan.duration_cap_s) == expected


def test_the_previous_next_morning_is_the_baseline_when_none_was_given() -> None:
    history = [session(1), session(2)]
    pains = reports(1, 1, 2, 1) + reports(2, None, 2, 1)
    assert next_plan(ANN, CEILINGS, history, pains).decision is Decision.PROGRESS


def test_a_session_that_did_not_complete_does_not_progress() -> None:
    result = next_plan(ANN, CEILINGS, [session(1, reason=EndReason.OVERSPEED)], reports(1, 1, 1, 1))
    assert result.decision is Decision.HOLD
    assert "ended early" in result.reasons[0]


@pytest.mark.parametrize(
    "report",
    [
        pain(1, PainTiming.AFTER, 2, swelling=True),
        pain(1, PainTiming.DURING, 2, giving_way=True),
        pain(1, PainTiming.DURING, 7),
        pain(1, PainTiming.NEXT_MORNING, 8),
    ],
)
def test_red_flags_refer_to_a_clinician_until_cleared(report: PainReport) -> None:
    result = next_plan(ANN, CEILINGS, [session(1)], [report])
    assert result.decision is Decision.REFER
    assert result.plan is None
    cleared = Clearance(user_id="ann", cleared_at=T0 + timedelta(days=3), cleared_by="Dr. Physio")
    after = next_plan(ANN, CEILINGS, [session(1)], [report], [cleared])
    assert after.decision is not Decision.REFER
    assert after.plan is not None


def test_two_regressions_refer() -> None:
    history = [session(1), session(2)]
    pains = reports(1, 2, 6, 2) + reports(2, 2, 6, 2)
    result = next_plan(ANN, CEILINGS, history, pains)
    assert result.decision is Decision.REFER
    assert "2 regressions" in result.reasons[-1]


def test_progression_never_goes_beyond_the_ceilings() -> None:
    older = UserProfile(user_id="ann", age_years=70)
    near = SessionPlan(target_speed_kmh=2.0, duration_cap_s=1150)
    result = next_plan(older, CEILINGS, [session(1, near)], reports(1, 1, 1, 1))
    assert result.decision is Decision.PROGRESS
    assert result.plan is not None
    assert result.plan.target_speed_kmh == 2.0  # the 2.0 km/h ceiling for age >= 65
    assert result.plan.duration_cap_s == 1200  # the operator's 20 min


def test_a_lowered_ceiling_lowers_a_held_plan() -> None:
    plan = SessionPlan(target_speed_kmh=2.5, duration_cap_s=900)
    lowered = OperatorCeilings(max_speed_kmh=2.2, max_duration_s=600)
    result = next_plan(ANN, lowered, [session(1, plan)], reports(1, 2, 4, 2))
    assert result.plan is not None
    assert (result.plan.target_speed_kmh, result.plan.duration_cap_s) == (2.2, 600)


def test_regression_never_goes_below_the_start_speed_or_a_minute() -> None:
    plan = SessionPlan(start_speed_kmh=1.0, target_speed_kmh=1.1, duration_cap_s=60)
    result = next_plan(ANN, CEILINGS, [session(1, plan)], reports(1, 2, 6, 2))
    assert result.plan is not None
    assert (result.plan.target_speed_kmh, result.plan.duration_cap_s) == (1.0, 60)
