"""The pain-monitoring rules choose the next plan, never beyond the ceilings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from retrowalk.session.events import EndReason
from retrowalk.session.history import Clearance, PainReport, PainTiming, ScreeningAnswers, SessionRecord
from retrowalk.session.plan import OperatorCeilings, SessionPlan, UserProfile
from retrowalk.session.progression import Decision, next_plan
from retrowalk.session.screening import screening_decision

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


def test_a_red_flag_reported_after_the_clearance_about_an_earlier_session_refers_again() -> None:
    cleared = Clearance(user_id="ann", cleared_at=T0 + timedelta(days=3), cleared_by="Dr. Physio")
    late = pain(1, PainTiming.AFTER, 3, swelling=True).model_copy(update={"at": T0 + timedelta(days=4)})
    result = next_plan(ANN, CEILINGS, [session(1)], [late], [cleared])
    assert result.decision is Decision.REFER
    assert result.plan is None
    assert result.reasons == ("swelling reported (s1)",)
    # Reported before the clearance, the clinician had it: no referral.
    known = late.model_copy(update={"at": T0 + timedelta(days=2)})
    assert next_plan(ANN, CEILINGS, [session(1)], [known], [cleared]).decision is not Decision.REFER


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


def test_the_reasons_say_why() -> None:
    assert next_plan(ANN, CEILINGS, [], []).reasons == ("first session",)
    held = next_plan(ANN, CEILINGS, [session(1)], reports(1, 2, 2, 3))
    assert held.reasons == ("next-morning pain up by 1 (s1)",)
    progressed = next_plan(ANN, CEILINGS, [session(1)], reports(1, 2, 3, 2))
    assert progressed.reasons == ("pain 3/10 and the next morning not worse (s1)",)


def test_red_flags_are_each_named() -> None:
    flagged = [
        pain(1, PainTiming.AFTER, 2, swelling=True, giving_way=True),
        pain(1, PainTiming.NEXT_MORNING, 7),
    ]
    result = next_plan(ANN, CEILINGS, [session(1)], flagged)
    assert result.reasons == (
        "swelling reported (s1)",
        "knee giving way reported (s1)",
        "pain 7/10 reported (s1)",
    )


def test_a_pain_of_6_regresses_without_referring() -> None:
    result = next_plan(ANN, CEILINGS, [session(1)], [pain(1, PainTiming.AFTER, 6)])
    assert result.decision is Decision.REGRESS


def test_a_session_at_the_moment_of_clearance_counts_after_it() -> None:
    history = [session(1), session(2)]
    # Pain 7 in session 1 is the red flag the clearance clears.
    pains = reports(1, 2, 7, 2) + reports(2, 2, 6, 2)
    # Cleared exactly when session 2 started: only its regression counts (a plan, not "cleared").
    cleared = Clearance(user_id="ann", cleared_at=session(2).started_at, cleared_by="Dr. Physio")
    result = next_plan(ANN, CEILINGS, history, pains, [cleared])
    assert result.decision is Decision.REGRESS


def test_a_clearance_after_every_session_carries_on_from_the_last_plan() -> None:
    plan = SessionPlan(target_speed_kmh=1.8, duration_cap_s=600)
    cleared = Clearance(user_id="ann", cleared_at=T0 + timedelta(days=30), cleared_by="Dr. Physio")
    result = next_plan(ANN, CEILINGS, [session(1, plan)], [pain(1, PainTiming.DURING, 8)], [cleared])
    assert result.decision is Decision.HOLD
    assert result.reasons == ("cleared",)
    assert result.plan == plan


def test_only_the_next_morning_report_is_the_next_baseline() -> None:
    # Session 1: 1 before, 3 during, 1 the next morning. Session 2 has no "before": its baseline is
    # session 1's next morning (1), not its worst score (3), so a next morning of 2 holds.
    history = [session(1), session(2)]
    pains = reports(1, 1, 3, 1) + reports(2, None, 2, 2)
    result = next_plan(ANN, CEILINGS, history, pains)
    assert result.decision is Decision.HOLD
    assert result.reasons == ("next-morning pain up by 1 (s2)",)


@pytest.mark.parametrize(
    ("max_speed", "target"),
    [(1.35, 1.3), (1.39, 1.3), (1.4, 1.4), (1.45, 1.4)],
)
def test_a_ceiling_between_grid_points_rounds_the_plan_down(max_speed: float, target: float) -> None:
    result = next_plan(ANN, OperatorCeilings(max_speed_kmh=max_speed), [session(1)], reports(1, 2, 4, 2))
    assert result.decision is Decision.HOLD
    assert result.plan is not None
    assert result.plan.target_speed_kmh == target


def test_a_ceiling_below_the_start_lowers_the_start_too() -> None:
    result = next_plan(ANN, OperatorCeilings(max_speed_kmh=0.85), [session(1)], reports(1, 2, 4, 2))
    assert result.plan is not None
    assert (result.plan.start_speed_kmh, result.plan.target_speed_kmh) == (0.8, 0.8)


@pytest.mark.parametrize(("max_incline", "incline"), [(1.25, 1.2), (2.0, 2.0), (0.0, 0.0), (5.0, 2.0)])
def test_a_lowered_incline_ceiling_lowers_the_incline(max_incline: float, incline: float) -> None:
    plan = SessionPlan(incline_pct=2.0)
    ceilings = OperatorCeilings(max_incline_pct=max_incline)
    result = next_plan(ANN, ceilings, [session(1, plan)], reports(1, 2, 4, 2))
    assert result.plan is not None
    assert result.plan.incline_pct == incline


@pytest.mark.parametrize(("cap", "regressed"), [(300, 240), (301, 240), (304, 243), (75, 60), (70, 60)])
def test_a_regression_shortens_by_a_fifth_rounded_down(cap: int, regressed: int) -> None:
    plan = SessionPlan(target_speed_kmh=1.5, duration_cap_s=cap)
    result = next_plan(ANN, CEILINGS, [session(1, plan)], reports(1, 2, 6, 2))
    assert result.decision is Decision.REGRESS
    assert result.plan is not None
    assert result.plan.duration_cap_s == regressed


def test_sessions_are_judged_in_the_order_they_happened() -> None:
    # Given out of order: the last session (s2) decides, and only ann's sessions count.
    other = SessionRecord(
        session_id="b1",
        user_id="bob",
        started_at=T0 + timedelta(days=9),
        plan=PLAN,
        backward_s=300,
        max_speed_kmh=1.5,
        end_reason=EndReason.COMPLETED,
    )
    history = [session(2), other, session(1)]
    pains = reports(1, 2, 6, 2) + reports(2, 2, 2, 2)
    result = next_plan(ANN, CEILINGS, history, pains)
    assert result.decision is Decision.PROGRESS
    assert next_plan(UserProfile(user_id="cat"), CEILINGS, history, pains).decision is Decision.FIRST


def cleared_on(day: int) -> Clearance:
    return Clearance(user_id="ann", cleared_at=T0 + timedelta(days=day), cleared_by="Dr. Physio")


def test_a_clearance_with_nothing_to_clear_changes_nothing() -> None:
    """No red flag, no referral: the progression the sessions earned stands (a clinician may clear ahead)."""
    earned = next_plan(ANN, CEILINGS, [session(1)], reports(1, 2, 2, 2))
    assert earned.decision is Decision.PROGRESS
    result = next_plan(ANN, CEILINGS, [session(1)], reports(1, 2, 2, 2), [cleared_on(30)])
    assert (result.decision, result.plan, result.reasons) == (earned.decision, earned.plan, earned.reasons)
    assert result.cleared_at is None


def test_a_clearance_with_nothing_to_clear_does_not_reset_the_regression_count() -> None:
    history = [session(1), session(2)]
    pains = reports(1, 2, 6, 2) + reports(2, 2, 6, 2)
    # Between the two regressions, with one regression on record: nothing to clear yet.
    result = next_plan(ANN, CEILINGS, history, pains, [cleared_on(3)])
    assert result.decision is Decision.REFER
    assert result.reasons == ("2 regressions since the last clearance",)


def test_a_later_clearance_with_nothing_to_clear_keeps_the_earlier_one() -> None:
    """Pain 8 in session 1, cleared; session 2 earned a progression; a second clearance changes nothing."""
    history = [session(1), session(2)]
    pains = [pain(1, PainTiming.DURING, 8), *reports(2, 2, 2, 2)]
    result = next_plan(ANN, CEILINGS, history, pains, [cleared_on(3), cleared_on(10)])
    assert result.decision is Decision.PROGRESS, result.reasons
    assert result.plan is not None
    assert (result.plan.target_speed_kmh, result.plan.duration_cap_s) == (1.6, 420)
    assert result.cleared_at == cleared_on(3).cleared_at


def test_a_clearance_after_a_new_screening_yes_holds_at_the_last_plan() -> None:
    """A "yes" given after sessions began (surgery, say) needs the clearance: it is not "nothing to clear",
    and the next session repeats the last one instead of growing from before the "yes"."""
    yes = ScreeningAnswers(
        user_id="ann",
        answered_at=T0 + timedelta(days=20),
        severe_knee_oa_or_ligament_injury=False,
        balance_disorder_or_dizziness=False,
        recent_knee_surgery=True,
    )
    result = next_plan(ANN, CEILINGS, [session(1)], reports(1, 2, 2, 2), [cleared_on(30)], answers=[yes])
    assert (result.decision, result.plan, result.reasons) == (Decision.HOLD, PLAN, ("cleared",))
    # The same answers, cleared once already: a second clearance has nothing left to clear.
    twice = next_plan(
        ANN, CEILINGS, [session(1)], reports(1, 2, 2, 2), [cleared_on(21), cleared_on(30)], answers=[yes]
    )
    assert twice.cleared_at == cleared_on(21).cleared_at


def before_the_next_session(day: int, score: int, **flags: bool) -> PainReport:
    """A "before" score given for the next session, which has not started yet (no session id)."""
    return PainReport(
        user_id="ann",
        session_id=None,
        when=PainTiming.BEFORE,
        score=score,
        at=T0 + timedelta(days=day),
        **flags,
    )


def test_a_red_flag_before_the_next_session_refers_a_first_and_a_later_session_alike() -> None:
    first = next_plan(ANN, CEILINGS, [], [before_the_next_session(1, 3, swelling=True)])
    assert (first.decision, first.plan) == (Decision.REFER, None)
    assert first.reasons == ("swelling reported before it at 2026-03-03 09:00 UTC",)
    later = next_plan(ANN, CEILINGS, [session(1)], [*reports(1, 2, 2, 2), before_the_next_session(5, 8)])
    assert (later.decision, later.reasons) == (
        Decision.REFER,
        ("pain 8/10 reported before it at 2026-03-07 09:00 UTC",),
    )
    # A clearance after it counts (it cleared a referral), and the score is then behind it.
    cleared = next_plan(ANN, CEILINGS, [], [before_the_next_session(1, 3, swelling=True)], [cleared_on(2)])
    assert (cleared.decision, cleared.cleared_at) == (Decision.FIRST, cleared_on(2).cleared_at)
    # Without a red flag it is no reason for anything yet: the sessions decide.
    calm = next_plan(ANN, CEILINGS, [session(1)], [*reports(1, 2, 2, 2), before_the_next_session(5, 4)])
    assert calm.decision is Decision.PROGRESS


def test_only_a_before_score_may_come_before_its_session() -> None:
    with pytest.raises(ValueError, match="a during pain report must name its session"):
        PainReport(user_id="ann", session_id=None, when=PainTiming.DURING, score=2, at=T0)


def test_a_red_flag_recorded_after_a_clearance_refers_even_when_the_clock_went_back() -> None:
    """Swelling cleared (records 1 and 2), the clock set back a week, then pain 8 reported (record 3): its
    timestamp is older than the clearance, but the clearance cannot have known of it."""
    swelling = pain(1, PainTiming.AFTER, 2, swelling=True).model_copy(update={"seq": 1})
    clearance = cleared_on(10).model_copy(update={"seq": 2})
    late_flag = pain(1, PainTiming.NEXT_MORNING, 8).model_copy(
        update={"at": T0 + timedelta(days=3), "seq": 3}
    )
    result = next_plan(ANN, CEILINGS, [session(1)], [swelling, late_flag], [clearance])
    assert (result.decision, result.reasons) == (Decision.REFER, ("pain 8/10 reported (s1)",))
    assert result.cleared == clearance  # the clearance still counted for the swelling
    # And a clearance recorded after the red flag clears it, whatever its timestamp says.
    cleared_again = cleared_on(10).model_copy(
        update={"cleared_at": T0 + timedelta(days=2, hours=12), "seq": 4}
    )
    result = next_plan(ANN, CEILINGS, [session(1)], [swelling, late_flag], [clearance, cleared_again])
    assert (result.decision, result.reasons, result.cleared) == (Decision.HOLD, ("cleared",), cleared_again)


def test_the_newest_screening_answers_are_the_last_recorded_even_when_the_clock_went_back() -> None:
    def answers(day: int, seq: int, *, surgery: bool) -> ScreeningAnswers:
        return ScreeningAnswers(
            user_id="ann",
            answered_at=T0 + timedelta(days=day),
            severe_knee_oa_or_ligament_injury=False,
            balance_disorder_or_dizziness=False,
            recent_knee_surgery=surgery,
            seq=seq,
        )

    # "No" (record 1), a clearance ahead of time (record 2), then "yes" with the clock set back (record 3).
    given = [answers(5, 1, surgery=False), answers(1, 3, surgery=True)]
    ahead = cleared_on(6).model_copy(update={"seq": 2})
    decision = screening_decision("ann", given, [ahead])
    assert (decision.allowed, decision.clearance_predates) == (False, T0 + timedelta(days=1))


def test_sessions_started_after_a_clearance_are_judged_after_it_even_when_the_clock_went_back() -> None:
    """Two regressions referred (records 1, 2), a clearance (3); the clock set back a week, then two more
    regressions (records 4, 5): they started after the clearance, and refer again."""
    history = [session(1).model_copy(update={"seq": 1}), session(2).model_copy(update={"seq": 2})]
    clearance = cleared_on(10).model_copy(update={"seq": 3})
    back = [
        session(n).model_copy(update={"started_at": T0 + timedelta(days=n), "seq": n + 1}) for n in (3, 4)
    ]
    # Each session's reports recorded after its start (the same place in the order is enough here).
    numbered = ((1, 1), (2, 2), (3, 4), (4, 5))
    pains = [r.model_copy(update={"seq": seq}) for n, seq in numbered for r in reports(n, 2, 6, 2)]
    result = next_plan(ANN, CEILINGS, [*history, *back], pains, [clearance])
    assert (result.decision, result.reasons) == (Decision.REFER, ("2 regressions since the last clearance",))
