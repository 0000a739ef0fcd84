"""Whether a person must check a treadmill's belt now: the retained `attention` topic (Home Assistant's
problem sensor "Check the belt").

Worked out from what the bridge publishes anyway, so the engine and the runner need no new messages:
- on when the treadmill did not confirm a stop (`stop_not_confirmed`), or the Bluetooth link dropped
  during a session (`link_lost` with a session): in both cases nobody knows whether the belt still runs;
- off when the treadmill, connected again, reports its belt at 0 km/h, or a new session starts (the belt
  was started on purpose, so somebody is at it).
"""

from __future__ import annotations

from retrowalk.mqtt.payloads import (
    Attention,
    EventPayload,
    LinkLost,
    SessionStarted,
    StopNotConfirmed,
    utc_now,
)
from retrowalk.mqtt.telemetry_wire import TelemetryFields

__all__ = ["after_event", "after_telemetry", "all_clear"]


def all_clear(treadmill_id: str) -> Attention:
    return Attention(treadmill_id=treadmill_id, check_belt=False)


def after_event(current: Attention, event: EventPayload) -> Attention:
    """The attention state once `event` happened (the same object when it does not change it)."""
    match event:
        case StopNotConfirmed():
            return _check(current, event.detail)
        case LinkLost() if event.session_id is not None:
            detail = "the Bluetooth link was lost during a session: check that the belt has stopped"
            if event.detail:
                detail += f" ({event.detail})"
            return _check(current, detail)
        case SessionStarted() if current.check_belt:
            return all_clear(current.treadmill_id)
    return current


def after_telemetry(current: Attention, sample: TelemetryFields) -> Attention:
    """A standing belt, reported by the connected treadmill itself, ends the alert."""
    if current.check_belt and sample.speed_kmh == 0:
        return all_clear(current.treadmill_id)
    return current


def _check(current: Attention, detail: str) -> Attention:
    since = current.since if current.check_belt else utc_now()
    return Attention(treadmill_id=current.treadmill_id, check_belt=True, detail=detail, since=since)
