"""A scripted kiosk on the broker, and the broker's record of what the service published.

The kiosk subscribes with a persistent session (clean_session false, QoS 1) so that the broker queues
what is published while the kiosk reconnects, as a real kiosk would set it up; every message it receives
is kept with its arrival time. Commands are re-sent with the same command_id until a reply arrives,
which the service answers from its stored replies (a repeat is never executed twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

import aiomqtt

from .procs import TOPIC_PREFIX

REPLY_WAIT_S = 3.0


@dataclass(frozen=True)
class Received:
    topic: str
    payload: Any  # decoded JSON, or the text when it is not JSON
    wall_time: float

    @property
    def leaf(self) -> str:
        return self.topic.rsplit("/", 1)[-1]

    @property
    def treadmill(self) -> str | None:
        parts = self.topic[len(TOPIC_PREFIX) :].split("/")
        return parts[1] if len(parts) == 3 and parts[0] == "treadmill" else None


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


class KioskClient:
    """Runs until cancelled; survives broker restarts."""

    def __init__(self, port: int, client_id: str = "fault-kiosk") -> None:
        self.port = port
        self.client_id = client_id
        self.received: list[Received] = []
        self.connected = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._changed = asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", self.port, identifier=self.client_id, clean_session=False
                ) as client:
                    await client.subscribe(f"{TOPIC_PREFIX}#", qos=1)
                    self._client = client
                    self.connected.set()
                    async for message in client.messages:
                        payload = message.payload if isinstance(message.payload, bytes) else b""
                        self.received.append(Received(message.topic.value, _decode(payload), time.time()))
                        self._changed.set()
            except aiomqtt.MqttError:
                pass
            finally:
                self._client = None
                self.connected.clear()
            await asyncio.sleep(0.2)

    async def changed(self, within_s: float) -> None:
        """Wait for the next message (or the timeout)."""
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_s):
                await self._changed.wait()

    def on(self, treadmill: str, leaf: str) -> list[Any]:
        return [r.payload for r in self.received if r.treadmill == treadmill and r.leaf == leaf]

    def latest_state(self, treadmill: str) -> dict[str, Any] | None:
        states = [s for s in self.on(treadmill, "state") if isinstance(s, dict)]
        return states[-1] if states else None

    def reply(self, treadmill: str, command_id: str) -> dict[str, Any] | None:
        for payload in self.on(treadmill, "reply"):
            if isinstance(payload, dict) and payload.get("command_id") == command_id:
                return payload
        return None

    async def command(
        self, treadmill: str, payload: dict[str, Any], within_s: float = 20.0
    ) -> dict[str, Any]:
        """Send until a reply arrives; the reply, or {"status": "no_reply"} after ``within_s``."""
        command_id = str(payload["command_id"])
        raw = json.dumps(payload)
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            client = self._client
            if client is not None:
                with contextlib.suppress(aiomqtt.MqttError):
                    await client.publish(f"{TOPIC_PREFIX}treadmill/{treadmill}/command", raw, qos=1)
            until = min(deadline, time.monotonic() + REPLY_WAIT_S)
            while time.monotonic() < until:
                answer = self.reply(treadmill, command_id)
                if answer is not None:
                    return answer
                await self.changed(0.2)
        return {"status": "no_reply", "command_id": command_id}
