"""One event's turn: the working state it changes and the only ways to act on it.

A :class:`Turn` lives for one call of ``SessionEngine.handle`` (or one preview of the clock). Every phase
change goes through the transition table (:meth:`Turn.go`), every session end through :meth:`Turn.end`
(which stops the belt first and says why), and every treadmill command through :meth:`Turn.command`,
which emits nothing at all while the link is down (never queue across a loss) and keeps the slow-down
allowance (``docs/safety.md`` rule 4). The rules themselves are elsewhere: the timed ones in
:mod:`~retrowalk.session.deadlines` and :mod:`~retrowalk.session.clock`, the answers to events in
:mod:`~retrowalk.session.handlers`.
"""

from __future__ import annotations

from retrowalk.session.deadlines import EndSession
from retrowalk.session.events import (
    COMMAND_TYPES,
    FINISHED_REASONS,
    Action,
    Command,
    DropLink,
    EndReason,
    PauseBelt,
    Phase,
    PhaseChanged,
    SessionEnded,
    SetTargetSpeed,
    StartBelt,
    StopBelt,
)
from retrowalk.session.plan import from_centi, to_centi
from retrowalk.session.state import EngineContext, SessionState, allowed_now, limit_now
from retrowalk.session.table import Trigger, next_phase

__all__ = ["Turn"]

# Silent data may be a half-dead connection: the runner rebuilds the link rather than wait on it.
_DROP_SILENT_LINK = "telemetry stopped while the belt should move"


class Turn:
    """The engine's limits (``ctx``), a working copy of its state (``s``), the actions emitted so far
    (``out``) and the event's time (``now``)."""

    def __init__(self, ctx: EngineContext, state: SessionState, out: list[Action], now: float) -> None:
        self.ctx = ctx
        self.s = state
        self.out = out
        self.now = now
        # allowed() as last worked out, and the values it was worked out from (see allowed()).
        self._allowed_from: tuple[object, ...] | None = None
        self._allowed = 0

    def allowed(self) -> int:
        """``allowed_now`` for the working state as it stands.

        One event asks for it up to seven times (the clock, the overspeed check, the phase, the speed to
        command) while it rarely changes in between, so it is worked out again only when one of the
        values it is a function of has changed. Compared by value, so a state replaced by a Start, or a
        field set anywhere, is seen without anyone having to say so."""
        s = self.s
        inputs = (s.backward_s, s.phase, s.cool_down_centi, s.ramp, s.plan)
        if inputs != self._allowed_from:
            self._allowed = allowed_now(s)
            self._allowed_from = inputs
        return self._allowed

    def limit(self, at: float) -> int:
        """``limit_now`` at ``at`` for the working state, from :meth:`allowed`."""
        return limit_now(self.s, at, self.allowed())

    def fault(self, reason: EndReason, detail: str) -> None:
        """End the session as aborted: the belt is stopped and ``detail`` says why."""
        self.end(Trigger.FAULT, reason, detail)

    def end_as(self, ending: EndSession) -> None:
        self.end(ending.trigger, ending.reason, ending.detail)

    def end(self, trigger: Trigger, reason: EndReason, detail: str) -> None:
        """Stop the belt, move to the phase the table gives ``trigger`` and publish the session's end."""
        s = self.s
        next_phase(s.phase, trigger)  # raise before anything is emitted
        self.stop()
        self.go(trigger)
        if not s.link_up:
            detail += " (the link is down, so no stop could be sent: check the belt)"
        s.end_reason = reason
        s.end_detail = detail
        s.ended_at = self.now
        s.awaiting = None
        s.overspeed_since = None
        if (reason in FINISHED_REASONS) != (s.phase is Phase.FINISHED):  # pragma: no cover - a table bug
            raise AssertionError(f"{trigger} from the table ended in {s.phase} with reason {reason}")
        self.out.append(
            SessionEnded(
                session_id=s.session_id,
                user_id=s.user_id,
                treadmill_id=self.ctx.treadmill_id,
                phase=s.phase,
                reason=reason,
                detail=detail,
                backward_s=s.backward_s,
                max_speed_kmh=from_centi(s.max_speed_centi),
                max_allowed_kmh=from_centi(s.max_allowed_centi),
                overspeed_corrections=s.corrections,
            )
        )
        if reason is EndReason.STALE_TELEMETRY:
            self.out.append(DropLink(_DROP_SILENT_LINK))

    def go(self, trigger: Trigger) -> None:
        """The one place the phase changes: to what the table gives ``trigger`` (or raise)."""
        s = self.s
        previous = s.phase
        s.phase = next_phase(previous, trigger)
        if s.phase is not previous:
            self.out.append(
                PhaseChanged(
                    s.session_id,
                    previous,
                    s.phase,
                    from_centi(self.allowed()),
                    s.backward_s,
                )
            )

    def set_speed(self, centi: int) -> None:
        """Command ``centi`` hundredths of km/h; remembered as commanded only if it went out."""
        s = self.s
        if self.command(SetTargetSpeed(from_centi(centi))):
            s.last_commanded_centi = centi
            s.max_allowed_centi = max(s.max_allowed_centi, centi)

    def stop(self) -> None:
        """StopBelt, unless the command just before it already was one."""
        last_command = next((a for a in reversed(self.out) if isinstance(a, COMMAND_TYPES)), None)
        if not isinstance(last_command, StopBelt):
            self.command(StopBelt())

    def _note_slowdown(self, command: Command) -> None:
        """Lowering the speed starts the slow-down allowance; starting the belt ends it."""
        s = self.s
        if isinstance(command, StartBelt | SetTargetSpeed):
            s.slow_since = None  # the belt gets a fresh chance to follow
        if isinstance(command, StartBelt):
            s.slowdown_from_centi = 0
            return
        if s.overspeed_since is not None:
            return  # a correction of a belt that is too fast earns no new allowance
        if isinstance(command, SetTargetSpeed):
            new = to_centi(command.kmh)
        elif isinstance(command, PauseBelt | StopBelt):
            new = 0
        else:
            return
        previous = max(s.last_commanded_centi or 0, self.limit(self.now))
        if new < previous:
            s.slowdown_from_centi = previous
            s.slowdown_at = self.now

    def command(self, command: Command) -> bool:
        """Emit a treadmill command, or nothing at all while the link is down (never queue across a loss)."""
        if not self.s.link_up:
            return False
        self._note_slowdown(command)
        if isinstance(command, PauseBelt | StopBelt):
            # The belt was told to stop: a later stop (a link that blips in a pause, a belt that ignores
            # the stop) must not restart the slow-down allowance from the speed before (rule 4).
            self.s.last_commanded_centi = 0
        self.out.append(command)
        return True
