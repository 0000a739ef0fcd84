"""Fleet: how many treadmills at 1 Hz one retrowalk service carries through engine + MQTT, beside a bare
bridge (a callback straight to an aiomqtt publish) in the same run.

Two feeds, each measured for the service and for the bare bridge, at each size N:

- ``adapter``: treadsim (its own process, this file's ``sim`` role) serves 2N treadmills through its
  virtual adapter. A worker process runs the real ``Service`` (FtmsLink, pyftms, bleak, engine, MQTT
  bridge) with a session on each of treadmills N..2N-1, or the bare bridge (unmodified pyftms; its
  ``on_ftms_event`` callback publishes the update with aiomqtt) on treadmills 0..N-1. Latency: treadsim
  handing a Treadmill Data notification to its adapter (timed inside the sim process) to the
  subscriber (this process) receiving the telemetry message.
- ``in-process``: no Bluetooth. The worker runs the real ``Service`` whose runners get a synthetic link
  delivering one Sample per treadmill per second, spread over the second (or the bare bridge publishing
  from the same feed). Latency: handing the sample to the runner to the subscriber's receipt.

With ``--bare-direct`` a third worker runs in process: the bare bridge writing each message in the
publish call, as the service writes its telemetry (``AckCheckingClient.publish_at_most_once``) rather than
through aiomqtt's ``publish``; its figure is for comparison, the verdict stays against the plain one.

Latency pairs each message with the latest sample of its treadmill sent before it (1 Hz, so a message
more than a second late cannot be paired and counts as not delivered). Every clock read is
CLOCK_MONOTONIC, which all processes on one machine share. Each worker is its own process, so its CPU
(user + system, over the window) and its resident memory are its own; mosquitto, treadsim, its
dbus-daemon and the subscriber are not counted in it. The service's warm-up starts once the events and
retained states of its session starts have been sent (a one-off backlog of seconds at 1000 treadmills,
which used to fall into the window). Goals: >= 500 treadmills per core with p99 < 100 ms and <= 1 MB
resident memory per treadmill (issue 7); < 1.3x the bare bridge's CPU per message at 1000 treadmills in
process (issue 13, which tightened issue 7's 1.5x).

    .venv/bin/python bench/fleet.py --in-process 100,300,600 --adapter 20,50 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import cProfile
import itertools
import json
import math
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt

from control_path import quiet_logging_like_serve, start_session
from retrowalk.config import LinkSection, ServiceSection, Settings, TreadmillConfig
from retrowalk.link.events import Sample
from retrowalk.mqtt.aiomqtt_private import AckCheckingClient
from retrowalk.mqtt.bridge import MqttBridge
from retrowalk.mqtt.settings import BrokerSettings
from retrowalk.service.app import Service
from retrowalk.subprocesses import Mosquitto
from service_cpu import cpu_seconds, resident_mib
from shared import RadiolessLink, percentile

TOPIC_ROOT = "fleet/"
SERVICE_PREFIX = "fleet/svc/"
BARE_PREFIX = "fleet/bare/"
TREADMILL_DATA = "00002acd-0000-1000-8000-00805f9b34fb"
SESSION_PLAN: dict[str, Any] = {"duration_cap_s": 20 * 60}
LATENCY_GOAL_MS = 100.0
PER_CORE_GOAL = 500
CPU_RATIO_GOAL = 1.3  # issue 13: under 1.3x the bare bridge
RSS_GOAL_MIB = 1.0
# Results travel as one JSON line each (every send time of the window): far above asyncio's 64 KiB.
LINE_LIMIT = 1 << 28


# ============================================================================ sim role (own process)


async def sim_role(treadmills: int) -> None:
    """treadsim with a clock on every Treadmill Data notification that carries a speed (a record's last
    part); answers ``dump T0 T1`` on stdin with the send times per treadmill index inside the window."""
    from treadsim.server import Simulator

    sent: dict[int, list[float]] = defaultdict(list)

    def timed(index: int, peripheral: Any) -> None:
        original = peripheral.connected

        class TimedSink:
            def __init__(self, sink: Any) -> None:
                self._sink = sink

            @property
            def mtu(self) -> int:
                return int(self._sink.mtu)

            def send(self, char_uuid: str, value: bytes) -> None:
                if char_uuid == TREADMILL_DATA and value[:1] and not value[0] & 0x01:
                    sent[index].append(time.monotonic())
                self._sink.send(char_uuid, value)

            def drop(self) -> None:
                self._sink.drop()

        setattr(peripheral, "connected", lambda sink: original(TimedSink(sink)))  # noqa: B010

    async with Simulator(treadmills=treadmills, notify_hz=1.0, console=False) as sim:
        for slot in sim.treadmills:
            timed(slot.index, slot.peripheral)
        print(f"BUS {sim.bus_address}", flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := (await reader.readline()).decode().split():
            if line[0] == "dump":
                t0, t1 = float(line[1]), float(line[2])
                window = {i: [t for t in times if t0 <= t <= t1] for i, times in sent.items()}
                print("DUMP " + json.dumps(window), flush=True)


# ============================================================================ worker role (own process)


@dataclass
class Feed:
    """One sample per treadmill per second, the treadmills spread evenly over each second."""

    deliver: Callable[[int, Sample], None]
    treadmills: int
    sent: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))

    async def run(self) -> None:
        start = time.monotonic() + 0.1
        distance = [0.0] * self.treadmills
        for second in range(10**9):
            for i in range(self.treadmills):
                due = start + second + i / self.treadmills
                if (wait := due - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                distance[i] += 1.0 / 3.6  # 1.0 km/h for one second
                now = time.monotonic()
                self.sent[i].append(now)
                self.deliver(i, Sample(now, 1.0, 0.0, distance[i], second, 90, second // 10))


class BarePublisher:
    """The bare bridge: JSON straight onto aiomqtt (a queue and one sender task, as any publisher needs
    between a synchronous callback and an async client). ``direct``: written in the publish call the way
    the service writes telemetry (``AckCheckingClient.publish_at_most_once``), for comparison only."""

    def __init__(self, client: aiomqtt.Client, *, direct: bool = False) -> None:
        self._client = client
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._direct = client if direct and isinstance(client, AckCheckingClient) else None

    def publish(self, key: str, data: dict[str, Any]) -> None:
        topic, payload = f"{BARE_PREFIX}{key}/telemetry", json.dumps(data).encode()
        if self._direct is not None:
            self._direct.publish_at_most_once(topic, payload, retain=False)
        else:
            self._queue.put_nowait((topic, payload))

    async def run(self) -> None:
        while True:
            topic, payload = await self._queue.get()
            await self._client.publish(topic, payload, qos=0)


def service_settings(args: argparse.Namespace, storage: Path) -> Settings:
    from treadsim.server import treadmill_address

    return Settings(
        service=ServiceSection(id="fleet", storage=storage / "history.sqlite3", tick_hz=5.0),
        treadmills=[
            TreadmillConfig(id=f"tm{i}", address=treadmill_address(args.first + i))
            for i in range(args.treadmills)
        ],
        link=LinkSection(scan_timeout_s=60.0, backoff_initial_s=0.5, backoff_max_s=5.0),
        broker=BrokerSettings(host="127.0.0.1", port=args.port, prefix=SERVICE_PREFIX, discovery=False),
    )


async def run_service(args: argparse.Namespace, storage: Path, group: asyncio.TaskGroup) -> Feed | None:
    service = Service(service_settings(args, storage))
    feed: Feed | None = None
    if args.feed == "synthetic":
        links = [RadiolessLink() for _ in service.runners]
        for runner, link in zip(service.runners.values(), links, strict=True):
            runner.link = link
        feed = Feed(lambda i, sample: links[i].events.put(sample), args.treadmills)
    group.create_task(service.run(), name="fleet-service")
    assert service.bridge is not None
    await asyncio.wait_for(service.bridge.connected.wait(), 30)
    gate = asyncio.Semaphore(20)  # connect + screening + start, a few at a time

    async def start(treadmill_id: str) -> None:
        async with gate:
            await start_session(service, treadmill_id, SESSION_PLAN)

    async with asyncio.TaskGroup() as starts:
        for treadmill_id in service.runners:
            starts.create_task(start(treadmill_id), name=f"start-{treadmill_id}")
    if feed is not None:
        group.create_task(feed.run(), name="fleet-feed")
    await drain_start_backlog(service.bridge)
    return feed


async def drain_start_backlog(bridge: MqttBridge, within_s: float = 120.0) -> None:
    """Wait until the events and retained states of the session starts have gone out.

    A thousand starts leave about 3000 events (QoS 1, one at a time through the outbox) and as many
    retained states queued, which take seconds to send; measured in the window, that one-off backlog
    was counted as CPU per telemetry message, which the bare bridge (no sessions) never pays."""
    started = time.monotonic()
    while (status := bridge.status).outbox_pending or status.retained_pending:
        if time.monotonic() - started > within_s:
            raise RuntimeError(f"the start backlog did not drain in {within_s:g} s: {status}")
        await asyncio.sleep(0.1)
    print(f"start backlog drained in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)


async def run_bare(args: argparse.Namespace, group: asyncio.TaskGroup, client: aiomqtt.Client) -> Feed | None:
    bare = BarePublisher(client, direct=args.kind == "bare-direct")
    group.create_task(bare.run(), name="fleet-bare-publisher")
    if args.feed == "synthetic":
        feed = Feed(
            lambda i, s: bare.publish(f"tm{i}", {"speed": s.speed_kmh, "distance": s.distance_m}),
            args.treadmills,
        )
        group.create_task(feed.run(), name="fleet-feed")
        return feed
    from bleak import BleakScanner
    from pyftms import MachineType, get_client
    from pyftms.client.backends import UpdateEvent

    from treadsim.server import treadmill_address

    wanted = {treadmill_address(args.first + i): f"tm{i}" for i in range(args.treadmills)}
    devices = {}
    async with BleakScanner() as scanner, asyncio.timeout(60):
        async for device, _adv in scanner.advertisement_data():
            if device.address in wanted:
                devices[device.address] = device
                if len(devices) == len(wanted):
                    break
    gate = asyncio.Semaphore(10)

    async def connect(address: str) -> None:
        key = wanted[address]

        def on_event(event: Any) -> None:
            if isinstance(event, UpdateEvent):
                bare.publish(key, dict(event.event_data))

        async with gate:
            machine = get_client(devices[address], MachineType.TREADMILL, on_ftms_event=on_event)
            await machine.connect()
            # The belt must move, or an FTMS client hears nothing that changes (pyftms sends changes only).
            await machine.set_target_speed(1.0)
            await machine.start_resume()

    async with asyncio.TaskGroup() as connects:
        for address in wanted:
            connects.create_task(connect(address), name=f"bare-connect-{address}")
    return None


class WindowDone(Exception):
    """The window was measured and reported; the worker may end."""


async def worker_role(args: argparse.Namespace) -> None:
    quiet_logging_like_serve()
    rss_before = resident_mib()
    client_class = AckCheckingClient if args.kind == "bare-direct" else aiomqtt.Client
    with tempfile.TemporaryDirectory(prefix="rw-fleet-") as tmp, contextlib.suppress(WindowDone):
        async with (
            client_class("127.0.0.1", args.port, identifier=f"fleet-bare-{args.first}") as client,
            asyncio.TaskGroup() as group,
        ):
            if args.kind == "service":
                feed = await run_service(args, Path(tmp), group)
            else:
                feed = await run_bare(args, group, client)
            await asyncio.sleep(args.warmup)
            print("WINDOW", flush=True)  # the orchestrator reads treadsim's CPU from here
            profile = cProfile.Profile() if args.profile else None
            t0, cpu0 = time.monotonic(), time.process_time()
            if profile is not None:
                profile.enable()
            await asyncio.sleep(args.seconds)
            if profile is not None:
                profile.disable()
                profile.dump_stats(args.profile)
            t1, cpu1 = time.monotonic(), time.process_time()
            result = {
                "t0": t0,
                "t1": t1,
                "cpu_s": cpu1 - cpu0,
                "rss_before_mib": rss_before,
                "rss_after_mib": resident_mib(),
                "sent": {
                    f"tm{i}": [t for t in times if t0 <= t <= t1]
                    for i, times in (feed.sent if feed else {}).items()
                },
            }
            # The result is one line of several hundred KiB. Written to a pipe left non-blocking (a
            # slowed reader, as under a sampling profiler, filled it), the write stopped at the pipe's
            # 64 KiB and the orchestrator read half a line; a blocking write waits for the reader.
            os.set_blocking(sys.stdout.fileno(), True)
            print("RESULT " + json.dumps(result), flush=True)
            raise WindowDone  # leave the TaskGroup: cancels the service (belts stopped first) and the feed


# ============================================================================ orchestrator


@dataclass
class Row:
    feed: str
    kind: str
    treadmills: int
    sent: int
    received: int
    latencies_ms: list[float]
    cpu_share: float
    cpu_per_msg_us: float
    rss_per_treadmill_mib: float
    aside: str = ""

    @property
    def delivered(self) -> float:
        return len(self.latencies_ms) / self.sent if self.sent else 0.0

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 0.99) if self.latencies_ms else math.inf

    def line(self) -> str:
        p50 = percentile(self.latencies_ms, 0.5) if self.latencies_ms else math.inf
        return (
            f"fleet {self.feed} {self.kind} n={self.treadmills}: delivered={self.delivered:.3f} "
            f"p50={p50:.1f} ms p99={self.p99:.1f} ms cpu={self.cpu_share * 100:.1f} % "
            f"cpu_per_msg={self.cpu_per_msg_us:.0f} us rss_per_treadmill={self.rss_per_treadmill_mib:.3f} MiB"
            + (f" ({self.aside})" if self.aside else "")
        )

    def holds(self) -> bool:
        return self.p99 < LATENCY_GOAL_MS and self.delivered >= 0.99


class Subscriber:
    """Receipt times of every fleet telemetry message, by (prefix, treadmill key)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: dict[str, list[float]] = defaultdict(list)
        self.ready = asyncio.Event()

    async def run(self) -> None:
        async with aiomqtt.Client("127.0.0.1", self.port, identifier="fleet-subscriber") as client:
            await client.subscribe(f"{TOPIC_ROOT}#", qos=0)
            self.ready.set()
            async for message in client.messages:
                now = time.monotonic()
                topic = message.topic.value
                if topic.endswith("/telemetry"):
                    # fleet/svc/treadmill/tm3/telemetry or fleet/bare/tm3/telemetry
                    parts = topic.split("/")
                    self.received[f"{parts[1]}/{parts[-2]}"].append(now)


def pair(
    sent: dict[str, list[float]], received: dict[str, list[float]], kind: str, t0: float, t1: float
) -> tuple[int, int, list[float]]:
    """(samples sent, messages received, latencies in ms) inside [t0, t1]."""
    prefix = "svc" if kind == "service" else "bare"
    latencies: list[float] = []
    got = 0
    for key, times in sent.items():
        for arrival in received.get(f"{prefix}/{key}", []):
            if not t0 <= arrival <= t1 + 1.0:
                continue
            got += 1
            index = bisect.bisect_right(times, arrival) - 1
            if index >= 0 and arrival - times[index] < 1.0:
                latencies.append((arrival - times[index]) * 1000)
    return sum(len(times) for times in sent.values()), got, latencies


def bunches(sent: dict[str, list[float]], gap_s: float = 0.01) -> tuple[float, int]:
    """How treadsim bunches this worker's notifications: treadsim sends everything due on one pass of its
    clock (20 Hz), so sends less than ``gap_s`` apart left in the same pass. (mean, largest) per pass."""
    times = sorted(t for series in sent.values() for t in series)
    if not times:
        return 0.0, 0
    sizes = [1]
    for before, after in itertools.pairwise(times):
        if after - before < gap_s:
            sizes[-1] += 1
        else:
            sizes.append(1)
    return sum(sizes) / len(sizes), max(sizes)


async def run_worker(
    args: argparse.Namespace,
    port: int,
    subscriber: Subscriber,
    *,
    kind: str,
    feed: str,
    n: int,
    first: int = 0,
    sim: SimProcess | None = None,
) -> Row:
    cmd = [sys.executable, __file__, "worker", "--kind", kind, "--feed", feed, "--treadmills", str(n),
           "--first", str(first), "--port", str(port),
           "--seconds", str(args.seconds), "--warmup", str(args.warmup)]  # fmt: skip
    profile = Path(args.profile, f"{kind}-{feed}-{n}.prof") if args.profile else None
    if profile is not None:
        cmd += ["--profile", str(profile)]
    env_bus = {"DBUS_SYSTEM_BUS_ADDRESS": sim.bus} if sim else {}
    process = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, env={**os.environ, **env_bus}, limit=LINE_LIMIT
    )
    assert process.stdout is not None
    result: dict[str, Any] | None = None
    sim_cpu_0 = sim_cpu = 0.0
    while line := (await process.stdout.readline()).decode():
        if line.startswith("WINDOW") and sim is not None:
            sim_cpu_0 = sim.cpu()
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
            sim_cpu = sim.cpu() - sim_cpu_0 if sim is not None else 0.0
            break
    await process.wait()
    if result is None:
        raise RuntimeError(
            f"{kind} worker ({feed}, n={n}) ended without a result (exit {process.returncode})"
        )
    t0, t1 = result["t0"], result["t1"]
    await asyncio.sleep(1.2)  # late messages of the window still count
    if sim is not None:
        window = await sim.dump(t0, t1)
        sent = {f"tm{int(i) - first}": times for i, times in window.items() if first <= int(i) < first + n}
    else:
        sent = result["sent"]
    count, received, latencies = pair(sent, subscriber.received, kind, t0, t1)
    wall = t1 - t0
    aside = ""
    if sim:
        mean, biggest = bunches(sent)
        aside = (
            f"treadsim+dbus-daemon CPU {sim_cpu / wall * 100:.1f} %; "
            f"notifications per sim tick: mean {mean:.1f}, max {biggest}"
        )
    label = "in-process" if feed == "synthetic" else "adapter"
    if profile is not None:
        print(f"fleet {label} {kind} n={n}: profile of the window written to {profile}", flush=True)
    return Row(
        label, kind, n, count, received, latencies, result["cpu_s"] / wall,
        result["cpu_s"] / max(received, 1) * 1e6,
        (result["rss_after_mib"] - result["rss_before_mib"]) / n, aside,
    )  # fmt: skip


@dataclass
class SimProcess:
    process: asyncio.subprocess.Process
    bus: str

    @classmethod
    async def start(cls, treadmills: int) -> SimProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "sim", "--treadmills", str(treadmills),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=LINE_LIMIT,
        )  # fmt: skip
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 60)).decode().split()
        if first[:1] != ["BUS"]:
            raise RuntimeError(f"the sim did not start: {first}")
        return cls(process, first[1])

    def cpu(self) -> float:
        from treadsim_capacity import child_pids

        pids = [self.process.pid, *child_pids(self.process.pid)]
        return sum(cpu_seconds(pid) for pid in pids)

    async def dump(self, t0: float, t1: float) -> dict[str, list[float]]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"dump {t0} {t1}\n".encode())
        await self.process.stdin.drain()
        line = (await self.process.stdout.readline()).decode()
        return dict(json.loads(line.removeprefix("DUMP ")))

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def orchestrate(args: argparse.Namespace, port: int) -> int:
    subscriber = Subscriber(port)
    listening = asyncio.create_task(subscriber.run(), name="fleet-subscriber")
    rows: list[Row] = []
    try:
        await asyncio.wait_for(subscriber.ready.wait(), 10)
        for n in args.in_process:
            for kind in ("bare", "service", *(["bare-direct"] if args.bare_direct else [])):
                rows.append(await run_worker(args, port, subscriber, kind=kind, feed="synthetic", n=n))
                print(rows[-1].line(), flush=True)
        for n in args.adapter:
            sim = await SimProcess.start(2 * n)
            try:
                for kind, first in (("bare", 0), ("service", n)):
                    rows.append(
                        await run_worker(
                            args, port, subscriber, kind=kind, feed="adapter", n=n, first=first, sim=sim
                        )
                    )
                    print(rows[-1].line(), flush=True)
            finally:
                await sim.stop()
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await listening
    verdicts(rows)
    return 0


def verdicts(rows: list[Row]) -> None:
    for feed in ("in-process", "adapter"):
        services = [r for r in rows if r.feed == feed and r.kind == "service"]
        if not services:
            continue
        holding = [r.treadmills for r in services if r.holds()]
        best = max(holding, default=0)
        verdict = "MET" if best >= PER_CORE_GOAL else "NOT MET"
        tried = max(r.treadmills for r in services)
        print(
            f"fleet {feed}: largest size run with p99 < {LATENCY_GOAL_MS:g} ms and >= 99 % delivered: {best} "
            f"treadmills (largest tried {tried}); goal >= {PER_CORE_GOAL} per core: {verdict}"
        )
        largest = max(services, key=lambda r: r.treadmills)
        bare = next(
            (r for r in rows if r.feed == feed and r.kind == "bare" and r.treadmills == largest.treadmills),
            None,
        )
        if bare is not None and bare.cpu_per_msg_us > 0:
            ratio = largest.cpu_per_msg_us / bare.cpu_per_msg_us
            print(
                f"fleet {feed} n={largest.treadmills}: service/bare CPU per message {ratio:.2f}x "
                f"(goal < {CPU_RATIO_GOAL:g}x): {'MET' if ratio < CPU_RATIO_GOAL else 'NOT MET'}"
            )
        size = largest.treadmills
        direct = next(
            (r for r in rows if r.feed == feed and r.kind == "bare-direct" and r.treadmills == size), None
        )
        if direct is not None and direct.cpu_per_msg_us > 0:
            ratio = largest.cpu_per_msg_us / direct.cpu_per_msg_us
            print(f"fleet {feed} n={size}: service/bare-direct CPU per message {ratio:.2f}x (no goal)")
        rss = largest.rss_per_treadmill_mib
        print(
            f"fleet {feed} n={largest.treadmills}: resident memory {rss:.3f} MiB per treadmill "
            f"(goal <= {RSS_GOAL_MIB:g} MB): {'MET' if rss <= RSS_GOAL_MIB else 'NOT MET'}"
        )


def sizes(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()] if text.strip() else []
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("sizes are positive numbers of treadmills, comma-separated")
    return values


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] in ("sim", "worker"):
        role = argparse.ArgumentParser()
        role.add_argument("role")
        role.add_argument("--treadmills", type=int, required=True)
        role.add_argument("--kind", choices=["service", "bare", "bare-direct"])
        role.add_argument("--feed", choices=["synthetic", "adapter"])
        role.add_argument("--first", type=int, default=0)
        role.add_argument("--port", type=int)
        role.add_argument("--seconds", type=float)
        role.add_argument("--warmup", type=float)
        role.add_argument("--profile", default="")
        args = role.parse_args()
        if args.role == "sim":
            asyncio.run(sim_role(args.treadmills))
        else:
            asyncio.run(worker_role(args))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--in-process", type=sizes, default=[100, 300, 600], help="sizes, e.g. 100,300,600")
    parser.add_argument("--adapter", type=sizes, default=[20, 50], help="sizes through the virtual adapter")
    parser.add_argument("--seconds", type=float, default=15.0, help="measurement window per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds between setup and the window")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        default="",
        help="profile each worker's window with cProfile into DIR/<kind>-<feed>-<n>.prof (read it with "
        "python -m pstats); the profiler slows the worker, so the run's figures are not comparable",
    )
    parser.add_argument(
        "--bare-direct",
        action="store_true",
        help="also run, in process, a bare bridge that writes each message in the publish call as the "
        "service writes telemetry (for comparison; the verdict stays against the plain bare bridge)",
    )
    args = parser.parse_args()
    if args.seconds <= 0 or args.warmup < 0 or not (args.in_process or args.adapter):
        parser.error("need a positive window, a non-negative warm-up and at least one size")
    if args.profile and not Path(args.profile).is_dir():
        parser.error(f"--profile {args.profile}: no such directory")
    with tempfile.TemporaryDirectory(prefix="rw-fleet-") as tmp, Mosquitto(Path(tmp) / "broker") as broker:
        port = broker.port
        return asyncio.run(orchestrate(args, port))


if __name__ == "__main__":
    sys.exit(main())
