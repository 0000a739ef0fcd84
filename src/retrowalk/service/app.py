"""`retrowalk serve`: every configured treadmill in its own supervised task, plus the MQTT bridge.

One treadmill's failure is logged, reported as offline and retried with backoff; it never takes the
others down, because each runner catches its own errors (a TaskGroup would otherwise cancel every
sibling). SIGINT and SIGTERM cancel the runners first; each stops its belt, ends its session with the
reason the service was given (``service_stopped``) and publishes its final state. Only then does the
bridge go: it gets a few seconds to deliver those ends, summaries and states and to say "offline";
whatever the broker did not take stays in the outbox for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from retrowalk.backoff import Backoff
from retrowalk.config import LinkSection, Settings
from retrowalk.link.ftms import FtmsLink, LinkSettings, LinkTarget
from retrowalk.mqtt import payloads as p
from retrowalk.mqtt.bridge import MqttBridge
from retrowalk.mqtt.discovery import DeviceFacts
from retrowalk.service.commands import CommandRouter
from retrowalk.service.publish import LogPublisher, Publisher, TeePublisher
from retrowalk.service.runner import TreadmillRunner
from retrowalk.session import events as ev
from retrowalk.session.events import EndReason
from retrowalk.storage import Store, StoredSession

__all__ = [
    "DELIVERY_AT_EXIT_S",
    "Clock",
    "RestartPolicy",
    "Service",
    "link_settings",
    "serve_until_signalled",
]

log = logging.getLogger(__name__)

# At shutdown, how long the broker gets to take the sessions' ends, the final states and "offline".
# systemd's TimeoutStopSec (30 s in the example unit) must cover this plus the belts' stops (3 s).
DELIVERY_AT_EXIT_S = 5.0


def link_settings(section: LinkSection) -> LinkSettings:
    """The [link] table as the links take it: every field of the table, by name, so that a field added
    to one is never silently left at the link's default (the test compares the two field lists)."""
    return LinkSettings(**section.model_dump())


@dataclass(frozen=True)
class RestartPolicy:
    """How the supervisor restarts a treadmill's runner that failed."""

    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    # A runner that failed after running this long (service clock) was healthy: its failure is a new
    # problem, not the same one again, and the restart waits first_delay_s instead of what a run of
    # failures in a row had reached (a runner failing once a day would otherwise wait max_delay_s).
    healthy_after_s: float = 60.0


@dataclass(frozen=True)
class Clock:
    """The service's sense of time: a monotonic clock, optionally running faster (demo --speedup)."""

    now: Callable[[], float] = time.monotonic
    speedup: float = 1.0


class Service:
    """Builds the runners, the command router and the bridge from the settings, and runs them."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        observer: Publisher | None = None,
        store: Store | None = None,
        restart: RestartPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or Clock()
        self.restart = restart or RestartPolicy()
        self.store = store or Store(settings.service.storage)
        self.router = CommandRouter(
            self.store, settings.ceilings, settings.default_plan, walkers=settings.home_assistant.walkers
        )
        self.bridge: MqttBridge | None = None
        if settings.broker is not None:
            self.bridge = MqttBridge(settings.broker, self.store, self.router, service_id=settings.service.id)
            home = self.bridge.home_assistant
            if settings.home_assistant.walkers:
                home.walkers = self.router.walkers
            for spec in settings.treadmills:
                home.describe(
                    spec.id, DeviceFacts(label=spec.label, area=spec.area, kiosk_url=spec.kiosk_url)
                )
        # Everything goes to MQTT (or the log, without a broker) and to an observer such as a live view.
        main: Publisher = self.bridge or LogPublisher()
        self.publisher: Publisher = TeePublisher(main, observer) if observer is not None else main
        self._shutdown_stop = ev.Stop(ev.EndReason.SERVICE_STOPPED)
        self.runners: dict[str, TreadmillRunner] = {}
        for spec in settings.treadmills:
            self.runners[spec.id] = self._new_runner(spec.id)
        self.router.runners = self.runners

    def _new_runner(self, treadmill_id: str) -> TreadmillRunner:
        spec = next(t for t in self.settings.treadmills if t.id == treadmill_id)
        link = FtmsLink(
            treadmill_id,
            LinkTarget(address=spec.address, name=spec.name),
            timing=link_settings(self.settings.link),
            clock=self.clock.now,
        )
        return TreadmillRunner(
            treadmill_id,
            link,
            self.settings.ceilings,
            self.publisher,
            tick_hz=self.settings.service.tick_hz,
            clock=self.clock.now,
            speedup=self.clock.speedup,
            history=self.router,
            shutdown_stop=lambda: self._shutdown_stop,
        )

    def stopping(self, reason: ev.EndReason, detail: str) -> None:
        """Say why the service is about to stop: the sessions the runners end on their way out say so."""
        self._shutdown_stop = ev.Stop(reason, detail)

    async def run(self) -> None:
        """Run until cancelled."""
        log.info(
            "retrowalk service %r: %d treadmill(s), MQTT %s",
            self.settings.service.id,
            len(self.runners),
            "on" if self.bridge else "off (local sessions only)",
        )
        self.close_sessions_left_open()
        try:
            async with asyncio.TaskGroup() as group:
                if self.bridge is not None:
                    group.create_task(self.bridge.run(), name="mqtt-bridge")
                try:
                    # The runners in a group of their own: cancelling the service cancels them first,
                    # while the bridge is still connected to carry what they say on the way out.
                    async with asyncio.TaskGroup() as treadmills:
                        for treadmill_id in self.runners:
                            treadmills.create_task(
                                self._supervise(treadmill_id), name=f"treadmill-{treadmill_id}"
                            )
                finally:
                    if self.bridge is not None:
                        await self.bridge.deliver_before_exit(DELIVERY_AT_EXIT_S)
        finally:
            self.store.close()

    def close_sessions_left_open(self) -> None:
        """End, honestly, the sessions a previous run of this service started and never ended.

        After a crash or power loss the session's own end was never seen: kiosks would wait for a
        summary for ever and the history would lose the session. It ends now with reason
        ``service_restarted``; what happened on the belt after the crash is unknown, and the summary
        says so instead of guessing. (The belt itself is stopped by the orphaned-belt rule.)
        """
        for left in self.store.open_sessions():
            now = datetime.now(UTC)
            detail = (
                "the service stopped during this session (crash or power loss) and was restarted; "
                "how long the person walked after that is unknown"
            )
            log.warning(
                "closing session %s on %s left open by a previous run", left.session_id, left.treadmill_id
            )
            self.publisher.publish_event(
                left.treadmill_id,
                p.SessionEnded(
                    treadmill_id=left.treadmill_id,
                    session_id=left.session_id,
                    reason=EndReason.SERVICE_RESTARTED.value,
                    detail=detail,
                ),
            )
            summary = p.SessionSummary(
                treadmill_id=left.treadmill_id,
                session_id=left.session_id,
                user_id=left.user_id,
                started_at=left.started_at,
                ended_at=now,
                end_reason=EndReason.SERVICE_RESTARTED.value,
                walked_s=0.0,
                distance_m=0.0,
                max_speed_kmh=0.0,
            )
            self.publisher.publish_summary(left.treadmill_id, summary)
            self.store.record_session(
                StoredSession(
                    session_id=left.session_id,
                    user_id=left.user_id,
                    treadmill_id=left.treadmill_id,
                    started_at=left.started_at,
                    ended_at=max(now, left.started_at),
                    end_reason=EndReason.SERVICE_RESTARTED.value,
                    walked_s=0.0,
                    distance_m=0.0,
                    max_speed_kmh=0.0,
                    duration_cap_s=0,
                    plan_json=left.plan_json,
                    summary_json=summary.model_dump_json(),
                )
            )

    async def _supervise(self, treadmill_id: str) -> None:
        backoff = Backoff(self.restart.first_delay_s, self.restart.max_delay_s)
        while True:
            runner = self.runners[treadmill_id]
            started = self.clock.now()
            try:
                await runner.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                ran_s = self.clock.now() - started
                if ran_s >= self.restart.healthy_after_s:
                    backoff.reset()
                delay = backoff.next_delay()
                log.exception(
                    "treadmill %s failed after %.0f s; restarting it in %.1f s", treadmill_id, ran_s, delay
                )
                await asyncio.sleep(delay)
                self.runners[treadmill_id] = self._new_runner(treadmill_id)


async def serve_until_signalled(service: Service) -> None:
    """Run the service; SIGINT/SIGTERM end it cleanly (belts stopped first)."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    stopping = False

    def stop(signame: str) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            log.info("%s received: stopping belts and shutting down", signame)
            service.stopping(
                EndReason.SERVICE_STOPPED, f"the service was stopped ({signame}); the belt was stopped first"
            )
            main.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig.name)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await service.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
