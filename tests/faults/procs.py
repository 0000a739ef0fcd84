"""The real processes of a fault run: `treadsim serve`, mosquitto and `retrowalk serve`.

Each is started from this venv's console scripts with its output in the run's directory, so a failing
seed leaves logs to read. Nothing here judges anything; it only starts, kills and restarts processes
and reads the simulator's ground truth through its console on the private bus.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from retrowalk.subprocesses import Mosquitto, find_mosquitto, stop_process
from treadsim.console import perform_remote
from treadsim.server import treadmill_address

BIN = Path(sys.executable).parent
DBUS_DAEMON = Path("/usr/bin/dbus-daemon")
SERVICE_ID = "faults"
TOPIC_PREFIX = "faults/v1/"


def missing_requirements() -> list[str]:
    """System programs a fault run needs; an empty list when everything is there."""
    missing = [] if find_mosquitto() else ["mosquitto (apt-get install mosquitto)"]
    return missing + ([] if DBUS_DAEMON.exists() else [f"{DBUS_DAEMON} (apt-get install dbus)"])


def treadmill_id(index: int) -> str:
    return f"tm{index}"


@dataclass(frozen=True)
class SimClock:
    """Maps this process's clocks onto the simulator's: its record is in simulated monotonic time, which
    runs at real speed here (``--speedup 1``) from an origin of its own."""

    sim_minus_monotonic: float
    wall_minus_monotonic: float

    def from_monotonic(self, t: float) -> float:
        return t + self.sim_minus_monotonic

    def from_wall(self, t: float) -> float:
        return t - self.wall_minus_monotonic + self.sim_minus_monotonic

    def now(self) -> float:
        return self.from_monotonic(time.monotonic())


class Treadsim:
    """`treadsim serve` with N treadmills; the console and the ground truth through its private bus."""

    def __init__(
        self, workdir: Path, treadmills: int, quirks: dict[int, str], seed: int, accel: float
    ) -> None:
        self.workdir = workdir
        self.treadmills = treadmills
        self.quirks = quirks
        self.seed = seed
        self.accel = accel
        self.bus = ""
        self._process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None

    async def start(self) -> SimClock:
        args = [str(BIN / "treadsim"), "serve", "--treadmills", str(self.treadmills)]
        args += ["--accel", str(self.accel), "--seed", str(self.seed)]
        for index, quirk in sorted(self.quirks.items()):
            args += ["--quirk", f"{index}:{quirk}"]
        stdout = self._spawn(args)
        first = await asyncio.wait_for(asyncio.to_thread(stdout.readline), 30)
        if not first.startswith("DBUS_SYSTEM_BUS_ADDRESS="):
            raise RuntimeError(f"treadsim serve did not print its bus address: {first!r}")
        self.bus = first.strip().split("=", 1)[1]
        return await self.clock()

    def _spawn(self, args: list[str]) -> IO[str]:
        self._log = (self.workdir / "treadsim.log").open("w")
        self._process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log, text=True)
        assert self._process.stdout is not None
        return self._process.stdout

    async def clock(self) -> SimClock:
        """Measured around one console call; the call takes milliseconds, so the error is that small."""
        before = time.monotonic()
        answer = await self.perform(0, "state")
        after = time.monotonic()
        return SimClock(float(answer["time"]) - (before + after) / 2, time.time() - time.monotonic())

    async def perform(self, index: int, action: str, argument: str = "") -> dict[str, Any]:
        return await perform_remote(self.bus, index, action, argument)

    async def state(self, index: int) -> dict[str, Any]:
        answer = await self.perform(index, "state")
        state: dict[str, Any] = answer["state"]
        return state

    async def record(self, index: int) -> list[dict[str, Any]]:
        answer = await self.perform(index, "record")
        entries: list[dict[str, Any]] = answer["record"]
        return entries

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, signal.SIGTERM, 10)
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None


class Broker(Mosquitto):
    """mosquitto on a free port with persistence, so a restart keeps the kiosk's queued messages.

    Stopped with SIGTERM: mosquitto writes its persistence file (sessions, queued QoS 1 messages) and
    exits. A broker that loses acknowledged messages on SIGKILL is the broker's durability, not
    retrowalk's outbox, so the campaign restarts it this way."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir / "broker", persistent=True)


class Service:
    """`retrowalk serve` against the simulator and the broker; killable with SIGKILL and restartable."""

    def __init__(self, workdir: Path, treadsim: Treadsim, broker: Broker, cool_down_s: int) -> None:
        self.workdir = workdir
        self.bus = treadsim.bus
        self.config = workdir / "retrowalk.toml"
        treadmills = "".join(
            f'\n[[treadmills]]\nid = "{treadmill_id(i)}"\naddress = "{treadmill_address(i)}"\n'
            for i in range(treadsim.treadmills)
        )
        self.config.write_text(
            f'[service]\nid = "{SERVICE_ID}"\nstorage = "{workdir / "history.sqlite3"}"\n\n'
            f"[default_plan]\ncool_down_s = {cool_down_s}\n\n"
            "[link]\nscan_timeout_s = 5.0\nbackoff_initial_s = 0.2\nbackoff_max_s = 2.0\n\n"
            f'[broker]\nhost = "127.0.0.1"\nport = {broker.port}\nprefix = "{TOPIC_PREFIX}"\n'
            "discovery = false\nreconnect_min_s = 0.2\nreconnect_max_s = 1.0\n" + treadmills
        )
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        assert self._process is None
        self.starts += 1
        self._log = (self.workdir / f"retrowalk-{self.starts}.log").open("wb")
        # Per-treadmill locks in the run's own directory: parallel runs share simulated addresses.
        env = {
            **os.environ,
            "DBUS_SYSTEM_BUS_ADDRESS": self.bus,
            "XDG_RUNTIME_DIR": str(self.workdir),
            "RETROWALK_LOCK_DIR": str(self.workdir),
        }
        self._process = subprocess.Popen(
            [str(BIN / "retrowalk"), "--log-level", "INFO", "serve", "--config", str(self.config)],
            env=env,
            stdout=self._log,
            stderr=self._log,
        )

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is stopped or flushed; the crash a power loss would be."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
        self._close_log()

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, signal.SIGTERM, 15)
            self._process = None
        self._close_log()

    def exit_code(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_text(self) -> str:
        return "".join(
            path.read_text(errors="replace") for path in sorted(self.workdir.glob("retrowalk-*.log"))
        )
