"""`retrowalk serve` as a real process, with a real mosquitto and `treadsim serve`, and a kiosk that keeps
everything the broker delivered (retained flags included)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiomqtt
import pytest

from retrowalk.subprocesses import stop_process
from tests.mqtt.mqtt_broker import Mosquitto
from treadsim.server import treadmill_address

from .harness import healthy_screening

BIN = Path(sys.executable).parent
PREFIX = "retrowalk/v1/"
SERVICE_ID = "home"


@contextlib.contextmanager
def treadsim_serving() -> Iterator[str]:
    """`treadsim serve` with one treadmill; yields its private bus address."""
    proc = subprocess.Popen(
        [str(BIN / "treadsim"), "serve", "--accel", "2.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("DBUS_SYSTEM_BUS_ADDRESS="), first
        yield first.split("=", 1)[1]
    finally:
        stop_process(proc)
        if proc.stdout is not None:
            proc.stdout.close()


def treadsim(*args: str, bus: str) -> Any:
    out = subprocess.run(
        [str(BIN / "treadsim"), *args, "--bus", bus], capture_output=True, text=True, timeout=20, check=True
    )
    return json.loads(out.stdout)


def write_config(
    path: Path, storage: Path, *, address: str | None = None, broker_port: int | None = None
) -> Path:
    text = (
        f'[service]\nid = "{SERVICE_ID}"\nstorage = "{storage}"\n\n'
        "[link]\nscan_timeout_s = 5.0\nbackoff_initial_s = 0.2\nbackoff_max_s = 1.0\n\n"
    )
    if broker_port is not None:
        text += (
            f'[broker]\nhost = "127.0.0.1"\nport = {broker_port}\nprefix = "{PREFIX}"\n'
            "discovery = false\nreconnect_min_s = 0.2\nreconnect_max_s = 1.0\n\n"
        )
    text += f'[[treadmills]]\nid = "tm0"\naddress = "{address or treadmill_address(0)}"\n'
    path.write_text(text)
    return path


def retrowalk(args: list[str], bus: str, output: IO[str] | None = None) -> subprocess.Popen[str]:
    """`retrowalk ARGS` on treadsim's bus; its stdout and stderr are pipes, or both go to ``output`` (a
    long run that nobody reads would fill a pipe and block)."""
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": bus}
    if output is None:
        return subprocess.Popen(
            [str(BIN / "retrowalk"), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    return subprocess.Popen(
        [str(BIN / "retrowalk"), *args], env=env, stdout=output, stderr=subprocess.STDOUT, text=True
    )


def assert_belt_stopped_by_retrowalk(bus: str) -> None:
    """The belt is not running, and the last change to it that was not physics came from a client."""
    state = treadsim("state", bus=bus)
    assert state["belt"] != "running", state
    record = treadsim("record", "--json", bus=bus)
    entries = record["entries"] if isinstance(record, dict) and "entries" in record else record
    last_change = [e for e in entries if e["source"] != "physics"][-1]
    assert last_change["source"] == "client"  # retrowalk stopped it, nobody else


@contextlib.contextmanager
def reaped(proc: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """Whatever the test does, the process does not outlive it."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


async def finished(proc: subprocess.Popen[str], within: float) -> tuple[str, str]:
    """Wait for the process to exit by itself; its stdout and stderr."""
    return await asyncio.to_thread(proc.communicate, timeout=within)


async def until(predicate: Callable[[], Any], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.1)


def decoded(message: aiomqtt.Message) -> Any:
    """A message's payload as JSON, or as text when it is not JSON (availability is a bare word)."""
    raw = message.payload
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class Received:
    topic: str
    payload: Any
    retain: bool


@dataclass
class Kiosk:
    """Subscribed to everything under the prefix; keeps what arrives, in order."""

    client: aiomqtt.Client
    messages: list[Received] = field(default_factory=list)

    async def listen(self) -> None:
        async for message in self.client.messages:
            self.messages.append(Received(str(message.topic), decoded(message), bool(message.retain)))

    def on(self, leaf: str) -> list[Any]:
        return [m.payload for m in self.messages if m.topic.endswith(leaf)]

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.on("/tm0/event") if isinstance(e, dict) and e.get("kind") == kind]

    async def send(self, payload: dict[str, Any]) -> None:
        await self.client.publish(f"{PREFIX}treadmill/tm0/command", json.dumps(payload), qos=1)

    async def until(self, predicate: Callable[[], Any], within: float, what: str) -> None:
        await until(predicate, within, what)

    async def walking(self, user: str, bus: str) -> str:
        """Once the service is online: start a session for ``user``; its id, once the belt moves."""
        await self.until(
            lambda: "online" in self.on(f"service/{SERVICE_ID}/availability"), 60, "service online"
        )
        await self.start_session(user)
        await self.until(lambda: treadsim("state", bus=bus)["speed_kmh"] >= 0.9, 30, "the belt moving")
        session_id: str = self.events("session_started")[0]["session_id"]
        return session_id

    async def start_session(self, user: str) -> None:
        """Screen a healthy adult and start a session; waits for the belt's session to begin."""
        await self.until(lambda: "online" in self.on("/tm0/availability"), 60, "treadmill tm0 online")
        await self.send({"command_id": f"screen-{user}", **healthy_screening(user)})
        await self.send({"command_id": f"start-{user}", "type": "start", "user_id": user})
        await self.until(lambda: self.events("session_started"), 30, "session_started")


@contextlib.asynccontextmanager
async def kiosk_on(port: int, client_id: str = "test-kiosk") -> AsyncIterator[Kiosk]:
    async with aiomqtt.Client("127.0.0.1", port, identifier=client_id) as client:
        await client.subscribe(f"{PREFIX}#", qos=1)
        kiosk = Kiosk(client)
        task = asyncio.create_task(kiosk.listen(), name=f"kiosk-{client_id}")
        try:
            yield kiosk
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@dataclass(frozen=True)
class Home:
    """treadsim with one treadmill, a mosquitto, and a configuration for `serve` using both."""

    bus: str
    broker: Mosquitto
    config: Path
    storage: Path


@contextlib.contextmanager
def home_with_broker(tmp_path: Path) -> Iterator[Home]:
    storage = tmp_path / "history.sqlite3"
    with treadsim_serving() as bus, broker_in(tmp_path / "broker") as broker:
        config = write_config(tmp_path / "home.toml", storage, broker_port=broker.port)
        yield Home(bus, broker, config, storage)


@contextlib.contextmanager
def broker_in(directory: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(directory)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
