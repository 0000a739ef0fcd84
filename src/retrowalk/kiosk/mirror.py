"""What the kiosk knows about each treadmill, from the MQTT API alone, and who is listening.

The mirror keeps, per treadmill, the latest retained messages (availability, state), the latest
telemetry and summary and the current session's events, so that a page that (re)connects gets the whole
picture at once (the `snapshot`), then every message as it arrives. While the broker is away the kiosk
cannot know anything: availability becomes `unknown`, and state and telemetry are forgotten until the
broker sends them again, so no page shows a stale "running" as live.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from retrowalk.kiosk.settings import KioskSettings, KioskTreadmill
from retrowalk.mqtt.payloads import Availability, Event, SessionSummary, Telemetry, TreadmillState

__all__ = [
    "EVENTS_KEPT",
    "EVENT_IDS_REMEMBERED",
    "LISTENER_QUEUE",
    "STREAM_END",
    "AvailabilityText",
    "Listener",
    "Mirror",
    "PageMessage",
    "TreadmillView",
]

log = logging.getLogger(__name__)

AvailabilityText = Literal["online", "offline", "unknown"]
# Events kept for a page that connects mid-session: a whole session's worth of phase changes, warnings
# and corrections.
EVENTS_KEPT = 50
# Event ids remembered to drop the outbox's at-least-once repeats (docs/mqtt.md#delivery-nothing-lost).
EVENT_IDS_REMEMBERED = 1000
# A page that falls this far behind is disconnected; its EventSource reconnects and gets a snapshot.
LISTENER_QUEUE = 256

# The MQTT leaves the kiosk forwards to pages (besides availability), with the model that checks each.
_MODEL_OF_LEAF: dict[str, type[BaseModel]] = {
    "state": TreadmillState,
    "telemetry": Telemetry,
    "event": Event,
    "summary": SessionSummary,
}


@dataclass(frozen=True, slots=True)
class PageMessage:
    """One Server-Sent Event for a page: its name and its JSON text."""

    event: str
    data: str


# Put on every listener when the kiosk stops: the stream waiting on it ends now, not at its next
# heartbeat, and finishes its response so that the page reads a proper end and reconnects.
STREAM_END = PageMessage("end", "")


class Listener:
    """One open page: a bounded queue of messages; `overflowed` when it could not keep up."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[PageMessage] = asyncio.Queue(LISTENER_QUEUE)
        self.overflowed = asyncio.Event()

    def put(self, message: PageMessage) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed.set()


@dataclass
class TreadmillView:
    config: KioskTreadmill
    availability: AvailabilityText = "unknown"
    state: dict[str, Any] | None = None
    telemetry: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=EVENTS_KEPT))
    seen_event_ids: deque[str] = field(default_factory=lambda: deque(maxlen=EVENT_IDS_REMEMBERED))
    listeners: set[Listener] = field(default_factory=set)


class Mirror:
    """Every configured treadmill's view; fed by the broker connection, read by the pages."""

    def __init__(self, settings: KioskSettings) -> None:
        self._views = {t.id: TreadmillView(t) for t in settings.treadmills}
        self._services: dict[str, AvailabilityText] = {t.service: "unknown" for t in settings.treadmills}
        self.broker_connected = False
        self._staff_listeners: set[Listener] = set()

    def knows(self, treadmill_id: str) -> bool:
        return treadmill_id in self._views

    @property
    def treadmill_ids(self) -> list[str]:
        return list(self._views)

    # -- listeners ---------------------------------------------------------------------------------------

    def listen(self, treadmill_id: str | None) -> tuple[Listener, dict[str, Any]]:
        """A listener for one treadmill (None: every treadmill, the staff view) and the snapshot to send
        first; nothing can arrive between the two, so the page misses nothing and sees nothing twice."""
        listener = Listener()
        if treadmill_id is None:
            self._staff_listeners.add(listener)
            return listener, {"treadmills": [self.snapshot(t) for t in self._views]}
        self._views[treadmill_id].listeners.add(listener)
        return listener, self.snapshot(treadmill_id)

    def stop_listening(self, listener: Listener) -> None:
        self._staff_listeners.discard(listener)
        for view in self._views.values():
            view.listeners.discard(listener)

    def end_streams(self) -> None:
        """The kiosk is stopping: every stream ends at once (a full queue has already ended its own)."""
        for listener in self._staff_listeners.union(*(view.listeners for view in self._views.values())):
            listener.put(STREAM_END)

    @property
    def listener_count(self) -> int:
        return len(self._staff_listeners) + sum(len(v.listeners) for v in self._views.values())

    def snapshot(self, treadmill_id: str) -> dict[str, Any]:
        view = self._views[treadmill_id]
        return {
            "treadmill_id": treadmill_id,
            "label": view.config.label,
            "service_id": view.config.service,
            "availability": self.availability(treadmill_id),
            "state": view.state,
            "telemetry": view.telemetry,
            "events": list(view.events),
            "summary": view.summary,
        }

    def availability(self, treadmill_id: str) -> dict[str, Any]:
        view = self._views[treadmill_id]
        service = self._services[view.config.service]
        return {
            "service": service,
            "treadmill": view.availability,
            "broker": "connected" if self.broker_connected else "disconnected",
            "usable": self.broker_connected and service == "online" and view.availability == "online",
        }

    def _send(self, treadmill_id: str, event: str, data: Any, text: str | None = None) -> None:
        view = self._views[treadmill_id]
        if view.listeners:
            message = PageMessage(event, text if text is not None else json.dumps(data))
            for listener in view.listeners:
                listener.put(message)
        if self._staff_listeners:
            staff = PageMessage(event, json.dumps({"treadmill_id": treadmill_id, "data": data}))
            for listener in self._staff_listeners:
                listener.put(staff)

    def _send_availability(self, treadmill_ids: list[str]) -> None:
        for treadmill_id in treadmill_ids:
            self._send(treadmill_id, "availability", self.availability(treadmill_id))

    # -- what the broker says ----------------------------------------------------------------------------

    def broker_up(self) -> None:
        self.broker_connected = True
        self._send_availability(self.treadmill_ids)

    def broker_down(self) -> None:
        """The kiosk lost the broker: nothing it knew is known any more (the broker re-sends the retained
        truth when it is back)."""
        self.broker_connected = False
        for service in self._services:
            self._services[service] = "unknown"
        for view in self._views.values():
            view.availability = "unknown"
            view.state = None
            view.telemetry = None
        self._send_availability(self.treadmill_ids)
        for treadmill_id in self.treadmill_ids:
            self._send(treadmill_id, "state", None)

    def service_availability(self, service_id: str, payload: bytes) -> None:
        if service_id not in self._services:
            return  # a service none of our treadmills belongs to
        value = _availability(payload)
        if value is None:
            log.warning("kiosk: ignoring availability %r of service %s", payload[:40], service_id)
            return
        self._services[service_id] = value
        log.info("kiosk: service %s is %s", service_id, value)
        self._send_availability([t for t, v in self._views.items() if v.config.service == service_id])

    def treadmill_message(self, treadmill_id: str, leaf: str, payload: bytes) -> None:
        """One message on `<prefix>treadmill/<id>/<leaf>`; checked against the API's models, then kept
        and forwarded. A payload that does not fit is logged and dropped, never shown."""
        view = self._views.get(treadmill_id)
        if view is None:
            return
        if leaf == "availability":
            value = _availability(payload)
            if value is None:
                log.warning(
                    "kiosk: ignoring availability %r", payload[:40], extra={"treadmill": treadmill_id}
                )
                return
            view.availability = value
            self._send_availability([treadmill_id])
            return
        model = _MODEL_OF_LEAF.get(leaf)
        if model is None:
            return
        if not payload:  # an empty retained message clears the topic
            if leaf == "state":
                view.state = None
                self._send(treadmill_id, "state", None)
            return
        try:
            model.model_validate_json(payload)
            data = json.loads(payload)
        except (ValidationError, ValueError) as err:
            log.warning(
                "kiosk: dropping a %s message that does not fit the API: %s",
                leaf,
                str(err).splitlines()[0],
                extra={"treadmill": treadmill_id},
            )
            return
        if not self._keep(view, leaf, data):
            return
        self._send(treadmill_id, leaf, data, payload.decode("utf-8"))

    @staticmethod
    def _keep(view: TreadmillView, leaf: str, data: dict[str, Any]) -> bool:
        """Store what a reconnecting page needs; False for a repeated event or summary."""
        if leaf in ("event", "summary"):
            event_id = data["event_id"]
            if event_id in view.seen_event_ids:
                return False
            view.seen_event_ids.append(event_id)
        if leaf == "state":
            view.state = data
            if data.get("phase") == "idle":
                view.telemetry = None  # no belt in a session: the last sample is history
        elif leaf == "telemetry":
            view.telemetry = data
        elif leaf == "summary":
            view.summary = data
        elif leaf == "event":
            if data["kind"] == "session_started":
                view.events.clear()
                view.summary = None
            view.events.append(data)
        return True


def _availability(payload: bytes) -> Literal["online", "offline"] | None:
    try:
        return Availability.model_validate(payload.decode("utf-8")).root
    except (UnicodeDecodeError, ValidationError):
        return None
