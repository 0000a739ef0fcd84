"""The kiosk's one broker connection: it feeds the mirror, sends commands and waits for their replies.

The kiosk is a client of the documented MQTT API like any third-party kiosk: it subscribes to the
treadmills' topics and the services' availability, publishes commands (never retained) and matches
replies on the reply topic by `command_id` (which works with MQTT 3.1.1 and 5 alike). It reconnects
quickly (at most every 2 s) because a page must show the true state within 3 s of the broker's return.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import defaultdict
from typing import Any

import aiomqtt

from retrowalk.backoff import Backoff
from retrowalk.kiosk.mirror import Mirror
from retrowalk.kiosk.settings import KioskSettings
from retrowalk.mqtt.commands import CommandReply
from retrowalk.mqtt.connection import ProtocolChoice, describe_connect_failure, open_client
from retrowalk.mqtt.topics import COMMAND_LEAF, STAFF_COMMAND_LEAF, Topics

__all__ = ["RECONNECT_MAX_S", "RECONNECT_MIN_S", "BrokerUnavailableError", "KioskBroker", "NoReplyError"]

log = logging.getLogger(__name__)

# A page must show the true state within 3 s of the broker coming back: retry at least this often.
RECONNECT_MAX_S = 2.0
RECONNECT_MIN_S = 0.25


class BrokerUnavailableError(Exception):
    """The kiosk is not connected to the broker; the command was not sent."""


class NoReplyError(Exception):
    """The command was sent but no reply came in time: its effect is unknown."""


class KioskBroker:
    def __init__(self, settings: KioskSettings, mirror: Mirror) -> None:
        self._settings = settings.broker
        self._mirror = mirror
        self._topics = Topics(settings.broker.prefix, settings.broker.discovery_prefix, "kiosk")
        self._service_ids = sorted({t.service for t in settings.treadmills})
        self._client_id = settings.broker.client_id or f"retrowalk-kiosk-{secrets.token_hex(4)}"
        self._protocols = ProtocolChoice(settings.broker.protocol)
        self._client: aiomqtt.Client | None = None
        # (treadmill, command_id) -> futures waiting for its reply, oldest first: a double tap sends the
        # same id twice, and each request takes the next reply (the second is the stored one, replayed).
        self._waiting: defaultdict[tuple[str, str], list[asyncio.Future[CommandReply]]] = defaultdict(list)
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Connect, mirror, reconnect; returns only by cancellation."""
        backoff = Backoff(max(RECONNECT_MIN_S, self._settings.reconnect_min_s / 2), RECONNECT_MAX_S)
        last_error: str | None = None
        while True:
            try:
                async with open_client(
                    self._settings, client_id=self._client_id, will=None, protocols=self._protocols
                ) as client:
                    backoff.reset()
                    last_error = None
                    await self._serve(client)
            except aiomqtt.MqttError as exc:
                if self._mirror.broker_connected:
                    log.warning("kiosk: lost the broker (%s); pages show 'unknown' until it is back", exc)
                else:
                    message = describe_connect_failure(self._settings, exc)
                    if message != last_error:
                        log.error("kiosk: mqtt: %s", message)
                    last_error = message
            finally:
                self._client = None
                self.connected.clear()
                self._mirror.broker_down()
            await asyncio.sleep(backoff.next_delay())

    async def _serve(self, client: aiomqtt.Client) -> None:
        # Only the configured treadmills and their services: a kiosk's broker user may read no more
        # (docs/mosquitto/acl has its block, user kiosk-web). `+` is one level: it takes availability, state,
        # telemetry, event, summary, reply and our own commands (ignored), not .../command/staff.
        for service_id in self._service_ids:
            await client.subscribe(self._topics_of(service_id).service_availability, qos=1)
        for treadmill_id in self._mirror.treadmill_ids:
            await client.subscribe(self._topics.treadmill(treadmill_id, "+"), qos=1)
        self._client = client
        self.connected.set()
        self._mirror.broker_up()
        log.info("kiosk: connected to broker %s:%s", self._settings.host, self._settings.port)
        async for message in client.messages:
            self._on_message(message)

    def _topics_of(self, service_id: str) -> Topics:
        return Topics(self._settings.prefix, self._settings.discovery_prefix, service_id)

    def _on_message(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
        prefix = self._settings.prefix
        if not topic.startswith(prefix):
            return
        levels = topic[len(prefix) :].split("/")
        if len(levels) != 3:
            return
        kind, some_id, leaf = levels
        if kind == "service" and leaf == "availability":
            self._mirror.service_availability(some_id, payload)
        elif kind == "treadmill" and leaf == "reply":
            self._on_reply(some_id, payload)
        elif kind == "treadmill":
            self._mirror.treadmill_message(some_id, leaf, payload)

    def _on_reply(self, treadmill_id: str, payload: bytes) -> None:
        try:
            reply = CommandReply.model_validate_json(payload)
        except ValueError:
            log.warning(
                "kiosk: dropping a reply that does not fit the API", extra={"treadmill": treadmill_id}
            )
            return
        if reply.command_id is None:
            return
        waiters = self._waiting.get((treadmill_id, reply.command_id))
        while waiters:
            future = waiters.pop(0)
            if not future.done():
                future.set_result(reply)
                break
        if not waiters:
            self._waiting.pop((treadmill_id, reply.command_id), None)

    async def command(
        self, treadmill_id: str, command: dict[str, Any], *, staff: bool, timeout_s: float
    ) -> CommandReply:
        """Publish one (already validated) command and wait for its reply."""
        client = self._client
        if client is None:
            raise BrokerUnavailableError
        command_id = str(command["command_id"])
        key = (treadmill_id, command_id)
        future: asyncio.Future[CommandReply] = asyncio.get_running_loop().create_future()
        # Registered before publishing: the reply may come back before publish() returns.
        self._waiting[key].append(future)
        leaf = STAFF_COMMAND_LEAF if staff else COMMAND_LEAF
        try:
            async with asyncio.timeout(timeout_s):
                await client.publish(
                    self._topics.treadmill(treadmill_id, leaf), json.dumps(command), qos=1, retain=False
                )
                log.info(
                    "kiosk: sent %s command %s",
                    command["type"],
                    command_id,
                    extra={"treadmill": treadmill_id},
                )
                return await future
        except TimeoutError:
            raise NoReplyError from None
        except aiomqtt.MqttError:
            raise BrokerUnavailableError from None
        finally:
            waiters = self._waiting.get(key)
            if waiters is not None and future in waiters:
                waiters.remove(future)
                if not waiters:
                    del self._waiting[key]
