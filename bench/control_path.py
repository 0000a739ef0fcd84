"""How long retrowalk takes to answer a belt that runs too fast: the control path, measured two ways.

1. In process: a real :class:`TreadmillRunner` (real engine, real publisher) with a link that has no
   radio. Each measured sample is over the allowed speed + tolerance; the time is taken from putting
   the sample on the link's event stream to the corrective Set Target Speed reaching ``link.execute``.
   That is what retrowalk itself adds; the goal is < 1 ms at p99.
2. Through the virtual adapter: treadsim in this process, the real ``Service`` with the real
   ``FtmsLink`` (pyftms + bleak over a private dbus-daemon). The belt is made too fast and the time is
   taken from the peripheral sending the first Treadmill Data notification that shows the overspeed to
   the peripheral receiving the corrective Set Target Speed write (op code 0x02). Goal: < 20 ms at p99.
   ``--trigger console`` instead presses the console's speed keys, which also sends a Machine Status
   "target speed changed"; the time is then taken from that notification.

Nothing in src/ is changed: the measuring points are wrappers around instance methods, installed here.
Figures are printed, never asserted.

    .venv/bin/python bench/control_path.py --samples 5000 --events 300
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrowalk.config import LinkSection, ServiceSection, Settings, TreadmillConfig
from retrowalk.link.events import LinkReply, Sample
from retrowalk.mqtt import commands as mc
from retrowalk.mqtt import payloads as p
from retrowalk.mqtt.bridge import MqttBridge
from retrowalk.mqtt.settings import BrokerSettings
from retrowalk.service.app import Clock, Service
from retrowalk.service.commands import CommandRouter
from retrowalk.service.publish import CallbackPublisher, LogPublisher, Publisher, TeePublisher
from retrowalk.service.runner import TreadmillRunner
from retrowalk.session import events as ev
from retrowalk.session.plan import OperatorCeilings, SessionPlan
from retrowalk.storage import Store
from shared import RadiolessLink, percentile
from treadsim.gatt import LinkSink
from treadsim.model import ChangeSource
from treadsim.peripheral import FtmsPeripheral
from treadsim.server import Simulator, treadmill_address

IN_PROCESS_GOAL_MS = 1.0
ADAPTER_GOAL_MS = 20.0
# The duration ceiling the in-process session runs under; samples are spread over most of it.
SESSION_CAP_S = 20 * 60


# ------------------------------------------------------------------------------------------- reporting


def report(label: str, latencies_ms: list[float], goal_ms: float, unit: str, *, verdict: bool = True) -> None:
    """One figure line (parsed by the smoke test and quoted in docs/performance.md) and the verdict."""
    scale = 1000.0 if unit == "us" else 1.0
    p50, p99 = percentile(latencies_ms, 0.50), percentile(latencies_ms, 0.99)
    print(
        f"{label}: n={len(latencies_ms)} p50={p50 * scale:.1f} {unit} p99={p99 * scale:.1f} {unit} "
        f"max={max(latencies_ms) * scale:.1f} {unit}"
    )
    if verdict:
        print(f"{label}: goal p99 < {goal_ms:g} ms: {'MET' if p99 < goal_ms else 'NOT MET'}")


def quiet_logging_like_serve() -> None:
    """`retrowalk serve` logs at INFO; keep that cost (records are formatted) but write them nowhere."""
    from retrowalk.cli import setup_logging

    setup_logging("INFO")
    sink = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)


# ------------------------------------------------------------------------------------------- in process


class StampingLink(RadiolessLink):
    """The bench link; a Set Target Speed stamps the clocks (wall time, and this thread's CPU time,
    which does not run while another process has the core)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock)
        self.stamp_ns: int | None = None
        self.stamp_cpu_ns: int | None = None
        self.arrived = asyncio.Event()

    async def execute(self, command: ev.Command) -> LinkReply:
        now, cpu_now = time.perf_counter_ns(), time.thread_time_ns()
        if isinstance(command, ev.SetTargetSpeed):
            if self.stamp_ns is None:
                self.stamp_ns, self.stamp_cpu_ns = now, cpu_now
            self.arrived.set()
        return await super().execute(command)


class ManualClock:
    """The runner's monotonic clock, moved by the bench so a long session fits into a short run."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bench_publisher(kind: str, storage: Path) -> tuple[Publisher, Store | None]:
    """``log``: what `serve` without a broker uses. ``outbox``: the MQTT bridge (not connected), so each
    event is committed to the SQLite outbox, as `serve` with a broker does."""
    if kind == "log":
        return LogPublisher(), None
    store = Store(storage / "bench.sqlite3")
    router = CommandRouter(store, OperatorCeilings())
    return MqttBridge(BrokerSettings(), store, router, service_id="bench"), store


def send_commands_first(runner: TreadmillRunner) -> None:
    """WHAT-IF, not the product: the engine lists a notice (published first: a log line, or an SQLite
    outbox commit with a broker) before the command it goes with. This reorders each action list so
    commands leave first, to show what that ordering costs the control path."""
    engine = runner.engine
    assert engine is not None
    original = engine.handle

    def handle(event: ev.Event, now: float) -> list[ev.Action]:
        actions = original(event, now)
        return sorted(actions, key=lambda action: not isinstance(action, ev.COMMAND_TYPES))

    setattr(engine, "handle", handle)  # noqa: B010


async def in_process(
    samples: int, publisher_kind: str, commands_first: bool = False
) -> tuple[list[float], list[float]]:
    """Latencies (ms) of ``samples`` overspeed samples, each answered by the runner on an idle pump: wall
    time, and the CPU time this thread spent on them (what is left when other processes' share of the
    cores is taken out)."""
    clock = ManualClock()
    link = StampingLink(clock)
    handled = asyncio.Event()

    def on_published(_treadmill_id: str, item: object) -> None:
        if isinstance(item, p.Telemetry):
            handled.set()  # the runner publishes telemetry last, when it is done with a sample

    with tempfile.TemporaryDirectory(prefix="rw-bench-") as storage:
        main, store = bench_publisher(publisher_kind, Path(storage))
        ceilings = OperatorCeilings(max_duration_s=SESSION_CAP_S)
        runner = TreadmillRunner(
            "bench",
            link,
            ceilings,
            TeePublisher(main, CallbackPublisher(on_published)),
            tick_hz=5.0,
            clock=clock,
        )
        task = asyncio.create_task(runner.run(), name="bench-runner")
        try:
            return await _drive(runner, link, clock, handled, samples, commands_first=commands_first)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if store is not None:
                store.close()


async def _drive(
    runner: TreadmillRunner,
    link: StampingLink,
    clock: ManualClock,
    handled: asyncio.Event,
    samples: int,
    *,
    commands_first: bool,
) -> tuple[list[float], list[float]]:
    await asyncio.wait_for(runner.ready.wait(), 5)
    if commands_first:
        send_commands_first(runner)
    plan = SessionPlan(duration_cap_s=SESSION_CAP_S, cool_down_s=0)
    await runner.submit(ev.Start("bench-user", plan))
    # Two samples per measurement (one over, one back at the allowed speed, which ends the overspeed so
    # the next one is a fresh overspeed); spread them over most of the session so the ramp runs too.
    step_s = min(0.2, (SESSION_CAP_S - 120) / (2 * samples + 10))
    distance = 0.0
    engine = runner.engine
    assert engine is not None

    async def feed(speed_kmh: float) -> None:
        nonlocal distance
        clock.now += step_s
        distance += speed_kmh / 3.6 * step_s
        sample = Sample(clock.now, speed_kmh, 0.0, distance, int(clock.now), 90, 10)
        handled.clear()
        link.events.put(sample)
        await asyncio.wait_for(handled.wait(), 5)
        for _ in range(3):  # let the pump finish its tick and go back to waiting
            await asyncio.sleep(0)

    # The belt starts and holds at the start speed: the engine leaves ARMED.
    for _ in range(5):
        await feed(plan.start_speed_kmh)
    latencies: list[float] = []
    on_cpu: list[float] = []
    gc.collect()
    for _ in range(samples):
        if engine.phase not in ev.ACTIVE_PHASES:
            raise RuntimeError(f"the session left its active phases ({engine.phase}); bench cannot go on")
        allowed = engine.allowed_speed(clock.now + step_s)
        over = round(allowed + plan.overspeed_tolerance_kmh + 0.2, 2)
        clock.now += step_s
        distance += over / 3.6 * step_s
        sample = Sample(clock.now, over, 0.0, distance, int(clock.now), 90, 10)
        link.stamp_ns = None
        link.arrived.clear()
        handled.clear()
        start_ns, start_cpu_ns = time.perf_counter_ns(), time.thread_time_ns()
        link.events.put(sample)
        await asyncio.wait_for(link.arrived.wait(), 5)
        assert link.stamp_ns is not None
        assert link.stamp_cpu_ns is not None
        latencies.append((link.stamp_ns - start_ns) / 1e6)
        on_cpu.append((link.stamp_cpu_ns - start_cpu_ns) / 1e6)
        await asyncio.wait_for(handled.wait(), 5)
        await feed(allowed)
    return latencies, on_cpu


# ------------------------------------------------------------------------------------------- virtual adapter

TREADMILL_DATA = "00002acd-0000-1000-8000-00805f9b34fb"
MACHINE_STATUS = "00002ada-0000-1000-8000-00805f9b34fb"
CONTROL_POINT = "00002ad9-0000-1000-8000-00805f9b34fb"
SET_TARGET_SPEED = 0x02
# How long one overspeed may take before it is counted as missed (the grace period is 3 s).
EVENT_TIMEOUT_S = 5.0


def shown_speed_cs(value: bytes) -> int | None:
    """Instantaneous speed of one Treadmill Data part, or None when this part does not carry it.

    FTMS: flags (uint16) first; bit 0 ("More Data") clear means the speed (uint16, 0.01 km/h) follows.
    """
    if len(value) < 4 or value[0] & 0x01:
        return None
    return int.from_bytes(value[2:4], "little")


@dataclass
class Overspeed:
    """One overspeed made by the bench, and the two instants it is measured between."""

    threshold_cs: int  # allowed + tolerance: the engine acts on a shown speed above this
    trigger: str
    first_ns: int | None = None
    write_ns: int | None = None
    written_cs: int | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)


class TimedSink:
    """The adapter's LinkSink as the peripheral sees it, with the probe's clock on the way out."""

    def __init__(self, sink: LinkSink, probe: Probe) -> None:
        self._sink = sink
        self._probe = probe

    @property
    def mtu(self) -> int:
        return self._sink.mtu

    def send(self, char_uuid: str, value: bytes) -> None:
        self._probe.on_send(char_uuid, value, time.perf_counter_ns())
        self._sink.send(char_uuid, value)

    def drop(self) -> None:
        self._sink.drop()


class Probe:
    """The measuring points, installed on the simulated peripheral before anything connects to it."""

    def __init__(self) -> None:
        self.current: Overspeed | None = None
        self.last_shown_cs: int | None = None
        self.data_seen = asyncio.Event()

    def install(self, peripheral: FtmsPeripheral) -> None:
        original_connected = peripheral.connected
        original_write = peripheral.write

        def connected(sink: LinkSink) -> None:
            original_connected(TimedSink(sink, self))

        def write(char_uuid: str, value: bytes) -> None:
            self.on_write(char_uuid, value, time.perf_counter_ns())
            original_write(char_uuid, value)

        # Instance attributes shadow the methods; the adapter calls them through the instance.
        setattr(peripheral, "connected", connected)  # noqa: B010
        setattr(peripheral, "write", write)  # noqa: B010

    def on_send(self, char_uuid: str, value: bytes, now_ns: int) -> None:
        event = self.current
        if char_uuid == TREADMILL_DATA:
            shown = shown_speed_cs(value)
            if shown is None:
                return
            self.last_shown_cs = shown
            self.data_seen.set()
            if event and event.trigger == "data" and event.first_ns is None and shown > event.threshold_cs:
                event.first_ns = now_ns
        elif char_uuid == MACHINE_STATUS and event and event.trigger == "console" and event.first_ns is None:
            event.first_ns = now_ns

    def on_write(self, char_uuid: str, value: bytes, now_ns: int) -> None:
        event = self.current
        if char_uuid != CONTROL_POINT or not value or value[0] != SET_TARGET_SPEED or event is None:
            return
        if event.first_ns is not None and event.write_ns is None:
            event.write_ns = now_ns
            event.written_cs = int.from_bytes(value[1:3], "little")
            event.answered.set()


async def poll(predicate: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.01)


SCREENING: dict[str, Any] = {
    "type": "screening",
    "user_id": "bench",
    "age": 50,
    "severe_knee_oa": False,
    "ligament_injury": False,
    "balance_disorder_or_dizziness": False,
    "recent_knee_surgery": False,
}
# No ramp (start = max): every correction goes back to the same allowed speed, so each event is alike.
NO_RAMP_PLAN: dict[str, Any] = {"start_speed_kmh": 1.0, "max_speed_kmh": 1.0, "duration_cap_s": 1200}


async def start_session(service: Service, treadmill_id: str, plan: dict[str, Any]) -> SessionPlan:
    """Screen a user and start a session with ``plan``, as a kiosk would (through the command router)."""
    runner = service.runners[treadmill_id]
    await poll(lambda: runner.engine is not None and runner.link.connected, 60, f"{treadmill_id} connected")
    # One walker per treadmill: the service refuses one person on two belts at once.
    user = {"user_id": f"bench-{treadmill_id}"}
    start: dict[str, Any] = {"type": "start", **user, "plan": plan}
    for number, payload in enumerate(({**SCREENING, **user}, start)):
        command = mc.COMMAND_ADAPTER.validate_python({"command_id": f"{treadmill_id}-{number}", **payload})
        await service.router.handle_command(treadmill_id, command)
    engine = runner.engine
    assert engine is not None
    assert engine.plan is not None
    return engine.plan


def service_settings(storage: Path, treadmills: int, tick_hz: float = 5.0) -> Settings:
    """What `retrowalk serve` would read for ``treadmills`` simulated treadmills, without a broker."""
    return Settings(
        service=ServiceSection(id="bench", storage=storage / "history.sqlite3", tick_hz=tick_hz),
        treadmills=[TreadmillConfig(id=f"tm{i}", address=treadmill_address(i)) for i in range(treadmills)],
        link=LinkSection(scan_timeout_s=20.0, backoff_initial_s=0.2, backoff_max_s=2.0),
    )


class OverspeedMaker:
    """Makes one overspeed at a time on treadmill 0 and waits for the belt to be back in bounds."""

    def __init__(self, sim: Simulator, probe: Probe, plan: SessionPlan, trigger: str) -> None:
        self._sim = sim
        self._slot = sim.treadmill(0)
        self._probe = probe
        self._trigger = trigger
        self.allowed_cs = round(plan.start_speed_kmh * 100)
        self.threshold_cs = self.allowed_cs + round(plan.overspeed_tolerance_kmh * 100)
        self._too_fast_cs = self.threshold_cs + 50

    async def settle(self) -> None:
        """Belt at the allowed speed, and a sample showing that handled by the engine (which ends the
        previous overspeed, so the next one is a fresh one the engine must answer)."""
        treadmill = self._slot.treadmill
        while True:
            await poll(lambda: treadmill.speed_cs <= self.allowed_cs, 10, "belt at the allowed speed")
            self._probe.data_seen.clear()
            await asyncio.wait_for(self._probe.data_seen.wait(), 10)
            await asyncio.sleep(0.05)
            shown = self._probe.last_shown_cs
            if shown is not None and shown <= self.threshold_cs:
                return

    def make(self) -> Overspeed:
        event = Overspeed(self.threshold_cs, self._trigger)
        self._probe.current = event
        if self._trigger == "console":
            self._sim.perform(0, "set-speed", f"{self._too_fast_cs / 100:.2f}")
        else:
            # A belt that speeds up without saying so (no Machine Status): only Treadmill Data shows it.
            now = self._sim.now()
            self._slot.peripheral.tick(now)
            self._slot.treadmill.set_target_speed(now, self._too_fast_cs, ChangeSource.TREADMILL)
        return event


async def through_adapter(
    events: int, trigger: str, notify_hz: float, acceleration: float
) -> tuple[list[float], int, int]:
    """Latencies (ms) of ``events`` overspeeds through treadsim's virtual adapter, how many were missed,
    and how many corrections the service itself reported."""
    probe = Probe()
    corrections = 0

    def count(_treadmill_id: str, item: object) -> None:
        nonlocal corrections
        corrections += isinstance(item, p.OverspeedCorrected)

    async with Simulator(treadmills=1, notify_hz=notify_hz, acceleration_kmh_s=acceleration) as sim:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = sim.bus_address
        probe.install(sim.treadmill(0).peripheral)
        with tempfile.TemporaryDirectory(prefix="rw-bench-") as storage:
            service = Service(
                service_settings(Path(storage), 1),
                clock=Clock(now=sim.now),
                observer=CallbackPublisher(count),
            )
            task = asyncio.create_task(service.run(), name="bench-service")
            try:
                plan = await start_session(service, "tm0", NO_RAMP_PLAN)
                engine = service.runners["tm0"].engine
                assert engine is not None
                await poll(lambda: engine.phase in ev.ACTIVE_PHASES, 30, "the session under way")
                maker = OverspeedMaker(sim, probe, plan, trigger)
                latencies: list[float] = []
                missed = 0
                for _ in range(events):
                    if engine.phase not in ev.ACTIVE_PHASES:
                        raise RuntimeError(f"the session ended ({engine.phase}); see the log")
                    await maker.settle()
                    event = maker.make()
                    try:
                        await asyncio.wait_for(event.answered.wait(), EVENT_TIMEOUT_S)
                    except TimeoutError:
                        missed += 1
                        continue
                    finally:
                        probe.current = None
                    assert event.first_ns is not None
                    assert event.write_ns is not None
                    if event.written_cs is not None and event.written_cs > maker.allowed_cs:
                        raise RuntimeError(f"the correction asked for {event.written_cs} cs, over the plan")
                    latencies.append((event.write_ns - event.first_ns) / 1e6)
                # The service publishes a turn's notices after its commands have left, so the last
                # OverspeedCorrected may still be on its way when the last write has arrived.
                for _ in range(100):
                    if corrections >= len(latencies):
                        break
                    await asyncio.sleep(0.02)
                return latencies, missed, corrections
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


# ------------------------------------------------------------------------------------------- entry


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=5000, help="in-process overspeed samples")
    parser.add_argument("--events", type=int, default=300, help="overspeeds made through the virtual adapter")
    parser.add_argument(
        "--only", choices=["in-process", "adapter"], default=None, help="run one of the two measurements"
    )
    parser.add_argument(
        "--publisher",
        choices=["log", "outbox"],
        default="log",
        help="in process: serve without a broker (log) or with one (events committed to the SQLite outbox)",
    )
    parser.add_argument(
        "--what-if-commands-first",
        action="store_true",
        help="in process: reorder the engine's actions so commands leave before notices are published",
    )
    parser.add_argument("--trigger", choices=["data", "console"], default="data", help="adapter: see above")
    parser.add_argument("--notify-hz", type=float, default=5.0, help="adapter: Treadmill Data rate")
    parser.add_argument(
        "--acceleration", type=float, default=5.0, help="adapter: the simulated belt's km/h per second"
    )
    args = parser.parse_args()
    if args.samples < 1 or args.events < 1:
        parser.error("--samples and --events must be at least 1")
    quiet_logging_like_serve()
    if args.only in (None, "in-process"):
        wall, on_cpu = asyncio.run(in_process(args.samples, args.publisher, args.what_if_commands_first))
        label = f"in-process ({args.publisher} publisher"
        label += ", WHAT-IF commands before notices)" if args.what_if_commands_first else ")"
        report(label, wall, IN_PROCESS_GOAL_MS, "us")
        report(f"{label} on-CPU", on_cpu, IN_PROCESS_GOAL_MS, "us", verdict=False)
    if args.only in (None, "adapter"):
        latencies, missed, corrections = asyncio.run(
            through_adapter(args.events, args.trigger, args.notify_hz, args.acceleration)
        )
        if not latencies:
            print(f"virtual adapter ({args.trigger}): no event measured ({missed} missed)")
            return 1
        report(f"virtual adapter ({args.trigger} trigger)", latencies, ADAPTER_GOAL_MS, "ms")
        print(
            f"virtual adapter ({args.trigger} trigger): missed={missed}, "
            f"overspeed corrections the service reported={corrections}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
