"""Password authentication, TLS with client certificates, and the example ACL from docs/mosquitto."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiomqtt
import pytest
from mqtt_broker import Mosquitto, TlsFiles
from mqtt_helpers import RecordingHandler, running_bridge, settings_for, wait_until
from pydantic import ValidationError

from retrowalk.mqtt import BrokerSettings, TlsSettings
from retrowalk.mqtt.payloads import SessionEnded
from retrowalk.storage import Store

ACL_EXAMPLE = Path(__file__).parents[2] / "docs" / "mosquitto" / "acl"
USERS = {"retrowalk": "service-pw", "kiosk-gym1": "kiosk-pw", "dashboard": "dash-pw"}


async def test_password_auth_connects_and_a_wrong_password_is_a_clear_error_not_a_crash(
    tmp_path: Path, store: Store, handler: RecordingHandler
) -> None:
    broker = Mosquitto(tmp_path / "auth", users=USERS)
    broker.start()
    try:
        good = settings_for(broker, username="retrowalk", password="service-pw")
        async with running_bridge(good, store, handler) as bridge:
            await asyncio.wait_for(bridge.connected.wait(), 5)
            assert bridge.status.last_error is None
        bad = settings_for(broker, username="retrowalk", password="wrong")
        async with running_bridge(bad, store, handler) as bridge:
            bridge.publish_telemetry  # noqa: B018 - the service keeps calling; nothing may raise
            await wait_until(lambda: bridge.status.last_error is not None, "the refusal to be reported")
            # It keeps retrying without crashing: the broker refused it again since (with protocol
            # "auto" one attempt may be refused twice, MQTT 5 then 3.1.1).
            refused = broker.log().count("not authorised")
            await wait_until(
                lambda: broker.log().count("not authorised") >= refused + 2, "another refused attempt", 10
            )
            status = bridge.status
        assert not status.connected
        assert status.last_error is not None
        assert "refused user 'retrowalk'" in status.last_error
        assert "username/password" in status.last_error
    finally:
        broker.stop()


async def test_tls_with_a_client_certificate(
    tmp_path: Path, tls_files: TlsFiles, store: Store, handler: RecordingHandler
) -> None:
    broker = Mosquitto(tmp_path / "tls", tls=tls_files)
    broker.start()
    try:
        tls = TlsSettings(
            ca_file=tls_files.ca, cert_file=tls_files.client_cert, key_file=tls_files.client_key
        )
        async with running_bridge(settings_for(broker, tls=tls), store, handler) as bridge:
            bridge.treadmill_online("tm1", True)
            await asyncio.wait_for(bridge.connected.wait(), 5)
            async with aiomqtt.Client(
                "127.0.0.1",
                broker.port,
                tls_params=aiomqtt.TLSParameters(
                    ca_certs=str(tls_files.ca),
                    certfile=str(tls_files.client_cert),
                    keyfile=str(tls_files.client_key),
                ),
            ) as kiosk:
                await kiosk.subscribe("test/v1/treadmill/tm1/reply", qos=1)
                await kiosk.publish(
                    "test/v1/treadmill/tm1/command", b'{"command_id": "t1", "type": "stop"}', qos=1
                )
                async with asyncio.timeout(5):
                    message = await anext(aiter(kiosk.messages))
        assert isinstance(message.payload, bytes)
        assert json.loads(message.payload)["status"] == "accepted"

        # Without a client certificate the broker refuses the handshake: reported, retried, no crash.
        no_cert = settings_for(broker, tls=TlsSettings(ca_file=tls_files.ca), connect_timeout_s=1)
        async with running_bridge(no_cert, store, handler) as bridge:
            await wait_until(lambda: bridge.status.last_error is not None, "the TLS failure to be reported")
            assert not bridge.status.connected
            assert "TLS" in (bridge.status.last_error or "")
    finally:
        broker.stop()


def test_tls_settings_refuse_missing_files_and_a_lone_certificate(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    with pytest.raises(ValidationError, match="not a readable file"):
        TlsSettings(ca_file=tmp_path / "missing.crt")
    with pytest.raises(ValidationError, match="together"):
        TlsSettings(ca_file=tls_files.ca, cert_file=tls_files.client_cert)
    with pytest.raises(ValidationError, match="password given without username"):
        BrokerSettings(password="x")
    with pytest.raises(ValidationError, match="prefix"):
        BrokerSettings(prefix="retrowalk/#/")


async def test_the_example_acl_lets_kiosks_command_only_their_treadmill_and_readers_only_read(
    tmp_path: Path, store: Store, handler: RecordingHandler
) -> None:
    broker = Mosquitto(tmp_path / "acl", users=USERS, acl=ACL_EXAMPLE.read_text())
    broker.start()
    try:
        settings = settings_for(broker, prefix="retrowalk/v1/", username="retrowalk", password="service-pw")
        async with running_bridge(settings, store, handler) as bridge:
            bridge.treadmill_online("tm1", True)
            bridge.treadmill_online("tm2", True)
            await asyncio.wait_for(bridge.connected.wait(), 5)

            def client(user: str) -> aiomqtt.Client:
                return aiomqtt.Client("127.0.0.1", broker.port, username=user, password=USERS[user])

            async with client("dashboard") as dashboard, client("kiosk-gym1") as kiosk:
                await dashboard.subscribe("retrowalk/v1/#", qos=1)
                # Denied publishes are dropped by the broker (3.1.1 still acknowledges them).
                await kiosk.publish(
                    "retrowalk/v1/treadmill/tm2/command", b'{"command_id": "x1", "type": "stop"}', qos=1
                )
                await dashboard.publish(
                    "retrowalk/v1/treadmill/tm1/command", b'{"command_id": "x2", "type": "stop"}', qos=1
                )
                await kiosk.publish(
                    "retrowalk/v1/treadmill/tm1/command", b'{"command_id": "ok", "type": "stop"}', qos=1
                )
                # The broker acknowledged each denied publish before the allowed one was sent, so the
                # bridge would have received them first: once the allowed one is here, none can follow.
                await wait_until(lambda: len(handler.calls) >= 1, "the allowed command")
                # The dashboard reads: the reply to the kiosk's command reaches it too.
                seen: list[str] = []
                async with asyncio.timeout(5):
                    async for message in dashboard.messages:
                        seen.append(message.topic.value)
                        if message.topic.value == "retrowalk/v1/treadmill/tm1/reply":
                            break
        assert [(t, c.command_id) for t, c in handler.calls] == [("tm1", "ok")]
        assert "retrowalk/v1/treadmill/tm1/reply" in seen
    finally:
        broker.stop()


async def test_an_event_the_broker_refuses_stays_in_the_outbox_and_is_reported(
    tmp_path: Path, store: Store, handler: RecordingHandler
) -> None:
    """MQTT 5: mosquitto answers a publish its ACL denies with PUBACK 0x87; that is not a delivery."""
    acl = "user retrowalk\ntopic readwrite test/v1/service/#\ntopic readwrite test/v1/treadmill/tm1/#\n"
    broker = Mosquitto(tmp_path / "deny", users=USERS, acl=acl)
    broker.start()
    try:
        settings = settings_for(broker, username="retrowalk", password="service-pw", discovery=False)
        async with running_bridge(settings, store, handler) as bridge:
            await asyncio.wait_for(bridge.connected.wait(), 5)
            bridge.publish_event("tm2", SessionEnded(treadmill_id="tm2", reason="completed"))  # denied
            bridge.publish_event("tm1", SessionEnded(treadmill_id="tm1", reason="completed"))  # allowed
            await wait_until(lambda: "not delivered" in (bridge.status.last_error or ""), "the refusal")
            # The outbox is sent in order: the refused row was dealt with (kept) before the allowed one
            # left, so after both events above nothing more happens to it on this connection.
            await wait_until(lambda: store.outbox_count() == 1, "the allowed event to leave")
            remaining = store.outbox_pending()
        assert [r.topic_suffix for r in remaining] == ["treadmill/tm2/event"]
        assert "Not authorized" in (bridge.status.last_error or "")
    finally:
        broker.stop()
