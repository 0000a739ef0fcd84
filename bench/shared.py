"""What the benches share: the percentile they report, a treadmill link without a radio, `treadsim serve`
as a subprocess, and the options and log settings of the two kiosk benches."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable

from retrowalk.link.events import LinkConnected, LinkEvents, LinkReply, TreadmillInfo
from retrowalk.link.limits import DeviceRange
from retrowalk.session import events as ev


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: every figure printed is one that was measured)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil(n * fraction), at least the first
    return ordered[min(len(ordered), int(rank)) - 1]


async def start_treadsim(treadmills: int, *options: str) -> asyncio.subprocess.Process:
    """``treadsim serve --treadmills N [options]`` as a subprocess, its virtual adapter's bus made this
    process's system bus (bleak's) once treadsim printed it; end it with :func:`stop_treadsim`."""
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "treadsim.cli",
        "serve",
        "--treadmills",
        str(treadmills),
        *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = await _bus_address(server)
    except BaseException:
        await stop_treadsim(server)  # no simulator left behind by a bench that never measured
        raise
    return server


async def _bus_address(server: asyncio.subprocess.Process) -> str:
    """The first line `treadsim serve` prints: ``DBUS_SYSTEM_BUS_ADDRESS=...``."""
    assert server.stdout is not None
    first = (await asyncio.wait_for(server.stdout.readline(), 30)).decode().strip()
    name, _, address = first.partition("=")
    if name != "DBUS_SYSTEM_BUS_ADDRESS" or not address:
        raise RuntimeError(f"treadsim serve did not print its bus address first: {first!r}")
    return address


async def stop_treadsim(server: asyncio.subprocess.Process) -> None:
    if server.returncode is None:
        server.send_signal(signal.SIGTERM)
    await asyncio.wait_for(server.wait(), 30)


def bench_info() -> TreadmillInfo:
    return TreadmillInfo(
        address="00:00:00:00:00:00",
        name="bench",
        manufacturer=None,
        model=None,
        speed_range=DeviceRange(0.5, 12.0, 0.1),
        incline_range=DeviceRange(0.0, 10.0, 0.5),
        can_set_speed=True,
        can_set_incline=True,
        reports_elapsed_time=True,
        reports_distance=True,
    )


class RadiolessLink:
    """Stands in for FtmsLink: up as soon as it runs (``LinkConnected`` with ``bench_info()``), every
    command accepted at once, never lost. The bench puts its samples on ``events``, as FtmsLink does
    with the treadmill's."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.events = LinkEvents()
        self._clock = clock

    @property
    def connected(self) -> bool:
        return True

    async def run(self) -> None:
        self.events.put(LinkConnected(self._clock(), bench_info()))
        await asyncio.Event().wait()  # connected until cancelled, like a link that never drops

    async def execute(self, command: ev.Command) -> LinkReply:
        value = command.kmh if isinstance(command, ev.SetTargetSpeed) else None
        return LinkReply(ev.ResultCode.SUCCESS, sent_value=value)

    def drop(self, reason: str) -> None:
        raise RuntimeError(f"the bench link was asked to drop: {reason}")


def add_kiosk_phase_options(parser: argparse.ArgumentParser, *, seconds: float, rate: float) -> None:
    """The options bench/kiosk.py and bench/kiosk_browser.py both take: the telemetry phase (phase 1)
    and the Stop rounds (phase 2); each bench has its own defaults for the phase."""
    parser.add_argument("--seconds", type=float, default=seconds, help="telemetry phase length")
    parser.add_argument("--rate", type=float, default=rate, help="telemetry samples per second")
    parser.add_argument("--stops", type=int, default=20, help="Stop rounds through treadsim; 0 skips phase 2")


def log_findings_only() -> None:
    """Warnings and errors only, and of bleak only its errors: its notes about the virtual adapter (no
    bluetoothctl, its bus closing at the end) are how the bench is built, not findings."""
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bleak").setLevel(logging.ERROR)
