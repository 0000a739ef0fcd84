"""Screening gates the first session; a "yes" needs a clearance; a balance concern lowers the ceiling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from retrowalk.errors import PlanError
from retrowalk.session.history import Clearance, ScreeningAnswers
from retrowalk.session.plan import OperatorCeilings, speed_ceiling_for
from retrowalk.session.screening import (
    ScreeningDecision,
    require_screening_passed,
    screening_decision,
    user_profile,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def answers(
    when: datetime = T0, *, oa: bool = False, balance: bool = False, surgery: bool = False
) -> ScreeningAnswers:
    return ScreeningAnswers(
        user_id="ann",
        answered_at=when,
        severe_knee_oa_or_ligament_injury=oa,
        balance_disorder_or_dizziness=balance,
        recent_knee_surgery=surgery,
    )


def clearance(when: datetime, user_id: str = "ann") -> Clearance:
    return Clearance(user_id=user_id, cleared_at=when, cleared_by="Dr. Physio")


def test_no_answers_on_record_blocks_the_first_session() -> None:
    decision = screening_decision("ann", [], [])
    assert not decision.allowed
    assert "before the first session" in decision.reason
    with pytest.raises(PlanError, match="'ann' cannot start"):
        require_screening_passed("ann", [], [])


def test_all_no_allows_sessions() -> None:
    assert screening_decision("ann", [answers()], []).allowed
    require_screening_passed("ann", [answers()], [])


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        ({"oa": True}, "osteoarthritis"),
        ({"balance": True}, "balance disorder"),
        ({"surgery": True}, "recent knee surgery"),
    ],
)
def test_any_yes_blocks_until_a_clearance_after_the_answers(flags: dict[str, bool], named: str) -> None:
    record = answers(T0, **flags)
    decision = screening_decision("ann", [record], [])
    assert not decision.allowed
    assert named in decision.reason
    # A clearance older than the answers does not count; one after them does.
    assert not screening_decision("ann", [record], [clearance(T0 - timedelta(days=1))]).allowed
    assert not screening_decision("ann", [record], [clearance(T0 + timedelta(days=1), user_id="bob")]).allowed
    assert screening_decision("ann", [record], [clearance(T0 + timedelta(days=1))]).allowed


def test_the_newest_answers_count() -> None:
    old_yes = answers(T0, surgery=True)
    new_no = answers(T0 + timedelta(days=90))
    assert screening_decision("ann", [new_no, old_yes], []).allowed
    assert not screening_decision("ann", [old_yes, answers(T0 - timedelta(days=1))], []).allowed


def test_other_peoples_answers_do_not_count() -> None:
    assert not screening_decision("bob", [answers()], []).allowed


def test_a_balance_concern_selects_the_lower_ceiling_even_after_clearance() -> None:
    profile = user_profile("ann", 40, [answers(balance=True)])
    assert profile.balance_concern
    assert speed_ceiling_for(profile, OperatorCeilings()) == 2.0
    assert speed_ceiling_for(user_profile("ann", 40, [answers()]), OperatorCeilings()) == 3.0


def test_the_decisions_say_exactly_why() -> None:
    assert screening_decision("ann", [], []) == ScreeningDecision(
        False, "the screening questions must be answered before the first session"
    )
    assert screening_decision("ann", [answers()], []) == ScreeningDecision(True, "")
    all_yes = answers(oa=True, balance=True, surgery=True)
    assert screening_decision("ann", [all_yes], []) == ScreeningDecision(
        False,
        "a clinician must clear this person first (screening answered yes to: severe knee osteoarthritis "
        "or a ligament injury, a balance disorder or dizziness, recent knee surgery)",
    )
    assert screening_decision("ann", [all_yes], [clearance(T0 + timedelta(days=1))]) == ScreeningDecision(
        True, ""
    )


def test_a_clearance_recorded_at_the_same_moment_as_the_answers_counts() -> None:
    assert screening_decision("ann", [answers(T0, oa=True)], [clearance(T0)]).allowed
    assert not screening_decision(
        "ann", [answers(T0, oa=True)], [clearance(T0 - timedelta(seconds=1))]
    ).allowed


def test_a_cleared_person_passes_the_gate() -> None:
    require_screening_passed("ann", [answers(T0, surgery=True)], [clearance(T0 + timedelta(hours=1))])
    with pytest.raises(PlanError, match="recent knee surgery"):
        require_screening_passed("ann", [answers(T0, surgery=True)], [])


def test_the_profile_carries_the_age_and_no_concern_without_answers() -> None:
    profile = user_profile("ann", 67, [answers(T0, balance=False)])
    assert (profile.user_id, profile.age_years, profile.balance_concern) == ("ann", 67, False)
    assert user_profile("ann", None, []).balance_concern is False


def test_a_clearance_before_the_yes_is_named_as_predating_it() -> None:
    """What a listing needs to say why the clearance on record does not let the person start."""
    later_yes = answers(T0 + timedelta(days=2), surgery=True)
    decision = screening_decision("ann", [later_yes], [clearance(T0 + timedelta(days=1))])
    assert not decision.allowed
    assert decision.clearance_predates == later_yes.answered_at
    # No clearance at all, or someone else's: nothing predates the answers.
    for clearances in ([], [clearance(T0 + timedelta(days=1), user_id="bo")]):
        assert screening_decision("ann", [later_yes], clearances).clearance_predates is None
    # Cleared after the answers: allowed, and nothing to flag.
    cleared = screening_decision("ann", [later_yes], [clearance(T0 + timedelta(days=3))])
    assert (cleared.allowed, cleared.clearance_predates) == (True, None)
