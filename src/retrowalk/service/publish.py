"""Turning what the engine and the link say into the payloads kiosks and Home Assistant read.

The runner publishes through :class:`Publisher`; the MQTT bridge is one, :class:`LogPublisher` (for
local sessions at a terminal and for tests) is another. :class:`SessionNotices` publishes one
treadmill's engine notices and keeps what a session's summary needs that the engine does not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from pydantic import ValidationError

from retrowalk.mqtt import payloads as p
from retrowalk.mqtt.telemetry_wire import TelemetryFields, as_telemetry
from retrowalk.session import events as ev
from retrowalk.session.grid import FittedPlan
from retrowalk.session.plan import SessionPlan, reachable_top_kmh

__all__ = [
    "CallbackPublisher",
    "LogPublisher",
    "Publisher",
    "SessionHistory",
    "SessionNotices",
    "SessionTally",
    "TeePublisher",
    "notice_payload",
    "plan_info",
]

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """What a runner needs from the outside world. Never blocks, never raises."""

    def treadmill_online(self, treadmill_id: str, online: bool, *, name: str | None = None) -> None: ...

    def publish_state(self, treadmill_id: str, state: p.TreadmillState) -> None: ...

    def publish_telemetry(self, treadmill_id: str, t: TelemetryFields) -> None: ...

    def publish_event(self, treadmill_id: str, e: p.EventPayload) -> None: ...

    def publish_summary(self, treadmill_id: str, s: p.SessionSummary) -> None: ...


class SessionHistory(Protocol):
    """Where sessions are kept (the command router, on SQLite)."""

    def session_started(self, started: ev.SessionStarted) -> None: ...

    def session_ended(self, ended: ev.SessionEnded, summary: p.SessionSummary) -> None: ...

    def pain_during(self, user_id: str, session_id: str) -> int | None: ...


class LogPublisher:
    """Without a broker: events and summaries go to the log, the rest nowhere."""

    def treadmill_online(self, treadmill_id: str, online: bool, *, name: str | None = None) -> None:
        log.info("[%s] %s", treadmill_id, "online" if online else "offline")

    def publish_state(self, treadmill_id: str, state: p.TreadmillState) -> None:
        pass

    def publish_telemetry(self, treadmill_id: str, t: TelemetryFields) -> None:
        pass

    def publish_event(self, treadmill_id: str, e: p.EventPayload) -> None:
        log.info("[%s] %s", treadmill_id, e.model_dump_json(exclude={"event_id", "treadmill_id", "at"}))

    def publish_summary(self, treadmill_id: str, s: p.SessionSummary) -> None:
        log.info("[%s] summary %s", treadmill_id, s.model_dump_json(exclude={"event_id", "treadmill_id"}))


class CallbackPublisher:
    """Hands every item to one callable (a terminal view, a test recorder)."""

    def __init__(self, callback: Callable[[str, object], None]) -> None:
        self._callback = callback

    def treadmill_online(self, treadmill_id: str, online: bool, *, name: str | None = None) -> None:
        self._callback(treadmill_id, p.Availability("online" if online else "offline"))

    def publish_state(self, treadmill_id: str, state: p.TreadmillState) -> None:
        self._callback(treadmill_id, state)

    def publish_telemetry(self, treadmill_id: str, t: TelemetryFields) -> None:
        # The validated model: a terminal view or a test reads the schema's type, and is not per-sample hot.
        # A sample the schema refuses is dropped as the bridge drops it: a publisher never raises.
        try:
            sample = as_telemetry(t)
        except ValidationError as exc:
            log.error("[%s] telemetry sample not shown: %s", treadmill_id, exc)
            return
        self._callback(treadmill_id, sample)

    def publish_event(self, treadmill_id: str, e: p.EventPayload) -> None:
        self._callback(treadmill_id, e)

    def publish_summary(self, treadmill_id: str, s: p.SessionSummary) -> None:
        self._callback(treadmill_id, s)


class TeePublisher:
    """Publishes to several publishers (the MQTT bridge and a terminal view, say)."""

    def __init__(self, *publishers: Publisher) -> None:
        self._publishers = publishers

    def treadmill_online(self, treadmill_id: str, online: bool, *, name: str | None = None) -> None:
        for publisher in self._publishers:
            publisher.treadmill_online(treadmill_id, online, name=name)

    def publish_state(self, treadmill_id: str, state: p.TreadmillState) -> None:
        for publisher in self._publishers:
            publisher.publish_state(treadmill_id, state)

    def publish_telemetry(self, treadmill_id: str, t: TelemetryFields) -> None:
        for publisher in self._publishers:
            publisher.publish_telemetry(treadmill_id, t)

    def publish_event(self, treadmill_id: str, e: p.EventPayload) -> None:
        for publisher in self._publishers:
            publisher.publish_event(treadmill_id, e)

    def publish_summary(self, treadmill_id: str, s: p.SessionSummary) -> None:
        for publisher in self._publishers:
            publisher.publish_summary(treadmill_id, s)


def plan_info(plan: SessionPlan) -> p.PlanInfo:
    fitted = None
    if isinstance(plan, FittedPlan):
        fitted = p.GridFitInfo(
            speed_step_kmh=plan.fit.speed_step_kmh,
            asked_start_speed_kmh=plan.fit.asked.start_speed_kmh,
            asked_max_speed_kmh=plan.fit.asked.target_speed_kmh,
            changes=list(plan.fit.changes),
        )
    return p.PlanInfo(
        start_speed_kmh=plan.start_speed_kmh,
        # What the ramp reaches before the cap: a short session ends below its target (safety.md).
        max_speed_kmh=reachable_top_kmh(plan),
        ramp_step_kmh=plan.ramp_step_kmh,
        ramp_interval_s=plan.ramp_interval_s,
        duration_cap_s=plan.duration_cap_s,
        incline_pct=plan.incline_pct,
        fitted_to_grid=fitted,
    )


def _at_most_30(kmh: float | None) -> float | None:
    """A speed within the payloads' 0-30 km/h range (a console or a confused treadmill may report more:
    the event must still go out, saying "30")."""
    return None if kmh is None else min(kmh, 30.0)


def notice_payload(treadmill_id: str, notice: ev.Notice) -> p.EventPayload | None:
    """The event payload for one engine notice (``SessionNotices`` adds the summary to a ``SessionEnded``)."""
    match notice:
        case ev.SessionStarted():
            return p.SessionStarted(
                treadmill_id=treadmill_id,
                session_id=notice.session_id,
                user_id=notice.user_id,
                plan=plan_info(notice.plan),
            )
        case ev.PhaseChanged():
            return p.PhaseChanged(
                treadmill_id=treadmill_id,
                session_id=notice.session_id,
                from_phase=notice.previous.value,
                to_phase=notice.phase.value,
            )
        case ev.OverspeedCorrected():
            return p.OverspeedCorrected(
                treadmill_id=treadmill_id,
                session_id=notice.session_id,
                measured_kmh=_at_most_30(notice.measured_kmh),
                allowed_kmh=notice.allowed_kmh,
                commanded_kmh=notice.allowed_kmh,
                console_target_kmh=_at_most_30(notice.console_target_kmh),
            )
        case ev.CapWarning():
            return p.CapWarning(
                treadmill_id=treadmill_id,
                session_id=notice.session_id,
                remaining_s=max(0, round(notice.seconds_left)),
            )
        case ev.StopNotConfirmed():
            return p.StopNotConfirmed(
                treadmill_id=treadmill_id,
                session_id=notice.session_id or None,
                detail=(
                    f"the treadmill did not confirm a stop ({notice.result.value}): check the belt now and "
                    "use the console's stop button or the safety key"
                ),
            )
        case ev.SessionEnded():
            return p.SessionEnded(
                treadmill_id=treadmill_id,
                session_id=notice.session_id,
                reason=notice.reason.value,
                detail=notice.detail,
            )
    return None


@dataclass
class SessionTally:
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


class SessionNotices:
    """Publishes one treadmill's engine notices, in the order given, and closes each session with its
    summary: the event, the summary and the history entry all come from here."""

    def __init__(
        self,
        treadmill_id: str,
        publisher: Publisher,
        history: SessionHistory | None,
        log: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self._treadmill_id = treadmill_id
        self._publisher = publisher
        self._history = history
        self._log = log
        self._tally: SessionTally | None = None

    def count(self, distance_m: float | None) -> None:
        """A sample's distance counter, for the session's distance walked (nothing outside a session)."""
        if self._tally is not None and distance_m is not None:
            self._tally.count(distance_m)

    def publish(self, notice: ev.Notice) -> None:
        if isinstance(notice, ev.SessionStarted):
            self._tally = SessionTally(
                session_id=notice.session_id, user_id=notice.user_id, started_at=datetime.now(UTC)
            )
            if self._history is not None:
                self._history.session_started(notice)
        if isinstance(notice, ev.StopNotConfirmed):
            self._log.error("the treadmill did not confirm a stop (%s): check the belt", notice.result.value)
        payload = notice_payload(self._treadmill_id, notice)
        if payload is not None:
            self._publisher.publish_event(self._treadmill_id, payload)
        if isinstance(notice, ev.SessionEnded):
            self._log.info("session %s ended: %s (%s)", notice.session_id, notice.reason.value, notice.detail)
            summary = self._summary(notice)
            self._publisher.publish_summary(self._treadmill_id, summary)
            if self._history is not None:
                self._history.session_ended(notice, summary)
            self._tally = None

    def _summary(self, ended: ev.SessionEnded) -> p.SessionSummary:
        tally = self._tally
        started_at = tally.started_at if tally else datetime.now(UTC)
        history = self._history
        pain = history.pain_during(ended.user_id, ended.session_id) if history else None
        return p.SessionSummary(
            treadmill_id=self._treadmill_id,
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
