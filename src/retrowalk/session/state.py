"""The session engine's state: plain values only, so a shallow copy is a full copy."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from retrowalk.session.events import CommandKind, EndReason, Phase
from retrowalk.session.plan import OperatorCeilings, SessionPlan, TreadmillCaps
from retrowalk.session.ramp import RampState, allowed_centi


@dataclass(frozen=True, slots=True)
class EngineContext:
    """What does not change during an engine's life: the limits and which treadmill it drives."""

    ceilings: OperatorCeilings
    caps: TreadmillCaps
    treadmill_id: str


@dataclass(slots=True)
class SessionState:
    """Everything the engine knows. Only immutable values inside, so a shallow copy is a full copy."""

    link_up: bool = False
    phase: Phase = Phase.IDLE
    sessions_started: int = 0
    last_now: float = -math.inf
    session_id: str = ""
    user_id: str = ""
    plan: SessionPlan | None = None
    ramp: RampState = field(default_factory=RampState)
    backward_s: float = 0.0
    cool_down_centi: int = 0
    awaiting: CommandKind | None = None  # in ARMED: the reply we wait for before going on
    armed_at: float = 0.0
    belt_started_at: float = 0.0
    belt_seen_moving: bool = False
    last_sample_at: float = -math.inf
    last_speed_centi: int | None = None
    last_commanded_centi: int | None = None
    overspeed_since: float | None = None
    paused_at: float = 0.0
    restart_on_resume: bool = False
    warned: frozenset[int] = frozenset()
    max_speed_centi: int = 0
    max_allowed_centi: int = 0
    corrections: int = 0
    end_reason: EndReason | None = None
    end_detail: str = ""
    ended_at: float = -math.inf
    last_restop_at: float = -math.inf


def allowed_now(s: SessionState) -> int:
    """The allowed belt speed (hundredths of km/h) for the state as it stands."""
    if s.plan is None:
        return 0
    if s.phase is Phase.COOL_DOWN:
        return s.cool_down_centi
    if s.phase in (Phase.ARMED, Phase.FAMILIARISE, Phase.RAMP, Phase.STEADY):
        return allowed_centi(s.ramp, s.plan, s.backward_s)
    return 0
