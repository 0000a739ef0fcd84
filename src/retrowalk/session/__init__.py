"""The retro-session engine: plans, limits and a pure state machine that enforces them.

Nothing in this package does I/O or reads a clock: the service feeds events with the time and executes
the actions it gets back. Start with :class:`SessionEngine` and :mod:`retrowalk.session.events`.
"""

from retrowalk.session.engine import EngineSnapshot, SessionEngine
from retrowalk.session.events import EndReason, Phase
from retrowalk.session.plan import (
    OperatorCeilings,
    SessionPlan,
    TreadmillCaps,
    UserProfile,
    default_plan,
    validate_plan,
)

__all__ = [
    "EndReason",
    "EngineSnapshot",
    "OperatorCeilings",
    "Phase",
    "SessionEngine",
    "SessionPlan",
    "TreadmillCaps",
    "UserProfile",
    "default_plan",
    "validate_plan",
]
