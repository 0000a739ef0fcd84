"""What Home Assistant needs beyond the payloads kiosks read: the retained topics its entities follow.

- `<discovery_prefix>/device/retrowalk_<id>/config`: the device (see :mod:`retrowalk.mqtt.discovery`),
  announced again whenever who may be started changes;
- `<prefix>treadmill/<id>/walker`: the walker chosen for Home Assistant's Start (plain text, `None` when
  nobody is chosen);
- `<prefix>treadmill/<id>/pain_before`: the "before" score kept for that walker's next Start (plain text,
  `None` when there is none: taken by a Start, expired, or never given), the state of *Pain before*;
- `<prefix>treadmill/<id>/attention`: whether a person must check the belt (see
  :mod:`retrowalk.mqtt.attention`);
- `<prefix>treadmill/<id>/last_session`: the latest session's summary, so the last-session sensors have
  values after Home Assistant restarts;
- `<prefix>treadmill/<id>/last_refusal`: the latest refused command, its code and the code's plain
  sentence (naming nobody: see :class:`~retrowalk.mqtt.payloads.Refusal`), since a refused button press
  or pain input shows nothing else in Home Assistant.

Everything goes through the bridge's retained store: re-published on every connection, an unchanged
message is not sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from retrowalk.errors import StorageError
from retrowalk.mqtt import attention
from retrowalk.mqtt.discovery import DeviceFacts, discovery_payload
from retrowalk.mqtt.payloads import Attention, EventPayload, Refusal, SessionSummary
from retrowalk.mqtt.telemetry_wire import TelemetryFields
from retrowalk.mqtt.topics import Topics

__all__ = ["HomeAssistantView", "WalkerDirectory"]

log = logging.getLogger(__name__)


class WalkerDirectory(Protocol):
    """Who Home Assistant may start sessions for (`retrowalk.service.walkers` answers)."""

    def startable_walkers(self) -> Sequence[str]: ...

    def chosen_walker(self, treadmill_id: str) -> str | None: ...

    def kept_before_pain(self, treadmill_id: str, user_id: str) -> int | None: ...


class HomeAssistantView:
    def __init__(
        self, topics: Topics, set_retained: Callable[[str, bytes], None], *, discovery: bool
    ) -> None:
        self._topics = topics
        self._set_retained = set_retained
        self._discovery = discovery
        self._facts: dict[str, DeviceFacts] = {}
        self._attention: dict[str, Attention] = {}
        # Set by the service when Home Assistant may start sessions (walkers are configured).
        self.walkers: WalkerDirectory | None = None

    def describe(self, treadmill_id: str, facts: DeviceFacts) -> None:
        """What the configuration says about a treadmill (label, area, kiosk page), for its device; call it
        before the treadmill is first seen."""
        self._facts[treadmill_id] = facts
        if treadmill_id in self._attention:
            self._announce(treadmill_id)

    def first_seen(self, treadmill_id: str) -> None:
        self._attention[treadmill_id] = attention.all_clear(treadmill_id)
        self._publish_attention(treadmill_id)
        self._announce(treadmill_id)

    def refresh(self) -> None:
        """Announce every treadmill again: who may be started changes with screenings, clearances, pain
        reports and ended sessions."""
        for treadmill_id in sorted(self._attention):
            self._announce(treadmill_id)

    def telemetry(self, treadmill_id: str, sample: TelemetryFields) -> None:
        current = self._attention.get(treadmill_id)
        if current is not None:
            self._update_attention(current, attention.after_telemetry(current, sample))

    def event(self, treadmill_id: str, event: EventPayload) -> None:
        current = self._attention.get(treadmill_id)
        if current is not None:
            self._update_attention(current, attention.after_event(current, event))

    def summary(self, treadmill_id: str, summary: SessionSummary) -> None:
        self.last_session(treadmill_id, summary.model_dump_json().encode())
        self.refresh()  # the pain rule may now send the walker to a clinician first

    def last_session(self, treadmill_id: str, summary_json: bytes) -> None:
        self._set_retained(self._topics.treadmill(treadmill_id, "last_session"), summary_json)

    def refused(self, refusal: Refusal) -> None:
        """A command was refused (the bridge has logged it): keep it on the retained topic Home Assistant's
        *Last refusal* sensor reads."""
        self._set_retained(
            self._topics.treadmill(refusal.treadmill_id, "last_refusal"), refusal.model_dump_json().encode()
        )

    def _announce(self, treadmill_id: str) -> None:
        if not self._discovery:
            return
        directory = self.walkers
        try:
            walkers = tuple(directory.startable_walkers()) if directory is not None else ()
            chosen = directory.chosen_walker(treadmill_id) if directory is not None else None
            kept = directory.kept_before_pain(treadmill_id, chosen) if directory and chosen else None
        except StorageError as exc:
            # The bridge's callers must never see an exception; the last announcement stays up.
            log.error(
                "Home Assistant device not updated: the history cannot be read: %s",
                exc,
                extra={"treadmill": treadmill_id},
            )
            return
        facts = self._facts.get(treadmill_id, DeviceFacts())
        payload = discovery_payload(self._topics, treadmill_id, facts, walkers)
        self._set_retained(
            self._topics.discovery(treadmill_id), payload.model_dump_json(exclude_none=True).encode()
        )
        if directory is not None:
            self._set_retained(self._topics.treadmill(treadmill_id, "walker"), str(chosen).encode())
            # "None" is Home Assistant's default reset payload for a number: it shows unknown.
            self._set_retained(self._topics.treadmill(treadmill_id, "pain_before"), str(kept).encode())

    def _update_attention(self, current: Attention, updated: Attention) -> None:
        if updated is current:
            return
        treadmill_id = updated.treadmill_id
        # In the treadmill's log context, like the runner's lines: `[tm1] ...`, not `[-] [tm1] ...`.
        context = {"treadmill": treadmill_id}
        if updated.check_belt:
            log.warning("a person must check the belt: %s", updated.detail, extra=context)
        else:
            log.info("belt check over: the belt stands, or a new session started", extra=context)
        self._attention[treadmill_id] = updated
        self._publish_attention(treadmill_id)

    def _publish_attention(self, treadmill_id: str) -> None:
        self._set_retained(
            self._topics.treadmill(treadmill_id, "attention"),
            self._attention[treadmill_id].model_dump_json().encode(),
        )
