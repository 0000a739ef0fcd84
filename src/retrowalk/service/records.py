"""Between what storage keeps (rows) and what the pure rules read (``session.history`` records).

Rows the rules cannot use are left out rather than guessed at: a session stored without its plan, a
pain report not tied to a session. The rules then hold rather than progress, which is the safe way to
be wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import ValidationError

from retrowalk.session.events import EndReason
from retrowalk.session.history import Clearance, PainReport, PainTiming, ScreeningAnswers, SessionRecord
from retrowalk.session.plan import SessionPlan
from retrowalk.storage import (
    KeptBeforePain,
    Store,
    StoredClearance,
    StoredPainReport,
    StoredScreening,
    StoredSession,
)

__all__ = [
    "clearance_expired",
    "clearance_record",
    "counted_clearances",
    "kept_before_report",
    "pain_report",
    "screening_record",
    "session_record",
]


def session_record(row: StoredSession) -> SessionRecord | None:
    if row.plan_json is None:
        return None
    try:
        plan = SessionPlan.model_validate_json(row.plan_json)
    except ValidationError:
        return None
    try:
        reason = EndReason(row.end_reason)
    except ValueError:
        reason = EndReason.SERVICE_RESTARTED
    return SessionRecord(
        session_id=row.session_id,
        user_id=row.user_id,
        treadmill_id=row.treadmill_id,
        started_at=row.started_at,
        plan=plan,
        backward_s=max(0.0, float(row.walked_s)),
        max_speed_kmh=max(0.0, float(row.max_speed_kmh)),
        end_reason=reason,
        seq=row.seq,
    )


def pain_report(row: StoredPainReport) -> PainReport | None:
    if not row.session_id:
        return None
    return PainReport(
        user_id=row.user_id,
        session_id=row.session_id,
        when=PainTiming(row.moment),
        score=row.pain,
        at=row.at,
        swelling=row.swelling,
        giving_way=row.giving_way,
        seq=row.seq,
    )


def kept_before_report(kept: KeptBeforePain) -> PainReport:
    """A kept "before" score as the report it is about the person's next session (no id yet)."""
    return PainReport(
        user_id=kept.user_id,
        session_id=None,
        when=PainTiming.BEFORE,
        score=kept.pain,
        at=kept.given_at,
        swelling=kept.swelling,
        giving_way=kept.giving_way,
        seq=kept.seq,
    )


def screening_record(row: StoredScreening) -> ScreeningAnswers:
    answers = row.answers
    knee = bool(answers.get("severe_knee_oa") or answers.get("ligament_injury"))
    return ScreeningAnswers(
        user_id=row.user_id,
        answered_at=row.at,
        severe_knee_oa_or_ligament_injury=knee,
        balance_disorder_or_dizziness=bool(answers.get("balance_disorder_or_dizziness")),
        recent_knee_surgery=bool(answers.get("recent_knee_surgery")),
        seq=row.seq,
    )


def clearance_record(row: StoredClearance) -> Clearance:
    return Clearance(
        user_id=row.user_id, cleared_at=row.at, cleared_by=row.cleared_by, note=row.note or "", seq=row.seq
    )


def clearance_expired(clearance: StoredClearance) -> bool:
    """Past its last valid day (`valid_until`, a UTC date), a clearance no longer lets anyone start."""
    return clearance.valid_until is not None and clearance.valid_until < datetime.now(UTC).date()


def counted_clearances(store: Store, user_id: str) -> list[Clearance]:
    """The person's clearances the screening and pain rules may count, oldest first: an expired one clears
    nobody, and neither do those before it (the clinician's latest word was time-limited)."""
    counted: list[Clearance] = []
    for clearance in store.clearances_for_user(user_id):
        counted = [] if clearance_expired(clearance) else [*counted, clearance_record(clearance)]
    return counted
