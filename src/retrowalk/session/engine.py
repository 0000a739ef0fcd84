"""The retro-session engine: a pure state machine that enforces a session plan.

Sans-I/O: ``handle(event, now)`` takes one event and the current monotonic time and returns the actions
to execute, in order. It never reads a clock, never sleeps and never talks to anything. Every phase change
goes through the table in :mod:`retrowalk.session.table`; the timed rules are the table in ``deadlines``
(read by ``clock``), the answers to events are in ``handlers``, and all act through a ``turn``; the rules
are listed in ``docs/safety.md``.

Speeds are handled in integer hundredths of km/h ("centi") so comparisons are exact.

A call that raises (an illegal command, a refused plan, bad input) changes nothing: the engine works on a
copy of its state and only keeps it when the whole event was handled.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from retrowalk.errors import RefusedError
from retrowalk.session.clock import advance_clock
from retrowalk.session.deadlines import quiet_until
from retrowalk.session.events import SESSION_PHASES, Action, EndReason, Event, Phase
from retrowalk.session.handlers import handle
from retrowalk.session.plan import OperatorCeilings, SessionPlan, TreadmillCaps, from_centi
from retrowalk.session.state import EngineContext, SessionState, limit_now
from retrowalk.session.turn import Turn

__all__ = ["EngineSnapshot", "SessionEngine"]


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    """Plain data for the retained MQTT state of one treadmill."""

    treadmill_id: str
    phase: Phase
    link_up: bool
    session_id: str
    user_id: str
    allowed_kmh: float
    elapsed_backward_s: float
    remaining_s: float
    last_speed_kmh: float | None
    end_reason: EndReason | None
    end_detail: str
    plan: SessionPlan | None


class SessionEngine:
    """One treadmill's session rules. Feed it every event; execute what it returns, in order."""

    def __init__(self, ceilings: OperatorCeilings, caps: TreadmillCaps, treadmill_id: str) -> None:
        if not treadmill_id:
            raise RefusedError("treadmill_id must not be empty")
        self._ctx = EngineContext(ceilings, caps, treadmill_id)
        self._state = SessionState()
        # quiet_until for the state as it stands (None: not worked out since the last event). The runner's
        # tick timer asks after every event and again when it fires; only an event changes the answer.
        self._quiet_until: float | None = None
        # allowed_now for the state as it stands, as the last event's turn worked it out (the runner
        # asks for it after every sample, and quiet_until needs it too).
        self._allowed_centi = 0

    # --- read-only views -----------------------------------------------------------------------------
    @property
    def treadmill_id(self) -> str:
        return self._ctx.treadmill_id

    @property
    def phase(self) -> Phase:
        return self._state.phase

    @property
    def plan(self) -> SessionPlan | None:
        return self._state.plan

    @property
    def user_id(self) -> str:
        return self._state.user_id

    @property
    def session_id(self) -> str:
        return self._state.session_id

    @property
    def end_reason(self) -> EndReason | None:
        return self._state.end_reason

    @property
    def link_up(self) -> bool:
        return self._state.link_up

    @property
    def elapsed_backward_s(self) -> float:
        """Backward-walking time counted so far (as of the last event)."""
        return self._state.backward_s

    @property
    def remaining_s(self) -> float:
        """Backward-walking time left until the belt stops by plan (cool-down included)."""
        s = self._state
        if s.plan is None or s.phase not in SESSION_PHASES:
            return 0.0
        return max(0.0, s.plan.duration_cap_s + s.plan.cool_down_s - s.backward_s)

    def allowed_speed(self, now: float) -> float:
        """The highest belt speed the plan allows at ``now`` (0 when the belt must not move)."""
        _require_time(now)
        if now <= self._state.last_now:
            # As of the last event (the runner asks right after feeding a sample): every event ends with
            # the clock advanced and the phase settled, so the state answers as it is, without a preview.
            return from_centi(self._allowed_centi)
        preview = Turn(self._ctx, copy.copy(self._state), [], now)
        advance_clock(preview)
        return from_centi(preview.allowed())

    def limit_speed(self, now: float) -> float:
        """The fastest the belt may be measured at ``now`` before the overspeed rule acts (tolerance not
        included): the allowed speed, or, right after retrowalk lowered it, the earlier speed falling at
        the slow-down allowance (see ``docs/safety.md``)."""
        _require_time(now)
        preview = copy.copy(self._state)
        at = max(now, preview.last_now)
        advance_clock(Turn(self._ctx, preview, [], at))
        return from_centi(limit_now(preview, at))

    def quiet_until(self) -> float:
        """The earliest time at which a :class:`Tick` could do anything (emit an action, change the
        phase); ticks before it may be skipped. ``math.inf`` outside a session; at or before the last
        event's time when the engine needs its regular ticks. See ``deadlines.quiet_until``."""
        if self._quiet_until is None:
            self._quiet_until = quiet_until(self._state, self._allowed_centi)
        return self._quiet_until

    def snapshot(self) -> EngineSnapshot:
        s = self._state
        return EngineSnapshot(
            treadmill_id=self._ctx.treadmill_id,
            phase=s.phase,
            link_up=s.link_up,
            session_id=s.session_id,
            user_id=s.user_id,
            allowed_kmh=from_centi(self._allowed_centi),
            elapsed_backward_s=s.backward_s,
            remaining_s=self.remaining_s,
            last_speed_kmh=None if s.last_speed_centi is None else from_centi(s.last_speed_centi),
            end_reason=s.end_reason,
            end_detail=s.end_detail,
            plan=s.plan,
        )

    # --- the one entry point -------------------------------------------------------------------------
    def handle(self, event: Event, now: float) -> list[Action]:
        """Apply one event at monotonic time ``now``; return the actions to execute in order.

        Raises RefusedError (IllegalTransitionError, PlanError) for a command that is not allowed; the
        engine's state is then exactly as before the call.
        """
        _require_time(now)
        working = copy.copy(self._state)
        # A monotonic clock never goes back; if a caller's does, time simply stands still.
        out: list[Action] = []
        turn = Turn(self._ctx, working, out, max(float(now), working.last_now))
        handle(turn, event)
        self._state = turn.s  # a Start replaces the state object
        self._allowed_centi = turn.allowed()
        self._quiet_until = None
        return out


def _require_time(now: object) -> None:
    # A float between the infinities (NaN fails both comparisons) is what every runner passes, for every
    # sample: answered before the general check, whose isinstance calls cost more than the rest of it.
    if type(now) is float and -math.inf < now < math.inf:
        return
    if not isinstance(now, int | float) or isinstance(now, bool) or not math.isfinite(now):
        raise RefusedError(f"now must be a finite number of seconds, got {now!r}")
