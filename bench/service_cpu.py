"""CPU and memory of `retrowalk serve` per treadmill, with every treadmill in a session.

``treadsim serve --treadmills N`` runs in a separate process (so its cost is not counted); THIS process
runs the real ``Service`` (real FtmsLink, pyftms, bleak over the virtual adapter's private D-Bus, the
engine, the SQLite history) for the N treadmills, starts a session on each, waits for the warm-up and
then measures this process's CPU time (``time.process_time()``: user + system, every thread) over the
window. 100 % is one core. Resident memory is read from /proc (Linux); "per treadmill" is the growth
from just before the service was built, divided by N. Figures are printed, never asserted.

    .venv/bin/python bench/service_cpu.py --treadmills 20 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from control_path import quiet_logging_like_serve, service_settings, start_session
from retrowalk.mqtt import payloads as p
from retrowalk.service.app import Clock, Service
from retrowalk.service.publish import CallbackPublisher
from retrowalk.session import events as ev
from shared import start_treadsim, stop_treadsim

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# A plan long enough for any window this bench is run with (the operator ceiling's default).
SESSION_PLAN: dict[str, Any] = {"duration_cap_s": 20 * 60}


class SampleCounter:
    """Counts the telemetry the runners publish (one per Treadmill Data sample they handled), so the
    figures can be checked against the work that was actually done."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, _treadmill_id: str, item: object) -> None:
        if isinstance(item, p.Telemetry):
            self.count += 1


def resident_mib(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status (not Linux?)")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of another process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def measure(args: argparse.Namespace) -> int:
    server = await start_treadsim(args.treadmills, "--notify-hz", str(args.notify_hz))
    try:
        with tempfile.TemporaryDirectory(prefix="rw-bench-") as storage:
            rss_before = resident_mib()
            samples = SampleCounter()
            service = Service(
                service_settings(Path(storage), args.treadmills, args.tick_hz),
                clock=Clock(),
                observer=CallbackPublisher(samples),
            )
            task = asyncio.create_task(service.run(), name="bench-service")
            try:
                started = time.monotonic()
                async with asyncio.TaskGroup() as group:
                    for treadmill_id in service.runners:
                        group.create_task(
                            start_session(service, treadmill_id, SESSION_PLAN), name=f"start-{treadmill_id}"
                        )
                print(
                    f"sessions: {len(service.runners)} started in {time.monotonic() - started:.1f} s "
                    f"(connect + screening + start)"
                )
                await asyncio.sleep(args.warmup)
                wall_0, cpu_0, sim_0 = time.monotonic(), time.process_time(), cpu_seconds(server.pid)
                samples.count = 0
                await asyncio.sleep(args.seconds)
                wall = time.monotonic() - wall_0
                cpu = time.process_time() - cpu_0
                sim_cpu = cpu_seconds(server.pid) - sim_0
                handled = samples.count
                rss_after = resident_mib()
                running = sum(r.phase in ev.ACTIVE_PHASES for r in service.runners.values())
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        n = args.treadmills
        total = cpu / wall * 100
        print(f"window: {wall:.1f} s after a {args.warmup:g} s warm-up; sessions active: {running}/{n}")
        expected = n * args.notify_hz * wall
        print(f"samples handled in the window: {handled} (expected about {expected:.0f})")
        print(f"service CPU: total={total:.2f} % per_treadmill={total / n:.3f} % (100 % = one core)")
        print(
            f"service memory: rss={rss_after:.1f} MiB before_service={rss_before:.1f} MiB "
            f"per_treadmill={(rss_after - rss_before) / n:.2f} MiB"
        )
        print(f"treadsim process CPU (not counted above): {sim_cpu / wall * 100:.2f} %")
        return 0 if running == n else 1
    finally:
        await stop_treadsim(server)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--treadmills", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds after the last start")
    parser.add_argument("--notify-hz", type=float, default=1.0, help="Treadmill Data rate (FTMS: ~1 Hz)")
    parser.add_argument("--tick-hz", type=float, default=5.0, help="the service's engine tick (serve: 5)")
    args = parser.parse_args()
    if args.treadmills < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("need at least one treadmill, a positive window and a non-negative warm-up")
    quiet_logging_like_serve()
    return asyncio.run(measure(args))


if __name__ == "__main__":
    sys.exit(main())
