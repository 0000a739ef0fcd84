"""A real kiosk (aiohttp server and its broker connection) for tests, an SSE reader over a real HTTP
client, and a scripted service peer that speaks the MQTT API on a real mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import aiomqtt

from retrowalk.kiosk.app import Kiosk
from retrowalk.kiosk.passwords import hash_password
from retrowalk.kiosk.settings import KioskSettings
from tests.plugins.virtual_adapter import wait_until

PREFIX = "retrowalk/v1/"
TOKENS = {"tm0": "token-for-tm0-0123456789", "tm1": "token-for-tm1-0123456789"}
STAFF_PASSWORD = "staff password 1"


def kiosk_settings(
    broker_port: int,
    *,
    service: str = "test",
    treadmills: Sequence[str] = tuple(TOKENS),
    broker_login: Mapping[str, str] | None = None,
    **http: Any,
) -> KioskSettings:
    """A kiosk for ``treadmills`` (of TOKENS) on the broker at ``broker_port``, logged in with
    ``broker_login`` ({"username": ..., "password": ...}) when given."""
    return KioskSettings.model_validate(
        {
            "http": {"host": "127.0.0.1", "port": 0, "reply_timeout_s": 3.0, **http},
            "staff": {"password_hash": hash_password(STAFF_PASSWORD)},
            "broker": {"host": "127.0.0.1", "port": broker_port, **(broker_login or {})},
            "treadmills": [
                {"id": tid, "service": service, "token": TOKENS[tid], "label": f"Treadmill {tid}"}
                for tid in treadmills
            ],
        }
    )


@contextlib.asynccontextmanager
async def running_kiosk(settings: KioskSettings, *, wait_broker: bool = True) -> AsyncIterator[Kiosk]:
    kiosk = Kiosk(settings)
    async with kiosk.serving():
        if wait_broker:
            await asyncio.wait_for(kiosk.broker.connected.wait(), 10)
        yield kiosk


def screen(kiosk: Kiosk, treadmill_id: str = "tm0", **headers: str) -> aiohttp.ClientSession:
    """A browser-like client for one treadmill's screen: its token as the bearer header, JSON bodies."""
    return aiohttp.ClientSession(
        base_url=kiosk.url,
        headers={"Authorization": f"Bearer {TOKENS[treadmill_id]}", **headers},
        cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies for 127.0.0.1, as a browser keeps them
    )


@dataclass
class SseReader:
    """Reads one event stream in the background and keeps every (event, data) it gets."""

    response: aiohttp.ClientResponse
    received: list[tuple[str, Any]] = field(default_factory=list)
    ended: bool = False

    async def read(self) -> None:
        event, data = "message", ""
        try:
            async for raw in self.response.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[len("event: ") :]
                elif line.startswith("data: "):
                    data = line[len("data: ") :]
                elif not line and data:
                    self.received.append((event, json.loads(data)))
                    event, data = "message", ""
        except (aiohttp.ClientError, asyncio.CancelledError):
            pass
        finally:
            self.ended = True

    def last_state(self) -> dict[str, Any] | None:
        """The state the page shows now: the latest `state` event, else the snapshot's."""
        states = [s["state"] for s in self.of("snapshot")] + self.of("state")
        return states[-1] if states else None

    def of(self, event: str) -> list[Any]:
        return [d for e, d in self.received if e == event]

    async def until(self, predicate: Callable[[], Any], what: str, within: float = 5.0) -> None:
        await wait_until(lambda: bool(predicate()), within, what)

    def last_availability(self) -> dict[str, Any]:
        """The availability the page shows now (empty before its snapshot came)."""
        availability = self.of("availability") or [s["availability"] for s in self.of("snapshot")]
        return availability[-1] if availability else {}


@contextlib.asynccontextmanager
async def sse(session: aiohttp.ClientSession, path: str) -> AsyncIterator[SseReader]:
    response = await session.get(path)
    assert response.status == 200, await response.text()
    reader = SseReader(response)
    task = asyncio.create_task(reader.read(), name=f"sse-{path}")
    try:
        yield reader
    finally:
        response.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class ServicePeer:
    """Plays a `retrowalk serve` on the MQTT API: publishes what the service publishes and answers
    commands with a reply of the test's choosing. It records every command it receives."""

    def __init__(self, client: aiomqtt.Client, answer: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.client = client
        self.answer = answer
        self.commands: list[tuple[str, dict[str, Any]]] = []

    async def serve(self) -> None:
        await self.client.subscribe(f"{PREFIX}treadmill/+/command", qos=1)
        await self.client.subscribe(f"{PREFIX}treadmill/+/command/staff", qos=1)
        async for message in self.client.messages:
            topic = message.topic.value
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            command = json.loads(payload)
            treadmill_id = topic[len(PREFIX) :].split("/")[1]
            self.commands.append((topic, command))
            reply = {
                "command_id": command["command_id"],
                "treadmill_id": treadmill_id,
                **self.answer(command),
            }
            await self.client.publish(f"{PREFIX}treadmill/{treadmill_id}/reply", json.dumps(reply), qos=1)

    async def publish(
        self, leaf: str, payload: Any, *, treadmill_id: str = "tm0", retain: bool = False
    ) -> None:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        await self.client.publish(f"{PREFIX}treadmill/{treadmill_id}/{leaf}", body, qos=1, retain=retain)

    async def online(self, service: str = "test") -> None:
        await self.client.publish(f"{PREFIX}service/{service}/availability", "online", qos=1, retain=True)
        for treadmill_id in TOKENS:
            await self.publish("availability", "online", treadmill_id=treadmill_id, retain=True)


def accept(_command: dict[str, Any]) -> dict[str, Any]:
    return {"status": "accepted"}


@contextlib.asynccontextmanager
async def service_peer(
    port: int, answer: Callable[[dict[str, Any]], dict[str, Any]] = accept
) -> AsyncIterator[ServicePeer]:
    client = aiomqtt.Client("127.0.0.1", port, identifier="service-peer")
    await client.__aenter__()
    peer = ServicePeer(client, answer)
    task = asyncio.create_task(peer.serve(), name="service-peer")
    try:
        await peer.online()
        yield peer
    finally:
        task.cancel()
        # A test that stopped the broker has left this client without one: its end is expected.
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await task
        with contextlib.suppress(aiomqtt.MqttError):
            await client.__aexit__(None, None, None)


def state(phase: str, treadmill_id: str = "tm0", **more: Any) -> dict[str, Any]:
    return {
        "treadmill_id": treadmill_id,
        "connected": True,
        "phase": phase,
        "session_id": None if phase == "idle" else "s-1",
        "user_id": None if phase == "idle" else "ann",
        "updated_at": "2026-11-24T09:03:12Z",
        **more,
    }


def telemetry(speed: float, treadmill_id: str = "tm0") -> dict[str, Any]:
    return {
        "treadmill_id": treadmill_id,
        "at": "2026-11-24T09:03:12Z",
        "phase": "ramp",
        "session_id": "s-1",
        "speed_kmh": speed,
        "allowed_speed_kmh": 1.3,
        "incline_pct": 0.0,
        "distance_m": 41.0,
        "elapsed_s": 132.0,
        "remaining_s": 168.0,
        "heart_rate_bpm": None,
    }


def service_with_a_will(port: int, service: str = "test") -> subprocess.Popen[str]:
    """A separate process that is the service as far as the broker can tell: it connects with the
    service's last will, says online, prints 'up' and waits to be killed."""
    script = f"""
import asyncio, aiomqtt
async def main():
    will = aiomqtt.Will("{PREFIX}service/{service}/availability", "offline", qos=1, retain=True)
    async with aiomqtt.Client("127.0.0.1", {port}, identifier="killed-service", will=will) as c:
        await c.publish("{PREFIX}service/{service}/availability", "online", qos=1, retain=True)
        print("up", flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"""
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
