"""How many simulated treadmills one ``treadsim serve`` process serves through the virtual adapter.

Starts ``treadsim serve --treadmills N`` as a subprocess, then from THIS (separate) process connects one
unmodified bleak client per treadmill, subscribes each to Treadmill Data (0x2ACD) and measures, over a
window: the delivery rate (received / expected notifications), the lateness of each notification
(arrival interval minus the nominal period), and the CPU share of the treadsim process and of its
dbus-daemon (CPU seconds / wall seconds; 1.0 = one core).

    .venv/bin/python bench/treadsim_capacity.py --treadmills 100 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice

from service_cpu import cpu_seconds
from shared import percentile, start_treadsim, stop_treadsim

TREADMILL_DATA = "00002acd-0000-1000-8000-00805f9b34fb"
FTMS = "00001826-0000-1000-8000-00805f9b34fb"


@dataclass
class Arrivals:
    times: list[float] = field(default_factory=list)

    def __call__(self, _char: object, _data: bytearray) -> None:
        self.times.append(time.monotonic())


def child_pids(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children.extend(int(c) for c in text)
    return children


async def discover(count: int, within: float) -> list[BLEDevice]:
    found: dict[str, BLEDevice] = {}
    async with BleakScanner(service_uuids=[FTMS]) as scanner:
        async with asyncio.timeout(within):
            async for device, _adv in scanner.advertisement_data():
                found[device.address] = device
                if len(found) == count:
                    break
    return sorted(found.values(), key=lambda d: d.address)


async def connect_all(devices: list[BLEDevice], parallel: int) -> list[tuple[BleakClient, Arrivals]]:
    gate = asyncio.Semaphore(parallel)
    results: list[tuple[BleakClient, Arrivals]] = []

    async def one(device: BLEDevice) -> None:
        async with gate:
            client = BleakClient(device, timeout=30)
            await client.connect()
            arrivals = Arrivals()
            await client.start_notify(TREADMILL_DATA, arrivals)
            results.append((client, arrivals))

    async with asyncio.TaskGroup() as group:
        for device in devices:
            group.create_task(one(device), name=f"connect-{device.address}")
    return results


async def run(args: argparse.Namespace) -> int:
    server = await start_treadsim(
        args.treadmills, "--notify-hz", str(args.notify_hz), "--tick-hz", str(args.tick_hz)
    )
    try:
        started = time.monotonic()
        devices = await discover(args.treadmills, within=60)
        pairs = await connect_all(devices, args.parallel)
        setup_s = time.monotonic() - started
        print(f"treadmills served: {len(pairs)} connected and subscribed in {setup_s:.1f} s")

        bus_pids = child_pids(server.pid)
        await asyncio.sleep(2.0)  # let every stream settle into its rhythm
        window_start = time.monotonic()
        cpu_server_0 = cpu_seconds(server.pid)
        cpu_bus_0 = sum(cpu_seconds(p) for p in bus_pids)
        cpu_self_0 = time.process_time()
        await asyncio.sleep(args.seconds)
        window_end = time.monotonic()
        wall = window_end - window_start
        cpu_server = (cpu_seconds(server.pid) - cpu_server_0) / wall
        cpu_bus = (sum(cpu_seconds(p) for p in bus_pids) - cpu_bus_0) / wall
        cpu_self = (time.process_time() - cpu_self_0) / wall

        period = 1.0 / args.notify_hz
        expected = wall / period * len(pairs)
        received = 0
        lateness: list[float] = []
        for _client, arrivals in pairs:
            inside = [t for t in arrivals.times if window_start <= t <= window_end]
            received += len(inside)
            lateness.extend(b - a - period for a, b in itertools.pairwise(inside))
        print(f"window: {wall:.1f} s at {args.notify_hz:g} Hz per treadmill")
        print(f"notifications: {received} received / {expected:.0f} expected = {received / expected:.3f}")
        if lateness:
            late = [abs(x) for x in lateness]
            median, p99 = statistics.median(late) * 1000, percentile(late, 0.99) * 1000
            print(
                f"arrival interval minus period: median {median:.1f} ms, p99 {p99:.1f} ms, "
                f"max {max(late) * 1000:.1f} ms"
            )
        print(
            f"CPU share (1.0 = one core): treadsim {cpu_server:.3f}, its dbus-daemon {cpu_bus:.3f}, "
            f"clients {cpu_self:.3f}"
        )

        for client, _arrivals in pairs:
            await client.disconnect()
    finally:
        await stop_treadsim(server)
    return 0 if server.returncode == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--treadmills", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window")
    parser.add_argument("--notify-hz", type=float, default=1.0)
    parser.add_argument("--tick-hz", type=float, default=20.0, help="treadsim's model update rate")
    parser.add_argument("--parallel", type=int, default=10, help="connections made at once")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
