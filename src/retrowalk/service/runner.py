"""One treadmill at work: its link, its session engine, and the glue that lets neither wait on the other.

Everything that touches the engine happens in one task (the pump), in arrival order: link events,
kiosk commands and clock ticks go through one queue, so the engine never sees two things at once and a
sample over the allowed speed is answered with a command before anything else is looked at.

Safety duties of this module (the engine owns the session rules; these are the service's):
- an orphaned belt: a belt found moving right after connecting, with no session, is stopped (a belt a
  session owns, paused by the lost link or started since, is not an orphan, even while it runs down);
- mph reported as km/h: caught from the distance counter and ended as a fault;
- silent telemetry: when the engine ends a session because data stopped, the link is dropped and
  rebuilt, because a link that delivers nothing is a broken link;
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
from retrowalk.link.units import UnitCheck
from retrowalk.mqtt import payloads as p
from retrowalk.service.publish import Publisher, notice_payload, plan_info
from retrowalk.service.ticks import TickTimer
from retrowalk.session import events as ev
from retrowalk.session.engine import SessionEngine
from retrowalk.session.plan import OperatorCeilings, TreadmillCaps
from retrowalk.session.safety_constants import MOVING_KMH, ORPHAN_WINDOW_S

log = logging.getLogger(__name__)

_MAX_FOLLOW_UPS = 8


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


class SessionHistory(Protocol):
    """Where sessions are kept (the command router, on SQLite)."""

    def session_started(self, started: ev.SessionStarted) -> None: ...

    def session_ended(self, ended: ev.SessionEnded, summary: p.SessionSummary) -> None: ...

    def pain_during(self, user_id: str, session_id: str) -> int | None: ...


@dataclass
class _Request:
    """A kiosk command waiting for the pump; the future carries the engine's yes or no."""

    event: ev.KioskCommand
    done: asyncio.Future[None]


class _TickDue:
    """Queued by a timer when a clock tick is due, so ticks take their turn behind what came first."""


_TICK_DUE = _TickDue()


@dataclass
class _SessionTally:
    """What the summary needs that the engine does not keep (wall-clock start, distance)."""

    session_id: str
    user_id: str
    started_at: datetime
    walked_m: float = 0.0
    last_distance_m: float | None = None

    def count(self, distance_m: float) -> None:
        """Add up the distance counter's increases. Many treadmills zero it at Start (or at a reset
        mid-session): a drop is a new count from zero, never negative travel."""
        last = self.last_distance_m
        if last is not None:
            self.walked_m += distance_m - last if distance_m >= last else distance_m
        self.last_distance_m = distance_m


def _notices_in(actions: list[ev.Action]) -> list[ev.Notice]:
    return [action for action in actions if not isinstance(action, ev.COMMAND_TYPES)]  # type: ignore[misc]


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
        reports_elapsed_time=info.reports_elapsed_time,
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
        self._units = UnitCheck()
        self._orphan_watch_until = -math.inf
        self._tally: _SessionTally | None = None
        self._last_sample: Sample | None = None
        self._published_state: tuple[object, ...] | None = None
        self._notices: list[ev.Notice] = []
        self._session_numbers = itertools.count(1)
        self.log = logging.LoggerAdapter(log, {"treadmill": treadmill_id})

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
            # A session started within the orphan window: the belt is its own, and its run-down after
            # the session's end is watched by the engine, not taken for an orphan.
            self._orphan_watch_until = -math.inf
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
        await self._perform(actions)

    async def _on_connected(self, event: LinkConnected) -> None:
        self.info = event.info
        if self.engine is None:
            self.caps = caps_from(event.info)
            self.engine = SessionEngine(self._ceilings, self.caps, self.treadmill_id)
            self.ready.set()
        self._units.restart()
        # A belt moving at connect is an orphan only if no session owns it: a session paused by the
        # lost link owns its belt, and that belt's run-down after retrowalk's stops is not an orphan.
        owned = self.engine.phase in ev.SESSION_PHASES
        self._orphan_watch_until = -math.inf if owned else event.at + ORPHAN_WINDOW_S
        self._publisher.treadmill_online(self.treadmill_id, True, name=event.info.name)
        await self._feed(ev.LinkUp(), event.at)

    async def _on_lost(self, event: LinkLost) -> None:
        self._units.restart()
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
        if self._tally is not None and sample.distance_m is not None:
            self._tally.count(sample.distance_m)
        await self._feed(ev.Telemetry(sample.speed_kmh, sample.incline_pct, sample.at), sample.at)
        in_session = engine.phase in ev.SESSION_PHASES
        if not in_session and sample.speed_kmh > MOVING_KMH and sample.at <= self._orphan_watch_until:
            await self._stop_orphan(sample)
        if in_session:
            mismatch = self._units.observe(sample.at, sample.speed_kmh, sample.distance_m)
            if mismatch is not None:
                self.log.error("stopping: %s", mismatch.reason)
                await self._feed(ev.TreadmillFault(mismatch.reason), sample.at)
                self._units.restart()
        self._publish_telemetry(sample)

    async def _on_status(self, status: StatusChange) -> None:
        if status.kind is ev.MachineStatusKind.SAFETY_KEY:
            self._publisher.publish_event(
                self.treadmill_id,
                p.SafetyKeyPulled(treadmill_id=self.treadmill_id, session_id=self._session_id()),
            )
        if self.engine is not None:
            await self._feed(ev.MachineStatus(status.kind, status.value), status.at)

    async def _stop_orphan(self, sample: Sample) -> None:
        self._orphan_watch_until = -math.inf  # once per connection
        self.log.warning("belt found moving at %.2f km/h with no session: stopping it", sample.speed_kmh)
        reply = await self.link.execute(ev.StopBelt())
        if not reply.ok:
            self.log.error("could not stop the orphaned belt: %s %s", reply.result.value, reply.detail)
        self._publisher.publish_event(
            self.treadmill_id,
            p.OrphanedBeltStopped(treadmill_id=self.treadmill_id, speed_kmh=min(sample.speed_kmh, 30.0)),
        )

    # -------------------------------------------------------------------------------- engine glue

    async def _feed(self, event: ev.Event, now: float, depth: int = 0) -> None:
        assert self.engine is not None
        try:
            actions = self.engine.handle(event, now)
        except RefusedError as err:
            # Only kiosk commands may be refused; anything else is a bug in the engine. Fail closed.
            self.log.error("engine refused %r (%s): stopping the belt", event, err)
            await self.link.execute(ev.StopBelt())
            return
        await self._perform(actions, depth)

    async def _perform(self, actions: list[ev.Action], depth: int = 0) -> None:
        """Execute commands at once, in order; publish notices after them, still in the engine's order.

        Publishing may cost a database commit (the outbox); a corrective command must not wait for
        it. Notices are held in a buffer filled in the engine's order (follow-ups after the notices
        that came before them) and flushed once the outermost call is done.

        After a failed command the rest of the list is dropped (the engine has been told, and what it
        asked after the failure has run), except after a stop: a stop that failed or was cut short
        changes nothing the engine decided (the session has ended either way, and the engine has said
        that the stop was not confirmed), so the notices after it, the session's end above all, still go
        out.
        """
        try:
            for index, action in enumerate(actions):
                if not isinstance(action, ev.COMMAND_TYPES):
                    self._notices.append(action)  # type: ignore[arg-type]
                    continue
                done = False
                try:
                    done = await self._command(action, depth)  # type: ignore[arg-type]
                finally:
                    if not done and isinstance(action, ev.StopBelt):
                        self._notices += _notices_in(actions[index + 1 :])
                if not done:
                    return
        finally:
            if depth == 0:
                notices, self._notices = self._notices, []
                for notice in notices:
                    self._publish_notice(notice)

    async def _command(self, command: ev.Command, depth: int) -> bool:
        reply: LinkReply = await self.link.execute(command)
        assert self.engine is not None
        now = self._clock()
        if reply.link_down:
            if self.engine.link_up:
                await self._feed(ev.LinkDown(), now, depth + 1)
            return False
        if depth >= _MAX_FOLLOW_UPS:
            self.log.error("too many follow-up commands; stopping the belt")
            await self.link.execute(ev.StopBelt())
            return False
        await self._feed(ev.CommandResult(command.kind, reply.result), now, depth + 1)
        return reply.ok

    def _publish_notice(self, notice: ev.Notice) -> None:
        if isinstance(notice, ev.SessionStarted):
            self._tally = _SessionTally(
                session_id=notice.session_id,
                user_id=notice.user_id,
                started_at=datetime.now(UTC),
            )
            self._units.restart()
            if self._history is not None:
                self._history.session_started(notice)
        if isinstance(notice, ev.StopNotConfirmed):
            self.log.error("the treadmill did not confirm a stop (%s): check the belt", notice.result.value)
        payload = notice_payload(self.treadmill_id, notice)
        if payload is not None:
            self._publisher.publish_event(self.treadmill_id, payload)
        if isinstance(notice, ev.SessionEnded):
            self.log.info("session %s ended: %s (%s)", notice.session_id, notice.reason.value, notice.detail)
            if notice.reason is ev.EndReason.STALE_TELEMETRY:
                self.link.drop("telemetry stopped while the belt should move")
            summary = self._summary(notice)
            self._publisher.publish_summary(self.treadmill_id, summary)
            if self._history is not None:
                self._history.session_ended(notice, summary)
            self._tally = None

    def _summary(self, ended: ev.SessionEnded) -> p.SessionSummary:
        tally = self._tally
        started_at = tally.started_at if tally else datetime.now(UTC)
        pain = self._history.pain_during(ended.user_id, ended.session_id) if self._history else None
        return p.SessionSummary(
            treadmill_id=self.treadmill_id,
            session_id=ended.session_id,
            user_id=ended.user_id,
            started_at=started_at,
            ended_at=datetime.now(UTC),
            end_reason=ended.reason.value,
            walked_s=ended.backward_s,
            distance_m=round(tally.walked_m, 1) if tally else 0.0,
            max_speed_kmh=min(ended.max_speed_kmh, 30.0),
            overspeed_corrections=ended.overspeed_corrections,
            pain_during=pain,
        )

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
        self._publisher.publish_telemetry(
            self.treadmill_id,
            p.Telemetry(
                treadmill_id=self.treadmill_id,
                phase=engine.phase.value,
                session_id=self._session_id(),
                speed_kmh=min(max(sample.speed_kmh, 0.0), 30.0),
                allowed_speed_kmh=min(engine.allowed_speed(sample.at), 30.0),
                incline_pct=sample.incline_pct,
                distance_m=sample.distance_m if sample.distance_m is None else max(sample.distance_m, 0.0),
                elapsed_s=engine.elapsed_backward_s,
                remaining_s=engine.remaining_s if in_session else None,
                heart_rate_bpm=sample.heart_rate_bpm
                if sample.heart_rate_bpm and sample.heart_rate_bpm < 256
                else None,
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
