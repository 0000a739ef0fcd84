"""What `retrowalk kiosk` costs, each figure beside a bare MQTT peer measured in the same run.

1. Telemetry fan-out: the kiosk runs as its own process (`retrowalk kiosk`, so its CPU and memory are
   its own) on a local mosquitto, with ``--pages`` open Server-Sent Event streams (aiohttp clients in
   this process). A publisher sends telemetry at ``--rate`` Hz, each sample numbered in `elapsed_s`; the
   latency is from the publish call to the sample arriving on each page's stream. The bare peer is an
   aiomqtt subscriber of the same topic: what MQTT alone costs. The kiosk's CPU over the phase (from
   /proc) per message and its memory per open page (resident set with the pages open, less without)
   are printed.
2. Stop: treadsim behind its virtual adapter and the real service in this process, the kiosk process
   in front. Each round starts a session (through the router), waits for the belt to run, then sends a
   Stop, alternately as a POST to the kiosk and as a bare MQTT command; the time is from sending it to
   treadsim's peripheral receiving the Stop write (FTMS op 0x08).

Goals (issue 15, for the whole path through a browser): telemetry p99 < 250 ms, Stop p99 < 300 ms.
Figures are printed, never asserted.

    .venv/bin/python bench/kiosk.py --pages 20 --seconds 20 --stops 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt

from control_path import SCREENING
from retrowalk.config import LinkSection, ServiceSection, Settings, TreadmillConfig
from retrowalk.mqtt import commands as mc
from retrowalk.mqtt.settings import BrokerSettings
from retrowalk.service.app import Clock, Service
from retrowalk.session import events as ev
from retrowalk.subprocesses import Mosquitto, stop_process
from shared import add_kiosk_phase_options, log_findings_only, percentile
from treadsim.ftms import CONTROL_POINT, ControlOp
from treadsim.model import BeltState
from treadsim.server import Simulator, treadmill_address

PREFIX = "retrowalk/v1/"
TOKEN = "bench-token-0123456789abcdef"
SERVICE_ID = "bench"
TELEMETRY_GOAL_MS = 250.0
STOP_GOAL_MS = 300.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def report(label: str, latencies_ms: list[float], goal_ms: float | None = None) -> None:
    if not latencies_ms:
        print(f"{label:>34}: nothing measured")
        return
    line = (
        f"{label:>34}: n={len(latencies_ms)}, p50 {percentile(latencies_ms, 0.5):.2f} ms, "
        f"p99 {percentile(latencies_ms, 0.99):.2f} ms, max {max(latencies_ms):.2f} ms"
    )
    if goal_ms is not None:
        verdict = "met" if percentile(latencies_ms, 0.99) < goal_ms else "NOT met"
        line += f" (goal p99 < {goal_ms:g} ms: {verdict})"
    print(line)


# ------------------------------------------------------------------------------------ the kiosk process


@contextlib.contextmanager
def kiosk_process(broker: Mosquitto, workdir: Path) -> Any:
    """`retrowalk kiosk` as a gym runs it; yields (its pid, its base URL)."""
    config = workdir / "kiosk.toml"
    config.write_text(
        f'[http]\nport = 0\n[broker]\nhost = "{broker.host}"\nport = {broker.port}\n'
        f'[[treadmills]]\nid = "tm0"\nservice = "{SERVICE_ID}"\ntoken = "{TOKEN}"\n',
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "retrowalk.cli", "--log-level", "WARNING", "kiosk", "--config", str(config)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "serving at " not in line:
            raise RuntimeError(f"the kiosk did not start: {line!r}")
        yield process.pid, line.split("serving at ", 1)[1].strip()
    finally:
        stop_process(process)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE


async def healthy(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{base}/healthz") as answer:
                    if answer.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise RuntimeError("the kiosk did not connect to the broker")


# ------------------------------------------------------------------------------------- 1. telemetry


async def read_page(
    session: aiohttp.ClientSession, base: str, arrivals: dict[int, float], ready: asyncio.Event
) -> None:
    async with session.get(f"{base}/t/tm0/events", headers={"Authorization": f"Bearer {TOKEN}"}) as stream:
        event = ""
        async for raw in stream.content:
            line = raw.decode()
            if line.startswith("event: "):
                event = line[7:].strip()
            elif line.startswith("data: "):
                if event == "snapshot":
                    ready.set()
                elif event == "telemetry":
                    arrivals[int(json.loads(line[6:])["elapsed_s"])] = time.perf_counter()


async def bare_peer(broker: Mosquitto, arrivals: dict[int, float], ready: asyncio.Event) -> None:
    async with aiomqtt.Client(broker.host, broker.port, identifier="bench-bare-peer") as client:
        await client.subscribe(f"{PREFIX}treadmill/tm0/telemetry", qos=0)
        ready.set()
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            arrivals[int(json.loads(payload)["elapsed_s"])] = time.perf_counter()


def telemetry(seq: int) -> str:
    return json.dumps(
        {
            "treadmill_id": "tm0",
            "at": "2026-12-01T09:00:00Z",
            "phase": "ramp",
            "session_id": "s-bench",
            "speed_kmh": 1.2,
            "allowed_speed_kmh": 1.3,
            "incline_pct": 0.0,
            "distance_m": 10.0,
            "elapsed_s": float(seq),
            "remaining_s": 100.0,
            "heart_rate_bpm": None,
        }
    )


async def fan_out(broker: Mosquitto, pid: int, base: str, pages: int, *, seconds: float, rate: float) -> None:
    rss_without_pages = rss_bytes(pid)
    page_arrivals = [dict[int, float]() for _ in range(pages)]
    bare_arrivals: dict[int, float] = {}
    sent: dict[int, float] = {}
    async with aiohttp.ClientSession() as session, asyncio.TaskGroup() as readers:
        ready = [asyncio.Event() for _ in range(pages + 1)]
        tasks = [
            readers.create_task(read_page(session, base, page_arrivals[i], ready[i]), name=f"page-{i}")
            for i in range(pages)
        ]
        tasks.append(readers.create_task(bare_peer(broker, bare_arrivals, ready[-1]), name="bare-peer"))
        for event in ready:
            await asyncio.wait_for(event.wait(), 30)
        await asyncio.sleep(1.0)  # the kiosk settles its allocations for the open pages
        rss_with_pages = rss_bytes(pid)
        cpu_before = cpu_s(pid)
        async with aiomqtt.Client(broker.host, broker.port, identifier="bench-publisher") as publisher:
            count = int(seconds * rate)
            start = time.perf_counter()
            for seq in range(1, count + 1):
                await asyncio.sleep(max(0.0, start + seq / rate - time.perf_counter()))
                sent[seq] = time.perf_counter()
                await publisher.publish(f"{PREFIX}treadmill/tm0/telemetry", telemetry(seq), qos=0)
            await asyncio.sleep(1.0)  # the last samples arrive
        cpu_used = cpu_s(pid) - cpu_before
        for task in tasks:
            task.cancel()
    kiosk_ms = [(a[s] - t) * 1000 for a in page_arrivals for s, t in sent.items() if s in a]
    bare_ms = [(bare_arrivals[s] - t) * 1000 for s, t in sent.items() if s in bare_arrivals]
    lost = pages * len(sent) - len(kiosk_ms)
    print(f"telemetry: {len(sent)} samples at {rate:g} Hz to {pages} open pages and a bare MQTT peer")
    report("bare MQTT peer", bare_ms)
    report(f"kiosk SSE ({pages} pages)", kiosk_ms, TELEMETRY_GOAL_MS)
    print(f"{'kiosk samples lost':>34}: {lost}")
    messages = len(sent) * pages
    print(
        f"{'kiosk CPU':>34}: {cpu_used:.2f} s over the phase, "
        f"{cpu_used / messages * 1e6:.0f} µs per page message"
    )
    per_page = (rss_with_pages - rss_without_pages) / pages
    print(
        f"{'kiosk memory':>34}: {rss_without_pages / 2**20:.1f} MiB without pages, "
        f"{rss_with_pages / 2**20:.1f} MiB with {pages}: {per_page / 1024:.0f} KiB per open page"
    )


# ------------------------------------------------------------------------------------------ 2. stop


class StopProbe:
    """Stamps treadsim's peripheral receiving a Stop write (op 0x08, parameter 1)."""

    def __init__(self) -> None:
        self.stopped_at: float | None = None
        self.stopped = asyncio.Event()

    def install(self, sim: Simulator) -> None:
        peripheral = sim.treadmill(0).peripheral
        original = peripheral.write

        def write(char_uuid: str, value: bytes) -> None:
            if (
                char_uuid == CONTROL_POINT
                and value[:2] == bytes([ControlOp.STOP_PAUSE, 1])
                and self.stopped_at is None
            ):
                self.stopped_at = time.perf_counter()
                self.stopped.set()
            original(char_uuid, value)

        setattr(peripheral, "write", write)  # noqa: B010 - the measuring point, as in control_path.py

    def arm(self) -> None:
        self.stopped_at = None
        self.stopped.clear()


async def poll(predicate: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.01)


async def start_walking(service: Service, sim: Simulator, round_number: int) -> None:
    user = f"bench-{round_number}"
    screening = {**SCREENING, "user_id": user}
    start = {"type": "start", "user_id": user, "plan": {"max_speed_kmh": 1.0, "duration_cap_s": 600}}
    for number, payload in enumerate((screening, start)):
        command = mc.COMMAND_ADAPTER.validate_python({"command_id": f"r{round_number}-{number}", **payload})
        await service.router.handle_command("tm0", command)
    engine = service.runners["tm0"].engine
    assert engine is not None
    treadmill = sim.treadmill(0).treadmill
    await poll(
        lambda: treadmill.state is BeltState.RUNNING and engine.phase in ev.ACTIVE_PHASES, 30, "the belt"
    )


def walking(service: Service) -> bool:
    engine = service.runners["tm0"].engine
    return engine is not None and engine.phase in ev.SESSION_PHASES


@contextlib.asynccontextmanager
async def served(sim: Simulator, broker: Mosquitto, storage: Path) -> AsyncIterator[Service]:
    settings = Settings(
        service=ServiceSection(id=SERVICE_ID, storage=storage / "history.sqlite3"),
        treadmills=[TreadmillConfig(id="tm0", address=treadmill_address(0))],
        broker=BrokerSettings(host=broker.host, port=broker.port),
        link=LinkSection(scan_timeout_s=20.0, backoff_initial_s=0.2, backoff_max_s=2.0),
    )
    service = Service(settings, clock=Clock(now=sim.now))
    task = asyncio.create_task(service.run(), name="bench-service")
    try:
        runner = service.runners["tm0"]
        await poll(lambda: runner.engine is not None and runner.link.connected, 60, "tm0 connected")
        assert service.bridge is not None
        await asyncio.wait_for(service.bridge.connected.wait(), 30)
        yield service
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def stops(broker: Mosquitto, base: str, rounds: int, workdir: Path) -> None:
    probe = StopProbe()
    kiosk_ms: list[float] = []
    bare_ms: list[float] = []
    async with Simulator(treadmills=1) as sim:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = sim.bus_address
        probe.install(sim)
        async with (
            served(sim, broker, workdir) as service,
            aiohttp.ClientSession(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as page,
            aiomqtt.Client(broker.host, broker.port, identifier="bench-bare-stopper") as bare,
        ):
            for round_number in range(rounds):
                await start_walking(service, sim, round_number)
                probe.arm()
                stop = {"command_id": f"stop-{round_number}", "type": "stop"}
                sent = time.perf_counter()
                through_kiosk = round_number % 2 == 0
                if through_kiosk:
                    answer = await page.post("/t/tm0/command", json=stop)
                    if answer.status != 200:
                        raise RuntimeError(f"the kiosk answered {answer.status}: {await answer.text()}")
                else:
                    await bare.publish(f"{PREFIX}treadmill/tm0/command", json.dumps(stop), qos=1)
                await asyncio.wait_for(probe.stopped.wait(), 10)
                assert probe.stopped_at is not None
                (kiosk_ms if through_kiosk else bare_ms).append((probe.stopped_at - sent) * 1000)
                await poll(lambda: not walking(service), 30, "the session's end")
    print(f"stop: {rounds} sessions started and stopped, alternately through the kiosk and a bare MQTT peer")
    report("bare MQTT command -> stop write", bare_ms)
    report("kiosk POST -> stop write", kiosk_ms, STOP_GOAL_MS)


# ------------------------------------------------------------------------------------------ entry


async def run(pages: int, seconds: float, rate: float, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="rw-bench-kiosk-") as directory:
        workdir = Path(directory)
        with Mosquitto(workdir / "broker") as broker, kiosk_process(broker, workdir) as (pid, base):
            await healthy(base)
            if pages:
                await fan_out(broker, pid, base, pages, seconds=seconds, rate=rate)
            if rounds:
                await stops(broker, base, rounds, workdir)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=20, help="open pages (SSE streams); 0 skips phase 1")
    add_kiosk_phase_options(parser, seconds=20.0, rate=10.0)
    args = parser.parse_args()
    if args.pages < 0 or args.stops < 0 or args.seconds <= 0 or args.rate <= 0:
        parser.error("--pages and --stops must be >= 0, --seconds and --rate > 0")
    log_findings_only()
    asyncio.run(run(args.pages, args.seconds, args.rate, args.stops))
    return 0


if __name__ == "__main__":
    sys.exit(main())
