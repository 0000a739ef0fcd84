"""One treadmill at work: its link, its session engine, and the glue that lets neither wait on the other.

Everything that touches the engine happens in one task (the pump), in arrival order: link events,
kiosk commands and clock ticks go through one queue, so the engine never sees two things at once and a
sample over the allowed speed is answered with a command before anything else is looked at.

What the engine returns is carried out in one loop (:meth:`TreadmillRunner._carry_out`): commands
at once and in order, each result fed back with its follow-ups taking their turn first; notices (and
the engine's ``DropLink``, for a link gone silent) after them, still in the engine's order.

Safety duties of this module (the engine owns the session rules; these are the service's):
- an orphaned belt and mph reported as km/h, found by the pure ``belt_watch`` and acted on here: the
  orphan is stopped, the wrong units end the session as a treadmill fault;
- a chain of follow-up commands that does not end is cut off, and the belt stopped;
- shutdown: a moving belt is stopped before the link is closed; a session then ends with the reason
  the service was given (``service_stopped``, ``stopped_at_terminal``), and the last state says
  "idle, not connected" so that nobody reads a running session from a service that is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from retrowalk.errors import RefusedError
from retrowalk.link.events import (
    LinkConnected,
    LinkEvent,
    LinkEvents,
    LinkLost,
    LinkReply,
    Sample,
    StatusChange,
    TreadmillInfo,
)
from retrowalk.mqtt import payloads as p
from retrowalk.mqtt.telemetry_wire import TelemetryFrame
from retrowalk.service.belt_watch import BeltWatch, OrphanedBelt, WrongUnits
from retrowalk.service.publish import Publisher, SessionHistory, SessionNotices, plan_info
from retrowalk.service.ticks import TickTimer
from retrowalk.session import events as ev
from retrowalk.session.engine import SessionEngine
from retrowalk.session.plan import OperatorCeilings, TreadmillCaps
from retrowalk.session.safety_constants import MOVING_KMH

__all__ = ["MAX_FOLLOW_UP_TURNS", "Link", "TreadmillRunner", "caps_from"]

log = logging.getLogger(__name__)

# How deep a chain of follow-ups may go (a command's result asking for a command whose result asks for
# another...). The engine's longest chain is two or three; one that goes on is a bug: fail closed.
MAX_FOLLOW_UP_TURNS = 8


class Link(Protocol):
    """What a runner needs of a treadmill link (``FtmsLink``, or a stand-in in benchmarks)."""

    @property
    def connected(self) -> bool: ...

    # What happened on the link, in order; this runner has them put on its own queue.
    @property
    def events(self) -> LinkEvents: ...

    async def run(self) -> None: ...

    async def execute(self, command: ev.Command) -> LinkReply: ...

    def drop(self, reason: str) -> None: ...


@dataclass
class _Request:
    """A kiosk command waiting for the pump; the future carries the engine's yes or no."""

    event: ev.KioskCommand
    done: asyncio.Future[None]


class _TickDue:
    """Queued by a timer when a clock tick is due, so ticks take their turn behind what came first."""


_TICK_DUE = _TickDue()


# What is carried out after a turn's commands: notices to publish, and the link to drop.
_After = ev.Notice | ev.DropLink


@dataclass
class _Turn:
    """The actions of one engine turn still to be carried out, and the command of it being carried out
    (sent, or its follow-ups still being worked through), if any."""

    actions: deque[ev.Action]
    in_flight: ev.Command | None = None

    def keep_only_after(self) -> None:
        """Drop the turn's remaining commands, keep what comes after commands."""
        self.actions = deque(a for a in self.actions if not isinstance(a, ev.COMMAND_TYPES))


def caps_from(info: TreadmillInfo) -> TreadmillCaps:
    """The engine's view of what the treadmill can do."""
    speed, incline = info.speed_range, info.incline_range
    return TreadmillCaps(
        min_speed_kmh=speed.minimum if speed else 0.0,
        max_speed_kmh=speed.maximum if speed and speed.maximum > 0 else 0.01,
        speed_step_kmh=speed.step if speed and speed.step >= 0.01 else 0.01,
        min_incline_pct=incline.minimum if incline else 0.0,
        max_incline_pct=incline.maximum if incline else 0.0,
        incline_step_pct=incline.step if incline and incline.step >= 0.01 else 0.1,
        can_set_speed=info.can_set_speed and speed is not None,
        can_set_incline=info.can_set_incline and incline is not None,
    )


class TreadmillRunner:
    """Runs one treadmill until cancelled. Kiosk commands arrive through :meth:`submit`."""

    def __init__(
        self,
        treadmill_id: str,
        link: Link,
        ceilings: OperatorCeilings,
        publisher: Publisher,
        *,
        tick_hz: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        speedup: float = 1.0,
        history: SessionHistory | None = None,
        shutdown_stop: Callable[[], ev.Stop] | None = None,
    ) -> None:
        self.treadmill_id = treadmill_id
        # How a session ends when this runner is cancelled (the service says why it is stopping).
        self._shutdown_stop = shutdown_stop or (lambda: ev.Stop(ev.EndReason.SERVICE_STOPPED))
        self.link = link
        self._ceilings = ceilings
        self._publisher = publisher
        self._tick_s = 1.0 / tick_hz
        self._clock = clock
        # The clock may run faster than real time (demo --speedup); waits are scaled to match.
        self._speedup = speedup
        self._history = history
        self._queue: asyncio.Queue[LinkEvent | _Request | _TickDue] = asyncio.Queue()
        self.engine: SessionEngine | None = None
        self.info: TreadmillInfo | None = None
        self.caps: TreadmillCaps | None = None
        # Set once the treadmill has been connected and its engine exists.
        self.ready = asyncio.Event()
        self._watch = BeltWatch()
        self._last_sample: Sample | None = None
        self._published_state: tuple[object, ...] | None = None
        self._session_numbers = itertools.count(1)
        self.log = logging.LoggerAdapter(log, {"treadmill": treadmill_id})
        self._notices = SessionNotices(treadmill_id, publisher, history, self.log)

    # -------------------------------------------------------------------------------- outside API

    async def submit(self, command: ev.KioskCommand) -> None:
        """Hand a kiosk command to the engine; raises RefusedError with the engine's reason."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Request(command, done))
        await done

    @property
    def phase(self) -> ev.Phase:
        return self.engine.phase if self.engine else ev.Phase.IDLE

    # -------------------------------------------------------------------------------- the pump

    async def run(self) -> None:
        """Run the link and the pump until cancelled; stop a moving belt before letting go of the link.

        The link task is not in a TaskGroup with the pump on purpose: at shutdown the pump must still
        be able to send a stop through a link that is still open, and only then may the link close.
        """
        self._publisher.treadmill_online(self.treadmill_id, False)
        # The link's events go straight on the pump's queue, in order, beside requests and ticks.
        self.link.events.feed(self._queue)
        link_task = asyncio.create_task(self.link.run(), name=f"link-{self.treadmill_id}")
        failed: ev.Stop | None = None
        try:
            await self._pump(link_task)
        except Exception as err:
            failed = ev.Stop(
                ev.EndReason.SERVICE_STOPPED,
                f"retrowalk's control of this treadmill failed ({type(err).__name__}, see the log) and "
                "is restarted; the belt was stopped first",
            )
            raise
        finally:
            try:
                await self._stop_on_exit(failed or self._shutdown_stop())
            finally:
                link_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await link_task
                self._publish_final_state()
                self._publisher.treadmill_online(self.treadmill_id, False)

    async def _pump(self, link_task: asyncio.Task[None]) -> None:
        def wake() -> None:
            self._queue.put_nowait(_TICK_DUE)

        ticks = TickTimer(self._clock, self._tick_s, self._speedup, self._quiet_until, wake)
        # The pump waits on its queue alone; a link task that ends must still wake it.
        link_task.add_done_callback(lambda _task: wake())
        try:
            while True:
                if link_task.done():
                    # The link never ends by itself; if it did, its exception says why.
                    link_task.result()
                    raise RuntimeError("the link task ended unexpectedly")
                item = await self._queue.get()
                if isinstance(item, _TickDue):
                    now = self._clock()
                    ticks.ticked(now)
                    # Only a session has deadlines (stale data, grace, cap); outside one, ticks would
                    # only cost CPU on every idle treadmill of a fleet.
                    if self.engine is not None and self.engine.phase in ev.SESSION_PHASES:
                        await self._feed(ev.Tick(), now)
                    self._publish_state_if_changed()
                else:
                    await self._on_item(item)
                ticks.arm()
        finally:
            ticks.cancel()

    def _quiet_until(self) -> float:
        """Until when the engine needs no tick (``math.inf`` outside a session, which it says itself)."""
        return self.engine.quiet_until() if self.engine is not None else math.inf

    async def _on_item(self, item: LinkEvent | _Request) -> None:
        match item:
            case _Request():
                await self._on_request(item)
            case Sample():
                await self._on_sample(item)
            case StatusChange():
                await self._on_status(item)
            case LinkConnected():
                await self._on_connected(item)
            case LinkLost():
                await self._on_lost(item)
        if self.engine is not None and self.engine.phase in ev.SESSION_PHASES:
            self._watch.session_owns_belt()
        self._publish_state_if_changed()

    async def _on_request(self, request: _Request) -> None:
        if self.engine is None:
            if isinstance(request.event, ev.Stop):
                request.done.set_result(None)  # nothing can be moving that we started
            else:
                request.done.set_exception(
                    RefusedError(f"treadmill {self.treadmill_id} has not been connected yet")
                )
            return
        event = request.event
        if isinstance(event, ev.Start) and not event.session_id:
            event = ev.Start(event.user_id, event.plan, self._new_session_id())
        try:
            actions = self.engine.handle(event, self._clock())
        except RefusedError as err:
            request.done.set_exception(err)
            return
        request.done.set_result(None)
        await self._carry_out(actions)

    async def _on_connected(self, event: LinkConnected) -> None:
        self.info = event.info
        if self.engine is None:
            self.caps = caps_from(event.info)
            self.engine = SessionEngine(self._ceilings, self.caps, self.treadmill_id)
            self.ready.set()
        self._watch.link_up(event.at, session_owns_belt=self.engine.phase in ev.SESSION_PHASES)
        self._publisher.treadmill_online(self.treadmill_id, True, name=event.info.name)
        await self._feed(ev.LinkUp(), event.at)

    async def _on_lost(self, event: LinkLost) -> None:
        self._watch.link_down()
        if self.engine is None:
            return
        self._publisher.publish_event(
            self.treadmill_id,
            p.LinkLost(treadmill_id=self.treadmill_id, session_id=self._session_id(), detail=event.reason),
        )
        self._publisher.treadmill_online(self.treadmill_id, False)
        if self.engine.link_up:
            await self._feed(ev.LinkDown(), event.at)

    async def _on_sample(self, sample: Sample) -> None:
        self._last_sample = sample
        engine = self.engine
        if engine is None:
            return
        self._notices.count(sample.distance_m)
        await self._feed(ev.Telemetry(sample.speed_kmh, sample.incline_pct, sample.at), sample.at)
        finding = self._watch.sample(
            sample.at, sample.speed_kmh, sample.distance_m, session_id=self._session_id()
        )
        match finding:
            case OrphanedBelt():
                await self._stop_orphan(finding)
            case WrongUnits():
                self.log.error("stopping: %s", finding.reason)
                await self._feed(ev.TreadmillFault(finding.reason), sample.at)
        self._publish_telemetry(sample)

    async def _on_status(self, status: StatusChange) -> None:
        if status.kind is ev.MachineStatusKind.SAFETY_KEY:
            self._publisher.publish_event(
                self.treadmill_id,
                p.SafetyKeyPulled(treadmill_id=self.treadmill_id, session_id=self._session_id()),
            )
        if self.engine is not None:
            await self._feed(ev.MachineStatus(status.kind, status.value), status.at)

    async def _stop_orphan(self, orphan: OrphanedBelt) -> None:
        self.log.warning("belt found moving at %.2f km/h with no session: stopping it", orphan.speed_kmh)
        reply = await self.link.execute(ev.StopBelt())
        if not reply.ok:
            self.log.error("could not stop the orphaned belt: %s %s", reply.result.value, reply.detail)
        self._publisher.publish_event(
            self.treadmill_id,
            p.OrphanedBeltStopped(treadmill_id=self.treadmill_id, speed_kmh=min(orphan.speed_kmh, 30.0)),
        )

    # -------------------------------------------------------------------------------- engine glue

    async def _feed(self, event: ev.Event, now: float) -> None:
        """Hand one event to the engine and carry out what it returns."""
        actions = await self._engine_answer(event, now)
        if actions:
            await self._carry_out(actions)

    async def _engine_answer(self, event: ev.Event, now: float) -> list[ev.Action]:
        """What the engine returns for an event the service (not a kiosk) sends."""
        assert self.engine is not None
        try:
            return self.engine.handle(event, now)
        except RefusedError as err:
            # Only kiosk commands may be refused; anything else is a bug in the engine. Fail closed.
            self.log.error("engine refused %r (%s): stopping the belt", event, err)
            await self.link.execute(ev.StopBelt())
            return []

    async def _carry_out(self, actions: list[ev.Action]) -> None:
        """Carry out one engine turn and every follow-up, in one loop: commands at once and in order,
        notices (and a ``DropLink``) after all of them, still in the engine's order.

        Publishing may cost a database commit (the outbox); a corrective command must not wait for it.
        A command's result goes back to the engine at once; the actions it answers with are a turn of
        their own, carried out before the rest of the turn that sent the command, and their notices
        come before that rest's.

        After a failed command the rest of its turn is dropped (the engine has been told, and what it
        asked after the failure has run), except after a stop: a stop that failed or was cut short
        changes nothing the engine decided (the session has ended either way, and the engine has said
        that the stop was not confirmed), so what comes after it, the session's end above all, still goes
        out, also when the stop is interrupted (the service stopping, a stop that never answers).
        """
        turns = [_Turn(deque(actions))]
        after: list[_After] = []
        try:
            while turns:
                turn = turns[-1]
                turn.in_flight = None  # its command's follow-ups, if any, are done
                if not turn.actions:
                    turns.pop()
                    continue
                action = turn.actions.popleft()
                if not isinstance(action, ev.COMMAND_TYPES):
                    after.append(action)  # type: ignore[arg-type]
                    continue
                command: ev.Command = action  # type: ignore[assignment]
                turn.in_flight = command
                ok, follow_ups = await self._command(command, follow_up_depth=len(turns) - 1)
                if not ok:
                    if isinstance(command, ev.StopBelt):
                        turn.keep_only_after()
                    else:
                        turn.actions.clear()
                if follow_ups:
                    turns.append(_Turn(deque(follow_ups)))
        finally:
            # Cut short (cancelled, a timeout at shutdown): a stop being carried out keeps what came
            # after it in its turn, innermost turn first, as a stop that failed would.
            for turn in reversed(turns):
                if isinstance(turn.in_flight, ev.StopBelt):
                    turn.keep_only_after()
                    after += turn.actions  # type: ignore[arg-type]
            for item in after:
                self._after_commands(item)

    async def _command(self, command: ev.Command, *, follow_up_depth: int) -> tuple[bool, list[ev.Action]]:
        """Send one command; whether it succeeded, and what the engine answers to its result."""
        reply: LinkReply = await self.link.execute(command)
        assert self.engine is not None
        now = self._clock()
        if reply.link_down:
            follow_ups = await self._engine_answer(ev.LinkDown(), now) if self.engine.link_up else []
            return False, follow_ups
        if follow_up_depth >= MAX_FOLLOW_UP_TURNS:
            self.log.error("too many follow-up commands; stopping the belt")
            await self.link.execute(ev.StopBelt())
            return False, []
        follow_ups = await self._engine_answer(ev.CommandResult(command.kind, reply.result), now)
        return reply.ok, follow_ups

    def _after_commands(self, item: _After) -> None:
        if isinstance(item, ev.DropLink):
            self.log.warning("dropping the link to rebuild it: %s", item.reason)
            self.link.drop(item.reason)
        else:
            self._notices.publish(item)

    # -------------------------------------------------------------------------------- publishing

    def _session_id(self) -> str | None:
        engine = self.engine
        if engine is None or engine.phase not in ev.SESSION_PHASES:
            return None
        return engine.session_id or None

    def _new_session_id(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        return f"{self.treadmill_id}-{stamp}-{next(self._session_numbers)}"

    def _publish_telemetry(self, sample: Sample) -> None:
        engine = self.engine
        if engine is None:
            return
        in_session = engine.phase in ev.SESSION_PHASES
        heart_rate = sample.heart_rate_bpm
        # A plain frame, not the pydantic model: this runs for every sample of every treadmill. The
        # bridge's encoder rounds it and refuses what the schema refuses.
        self._publisher.publish_telemetry(
            self.treadmill_id,
            TelemetryFrame(
                treadmill_id=self.treadmill_id,
                at=datetime.now(UTC),
                phase=engine.phase.value,
                session_id=self._session_id(),
                speed_kmh=min(max(sample.speed_kmh, 0.0), 30.0),
                allowed_speed_kmh=min(engine.allowed_speed(sample.at), 30.0),
                incline_pct=sample.incline_pct,
                distance_m=sample.distance_m if sample.distance_m is None else max(sample.distance_m, 0.0),
                elapsed_s=engine.elapsed_backward_s,
                remaining_s=engine.remaining_s if in_session else None,
                heart_rate_bpm=heart_rate if heart_rate and heart_rate < 256 else None,
            ),
        )

    def _publish_state_if_changed(self) -> None:
        engine = self.engine
        connected = self.link.connected
        phase = engine.phase if engine else ev.Phase.IDLE
        key = (connected, phase, self._session_id(), engine.user_id if engine else None)
        if key == self._published_state:
            return
        self._published_state = key
        plan = engine.plan if engine and phase in ev.SESSION_PHASES else None
        self._publisher.publish_state(
            self.treadmill_id,
            p.TreadmillState(
                treadmill_id=self.treadmill_id,
                connected=connected,
                phase=phase.value,
                session_id=self._session_id(),
                user_id=(engine.user_id or None) if engine and plan else None,
                plan=plan_info(plan) if plan else None,
            ),
        )

    # -------------------------------------------------------------------------------- shutdown

    async def _stop_on_exit(self, stop: ev.Stop) -> None:
        """Stop the belt if it may be moving and end the session with ``stop``'s reason; never hang the
        shutdown for long. A session ends also with the link down (the engine then says that no stop
        could be sent), so it is never left open for the next start to guess about."""
        engine = self.engine
        moving = self._last_sample is not None and self._last_sample.speed_kmh > MOVING_KMH
        in_session = engine is not None and engine.phase in ev.SESSION_PHASES
        if not in_session and not (moving and self.link.connected):
            return
        self.log.info("shutting down: stopping the belt first (%s)", stop.detail or stop.reason.value)
        try:
            async with asyncio.timeout(3.0):
                if in_session:
                    await self._feed(stop, self._clock())
                else:
                    await self.link.execute(ev.StopBelt())
        except TimeoutError:
            self.log.error("the treadmill did not confirm the stop within 3 s at shutdown: check the belt")
            self._publisher.publish_event(
                self.treadmill_id,
                p.StopNotConfirmed(
                    treadmill_id=self.treadmill_id,
                    session_id=(engine.session_id or None) if engine is not None and in_session else None,
                    detail="the treadmill did not confirm the stop within 3 s as the service stopped: "
                    "check the belt",
                ),
            )

    def _publish_final_state(self) -> None:
        """The retained state a kiosk finds after this runner is gone: no session, no link."""
        self._published_state = None
        self._publisher.publish_state(
            self.treadmill_id,
            p.TreadmillState(treadmill_id=self.treadmill_id, connected=False, phase=ev.Phase.IDLE.value),
        )
