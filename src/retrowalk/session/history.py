"""Plain records about people and their sessions, which storage persists and the pure rules read.

Times are wall-clock ``datetime`` values given by the service (the engine itself never reads a clock).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from retrowalk.session.events import EndReason
from retrowalk.session.plan import SessionPlan

__all__ = ["Clearance", "PainReport", "PainTiming", "ScreeningAnswers", "SessionRecord"]

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


class PainReport(BaseModel):
    """A 0-10 knee pain score for one session, with the red flags the pain rule refers on."""

    model_config = _RECORD

    user_id: str = Field(min_length=1)
    session_id: str = Field(min_length=1)
    when: PainTiming
    score: int = Field(ge=0, le=10)
    at: datetime
    swelling: bool = False
    giving_way: bool = False


class ScreeningAnswers(BaseModel):
    """The seed's "who should consult a clinician first" questions; True means "yes"."""

    model_config = _RECORD

    user_id: str = Field(min_length=1)
    answered_at: datetime
    severe_knee_oa_or_ligament_injury: bool
    balance_disorder_or_dizziness: bool
    recent_knee_surgery: bool

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
