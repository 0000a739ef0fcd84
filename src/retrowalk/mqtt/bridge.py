"""The MQTT bridge: one per service. It publishes what the service tells it and hands commands to the
service's :class:`CommandHandler`; it never talks to a treadmill itself.

The methods the service calls (`treadmill_online`, `publish_*`) are synchronous, never block and never
raise: the service keeps controlling belts whether the broker is there or not.

- retained topics (availability, state, discovery) are kept in memory and re-published on every connect;
  a treadmill's last session is taken from the history when the service starts;
- telemetry is handed to the connection at once and dropped while there is none (`telemetry_out`);
- events and summaries go into the SQLite outbox first and leave it only after the broker's PUBACK
  (aiomqtt's `publish(qos=1)` returns when paho's on_publish fires, which for QoS 1 is on PUBACK);
- command replies are stored in SQLite before they are sent, so a repeated `command_id` gets the same
  reply, also after a restart, and is never applied twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import aiomqtt
from aiomqtt import ProtocolVersion, Will
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import ValidationError

from retrowalk.backoff import Backoff
from retrowalk.errors import RefusalCode, RefusedError, StorageError
from retrowalk.mqtt.aiomqtt_private import AckCheckingClient, PublishRefusedError
from retrowalk.mqtt.commands import (
    Answer,
    ClearanceCommand,
    ClearanceRecorded,
    Command,
    CommandHandler,
    CommandReply,
    InvalidCommandError,
    MemberInfo,
    PainRecorded,
    parse_command,
    readable_command_id,
)
from retrowalk.mqtt.connection import ProtocolChoice, describe_connect_failure, open_client
from retrowalk.mqtt.home_assistant import HomeAssistantView
from retrowalk.mqtt.payloads import EventPayload, Refusal, SessionSummary, TreadmillState
from retrowalk.mqtt.settings import BrokerSettings
from retrowalk.mqtt.telemetry_out import TelemetryOut
from retrowalk.mqtt.telemetry_wire import TelemetryFields, telemetry_json
from retrowalk.mqtt.topics import STAFF_COMMAND_LEAF, Topics, valid_id
from retrowalk.storage import Store

__all__ = ["BridgeStatus", "MqttBridge"]

log = logging.getLogger(__name__)

_REPLY_TOPIC_MAX = 512
_HOME_ASSISTANT_REFRESH_S = 30.0


@dataclass(frozen=True, slots=True)
class BridgeStatus:
    connected: bool
    protocol: str | None
    last_error: str | None
    outbox_pending: int
    retained_pending: int
    telemetry_dropped: int


class MqttBridge:
    def __init__(
        self, settings: BrokerSettings, store: Store, commands: CommandHandler, *, service_id: str
    ) -> None:
        if not valid_id(service_id):
            raise ValueError(f"service id {service_id!r}: use letters, digits, '_' or '-' (1-64)")
        self._settings = settings
        self._store = store
        self._commands = commands
        self.topics = Topics(settings.prefix, settings.discovery_prefix, service_id)
        self._client_id = settings.client_id or f"retrowalk-{service_id}"
        self._protocols = ProtocolChoice(settings.protocol)
        self._client: aiomqtt.Client | None = None
        self._protocol: ProtocolVersion | None = None
        self._last_error: str | None = None
        self._known: set[str] = set()
        # Retained messages by topic: the service's current truth, re-published on every connect.
        self._retained: dict[str, bytes] = {}
        self._dirty: set[str] = set()
        self._retained_wake = asyncio.Event()
        self._retained_in_flight: str | None = None
        # Set whenever something was delivered or a connection came up (what a shutdown waits on).
        self._progress = asyncio.Event()
        self._outbox_wake = asyncio.Event()
        self._telemetry = TelemetryOut()
        self._locks: dict[str, asyncio.Lock] = {}
        self._command_tasks: asyncio.TaskGroup | None = None
        self.connected = asyncio.Event()  # set while a connection is up; tests and the service may wait
        # Home Assistant's device per treadmill: what it needs beyond the payloads (retained topics).
        self.home_assistant = HomeAssistantView(self.topics, self._set_retained, discovery=settings.discovery)

    # -- what the service calls --------------------------------------------------------------------------

    @property
    def status(self) -> BridgeStatus:
        pending = self._outbox_count()
        return BridgeStatus(
            connected=self._client is not None,
            protocol=None
            if self._protocol is None
            else ("5" if self._protocol is ProtocolVersion.V5 else "3.1.1"),
            last_error=self._last_error,
            outbox_pending=-1 if pending is None else pending,
            retained_pending=len(self._dirty),
            telemetry_dropped=self._telemetry.dropped,
        )

    def treadmill_online(self, treadmill_id: str, online: bool, *, name: str | None = None) -> None:
        """Retained availability; the first call for a treadmill also announces it to Home Assistant and
        makes the bridge accept commands for it.

        The treadmill's own Bluetooth `name` does not rename the device: Home Assistant makes entity ids
        from the first name it sees, so a rename would make them depend on which process started first."""
        if not valid_id(treadmill_id):
            log.error("treadmill id %r cannot be a topic level; not published", treadmill_id)
            return
        if treadmill_id not in self._known:
            self._known.add(treadmill_id)
            self.home_assistant.first_seen(treadmill_id)
            self._restore_last_session(treadmill_id)
        self._set_retained(self.topics.treadmill(treadmill_id, "availability"), _availability(online))

    def _restore_last_session(self, treadmill_id: str) -> None:
        """The retained last_session from the history, unless a session already ended in this run: a
        broker without persistence (or one restarted while the service was down) has none, and Home
        Assistant's last-session sensors would stay unknown until the next session ends."""
        if self.topics.treadmill(treadmill_id, "last_session") in self._retained:
            return
        try:
            stored = self._store.last_summary_on(treadmill_id)
        except StorageError as exc:
            log.error("[%s] last session not published: the history cannot be read: %s", treadmill_id, exc)
            return
        if stored is None:
            return
        try:
            summary = SessionSummary.model_validate_json(stored)
        except ValidationError as exc:
            log.error(
                "[%s] last session not published: its stored summary is unreadable: %s", treadmill_id, exc
            )
            return
        if self._check(treadmill_id, summary.treadmill_id):
            self.home_assistant.last_session(treadmill_id, stored.encode())

    def publish_state(self, treadmill_id: str, state: TreadmillState) -> None:
        if not self._check(treadmill_id, state.treadmill_id):
            return
        self._set_retained(self.topics.treadmill(treadmill_id, "state"), state.model_dump_json().encode())

    def publish_telemetry(self, treadmill_id: str, t: TelemetryFields) -> None:
        """QoS 0, retained (the last sample is what Home Assistant shows after it restarts); dropped (and
        counted) while the broker is away or far behind. A sample the schema refuses (a NaN, a negative
        time) is logged and dropped."""
        if not self._check(treadmill_id, t.treadmill_id):  # once: this runs for every sample
            self._telemetry.dropped += 1
            return
        try:
            # Not through the pydantic model: this runs for every sample of every treadmill, and the
            # frame's encoder writes the same bytes for a fraction of the cost.
            payload = telemetry_json(t)
        except ValueError as exc:
            # Refused before anything reads it: a sample the schema refuses changes no alert either.
            log.error("[%s] telemetry sample not published: %s", treadmill_id, exc)
            self._telemetry.dropped += 1
            return
        self.home_assistant.telemetry(treadmill_id, t)
        self._telemetry.send(self.topics.treadmill(treadmill_id, "telemetry"), payload)

    def publish_event(self, treadmill_id: str, e: EventPayload) -> None:
        """Into the outbox (QoS 1, at least once, same `event_id` on every retry)."""
        if self._check(treadmill_id, e.treadmill_id):
            self._enqueue(
                str(e.event_id), Topics.treadmill_suffix(treadmill_id, "event"), e.model_dump_json()
            )
            self.home_assistant.event(treadmill_id, e)

    def publish_summary(self, treadmill_id: str, s: SessionSummary) -> None:
        if self._check(treadmill_id, s.treadmill_id):
            self._enqueue(
                str(s.event_id), Topics.treadmill_suffix(treadmill_id, "summary"), s.model_dump_json()
            )
            self.home_assistant.summary(treadmill_id, s)

    async def deliver_before_exit(self, within_s: float) -> bool:
        """At shutdown, before :meth:`run` is cancelled: say "offline" and wait, at most ``within_s``, until
        the broker has taken every retained message and the whole outbox. True when it did.

        What it did not take is logged; the outbox keeps its rows for the next start (retained messages
        are the service's current truth and are re-published on every connect anyway).
        """
        self._set_retained(self.topics.service_availability, _availability(False))
        try:
            async with asyncio.timeout(within_s):
                while self._undelivered():
                    self._progress.clear()
                    await self._progress.wait()
        except TimeoutError:
            pending = self._outbox_count()
            log.warning(
                "mqtt: exiting with %s event(s) and summaries kept in the outbox for the next start and "
                "%d retained message(s) unsent: the broker (%s:%s) did not take them within %g s%s",
                "an unknown number of" if pending is None else pending,
                len(self._dirty) + (self._retained_in_flight is not None),
                self._settings.host,
                self._settings.port,
                within_s,
                "" if self._last_error is None else f" (last error: {self._last_error})",
            )
            return False
        log.info("mqtt: everything delivered before exit")
        return True

    def _undelivered(self) -> bool:
        pending = self._outbox_count()
        return (
            self._client is None
            or bool(self._dirty)
            or self._retained_in_flight is not None
            or pending is None
            or pending > 0
        )

    def _outbox_count(self) -> int | None:
        try:
            return self._store.outbox_count()
        except StorageError:
            return None

    # -- the connection loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, serve, reconnect with exponential backoff; returns only by cancellation."""
        async with asyncio.TaskGroup() as command_tasks:
            # Command handling lives outside any one connection: a command the engine is working on
            # must finish (and its reply be stored) even if the broker goes away meanwhile.
            self._command_tasks = command_tasks
            try:
                await self._connection_loop()
            finally:
                self._command_tasks = None

    async def _connection_loop(self) -> None:
        backoff = Backoff(self._settings.reconnect_min_s, self._settings.reconnect_max_s)
        will = Will(self.topics.service_availability, _availability(False), qos=1, retain=True)
        while True:
            try:
                async with open_client(
                    self._settings, client_id=self._client_id, will=will, protocols=self._protocols
                ) as client:
                    backoff.reset()
                    await self._serve(client)
            except* aiomqtt.MqttError as group:
                self._note_error(describe_connect_failure(self._settings, group.exceptions[0]))
            except* StorageError as group:
                # The outbox is unreadable: keep the broker side alive for telemetry and commands.
                self._note_error(f"outbox: {group.exceptions[0]}")
            except* Exception as group:  # a bridge bug must not take down belt control: log, retry
                log.error("mqtt: bridge failure, reconnecting", exc_info=group)
                self._note_error(f"internal error: {group.exceptions[0]!r}")
            finally:
                self._client = None
                self._telemetry.detach()
                self.connected.clear()
            await asyncio.sleep(backoff.next_delay())

    def _note_error(self, message: str) -> None:
        if message != self._last_error:
            log.error("mqtt: %s", message)
        self._last_error = message

    async def _serve(self, client: AckCheckingClient) -> None:
        self._protocol = client.answered_protocol
        options = SubscribeOptions(qos=1, retainAsPublished=True)
        for subscription in self.topics.command_subscriptions:
            if self._protocol is ProtocolVersion.V5:
                # retainAsPublished: a command published with retain=1 keeps its flag even when it reaches
                # us live, so we can refuse it (3.1.1 cannot tell; see docs/mqtt.md).
                await client.subscribe(subscription, options=options)
            else:
                await client.subscribe(subscription, qos=1)
        self._dirty = set(self._retained)
        self._set_retained(self.topics.service_availability, _availability(True))
        self._client = client
        self._telemetry.attach(client)
        self._last_error = None
        self.connected.set()
        self._progress.set()
        log.info("mqtt: connected to %s:%s", self._settings.host, self._settings.port)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._receive(client), name="mqtt-receive")
                tg.create_task(self._send_retained(client), name="mqtt-retained")
                tg.create_task(self._send_outbox(client), name="mqtt-outbox")
                tg.create_task(self._refresh_home_assistant(), name="mqtt-home-assistant-refresh")
        except asyncio.CancelledError:
            # Orderly shutdown: say "offline" ourselves (the will covers only unclean ends), unless
            # deliver_before_exit already had it delivered.
            self._client = None
            self._telemetry.detach()
            offline = self.topics.service_availability
            if self._retained.get(offline) == _availability(False) and offline not in self._dirty:
                raise
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await asyncio.wait_for(
                    client.publish(
                        self.topics.service_availability, _availability(False), qos=1, retain=True
                    ),
                    timeout=2,
                )
            raise

    async def _send_retained(self, client: aiomqtt.Client) -> None:
        while True:
            await self._retained_wake.wait()
            self._retained_wake.clear()
            while self._dirty:
                topic = self._dirty.pop()
                self._retained_in_flight = topic
                try:
                    await client.publish(
                        topic,
                        self._retained[topic],
                        qos=1,
                        retain=True,
                        timeout=self._settings.connect_timeout_s,
                    )
                except BaseException:
                    self._dirty.add(topic)  # still owed on the next connection
                    raise
                finally:
                    self._retained_in_flight = None
                self._progress.set()

    async def _send_outbox(self, client: AckCheckingClient) -> None:
        refused: set[int] = set()  # rows the broker refused on this connection; retried on the next
        while True:
            self._outbox_wake.clear()
            rows = [r for r in self._store.outbox_pending(limit=100 + len(refused)) if r.seq not in refused]
            if not rows:
                await self._outbox_wake.wait()
                continue
            for row in rows:
                self._store.outbox_attempted(row.seq)
                try:
                    await client.publish_confirmed(
                        self.topics.prefix + row.topic_suffix,
                        row.payload,
                        ack_within_s=self._settings.connect_timeout_s,
                    )
                except PublishRefusedError as exc:
                    # Kept in the outbox (never forgotten) and reported; usually the service's ACL.
                    refused.add(row.seq)
                    self._note_error(f"event {row.event_id} not delivered: {exc}")
                    continue
                # Only now, after the broker accepted it, may the row go.
                self._store.outbox_delete(row.seq)
                self._progress.set()

    async def _refresh_home_assistant(self) -> None:
        # Screenings and clearances recorded at the terminal (`retrowalk user`, another process) change who
        # Home Assistant may start too; unchanged announcements are not sent again.
        while True:
            await asyncio.sleep(_HOME_ASSISTANT_REFRESH_S)
            self.home_assistant.refresh()

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self._on_message(client, message)

    # -- commands ----------------------------------------------------------------------------------------

    def _on_message(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        treadmill_id = self.topics.command_treadmill(topic)
        raw = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
        if treadmill_id is None:
            log.warning("mqtt: ignoring message on unexpected topic %r", topic)
            return
        response_topic, correlation = _response_target(message.properties, self.topics)
        if message.retain:
            if not raw:
                return  # the empty retained message that clears a retained command (ours or anyone's)
            log.warning("mqtt: refusing a retained command on %s and clearing it", topic)
            reply = CommandReply(
                command_id=readable_command_id(raw) if len(raw) <= self._settings.max_command_bytes else None,
                treadmill_id=treadmill_id,
                status="invalid",
                reason="retained commands are ignored: publish commands with retain=false",
            )
            self._spawn(self._clear_retained(client, topic), f"mqtt-clear-retained-{treadmill_id}")
            self._spawn(self._send_reply(reply, response_topic, correlation), f"mqtt-reply-{treadmill_id}")
            return
        staff = self.topics.is_staff_command(topic)
        self._spawn(
            self._handle(treadmill_id, raw, response_topic, correlation, staff=staff),
            f"mqtt-command-{treadmill_id}",
        )

    def _spawn(self, coro: Any, name: str) -> None:
        if self._command_tasks is None:
            coro.close()
            return
        self._command_tasks.create_task(coro, name=name)

    async def _clear_retained(self, client: aiomqtt.Client, topic: str) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            await client.publish(topic, b"", qos=1, retain=True, timeout=self._settings.connect_timeout_s)

    async def _handle(
        self,
        treadmill_id: str,
        raw: bytes,
        response_topic: str | None,
        correlation: bytes | None,
        *,
        staff: bool,
    ) -> None:
        # One command at a time per treadmill, in arrival order: a stop must not overtake the start
        # before it, and a repeat waiting here finds the first one's stored reply.
        lock = self._locks.setdefault(treadmill_id, asyncio.Lock())
        async with lock:
            reply = await self._decide(treadmill_id, raw, staff=staff)
        await self._send_reply(reply, response_topic, correlation)

    async def _decide(self, treadmill_id: str, raw: bytes, *, staff: bool) -> CommandReply:
        try:
            command = parse_command(treadmill_id, raw, max_bytes=self._settings.max_command_bytes)
        except InvalidCommandError as exc:
            return exc.reply
        command_id = command.command_id
        if isinstance(command, ClearanceCommand) and not staff:
            # Invalid, not refused: not stored, so the same command_id may be sent again on the staff topic.
            staff_topic = self.topics.treadmill(treadmill_id, STAFF_COMMAND_LEAF)
            log.warning(
                "mqtt: clearance %s for %s arrived on the ordinary command topic", command_id, treadmill_id
            )
            return CommandReply(
                command_id=command_id,
                treadmill_id=treadmill_id,
                status="invalid",
                reason=f"clearances are accepted only on {staff_topic}, which the broker gives to staff: "
                "nothing was recorded",
            )
        try:
            stored = self._store.command_reply(treadmill_id, command_id)
        except StorageError:
            log.exception("mqtt: cannot read stored replies, refusing %s", command_id)
            return _reply(command_id, treadmill_id, "error", "the service cannot check for repeats right now")
        if stored is not None:
            return CommandReply.model_validate_json(stored).model_copy(update={"replayed": True})
        if treadmill_id not in self._known:
            # Not stored, and not kept for Home Assistant: a treadmill id anyone may send must not grow
            # the history or the broker's retained topics.
            return _refused(treadmill_id, command, f"unknown treadmill {treadmill_id!r}", "unknown_treadmill")
        try:
            answer = await self._commands.handle_command(treadmill_id, command)
        except RefusedError as exc:
            reply = _refused(treadmill_id, command, str(exc) or type(exc).__name__, exc.code)
            self.home_assistant.refused(
                Refusal(
                    treadmill_id=treadmill_id,
                    command_id=command_id,
                    command_type=command.type,
                    code=exc.code,
                )
            )
        except Exception:
            log.exception("mqtt: command %s for %s failed in the handler", command_id, treadmill_id)
            reply = _reply(command_id, treadmill_id, "error", "the service failed to handle the command")
        else:
            reply = _reply(command_id, treadmill_id, "accepted", None).model_copy(update=_answered(answer))
            # A screening, clearance, pain report or walker choice may change what Home Assistant offers.
            self.home_assistant.refresh()
        try:
            self._store.save_command_reply(treadmill_id, command_id, reply.model_dump_json())
        except StorageError:
            log.exception("mqtt: reply to %s not stored; a repeat would be applied again", command_id)
        return reply

    async def _send_reply(
        self, reply: CommandReply, response_topic: str | None, correlation: bytes | None
    ) -> None:
        client = self._client
        if client is None:
            return  # offline: the kiosk retries with the same command_id and gets the stored reply
        payload = reply.model_dump_json().encode()
        try:
            await client.publish(
                self.topics.treadmill(reply.treadmill_id, "reply"),
                payload,
                qos=1,
                timeout=self._settings.connect_timeout_s,
            )
            if response_topic is not None and self._protocol is ProtocolVersion.V5:
                props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                if correlation is not None:
                    props.CorrelationData = correlation
                await client.publish(
                    response_topic, payload, qos=1, properties=props, timeout=self._settings.connect_timeout_s
                )
        except (aiomqtt.MqttError, ValueError) as exc:
            log.warning("mqtt: reply to %s not sent: %s", reply.command_id, exc)

    # -- helpers -----------------------------------------------------------------------------------------

    def _check(self, treadmill_id: str, payload_treadmill_id: str) -> bool:
        if treadmill_id != payload_treadmill_id or not valid_id(treadmill_id):
            log.error(
                "mqtt: payload for %r published as treadmill %r; dropped", payload_treadmill_id, treadmill_id
            )
            return False
        return True

    def _set_retained(self, topic: str, payload: bytes) -> None:
        if self._retained.get(topic) == payload and topic not in self._dirty:
            return
        self._retained[topic] = payload
        self._dirty.add(topic)
        self._retained_wake.set()

    def _enqueue(self, event_id: str, topic_suffix: str, payload: str) -> None:
        try:
            added = self._store.outbox_add(event_id, topic_suffix, payload.encode())
        except StorageError:
            log.exception("mqtt: event %s LOST, the outbox is not writable", event_id)
            return
        if not added:
            log.warning("mqtt: event %s is already in the outbox; not queued twice", event_id)
        self._outbox_wake.set()


def _availability(online: bool) -> bytes:
    return b"online" if online else b"offline"


def _reply(
    command_id: str, treadmill_id: str, status: Any, reason: str | None, *, code: RefusalCode | None = None
) -> CommandReply:
    return CommandReply(
        command_id=command_id, treadmill_id=treadmill_id, status=status, reason=reason, code=code
    )


def _refused(treadmill_id: str, command: Command, reason: str, code: RefusalCode) -> CommandReply:
    """The reply to a refused command, and the one log line every refusal gets, whoever refused it and
    whether or not Home Assistant is in use: the treadmill, the command's type and id and the reason, never
    its payload. A repeat answered from the stored reply is not a new refusal and is not logged again."""
    log.info(
        "%s command %s refused: %s",
        command.type,
        command.command_id,
        reason,
        extra={"treadmill": treadmill_id},
    )
    return _reply(command.command_id, treadmill_id, "refused", reason, code=code)


def _answered(answer: Answer | None) -> dict[str, Any]:
    """The reply's fields that carry a handler's answer."""
    match answer:
        case MemberInfo():
            return {"member": answer}
        case PainRecorded():
            return {"session_id": answer.session_id}
        case ClearanceRecorded():
            return {"note": answer.note}
    return {}


def _response_target(properties: Properties | None, topics: Topics) -> tuple[str | None, bytes | None]:
    if properties is None:
        return None, None
    topic = getattr(properties, "ResponseTopic", None)
    correlation = getattr(properties, "CorrelationData", None)
    # A response topic is publish-only: wildcards or an empty/huge one would make paho raise.
    if (
        not isinstance(topic, str)
        or not topic
        or len(topic) > _REPLY_TOPIC_MAX
        or any(c in topic for c in "+#\0")
    ):
        return None, None
    # The service may write anywhere in its own tree; a kiosk must not use it to put a reply on, say,
    # another treadmill's event or state topic. Inside our trees only <prefix>responses/ is allowed.
    ours = topic.startswith((topics.prefix, topics.discovery_prefix + "/"))
    if ours and not topic.startswith(topics.prefix + "responses/"):
        log.warning(
            "mqtt: response topic %r is inside retrowalk's topics; reply sent only on the reply topic", topic
        )
        return None, None
    return topic, correlation if isinstance(correlation, bytes) else None
