"""Opening one aiomqtt connection from :class:`BrokerSettings`: TLS, credentials, last will, and the
MQTT 5 -> 3.1.1 fallback."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiomqtt
from aiomqtt import ProtocolVersion, TLSParameters, Will
from aiomqtt.exceptions import MqttConnectError

from retrowalk.mqtt.aiomqtt_private import AckCheckingClient, ClosedBeforeConnackError
from retrowalk.mqtt.settings import MQTT_TLS_PORT, BrokerSettings

__all__ = ["AUTH_REFUSED", "ProtocolChoice", "connack_code", "describe_connect_failure", "open_client"]

log = logging.getLogger(__name__)

# CONNACK codes that mean "I do not speak this protocol version" (3.1.1 code 1, MQTT 5 code 0x84).
_UNSUPPORTED_PROTOCOL = frozenset({1, 0x84})
# CONNACK codes that mean the credentials or certificate were refused (3.1.1: 4, 5; MQTT 5: 0x86, 0x87).
AUTH_REFUSED = frozenset({4, 5, 0x86, 0x87})


def connack_code(exc: MqttConnectError) -> int | None:
    rc = exc.rc
    if rc is None:
        return None
    return int(rc) if isinstance(rc, int) else int(rc.value)


def describe_connect_failure(settings: BrokerSettings, exc: Exception) -> str:
    """A message a person can act on."""
    where = f"{settings.host}:{settings.port}"
    if isinstance(exc, MqttConnectError) and connack_code(exc) in AUTH_REFUSED:
        who = f"user {settings.username!r}" if settings.username else "an anonymous client"
        return f"broker {where} refused {who}: {exc} (check [broker] username/password and the broker ACL)"
    if isinstance(exc, ClosedBeforeConnackError) and settings.tls is None:
        return (
            f"cannot connect to broker {where}: {exc}; a broker does this when the port expects TLS "
            f"(port {MQTT_TLS_PORT} usually does): add a [broker.tls] table with ca_file, or use the "
            "broker's plain port (docs/configuration.md)"
        )
    hint = ""
    if settings.tls is not None and (isinstance(exc, ClosedBeforeConnackError) or "timed out" in str(exc)):
        # With TLS 1.3 a refused client certificate shows up as a silent close after the handshake.
        hint = " (TLS: check tls.ca_file and the client certificate; the broker log says why)"
    return f"cannot connect to broker {where}: {exc}{hint}"


class ProtocolChoice:
    """Remembers which version the broker speaks once 'auto' found out, so reconnects skip the probe."""

    def __init__(self, setting: str) -> None:
        self._setting = setting
        self.learned: ProtocolVersion | None = None

    def candidates(self) -> list[ProtocolVersion]:
        if self._setting == "5":
            return [ProtocolVersion.V5]
        if self._setting == "3.1.1":
            return [ProtocolVersion.V311]
        if self.learned is not None:
            return [self.learned]
        return [ProtocolVersion.V5, ProtocolVersion.V311]


@asynccontextmanager
async def open_client(
    settings: BrokerSettings, *, client_id: str, will: Will | None, protocols: ProtocolChoice
) -> AsyncIterator[AckCheckingClient]:
    """Connect, trying MQTT 5 first in 'auto' mode and 3.1.1 when the broker refuses the version."""
    candidates = protocols.candidates()
    for index, protocol in enumerate(candidates):
        client = _make_client(settings, client_id=client_id, will=will, protocol=protocol)
        try:
            await client.__aenter__()
        except asyncio.CancelledError:
            # Stopped while waiting for the CONNACK (a shutdown while the broker is slow): aiomqtt leaves
            # the socket open and its reading task running then; closing the socket ends both.
            client.close_socket()
            raise
        except aiomqtt.MqttError as exc:
            client.close_socket()
            last = index == len(candidates) - 1
            if last or not _worth_another_version(exc):
                raise
            log.info("no MQTT %s connection (%s); trying MQTT 3.1.1", protocol.name, exc)
            continue
        if len(candidates) > 1:
            protocols.learned = protocol
        try:
            yield client
        finally:
            await client.__aexit__(None, None, None)
        return


def _worth_another_version(exc: aiomqtt.MqttError) -> bool:
    if isinstance(exc, MqttConnectError):
        return connack_code(exc) in _UNSUPPORTED_PROTOCOL
    if isinstance(exc, ClosedBeforeConnackError):
        return True  # some 3.1.1-only brokers hang up on a version-5 CONNECT instead of refusing it
    # Some 3.1.1-only brokers (amqtt 0.12) misparse a version-5 CONNECT that carries a will and wait for
    # bytes that never come instead of refusing it: no CONNACK in time is worth a 3.1.1 attempt too.
    return "timed out" in str(exc)


def _make_client(
    settings: BrokerSettings, *, client_id: str, will: Will | None, protocol: ProtocolVersion
) -> AckCheckingClient:
    tls_params: TLSParameters | None = None
    if settings.tls is not None:
        tls = settings.tls
        tls_params = TLSParameters(
            ca_certs=str(tls.ca_file) if tls.ca_file else None,
            certfile=str(tls.cert_file) if tls.cert_file else None,
            keyfile=str(tls.key_file) if tls.key_file else None,
        )
    return AckCheckingClient(
        settings.host,
        settings.port,
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else None,
        identifier=client_id,
        protocol=protocol,
        will=will,
        keepalive=settings.keepalive,
        timeout=settings.connect_timeout_s,
        tls_params=tls_params,
        tls_insecure=settings.tls.insecure if settings.tls is not None else None,
        logger=log,
        # Telemetry is a stream of small QoS 0 packets. With Nagle's algorithm on, each one waited for
        # the broker's (delayed) ACK of the one before: 25 ms at the median with 1000 treadmills (see
        # docs/performance.md). Every MQTT packet is a whole message: send it at once.
        socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
    )
