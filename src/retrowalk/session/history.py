"""Plain records about people and their sessions, which storage persists and the pure rules read.

Times are wall-clock ``datetime`` values given by the service (the engine itself never reads a clock).
Pain reports, screening answers, clearances and session starts from the storage also carry ``seq``,
their place in the order they were recorded in: which came first (a red flag or a clearance) is judged
by it, so that a wall clock set back cannot reorder them; records without one (made up by tests, or by
`user show`'s "what if") are ordered by their times.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from functools import cmp_to_key
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from retrowalk.session.events import EndReason
from retrowalk.session.plan import SessionPlan

__all__ = [
    "Clearance",
    "PainReport",
    "PainTiming",
    "ScreeningAnswers",
    "SessionRecord",
    "in_recorded_order",
    "recorded_before",
]

_RECORD = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class PainTiming(StrEnum):
    BEFORE = "before"  # baseline, before the session
    DURING = "during"
    AFTER = "after"
    NEXT_MORNING = "next_morning"


class SessionRecord(BaseModel):
    """One finished or aborted session."""

    model_config = _RECORD

    session_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    treadmill_id: str = ""
    started_at: datetime
    plan: SessionPlan
    backward_s: float = Field(ge=0)
    max_speed_kmh: float = Field(ge=0)
    end_reason: EndReason
    seq: int | None = None  # where its start is in the storage's order of records


class PainReport(BaseModel):
    """A 0-10 knee pain score for one session, with the red flags the pain rule refers on.

    A "before" score given for the person's next session, which has not started yet, has no session id:
    it cannot be a baseline yet, but its red flags are news about the very session it comes before."""

    model_config = _RECORD

    user_id: str = Field(min_length=1)
    session_id: Annotated[str, Field(min_length=1)] | None
    when: PainTiming
    score: int = Field(ge=0, le=10)
    at: datetime
    swelling: bool = False
    giving_way: bool = False
    seq: int | None = None

    @model_validator(mode="after")
    def _only_before_scores_precede_their_session(self) -> PainReport:
        if self.session_id is None and self.when is not PainTiming.BEFORE:
            raise ValueError(f"a {self.when.value} pain report must name its session")
        return self


class ScreeningAnswers(BaseModel):
    """The seed's "who should consult a clinician first" questions; True means "yes"."""

    model_config = _RECORD

    user_id: str = Field(min_length=1)
    answered_at: datetime
    severe_knee_oa_or_ligament_injury: bool
    balance_disorder_or_dizziness: bool
    recent_knee_surgery: bool
    seq: int | None = None

    @property
    def any_yes(self) -> bool:
        return (
            self.severe_knee_oa_or_ligament_injury
            or self.balance_disorder_or_dizziness
            or (self.recent_knee_surgery)
        )


class Clearance(BaseModel):
    """A clinician cleared this person for sessions after a "yes" (or after a referral)."""

    model_config = _RECORD

    user_id: str = Field(min_length=1)
    cleared_at: datetime
    cleared_by: str = Field(min_length=1, max_length=200)
    note: str = ""
    seq: int | None = None


type _Recorded = PainReport | ScreeningAnswers | Clearance | SessionRecord


def recorded_before(first: _Recorded, then: _Recorded) -> bool:
    """Whether ``first`` was recorded before ``then``: by the storage's order when both have a place in
    it (a clock set back between them cannot swap them), else by their times."""
    if first.seq is not None and then.seq is not None:
        return first.seq < then.seq
    return _moment(first) < _moment(then)


def _moment(record: _Recorded) -> datetime:
    match record:
        case SessionRecord():
            return record.started_at
        case PainReport():
            return record.at
        case ScreeningAnswers():
            return record.answered_at
        case Clearance():
            return record.cleared_at


def in_recorded_order[R: (PainReport, ScreeningAnswers, Clearance, SessionRecord)](
    records: Iterable[R],
) -> list[R]:
    """``records`` oldest first, as `recorded_before` orders them."""

    def compare(first: R, then: R) -> int:
        return -1 if recorded_before(first, then) else int(recorded_before(then, first))

    return sorted(records, key=cmp_to_key(compare))
