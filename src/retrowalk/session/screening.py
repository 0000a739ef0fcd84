"""Screening: who may start a session, and with which speed ceiling. Pure functions over records.

The seed article asks people with severe knee osteoarthritis or ligament injuries, balance disorders or
dizziness, or recent knee surgery to consult a clinician first. So: the answers must be on record before
any session, any "yes" blocks sessions until a clinician's clearance is recorded after those answers, and
a balance concern selects the lower speed ceiling (2.0 km/h, refs §2, Fritz et al. 2013) even after
clearance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from retrowalk.errors import PlanError, RefusalCode
from retrowalk.session.history import Clearance, ScreeningAnswers, in_recorded_order, recorded_before
from retrowalk.session.plan import UserProfile

__all__ = [
    "ScreeningDecision",
    "latest_answers",
    "require_screening_passed",
    "screening_decision",
    "user_profile",
]


@dataclass(frozen=True, slots=True)
class ScreeningDecision:
    allowed: bool
    reason: str  # why not, in words a person can act on; empty when allowed
    # When the newest clearance was recorded before the answers whose "yes" blocks: when those answers
    # were given. The clearance is on record but does not count for them, and a listing must say so
    # rather than show it as if it let the person walk.
    clearance_predates: datetime | None = None


def latest_answers(user_id: str, answers: Sequence[ScreeningAnswers]) -> ScreeningAnswers | None:
    mine = in_recorded_order(a for a in answers if a.user_id == user_id)
    return mine[-1] if mine else None


def screening_decision(
    user_id: str, answers: Sequence[ScreeningAnswers], clearances: Sequence[Clearance]
) -> ScreeningDecision:
    """May ``user_id`` start a session? Uses their newest answers and any clearance recorded after them."""
    current = latest_answers(user_id, answers)
    if current is None:
        return ScreeningDecision(False, "the screening questions must be answered before the first session")
    if not current.any_yes:
        return ScreeningDecision(True, "")
    mine = [c for c in clearances if c.user_id == user_id]
    # Recorded after the answers (or at their moment), in the storage's order when it is known.
    if any(not recorded_before(c, current) for c in mine):
        return ScreeningDecision(True, "")
    flagged = [
        label
        for label, yes in (
            ("severe knee osteoarthritis or a ligament injury", current.severe_knee_oa_or_ligament_injury),
            ("a balance disorder or dizziness", current.balance_disorder_or_dizziness),
            ("recent knee surgery", current.recent_knee_surgery),
        )
        if yes
    ]
    return ScreeningDecision(
        False,
        f"a clinician must clear this person first (screening answered yes to: {', '.join(flagged)})",
        current.answered_at if mine else None,
    )


def require_screening_passed(
    user_id: str, answers: Sequence[ScreeningAnswers], clearances: Sequence[Clearance]
) -> None:
    """Raise PlanError with the reason when ``user_id`` may not start a session."""
    decision = screening_decision(user_id, answers, clearances)
    if not decision.allowed:
        unanswered = latest_answers(user_id, answers) is None
        code: RefusalCode = "screening_needed" if unanswered else "see_clinician"
        raise PlanError(f"user {user_id!r} cannot start a session: {decision.reason}", code=code)


def user_profile(user_id: str, age_years: int | None, answers: Sequence[ScreeningAnswers]) -> UserProfile:
    """The profile the plan rules use; a balance concern on record keeps the lower speed ceiling."""
    current = latest_answers(user_id, answers)
    balance = current is not None and current.balance_disorder_or_dizziness
    return UserProfile(user_id=user_id, age_years=age_years, balance_concern=balance)
