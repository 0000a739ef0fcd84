"""Every use of aiomqtt's and paho's private attributes, in one place, checked when this module is imported.

aiomqtt 2.5 has no public way to do five things the bridge needs:

- close the socket of a failed connect (aiomqtt leaves it open and watched by the event loop);
- learn which MQTT version the broker answered (the setting may be 'auto');
- fail a connect at once when the broker hangs up before its CONNACK (aiomqtt waits out its timeout);
- read the reason code of a PUBACK (an MQTT 5 broker may acknowledge a publish it refused);
- send a QoS 0 message at once, without a future and a writer registration per message (telemetry).

So :class:`AckCheckingClient` reaches into ``aiomqtt.Client`` and the paho client inside it. Such names can
change in any release: pyproject.toml pins aiomqtt exactly, and this module refuses to load, naming what
is missing, when the installed aiomqtt is another version or lacks one of the names below. Better a
service that does not start with a clear message than a bridge that fails at its first reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from aiomqtt import ProtocolVersion
from aiomqtt.exceptions import MqttCodeError
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

__all__ = [
    "AIOMQTT_INIT_ATTRIBUTES",
    "AIOMQTT_METHODS",
    "PAHO_MEMBERS",
    "PINNED_AIOMQTT",
    "AckCheckingClient",
    "AiomqttInternalsError",
    "ClosedBeforeConnackError",
    "PublishRefusedError",
    "check_internals",
    "missing_internals",
    "paho_client",
]

# The version whose internals the names below were read from; pyproject.toml pins the same one.
PINNED_AIOMQTT = "2.5.1"
# Methods of aiomqtt.Client this module overrides or calls.
AIOMQTT_METHODS = ("_on_disconnect", "_on_publish", "_pending_call", "_wait_for")
# Attributes aiomqtt.Client.__init__ sets that this module reads (the paho client is `_client`).
AIOMQTT_INIT_ATTRIBUTES = ("_client", "_lock", "_connected", "_pending_publishes")
# Members of the paho client this module uses (`protocol` is public, but only reachable through `_client`).
PAHO_MEMBERS = ("_sock_close", "on_socket_register_write", "protocol", "publish", "socket", "want_write")


class AiomqttInternalsError(ImportError):
    """The installed aiomqtt or paho-mqtt is not the one whose private attributes retrowalk relies on."""


def missing_internals(version: str, client_class: type[Any], paho_class: type[Any]) -> list[str]:
    """What of the pinned version and the names this module uses the given classes do not have."""
    missing: list[str] = []
    if version != PINNED_AIOMQTT:
        missing.append(f"aiomqtt {PINNED_AIOMQTT} (installed: {version})")
    missing += [f"aiomqtt.Client.{name}" for name in AIOMQTT_METHODS if not hasattr(client_class, name)]
    # Instance attributes exist only once a client is built, which needs a running event loop: look for
    # them among the names aiomqtt.Client.__init__ assigns instead.
    init = getattr(client_class, "__init__", None)
    assigned = set(getattr(getattr(init, "__code__", None), "co_names", ()))
    missing += [
        f"aiomqtt.Client.{name} (set in __init__)" for name in AIOMQTT_INIT_ATTRIBUTES if name not in assigned
    ]
    missing += [f"paho.mqtt.client.Client.{name}" for name in PAHO_MEMBERS if not hasattr(paho_class, name)]
    return missing


def check_internals(version: str, client_class: type[Any], paho_class: type[Any]) -> None:
    """Raise :class:`AiomqttInternalsError` naming everything missing; return if nothing is."""
    missing = missing_internals(version, client_class, paho_class)
    if missing:
        raise AiomqttInternalsError(
            "retrowalk's MQTT bridge uses private parts of aiomqtt and paho-mqtt, and these are not "
            f"there: {', '.join(missing)}. Install the versions pyproject.toml pins "
            "(scripts/dev setup does) or adapt retrowalk/mqtt/aiomqtt_private.py to the new ones."
        )


check_internals(importlib.metadata.version("aiomqtt"), aiomqtt.Client, mqtt.Client)


def paho_client(client: aiomqtt.Client) -> mqtt.Client:
    """The paho client inside an aiomqtt client."""
    return client._client  # noqa: SLF001 aiomqtt has no public way to it; checked at import above


class ClosedBeforeConnackError(aiomqtt.MqttError):
    """The broker closed the connection without answering the MQTT CONNECT. Typical of a plain client on
    a TLS port: the broker's TLS layer cannot read the CONNECT and hangs up."""

    def __init__(self) -> None:
        super().__init__("the broker closed the connection without answering the MQTT CONNECT")


class PublishRefusedError(aiomqtt.MqttError):
    """The broker acknowledged a QoS 1 publish with an MQTT 5 failure reason code (e.g. 0x87 "Not
    authorized" from an ACL): it was NOT delivered."""

    def __init__(self, topic: str, reason: ReasonCode) -> None:
        super().__init__(f"broker refused the publish on {topic}: {reason} (0x{reason.value:02x})")
        self.reason = reason


class AckCheckingClient(aiomqtt.Client):
    """aiomqtt's `publish(qos=1)` returns on any PUBACK, also one whose MQTT 5 reason code says the
    broker refused the message. The outbox may only forget what was really accepted, so this client
    looks at the reason code (3.1.1 has none: a broker that drops a message still acknowledges it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watched: dict[int, ReasonCode | None] = {}

    @property
    def answered_protocol(self) -> ProtocolVersion:
        """The MQTT version the broker accepted (meaningful once connected)."""
        return ProtocolVersion(paho_client(self).protocol)

    def close_socket(self) -> None:
        """aiomqtt leaves the socket of a failed connect open and watched by the event loop (and the broker
        keeps its half of it); close it so failed attempts do not pile up."""
        with contextlib.suppress(OSError, ValueError):
            paho_client(self)._sock_close()  # noqa: SLF001 paho has no public close for a failed connect

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None = None,
    ) -> None:
        # aiomqtt ignores a close before the CONNACK and waits out its timeout, so a plain client on a
        # TLS port reported "Operation timed out" and blamed the MQTT version. Say what happened, at
        # once. Only while a connect is in progress (aiomqtt holds its lock from connect to disconnect).
        if self._lock.locked() and not self._connected.done():
            self._connected.set_exception(ClosedBeforeConnackError())
            return
        super()._on_disconnect(client, userdata, flags, reason_code, properties)

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_code: ReasonCode, properties: Properties
    ) -> None:
        if mid in self._watched:
            self._watched[mid] = reason_code
        super()._on_publish(client, userdata, mid, reason_code, properties)

    def publish_at_most_once(self, topic: str, payload: bytes, *, retain: bool) -> mqtt.MQTTMessageInfo:
        """A QoS 0 publish written at once, without aiomqtt's future, timeout and writer registration.

        aiomqtt's ``publish(qos=0)`` waits for paho's on_publish, which (with aiomqtt's writer callback)
        comes only once the event loop has written the packet: a future, a timeout, a self-pipe wake-up
        and a writer added and removed per message, for a message nobody waits on. Here the packet is
        written in the call when the socket takes it, and by the loop's writer when it is full. The
        caller reads the returned info's ``rc`` (refused at once, e.g. no connection) and
        ``is_published()`` (written yet).
        """
        paho = paho_client(self)
        if paho.want_write():
            # Packets are waiting for the socket (it was full), and the loop's writer is armed: queue
            # behind them rather than try a write the socket cannot take yet.
            return paho.publish(topic, payload, 0, retain, None)
        # With no register-write callback (and no paho thread), paho writes a queued packet in the
        # publish call itself. aiomqtt's callback would instead schedule a writer through the loop's
        # self-pipe, wake the loop, write, and remove the writer again: most of the cost of a message.
        register = paho.on_socket_register_write
        paho.on_socket_register_write = None
        try:
            info = paho.publish(topic, payload, 0, retain, None)
        finally:
            paho.on_socket_register_write = register
        sock = paho.socket()
        if paho.want_write() and register is not None and sock is not None:
            # The socket took only part of it (paho has marked the writer registered, with no callback
            # to call): register aiomqtt's writer now, so that the loop writes the rest when it can.
            register(paho, paho.user_data_get(), sock)
        return info

    async def publish_confirmed(self, topic: str, payload: bytes, *, ack_within_s: float) -> None:
        """QoS 1 publish that returns only when the broker accepted it; raises otherwise."""
        info = paho_client(self).publish(topic, payload, 1, False, None)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise MqttCodeError(info.rc, "Could not publish message")
        # The PUBACK can only be read by the loop's reader callback, i.e. after this synchronous part:
        # registering here cannot miss it.
        self._watched[info.mid] = None
        try:
            confirmation = asyncio.Event()
            with self._pending_call(info.mid, confirmation, self._pending_publishes):
                await self._wait_for(confirmation.wait(), timeout=ack_within_s)
            reason = self._watched.get(info.mid)
        finally:
            self._watched.pop(info.mid, None)
        if reason is not None and reason.is_failure:
            raise PublishRefusedError(topic, reason)
