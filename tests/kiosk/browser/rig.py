"""The real kiosk (in this process, on a fixed port so it can be restarted) on a real mosquitto, with a
scripted service on the broker: the test publishes what a `retrowalk serve` would (availability,
retained state, telemetry, events, summaries, all built with the API's own models) and chooses the
replies to commands. So each screen (every alarm, a refusal, a lost kiosk) is reached on purpose
through the real contract. The whole journey through a real `serve` and treadsim is test_journey.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
from pydantic import BaseModel

from retrowalk.kiosk.app import Kiosk
from retrowalk.kiosk.passwords import hash_password
from retrowalk.kiosk.settings import load_kiosk_config
from retrowalk.mqtt.commands import CommandReply, MemberInfo
from retrowalk.subprocesses import free_port
from tests.mqtt.mqtt_broker import Mosquitto

PREFIX = "retrowalk/v1/"
SERVICE_ID = "gym-a"
TREADMILL = "tm1"
TOKEN = "screen-token-tm1-0123456789abcdef"
STAFF_PASSWORD = "correct horse battery"


def kiosk_config(
    path: Path,
    broker_port: int,
    http_port: int,
    *,
    treadmill: str = TREADMILL,
    service: str = SERVICE_ID,
    reply_timeout_s: float = 3.0,
) -> Path:
    path.write_text(
        f'[http]\nhost = "127.0.0.1"\nport = {http_port}\nreply_timeout_s = {reply_timeout_s}\n\n'
        f'[staff]\npassword_hash = "{hash_password(STAFF_PASSWORD)}"\n\n'
        f'[broker]\nhost = "127.0.0.1"\nport = {broker_port}\n\n'
        f'[[treadmills]]\nid = "{treadmill}"\nservice = "{service}"\ntoken = "{TOKEN}"\n'
        'label = "Treadmill 1, by the window"\n'
    )
    return path


@dataclass
class ScriptedService:
    """Plays `retrowalk serve` for one treadmill on the broker."""

    client: aiomqtt.Client
    # Replies by command type; a type not here is accepted.
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What a `member` look-up answers, by user id; a member not here gets an error reply.
    members: dict[str, MemberInfo] = field(default_factory=dict)
    commands: list[dict[str, Any]] = field(default_factory=list)
    lookups: list[dict[str, Any]] = field(default_factory=list)
    # How many commands of a type to leave unanswered (a service too slow for the kiosk's timeout).
    silent: dict[str, int] = field(default_factory=dict)

    def topic(self, leaf: str) -> str:
        return f"{PREFIX}treadmill/{TREADMILL}/{leaf}"

    async def publish(self, leaf: str, payload: BaseModel | str, *, retain: bool = False) -> None:
        text = payload if isinstance(payload, str) else payload.model_dump_json()
        await self.client.publish(self.topic(leaf), text, qos=1, retain=retain)

    async def service_available(self, online: bool) -> None:
        word = "online" if online else "offline"
        await self.client.publish(f"{PREFIX}service/{SERVICE_ID}/availability", word, qos=1, retain=True)

    async def answer(self) -> None:
        """Reply to each command, until the broker drops this client (a test that restarts the broker)."""
        with contextlib.suppress(aiomqtt.MqttError):
            await self._answer_each()

    async def _answer_each(self) -> None:
        async for message in self.client.messages:
            raw = message.payload
            command = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
            # Look-ups record nothing at the service: kept apart from the commands that act.
            (self.lookups if command.get("type") == "member" else self.commands).append(command)
            if self.silent.get(command.get("type", ""), 0) > 0:
                self.silent[command["type"]] -= 1
                continue
            scripted = self.replies.get(command.get("type", ""), {"status": "accepted"})
            if command.get("type") == "member":
                member = self.members.get(command.get("user_id", ""))
                scripted = {"status": "accepted", "member": member} if member else {"status": "error"}
            reply = CommandReply(command_id=command.get("command_id"), treadmill_id=TREADMILL, **scripted)
            await self.publish("reply", reply)

    def types(self) -> list[str]:
        return [command.get("type", "") for command in self.commands]


@dataclass
class Rig:
    kiosk_url: str
    service: ScriptedService
    config: Path
    kiosk_task: asyncio.Task[None] | None = None
    kiosk: Kiosk | None = None

    @property
    def screen_url(self) -> str:
        """The address a screen is set up with (it carries the token once)."""
        return f"{self.kiosk_url}/t/{TREADMILL}?token={TOKEN}"

    async def start_kiosk(self) -> None:
        ready = asyncio.Event()

        async def serve() -> None:
            async with Kiosk(load_kiosk_config(self.config)).serving() as kiosk:
                self.kiosk = kiosk
                ready.set()
                await asyncio.Event().wait()

        self.kiosk_task = asyncio.create_task(serve(), name="kiosk-under-test")
        await asyncio.wait_for(ready.wait(), 10)

    async def stop_kiosk(self) -> None:
        """The kiosk process goes away (its pages' streams end with it)."""
        if self.kiosk_task is not None:
            # Not while its broker client is still connecting (a test that needs nothing from the broker
            # can end that soon): aiomqtt 2.5, cancelled there, leaves its socket and a task behind, which
            # the leak guard reports. A broker that stays away only costs the wait.
            if self.kiosk is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.kiosk.broker.connected.wait(), 10)
            self.kiosk_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.kiosk_task
            self.kiosk_task = None
            self.kiosk = None

    def open_streams(self) -> int:
        """How many page streams the running kiosk is serving."""
        assert self.kiosk is not None, "the kiosk is not running"
        return self.kiosk.mirror.listener_count


@contextlib.asynccontextmanager
async def kiosk_rig(
    broker: Mosquitto, directory: Path, *, reply_timeout_s: float = 3.0
) -> AsyncIterator[Rig]:
    http_port = free_port("127.0.0.1")
    config = kiosk_config(directory / "kiosk.toml", broker.port, http_port, reply_timeout_s=reply_timeout_s)
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="scripted-service") as client:
        await client.subscribe(f"{PREFIX}treadmill/{TREADMILL}/command/#", qos=1)
        service = ScriptedService(client)
        answering = asyncio.create_task(service.answer(), name="scripted-service-replies")
        rig = Rig(f"http://127.0.0.1:{http_port}", service, config)
        try:
            await rig.start_kiosk()
            yield rig
        finally:
            await rig.stop_kiosk()
            answering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await answering
