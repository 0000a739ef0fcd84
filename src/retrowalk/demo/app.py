"""`retrowalk demo`: a simulated treadmill, an embedded broker and the real service, one guided session.

Nothing here is a shortcut around production code: the treadmill is treadsim behind a virtual BlueZ
adapter (so the service talks to it through bleak and pyftms, as to a real one), the service is the one
`retrowalk serve` runs, and with a broker the demo behaves as a kiosk: it sends the screening and the
start as MQTT commands and counts what it receives on the topics a kiosk subscribes to. The clock is
the simulator's, optionally running ``--speedup`` times faster, so a 5-minute session can take seconds.

Exit status: 0 after a session that completed; 1 when it ended for any other reason (printed); 2 when
the demo could not run (what to install or change is printed); 130 after Ctrl-C (SIGINT), 143 after
SIGTERM. On either signal the service stops the belt and ends the session as it would for any owner of
the process, the demo reads the simulator's belt record to confirm the belt is at rest and prints it,
and only then stops the broker and the simulator. Both run in sessions of their own, out of the
terminal's process group, so that a Ctrl-C reaches the demo alone and not the helpers it still needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import sys
import tempfile
from argparse import Namespace
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import aiomqtt
from aiomqtt import ProtocolVersion

from retrowalk.config import Settings
from retrowalk.demo.broker import RunningBroker, embedded_broker
from retrowalk.demo.kiosk_pages import demo_kiosk
from retrowalk.demo.view import DemoView, LiveView, PlainView
from retrowalk.errors import LinkError, RefusedError, RetrowalkError, SetupError
from retrowalk.mqtt import commands as mc
from retrowalk.mqtt.topics import Topics
from retrowalk.service.app import Clock, Service
from retrowalk.service.publish import CallbackPublisher
from retrowalk.session.events import EndReason
from retrowalk.session.safety_constants import MAX_STALE_S

if TYPE_CHECKING:
    from treadsim.server import Simulator

__all__ = [
    "BELT_RUN_DOWN_S",
    "BROKER_ENV",
    "CONNECT_WITHIN_S",
    "DEMO_NOTIFY_HZ",
    "DEMO_USER",
    "KIOSK_TOPICS",
    "MAX_SPEEDUP",
    "PAUSED_GIVE_UP_S",
    "REPLY_WITHIN_S",
    "SERVICE_ID",
    "SIM_TICKS_PER_SIM_S",
    "STOP_SIGNALS",
    "TREADMILL_ID",
    "DemoOptions",
    "DemoSettings",
    "Kiosk",
    "demo_settings",
    "options_from",
    "run",
]

BROKER_ENV = "RETROWALK_DEMO_BROKER"
TREADMILL_ID = "demo"
SERVICE_ID = "demo"
DEMO_USER = "demo-walker"
MAX_SPEEDUP = 120.0  # beyond this the engine's ticks crowd the loop and the demo shows nothing useful
CONNECT_WITHIN_S = 30.0  # real seconds for the service to find and connect the simulated treadmill
PAUSED_GIVE_UP_S = 30.0  # simulated seconds a paused session waits before the demo, as its kiosk, stops it
BELT_RUN_DOWN_S = 5.0  # real seconds a stopped belt may take to come to rest, at any speedup
REPLY_WITHIN_S = 10.0  # real seconds for a command reply over MQTT
# Real treadmills notify at 1-2 Hz. pyftms reports only the fields that changed since the last record
# and nothing at all for an identical one, so at 1 Hz the service can go 2 simulated seconds without a
# sample; at a high speedup the real-time delays of a busy machine then push that past the 3 s stale
# limit. 2 Hz keeps the demo's margin; the underlying gap is a link issue, not hidden here (it shows at
# 1 Hz with `treadsim serve`).
DEMO_NOTIFY_HZ = 2.0
SIM_TICKS_PER_SIM_S = 4.0  # the simulated belt moves in steps of at most a quarter of a simulated second
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
KIOSK_TOPICS = ("state", "telemetry", "event", "summary", "reply", "availability")


@dataclass(frozen=True)
class DemoOptions:
    speedup: float
    quirks: tuple[str, ...]
    broker: bool
    plain: bool
    # RETROWALK_DEMO_BROKER=amqtt runs the in-process broker even where mosquitto is installed, to see
    # the demo as a machine without mosquitto would (the tests use it).
    broker_kind: Literal["auto", "amqtt"] = "auto"


def options_from(args: Namespace) -> DemoOptions:
    """Check the command line before anything starts; bad values are refused with the valid ones."""
    speedup = float(args.speedup)
    if not (math.isfinite(speedup) and 0 < speedup <= MAX_SPEEDUP):
        raise RefusedError(f"--speedup must be a number above 0 and at most {MAX_SPEEDUP:g}, got {speedup:g}")
    from treadsim.quirks import QUIRKS

    unknown = [name for name in args.quirk if name not in QUIRKS]
    if unknown:
        raise RefusedError(f"unknown quirk {unknown[0]!r}; valid quirks: {', '.join(sorted(QUIRKS))}")
    broker_kind = os.environ.get(BROKER_ENV, "auto")
    if broker_kind not in ("auto", "amqtt"):
        raise RefusedError(f"{BROKER_ENV}={broker_kind!r}: use 'auto' (mosquitto if installed) or 'amqtt'")
    return DemoOptions(
        broker_kind="amqtt" if broker_kind == "amqtt" else "auto",
        speedup=speedup,
        quirks=tuple(dict.fromkeys(args.quirk)),
        broker=not args.no_broker,
        plain=bool(args.plain) or not sys.stdout.isatty(),
    )


def run(args: Namespace) -> int:
    options = options_from(args)
    if logging.getLogger().level >= logging.WARNING:
        # bleak warns that the bus went away when the simulator closes: that is how the demo is built,
        # not something to act on.
        logging.getLogger("bleak.backends.bluezdbus.manager").setLevel(logging.ERROR)
    view: DemoView = PlainView(sys.stdout) if options.plain else LiveView()
    return asyncio.run(_main(options, view))


class DemoSettings(Settings):
    """The demo's settings come from the demo alone. RETROWALK_* variables meant for a real service
    (a storage path, a broker host, treadmills) must not point the demo at real history or a real broker."""

    reads_environment: ClassVar[bool] = False


def demo_settings(workdir: Path, broker: RunningBroker | None) -> Settings:
    """The configuration `retrowalk serve` would read for this rig (printed nowhere: it is all defaults
    but the treadmill's address, the temp storage and the broker)."""
    from treadsim.server import treadmill_address

    config: dict[str, object] = {
        "service": {"id": SERVICE_ID, "storage": str(workdir / "history.sqlite3")},
        "treadmills": [
            {"id": TREADMILL_ID, "address": treadmill_address(0), "label": "simulated treadmill (treadsim)"}
        ],
        "link": {"scan_timeout_s": 5.0, "backoff_initial_s": 0.2, "backoff_max_s": 2.0},
    }
    if broker is not None:
        # amqtt speaks only 3.1.1; saying so skips the bridge's MQTT 5 probe, which amqtt leaves hanging.
        protocol = "3.1.1" if broker.kind == "amqtt" else "auto"
        config["broker"] = {
            "host": broker.host,
            "port": broker.port,
            "reconnect_min_s": 0.2,
            "protocol": protocol,
        }
    return DemoSettings(**config)  # type: ignore[arg-type]


async def _main(options: DemoOptions, view: DemoView) -> int:
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()
    stopped_by: signal.Signals | None = None
    service: Service | None = None

    def interrupt(received: signal.Signals) -> None:
        # A second Ctrl-C while the belt is being stopped changes nothing: the stop is already under way.
        nonlocal stopped_by
        if stopped_by is None:
            stopped_by = received
            if service is not None:
                # The person at this terminal stopped it: the session ends saying so, not "service stopped".
                service.stopping(
                    EndReason.TERMINAL_STOP,
                    f"stopped at the terminal ({_stopped_by(received)}); the belt was stopped first",
                )
            main.cancel()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, interrupt, sig)
    try:
        async with contextlib.AsyncExitStack() as stack:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="retrowalk-demo-")))
            view.note("starting the simulated treadmill (treadsim on a virtual Bluetooth adapter) ...")
            sim = await stack.enter_async_context(_simulator(options))
            # bleak finds BlueZ through this variable; it must point at the simulator before first use.
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = sim.bus_address
            broker: RunningBroker | None = None
            page: str | None = None
            if options.broker:
                broker = await stack.enter_async_context(embedded_broker(workdir, prefer=options.broker_kind))
                pages = demo_kiosk(workdir, broker, service_id=SERVICE_ID, treadmill_id=TREADMILL_ID)
                page = await stack.enter_async_context(pages)
            settings = demo_settings(workdir, broker)
            service = Service(
                settings, clock=Clock(now=sim.now, speedup=options.speedup), observer=CallbackPublisher(view)
            )
            _describe_rig(view, options, broker, settings)
            if page is not None:
                view.note(f"follow (and stop) the session in a browser: {page}")
            try:
                view.start()
                return await _run_session(service, sim, view, broker, options)
            except asyncio.CancelledError:
                if stopped_by is None:
                    raise
                main.uncancel()
                view.note(f"{_stopped_by(stopped_by)}; {await _belt_at_rest(sim, BELT_RUN_DOWN_S)}")
                return 128 + stopped_by
            finally:
                view.stop()
    except asyncio.CancelledError:
        if stopped_by is None:
            raise
        # A signal while the simulator or the broker was starting: no session, nothing moved.
        main.uncancel()
        view.note(f"{_stopped_by(stopped_by)} before the session started")
        return 128 + stopped_by
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


def _stopped_by(received: signal.Signals) -> str:
    return "stopped by Ctrl-C" if received is signal.SIGINT else f"stopped by {received.name}"


async def _belt_at_rest(sim: Simulator, within: float) -> str:
    """The simulator's ground truth, not the service's belief: the last entry of treadsim's belt record,
    what a person beside the belt would see, once the belt had ``within`` real seconds to come to rest.
    Read before the simulator goes away."""
    record = sim.treadmill(0).treadmill.record
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            # The record has no event to wait on; it is read as a tester would watch the belt.
            while record.last.speed_kmh > 0.0:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    last = record.last
    return f"the belt is {last.state.value} at {last.speed_kmh:.1f} km/h (treadsim's belt record)"


@contextlib.asynccontextmanager
async def _simulator(options: DemoOptions) -> AsyncIterator[Simulator]:
    from treadsim.bluez.errors import SimulatorError
    from treadsim.server import DEFAULT_TICK_HZ, Simulator

    # The simulator ticks on real time; at a high speedup its default rate would move the belt and send
    # data in steps of several simulated seconds, and the service would rightly call the data stale.
    tick_hz = max(DEFAULT_TICK_HZ, SIM_TICKS_PER_SIM_S * options.speedup)
    sim = Simulator(
        treadmills=1,
        quirks=list(options.quirks),
        speedup=options.speedup,
        tick_hz=tick_hz,
        notify_hz=DEMO_NOTIFY_HZ,
        console=False,
    )
    try:
        await sim.start()
    except SimulatorError as err:
        await sim.close()
        raise SetupError(f"cannot start the simulated treadmill: {err}") from None
    try:
        yield sim
    finally:
        await sim.close()


def _describe_rig(
    view: DemoView, options: DemoOptions, broker: RunningBroker | None, settings: Settings
) -> None:
    quirks = f" misbehaving as: {', '.join(options.quirks)}" if options.quirks else ""
    view.note(f"treadmill {TREADMILL_ID!r}: {settings.treadmills[0].address}{quirks}")
    view.note(f"clock: {options.speedup:g}x real time")
    if broker is None or settings.broker is None:
        view.note("MQTT: off (--no-broker); the service publishes nothing")
        return
    topics = Topics(settings.broker.prefix, settings.broker.discovery_prefix, settings.service.id)
    view.note(f"MQTT broker: {broker.kind} on {broker.address} (anonymous, this machine only)")
    view.note("a kiosk for this treadmill subscribes to:")
    for leaf, what in (
        ("availability", "online/offline, retained"),
        ("state", "phase, session and plan, retained"),
        ("telemetry", "belt speed, allowed speed, time, at the treadmill's rate"),
        ("event", "session started, phase changed, overspeed corrected, cap warning, ended"),
        ("summary", "one per session"),
        ("reply", "answers to its commands"),
    ):
        view.note(f"  {topics.treadmill(TREADMILL_ID, leaf):<44} {what}")
    view.note(f"  {topics.service_availability:<44} the service itself, online/offline")
    view.note(f"and sends commands to {topics.treadmill(TREADMILL_ID, 'command')}")
    view.note(
        "watch from a second terminal:  "
        f"mosquitto_sub -h {broker.host} -p {broker.port} -v -t '{topics.prefix}#'"
    )


async def _run_session(
    service: Service, sim: Simulator, view: DemoView, broker: RunningBroker | None, options: DemoOptions
) -> int:
    # A TaskGroup would wrap an error of the body in an ExceptionGroup; keep it plain for the CLI to print.
    failure: RetrowalkError | None = None
    async with asyncio.TaskGroup() as group:
        service_task = group.create_task(service.run(), name="demo-service")
        try:
            async with contextlib.AsyncExitStack() as stack:
                kiosk: Kiosk | None = None
                if broker is not None and service.bridge is not None:
                    kiosk = await stack.enter_async_context(Kiosk.connect(broker, service.bridge.topics))
                await _drive(service, view, kiosk, options)
                if kiosk is not None:
                    await kiosk.wait_for("summary", within=5.0)
                    view.note(kiosk.report())
                # A session can end while the link is down (the demo stops a paused one) with the belt
                # still running on the treadmill; the service, still running here, stops it as soon as
                # the link returns. The demo ends only after the belt record says so (or says why not).
                view.note(await _belt_at_rest(sim, CONNECT_WITHIN_S + BELT_RUN_DOWN_S))
        except RetrowalkError as err:
            failure = err
        finally:
            # Cancelling the service stops a moving belt before its link closes (see TreadmillRunner.run).
            service_task.cancel()
    if failure is not None:
        raise failure
    return _verdict(view, options.speedup)


def _verdict(view: DemoView, speedup: float) -> int:
    ended = view.picture.ended
    if ended is None:
        view.note("the session did not end: no summary arrived")
        return 1
    if ended.reason == "completed":
        view.note("demo finished: the session completed within its cap")
        return 0
    detail = f" ({ended.detail})" if ended.detail else ""
    view.note(f"demo finished, but the session did not complete: {ended.reason}{detail}")
    if ended.reason == "telemetry_stopped" and speedup > 1:
        # The staleness limit is simulated time; the delays of a busy machine are real time.
        view.note(
            f"at {speedup:g}x, the {MAX_STALE_S:g} s (at most) limit for fresh treadmill data is "
            f"{1000 * MAX_STALE_S / speedup:.0f} ms of real time, and a busy machine can delay data that "
            "long: try a lower --speedup"
        )
    return 1


async def _drive(service: Service, view: DemoView, kiosk: Kiosk | None, options: DemoOptions) -> None:
    """What a kiosk does: wait for the treadmill, screen the user, start, follow the session to its end."""
    runner = service.runners[TREADMILL_ID]
    view.note("connecting to the treadmill ...")
    try:
        async with asyncio.timeout(CONNECT_WITHIN_S):
            await runner.ready.wait()
            if kiosk is not None and service.bridge is not None:
                await service.bridge.connected.wait()  # its command subscription is in place
    except TimeoutError:
        raise LinkError(
            f"the service did not connect to the simulated treadmill within {CONNECT_WITHIN_S:g} s "
            "(run with --log-level INFO to see what it tried)"
        ) from None
    view.note(f"screening {DEMO_USER}: age 45, no knee, balance or surgery concerns")
    screening = mc.ScreeningCommand(
        command_id="demo-screening",
        type="screening",
        user_id=DEMO_USER,
        age=45,
        severe_knee_oa=False,
        ligament_injury=False,
        balance_disorder_or_dizziness=False,
        recent_knee_surgery=False,
    )
    start = mc.StartCommand(command_id="demo-start", type="start", user_id=DEMO_USER)
    for command in (screening, start):
        if kiosk is not None:
            await kiosk.send(TREADMILL_ID, command)
        else:
            await service.router.handle_command(TREADMILL_ID, command)
    view.note("the kiosk's start was accepted: face away from the console and hold the handrails")
    plan = service.settings.default_plan
    cap_s = float(plan.get("duration_cap_s", 300)) + float(plan.get("cool_down_s", 60))
    try:
        async with asyncio.timeout((cap_s + 120) / options.speedup + 30):
            await _follow(service, view, kiosk, options)
    except TimeoutError:
        view.note("no session summary arrived in time")


async def _follow(service: Service, view: DemoView, kiosk: Kiosk | None, options: DemoOptions) -> None:
    """Wait for the summary. A session the service paused (after a lost link it never resumes by itself)
    waits for the kiosk to decide; with nobody at the demo's treadmill to ask, the demo ends it."""
    loop = asyncio.get_running_loop()
    paused_since: float | None = None
    while not view.summary_seen.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.2):
                await view.summary_seen.wait()
        if view.picture.phase != "paused" or view.picture.ended is not None:
            paused_since = None
            continue
        paused_since = paused_since if paused_since is not None else loop.time()
        if loop.time() - paused_since >= PAUSED_GIVE_UP_S / options.speedup:
            view.note(
                f"the session has been paused for {PAUSED_GIVE_UP_S:g} s; a kiosk would ask the walker "
                "to resume or stop: the demo stops it"
            )
            stop = mc.StopCommand(command_id="demo-stop", type="stop")
            if kiosk is not None:
                await kiosk.send(TREADMILL_ID, stop)
            else:
                await service.router.handle_command(TREADMILL_ID, stop)
            paused_since = math.inf  # asked once; now wait for the summary


class Kiosk:
    """A minimal kiosk on the broker: sends commands, waits for their replies, counts what arrives."""

    def __init__(self, client: aiomqtt.Client, topics: Topics) -> None:
        self._client = client
        self._topics = topics
        self.received: Counter[str] = Counter()
        self._replies: dict[str, mc.CommandReply] = {}
        self._arrived = asyncio.Condition()

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, broker: RunningBroker, topics: Topics) -> AsyncIterator[Kiosk]:
        # 3.1.1: both embedded brokers speak it, and a kiosk needs nothing from MQTT 5 here.
        client = aiomqtt.Client(
            broker.host, broker.port, identifier="retrowalk-demo-kiosk", protocol=ProtocolVersion.V311
        )
        try:
            await client.__aenter__()
        except aiomqtt.MqttError as err:
            raise SetupError(f"the demo kiosk cannot connect to the broker {broker.address}: {err}") from None
        try:
            kiosk = cls(client, topics)
            await client.subscribe(f"{topics.prefix}treadmill/{TREADMILL_ID}/#", qos=1)
            await client.subscribe(topics.service_availability, qos=1)
            # A plain task, not a TaskGroup: an error of the caller's block must reach it unwrapped.
            listener = asyncio.create_task(kiosk._listen(), name="demo-kiosk-listen")
            try:
                yield kiosk
            finally:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await listener
        finally:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.__aexit__(None, None, None)

    async def _listen(self) -> None:
        async for message in self._client.messages:
            leaf = message.topic.value.rsplit("/", 1)[-1]
            async with self._arrived:
                self.received[leaf] += 1
                if leaf == "reply" and isinstance(message.payload, bytes):
                    with contextlib.suppress(ValueError):
                        reply = mc.CommandReply.model_validate_json(message.payload)
                        if reply.command_id is not None:
                            self._replies[reply.command_id] = reply
                self._arrived.notify_all()

    async def send(
        self, treadmill_id: str, command: mc.StartCommand | mc.ScreeningCommand | mc.StopCommand
    ) -> None:
        """Publish a command and wait for its reply; a refusal is raised with the service's reason."""
        payload = command.model_dump_json(exclude_none=True)
        await self._client.publish(self._topics.treadmill(treadmill_id, "command"), payload, qos=1)
        try:
            async with asyncio.timeout(REPLY_WITHIN_S), self._arrived:
                await self._arrived.wait_for(lambda: command.command_id in self._replies)
        except TimeoutError:
            raise LinkError(f"no reply to the {command.type} command within {REPLY_WITHIN_S:g} s") from None
        reply = self._replies[command.command_id]
        if reply.status != "accepted":
            raise RefusedError(f"the service answered {reply.status} to {command.type}: {reply.reason}")

    async def wait_for(self, leaf: str, *, within: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within), self._arrived:
                await self._arrived.wait_for(lambda: self.received[leaf] > 0)

    def report(self) -> str:
        counts = ", ".join(f"{self.received[leaf]} {leaf}" for leaf in KIOSK_TOPICS)
        return f"over MQTT the demo kiosk received: {counts}"
