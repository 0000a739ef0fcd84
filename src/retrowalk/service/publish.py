"""Turning what the engine and the link say into the payloads kiosks and Home Assistant read.

The runner publishes through :class:`Publisher`; the MQTT bridge is one, :class:`LogPublisher` (for
local sessions at a terminal and for tests) is another.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from retrowalk.mqtt import payloads as p
from retrowalk.session import events as ev
from retrowalk.session.plan import SessionPlan

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """What a runner needs from the outside world. Never blocks, never raises."""

    def treadmill_online(self, treadmill_id: str, online: bool, *, name: str | None = None) -> None: ...

    def publish_state(self, treadmill_id: str, state: p.TreadmillState) -> None: ...

    def publish_telemetry(self, treadmill_id: str, t: p.Telemetry) -> None: ...

    def publish_event(self, treadmill_id: str, e: p.EventPayload) -> None: ...

    def publish_summary(self, treadmill_id: str, s: p.SessionSummary) -> None: ...


class LogPublisher:
    """Publishes to the log and to an optional listener (a terminal view, a test)."""

    def __init__(self, listener: Callable[[str, object], None] | None = None) -> None:
        self._listener = listener

    def _tell(self, treadmill_id: str, item: object) -> None:
        if self._listener is not None:
            self._listener(treadmill_id, item)

    def treadmill_online(self, treadmill_id: str, online: bool, *, name: str | None = None) -> None:
        self._tell(treadmill_id, p.Availability("online" if online else "offline"))

    def publish_state(self, treadmill_id: str, state: p.TreadmillState) -> None:
        self._tell(treadmill_id, state)

    def publish_telemetry(self, treadmill_id: str, t: p.Telemetry) -> None:
        self._tell(treadmill_id, t)

    def publish_event(self, treadmill_id: str, e: p.EventPayload) -> None:
        log.info("[%s] %s", treadmill_id, e.model_dump_json(exclude={"event_id", "treadmill_id", "at"}))
        self._tell(treadmill_id, e)

    def publish_summary(self, treadmill_id: str, s: p.SessionSummary) -> None:
        log.info("[%s] summary %s", treadmill_id, s.model_dump_json(exclude={"event_id", "treadmill_id"}))
        self._tell(treadmill_id, s)


def plan_info(plan: SessionPlan) -> p.PlanInfo:
    return p.PlanInfo(
        start_speed_kmh=plan.start_speed_kmh,
        max_speed_kmh=plan.target_speed_kmh,
        ramp_step_kmh=plan.ramp_step_kmh,
        ramp_interval_s=plan.ramp_interval_s,
        duration_cap_s=plan.duration_cap_s,
        incline_pct=plan.incline_pct,
    )


def notice_payload(treadmill_id: str, notice: ev.Notice) -> p.EventPayload | None:
    """The event payload for one engine notice (``SessionEnded`` is published by the runner itself)."""
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
                measured_kmh=min(notice.measured_kmh, 30.0),
                allowed_kmh=notice.allowed_kmh,
                commanded_kmh=notice.allowed_kmh,
            )
        case ev.CapWarning():
            return p.CapWarning(
                treadmill_id=treadmill_id,
                session_id=notice.session_id,
                remaining_s=max(0, round(notice.seconds_left)),
            )
        case ev.StopNotConfirmed():
            # No payload kind yet; the runner logs it as an error.
            return None
        case ev.SessionEnded():
            return p.SessionEnded(
                treadmill_id=treadmill_id,
                session_id=notice.session_id,
                reason=notice.reason.value,
                detail=notice.detail,
            )
    return None
