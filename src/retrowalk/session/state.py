"""The session engine's state: plain values only, so a shallow copy is a full copy."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field, fields

from retrowalk.session.events import CommandKind, EndReason, Phase
from retrowalk.session.plan import OperatorCeilings, SessionPlan, TreadmillCaps
from retrowalk.session.ramp import RampState, allowed_centi
from retrowalk.session.safety_constants import SLOWDOWN_KMH_S

__all__ = ["EngineContext", "SessionState", "allowed_now", "limit_now"]


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
    # After retrowalk lowers the belt's speed (cool-down, pause, stop), the belt needs time to slow down:
    # the limit falls from here at SLOWDOWN_KMH_S rather than at once (see limit_now).
    slowdown_from_centi: int = 0
    slowdown_at: float = 0.0
    # First sample of the current stretch in which the belt ran well below what was commanded.
    slow_since: float | None = None
    # The treadmill's last word on its safety key was "pulled". FTMS has no status for putting it back:
    # a belt seen moving, a start at the console or an accepted Start says it is back. Kept across
    # sessions, so that a start the treadmill then fails can say why.
    safety_key_out: bool = False

    def __copy__(self) -> SessionState:
        # The engine copies its state once per event (see engine.py); copy.copy's generic way through
        # __reduce_ex__ cost about four times this. Every field goes through __init__ as it stands.
        return SessionState(*_every_field(self))


_every_field = operator.attrgetter(*(item.name for item in fields(SessionState)))


def allowed_now(s: SessionState) -> int:
    """The allowed belt speed (hundredths of km/h) for the state as it stands."""
    if s.plan is None:
        return 0
    if s.phase is Phase.COOL_DOWN:
        return s.cool_down_centi
    if s.phase in (Phase.ARMED, Phase.FAMILIARISE, Phase.RAMP, Phase.STEADY):
        return allowed_centi(s.ramp, s.plan, s.backward_s)
    return 0


def limit_now(s: SessionState, now: float, allowed: int | None = None) -> int:
    """The speed the belt may show at ``now`` (hundredths of km/h, before the tolerance): the allowed
    speed, or, just after retrowalk lowered it, the earlier speed falling at :data:`SLOWDOWN_KMH_S`.
    ``allowed`` is ``allowed_now(s)`` when the caller has already worked it out.

    Without that allowance a cool-down from 3.0 to 1.0 km/h would be "overspeed" for 4 s and stopped."""
    if allowed is None:
        allowed = allowed_now(s)
    if s.slowdown_from_centi <= allowed:
        return allowed
    decayed = s.slowdown_from_centi - SLOWDOWN_KMH_S * 100 * max(0.0, now - s.slowdown_at)
    return max(allowed, math.ceil(decayed))
