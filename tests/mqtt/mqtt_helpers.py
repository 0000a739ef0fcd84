"""Helpers for the MQTT tests: a recording command handler, a bridge running in the background, and a
subscriber that collects what the bridge publishes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from retrowalk.errors import RefusalCode, RefusedError
from retrowalk.mqtt import BrokerSettings, Command, MqttBridge
from retrowalk.storage import Store

from .mqtt_broker import Mosquitto

PREFIX = "test/v1/"


@dataclass
class RecordingHandler:
    """Stands in for the engine: records every command that reached it; refuses when told to."""

    calls: list[tuple[str, Command]] = field(default_factory=list)
    refuse_with: str | None = None
    refuse_code: RefusalCode | None = None
    delay_s: float = 0.0

    async def handle_command(self, treadmill_id: str, command: Command) -> None:
        self.calls.append((treadmill_id, command))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.refuse_with is not None:
            raise RefusedError(self.refuse_with, code=self.refuse_code)


def settings_for(broker: Mosquitto, **overrides: Any) -> BrokerSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": broker.port,
        "prefix": PREFIX,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.2,
    }
    values.update(overrides)
    return BrokerSettings(**values)


async def wait_until(predicate: Callable[[], bool], what: str = "condition", within_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Collector:
    """A subscriber that survives broker restarts: a persistent session (clean_session false, QoS 1) so
    the broker queues what is published while it is reconnecting, as a real kiosk would set it up."""

    def __init__(self, port: int, topics: tuple[str, ...], client_id: str, **client_kw: Any) -> None:
        self.port = port
        self.topics = topics
        self.client_id = client_id
        self.client_kw = client_kw
        self.messages: list[aiomqtt.Message] = []
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", self.port, identifier=self.client_id, clean_session=False, **self.client_kw
                ) as client:
                    for topic in self.topics:
                        await client.subscribe(topic, qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        self.messages.append(message)
            except aiomqtt.MqttError:
                self.subscribed.clear()
                await asyncio.sleep(0.05)

    def on(self, suffix: str) -> list[aiomqtt.Message]:
        return [m for m in self.messages if m.topic.value.endswith(suffix)]

    def json_on(self, suffix: str) -> list[dict[str, Any]]:
        return [json.loads(m.payload) for m in self.on(suffix) if isinstance(m.payload, bytes) and m.payload]

    async def wait_json(self, suffix: str, count: int = 1, within_s: float = 5.0) -> list[dict[str, Any]]:
        what = f"{count} message(s) on {suffix}"
        await wait_until(lambda: len(self.json_on(suffix)) >= count, what, within_s)
        return self.json_on(suffix)


@asynccontextmanager
async def collecting(
    broker: Mosquitto, topics: tuple[str, ...] = (f"{PREFIX}#",), client_id: str = "test-collector"
) -> AsyncIterator[Collector]:
    collector = Collector(broker.port, topics, client_id)
    task = asyncio.create_task(collector.run(), name="test-collector")
    try:
        await asyncio.wait_for(collector.subscribed.wait(), 5)
        yield collector
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@asynccontextmanager
async def running_bridge(
    settings: BrokerSettings, store: Store, handler: RecordingHandler, service_id: str = "svc1"
) -> AsyncIterator[MqttBridge]:
    bridge = MqttBridge(settings, store, handler, service_id=service_id)
    task = asyncio.create_task(bridge.run(), name="test-bridge")
    try:
        yield bridge
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def send(broker: Mosquitto, topic: str, payload: bytes | str, **kw: Any) -> None:
    async with aiomqtt.Client("127.0.0.1", broker.port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        await client.publish(topic, payload, qos=1, **kw)
