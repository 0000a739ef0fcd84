"""Opening one aiomqtt connection from :class:`BrokerSettings`: TLS, credentials, last will, and the
MQTT 5 -> 3.1.1 fallback."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiomqtt
from aiomqtt import ProtocolVersion, TLSParameters, Will
from aiomqtt.exceptions import MqttConnectError

from retrowalk.mqtt.settings import BrokerSettings

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
    return f"cannot connect to broker {where}: {exc}"


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
    settings: BrokerSettings, *, client_id: str, will: Will, protocols: ProtocolChoice
) -> AsyncIterator[aiomqtt.Client]:
    """Connect, trying MQTT 5 first in 'auto' mode and 3.1.1 when the broker refuses the version."""
    candidates = protocols.candidates()
    for index, protocol in enumerate(candidates):
        client = _make_client(settings, client_id=client_id, will=will, protocol=protocol)
        try:
            await client.__aenter__()
        except MqttConnectError as exc:
            last = index == len(candidates) - 1
            if last or connack_code(exc) not in _UNSUPPORTED_PROTOCOL:
                raise
            log.info("broker refused MQTT %s (%s); trying the next version", protocol.name, exc)
            continue
        except aiomqtt.MqttError as exc:
            # A 3.1.1-only broker may just drop a version-5 CONNECT; try the next version once before
            # treating it as an outage. A refused TCP connection is an outage and is not retried here.
            last = index == len(candidates) - 1
            if last or "refused" in str(exc).lower() or "timed out" not in str(exc).lower():
                raise
            log.info("no CONNACK for MQTT %s (%s); trying the next version", protocol.name, exc)
            continue
        if len(candidates) > 1:
            protocols.learned = protocol
        try:
            yield client
        finally:
            await client.__aexit__(None, None, None)
        return


def _make_client(
    settings: BrokerSettings, *, client_id: str, will: Will, protocol: ProtocolVersion
) -> aiomqtt.Client:
    tls_params: TLSParameters | None = None
    if settings.tls is not None:
        tls = settings.tls
        tls_params = TLSParameters(
            ca_certs=str(tls.ca_file) if tls.ca_file else None,
            certfile=str(tls.cert_file) if tls.cert_file else None,
            keyfile=str(tls.key_file) if tls.key_file else None,
        )
    return aiomqtt.Client(
        settings.host,
        settings.port,
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else None,
        identifier=client_id,
        protocol=protocol,
        will=will,
        keepalive=settings.keepalive,
        timeout=10,
        tls_params=tls_params,
        tls_insecure=settings.tls.insecure if settings.tls is not None else None,
        logger=log,
    )
