"""Password authentication, TLS with client certificates, and the example ACL from docs/mosquitto."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import aiomqtt
import pytest
from pydantic import ValidationError

from retrowalk.mqtt import BrokerSettings, TlsSettings
from retrowalk.mqtt.payloads import SessionEnded
from retrowalk.storage import Store
from tests.kiosk.kiosk_rig import STAFF_PASSWORD as KIOSK_STAFF_PASSWORD
from tests.kiosk.kiosk_rig import kiosk_settings, running_kiosk, screen, sse

from .mqtt_broker import Mosquitto, TlsFiles
from .mqtt_helpers import RecordingHandler, running_bridge, settings_for, wait_until

# Each broker here has its own users, TLS or ACL, so the tests start it themselves.
pytestmark = pytest.mark.mosquitto
ACL_EXAMPLE = Path(__file__).parents[2] / "docs" / "mosquitto" / "acl"
DEPLOYMENT = Path(__file__).parents[2] / "docs" / "deployment.md"
USERS = {
    "retrowalk": "service-pw",
    "kiosk-gym1": "kiosk-pw",
    "dashboard": "dash-pw",
    "homeassistant": "ha-pw",
    "staff": "staff-pw",
    "kiosk-web": "kiosk-web-pw",
}


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


async def test_a_plain_connection_to_a_tls_port_says_the_broker_closed_it_and_suggests_tls(
    tmp_path: Path, tls_files: TlsFiles, store: Store, handler: RecordingHandler
) -> None:
    """A plain client on a TLS listener: mosquitto hangs up before any CONNACK. That used to wait out
    the connect timeout and end as "Operation timed out", blaming the MQTT version."""
    broker = Mosquitto(tmp_path / "tls-only", tls=tls_files)
    broker.start()
    try:
        # A timeout far beyond the wait below: the sentence must come from the close, not from a timeout.
        plain = settings_for(broker, connect_timeout_s=60)
        async with running_bridge(plain, store, handler) as bridge:
            await wait_until(lambda: bridge.status.last_error is not None, "the closed connection", 10)
            status = bridge.status
        assert not status.connected
        assert status.last_error == (
            f"cannot connect to broker 127.0.0.1:{broker.port}: the broker closed the connection without "
            "answering the MQTT CONNECT; a broker does this when the port expects TLS (port 8883 usually "
            "does): add a [broker.tls] table with ca_file, or use the broker's plain port "
            "(docs/configuration.md)"
        )
    finally:
        broker.stop()


async def test_the_documented_certificate_recipe_gives_a_broker_the_service_verifies_by_name(
    tmp_path: Path, store: Store, handler: RecordingHandler
) -> None:
    """docs/deployment.md's openssl commands, run as written (for the name localhost): mosquitto
    serves the certificate, the service and a kiosk connect with theirs, and the name check is real."""
    recipe = re.search(
        r"<!-- recipe: tls certificates[^>]*-->\n```sh\n(.*?)```", DEPLOYMENT.read_text(), re.S
    )
    assert recipe is not None, "the TLS recipe block is gone from docs/deployment.md"
    script = recipe.group(1)
    assert script.startswith("BROKER=mqtt.gym1.lan\n")
    openssl = await asyncio.create_subprocess_exec(
        "bash",
        "-e",
        "-c",
        script.replace("BROKER=mqtt.gym1.lan", "BROKER=localhost", 1),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await openssl.communicate()
    assert openssl.returncode == 0, output.decode(errors="replace")
    files = TlsFiles(
        ca=tmp_path / "ca.crt",
        server_cert=tmp_path / "server.crt",
        server_key=tmp_path / "server.key",
        client_cert=tmp_path / "retrowalk-gym1-hall-a.crt",
        client_key=tmp_path / "retrowalk-gym1-hall-a.key",
    )
    broker = Mosquitto(tmp_path / "broker", tls=files)
    broker.start()
    try:
        tls = TlsSettings(ca_file=files.ca, cert_file=files.client_cert, key_file=files.client_key)
        async with running_bridge(settings_for(broker, host="localhost", tls=tls), store, handler) as bridge:
            await asyncio.wait_for(bridge.connected.wait(), 10)
        kiosk_tls = aiomqtt.TLSParameters(
            ca_certs=str(files.ca),
            certfile=str(tmp_path / "kiosk-gym1.crt"),
            keyfile=str(tmp_path / "kiosk-gym1.key"),
        )
        async with aiomqtt.Client("localhost", broker.port, tls_params=kiosk_tls) as kiosk:
            await kiosk.publish("test/v1/kiosk-was-here", b"1", qos=1)
        # The certificate names localhost, not 127.0.0.1: by address the service refuses the broker.
        by_address = settings_for(broker, host="127.0.0.1", tls=tls, connect_timeout_s=2)
        async with running_bridge(by_address, store, handler) as bridge:
            await wait_until(lambda: bridge.status.last_error is not None, "the refused certificate", 10)
            assert not bridge.status.connected
        assert "IP address mismatch" in (bridge.status.last_error or "")
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
    async with (
        example_acl_service(tmp_path / "acl", store, handler, "tm1", "tm2") as client,
        client("dashboard") as dashboard,
        client("kiosk-gym1") as kiosk,
    ):
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
        # The broker acknowledged each denied publish before the allowed one was sent, so the bridge
        # would have received them first: once the allowed one is here, none can follow.
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


async def test_home_assistant_may_command_but_only_staff_record_clearances(
    tmp_path: Path, store: Store, handler: RecordingHandler
) -> None:
    """The example ACL verbatim: Home Assistant's user sends commands (a stop reaches the engine), but a
    clearance from it is answered 'invalid' on the command topic and dropped by the broker on the staff
    topic; the staff user records one."""
    clearance = {"type": "clearance", "user_id": "bo", "cleared_by": "Dr. Lind"}
    async with (
        example_acl_service(tmp_path / "acl-staff", store, handler, "tm1") as client,
        client("homeassistant") as home_assistant,
        client("staff") as staff,
    ):
        await home_assistant.subscribe("retrowalk/v1/treadmill/tm1/reply", qos=1)
        command = "retrowalk/v1/treadmill/tm1/command"
        for topic, sender, payload in (
            (command, home_assistant, {"command_id": "ha-stop", "type": "stop"}),
            (command, home_assistant, {"command_id": "ha-clear-1", **clearance}),
            (command + "/staff", home_assistant, {"command_id": "ha-clear-2", **clearance}),  # denied
            (command + "/staff", staff, {"command_id": "desk-clear", **clearance}),
        ):
            await sender.publish(topic, json.dumps(payload).encode(), qos=1)
        # The staff clearance was published last: once its reply is back, everything before it has
        # been decided.
        replies: dict[str, dict[str, object]] = {}
        async with asyncio.timeout(5):
            async for message in home_assistant.messages:
                assert isinstance(message.payload, bytes)
                reply = json.loads(message.payload)
                replies[reply["command_id"]] = reply
                if "desk-clear" in replies:
                    break
    assert [(t, c.command_id, c.type) for t, c in handler.calls] == [
        ("tm1", "ha-stop", "stop"),
        ("tm1", "desk-clear", "clearance"),
    ]
    assert sorted(replies) == ["desk-clear", "ha-clear-1", "ha-stop"]
    assert replies["ha-clear-1"]["status"] == "invalid"
    assert replies["ha-clear-1"]["reason"] == (
        "clearances are accepted only on retrowalk/v1/treadmill/tm1/command/staff, which the broker "
        "gives to staff: nothing was recorded"
    )
    assert replies["desk-clear"]["status"] == "accepted"


async def test_the_example_acl_gives_retrowalk_kiosk_its_treadmills_and_their_staff_topic(
    tmp_path: Path, store: Store, handler: RecordingHandler
) -> None:
    """`retrowalk kiosk` logged in as the example ACL's kiosk-web: its pages see the service and the
    treadmill (it may read them), a Stop and a staff clearance reach the service and their replies come
    back; a command for a treadmill outside its block is dropped by the broker."""
    async with example_acl_service(tmp_path / "acl-kiosk", store, handler, "tm1", "tm3") as client:
        login = {"username": "kiosk-web", "password": USERS["kiosk-web"]}
        settings = kiosk_settings(client.port, service="svc1", treadmills=["tm1"], broker_login=login)
        async with (
            running_kiosk(settings) as kiosk,
            screen(kiosk, "tm1") as page_client,
            sse(page_client, "/t/tm1/events") as page,
            aiohttp.ClientSession(base_url=kiosk.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as desk,
            client("kiosk-web") as kiosk_login,
        ):
            # It reads the service's and the treadmill's availability: the page is usable.
            await page.until(lambda: page.last_availability().get("usable"), "tm1 usable on the page")
            # Denied, dropped by the broker (and acknowledged before the kiosk's own commands below).
            await kiosk_login.publish(
                "retrowalk/v1/treadmill/tm3/command", b'{"command_id": "x3", "type": "stop"}', qos=1
            )
            stop = await page_client.post("/t/tm1/command", json={"command_id": "k-stop", "type": "stop"})
            assert stop.status == 200, await stop.text()
            assert (await desk.post("/staff/login", json={"password": KIOSK_STAFF_PASSWORD})).status == 200
            clearance = {
                "command_id": "k-clear",
                "type": "clearance",
                "user_id": "bo",
                "cleared_by": "Dr. Lind",
            }
            cleared = await desk.post("/staff/t/tm1/command", json=clearance)
            assert cleared.status == 200, await cleared.text()
    assert [(t, c.command_id) for t, c in handler.calls] == [("tm1", "k-stop"), ("tm1", "k-clear")]


class AclClients:
    """Makes clients of the broker at ``port`` logged in as a user of the example ACL."""

    def __init__(self, port: int) -> None:
        self.port = port

    def __call__(self, user: str) -> aiomqtt.Client:
        return aiomqtt.Client("127.0.0.1", self.port, username=user, password=USERS[user])


@asynccontextmanager
async def example_acl_service(
    directory: Path, store: Store, handler: RecordingHandler, *treadmills: str
) -> AsyncIterator[AclClients]:
    """mosquitto with docs/mosquitto/acl verbatim and the service's bridge logged in as `retrowalk`;
    yields a maker of clients logged in as another user of the ACL."""
    broker = Mosquitto(directory, users=USERS, acl=ACL_EXAMPLE.read_text())
    broker.start()
    try:
        settings = settings_for(broker, prefix="retrowalk/v1/", username="retrowalk", password="service-pw")
        async with running_bridge(settings, store, handler) as bridge:
            for treadmill_id in treadmills:
                bridge.treadmill_online(treadmill_id, True)
            await asyncio.wait_for(bridge.connected.wait(), 5)
            yield AclClients(broker.port)
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
