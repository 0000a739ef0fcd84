"""The default treadmill of the tests: unmodified pyftms, FtmsLink and TreadmillRunner over treadsim's
FTMS peripheral, with only bleak's transport replaced by an in-process stand-in (python-kasa's tests do
the same: a fake transport under the real protocol code, parametrised over device profiles).

A test asks for ``treadmill`` (a connected rig, engine ready, no session) or, under hypothesis, for
``treadmill_factory`` (a fresh rig per example) by name; both run once per quirk profile of
``treadsim.quirks`` plus a well-behaved treadmill, unless the test narrows them with ``@profiles(...)``.

Why a stand-in: the virtual adapter (a dbus-daemon per test, ``tests.plugins.virtual_adapter``) costs tens
of milliseconds per frame and seconds per connection; fuzzing wants thousands of frames. Everything above
the transport is the real code: pyftms builds its client with ``get_client`` and parses every byte,
FtmsLink turns pyftms events into link events and commands into writes, the runner feeds the engine. The
peripheral below is treadsim's, so its ground-truth belt record judges what reached the belt.

What the stand-in keeps from the real transport:
- notifications and indications arrive on the event loop after the write/tick that caused them
  (``call_soon``, in order), as D-Bus signals do;
- an exception raised by a notification callback is logged and swallowed, as dbus-fast's message
  loop does ("A message handler raised an exception"); the rig also counts it;
- an ATT error from the peripheral becomes a ``BleakError`` on the write.

The tamper hook sits between the peripheral and pyftms: it sees every notification/indication and
decides what pyftms receives instead (the fuzzed bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from bleak.uuids import normalize_uuid_str

from retrowalk.link.ftms import FtmsLink, LinkSettings, LinkTarget
from retrowalk.link.transport import LinkLog
from retrowalk.mqtt import payloads as p
from retrowalk.service.publish import CallbackPublisher
from retrowalk.service.runner import TreadmillRunner
from retrowalk.session import events as ev
from retrowalk.session.plan import OperatorCeilings, SessionPlan
from treadsim.ftms import CONTROL_POINT, TREADMILL_DATA, ControlOp
from treadsim.gatt import AttError
from treadsim.model import BeltEntry, BeltState, ChangeSource, TreadmillSpec
from treadsim.peripheral import FtmsPeripheral
from treadsim.quirks import DRIVABLE_QUIRKS, spec_for_quirks

log = logging.getLogger("tests.fuzz.ble")

ADDRESS = "F0:22:00:00:00:01"
# How long a wait may take before it counts as a hang. Generous on purpose: 10^5-case runs side by side on
# a 2-core machine took over 5 s to connect a rig and over 0.5 s to answer a command (each passed on
# replay), and a fuzz test is there to find crashes and wrong commands, not to time a loaded machine.
# Command timeouts are HANG_S / 6: replies here are always delivered, garbled or not, so nothing waits
# for them in the ordinary case.
HANG_S = 30.0
# What the tamper hook returns: the values pyftms receives instead (empty: the frame is swallowed).
Tamper = Callable[[str, bytes], list[bytes]]


def untouched(_char_uuid: str, value: bytes) -> list[bytes]:
    return [value]


@dataclass(frozen=True)
class FakeCharacteristic:
    uuid: str


class FakeServices:
    """The part of bleak's BleakGATTServiceCollection that pyftms uses."""

    def __init__(self, uuids: set[str]) -> None:
        self._uuids = uuids

    def get_characteristic(self, uuid: str) -> FakeCharacteristic | None:
        full = normalize_uuid_str(uuid)
        return FakeCharacteristic(full) if full in self._uuids else None

    def get_service(self, _uuid: str) -> FakeServices:
        return self  # one flat namespace is enough: characteristic UUIDs do not collide here


@dataclass
class Delivery:
    """What the transport delivered; the fuzz properties read it."""

    callback_errors: list[str] = field(default_factory=list)
    writes: list[tuple[float, bytes]] = field(default_factory=list)


class FakeBleakClient:
    """A connected central in the same process as the peripheral (see the module docstring)."""

    def __init__(
        self,
        peripheral: FtmsPeripheral,
        disconnected_callback: Callable[[Any], None] | None,
        tamper: Callable[[], Tamper],
        delivery: Delivery,
        allowed_kmh: Callable[[], float],
    ) -> None:
        self._peripheral = peripheral
        self._disconnected_callback = disconnected_callback
        self._tamper = tamper
        self._delivery = delivery
        self._allowed_kmh = allowed_kmh
        self._callbacks: dict[str, Callable[[Any, bytearray], None]] = {}
        self._loop = asyncio.get_running_loop()
        uuids = {c.uuid for s in peripheral.services for c in s.characteristics}
        self.services = FakeServices(uuids)
        self.is_connected = True
        self.address = peripheral.address
        peripheral.connected(self)

    # -- LinkSink (what the peripheral sends through) ----------------------------------------------------
    @property
    def mtu(self) -> int:
        return 247

    def send(self, char_uuid: str, value: bytes) -> None:
        for delivered in self._tamper()(char_uuid, value):
            self._loop.call_soon(self._deliver, char_uuid, delivered)

    def drop(self) -> None:
        self._loop.call_soon(self._lost)

    # -- the BleakClient surface pyftms uses -------------------------------------------------------------
    async def read_gatt_char(self, char: FakeCharacteristic | str) -> bytearray:
        return bytearray(self._peripheral.read(_uuid_of(char)))

    async def start_notify(self, char: FakeCharacteristic | str, callback: Any) -> None:
        uuid = _uuid_of(char)
        self._callbacks[uuid] = callback
        self._peripheral.set_subscribed(uuid, True)

    async def write_gatt_char(
        self, char: FakeCharacteristic | str, data: bytes, response: bool = True
    ) -> None:
        if not self.is_connected:
            raise BleakError("not connected")
        uuid = _uuid_of(char)
        self._delivery.writes.append((self._allowed_kmh(), bytes(data)))
        try:
            self._peripheral.write(uuid, bytes(data))
        except AttError as err:
            raise BleakError(f"ATT error: {err}") from err

    async def disconnect(self) -> bool:
        if self.is_connected:
            self._peripheral.disconnected()
            self._lost()
        return True

    def _lost(self) -> None:
        if not self.is_connected:
            return
        self.is_connected = False
        if self._disconnected_callback is not None:
            self._disconnected_callback(self)

    def _deliver(self, char_uuid: str, value: bytes) -> None:
        callback = self._callbacks.get(char_uuid)
        if callback is None or not self.is_connected:
            return
        try:
            callback(FakeCharacteristic(char_uuid), bytearray(value))
        except Exception as err:
            # dbus-fast logs a raising message handler and carries on; so does the stand-in.
            log.exception("notification handler raised on %s %s", char_uuid[4:8], value.hex(" "))
            self._delivery.callback_errors.append(f"{char_uuid[4:8]} {value.hex(' ')}: {err!r}")


class OneTreadmillTransport:
    """The rig's transport: finding a device is bleak's and BlueZ's business (a scan, BlueZ's device
    list); the one treadmill of this rig is always there, and nothing is held after a connection."""

    async def find(self, target: LinkTarget, timeout_s: float, log: LinkLog) -> BLEDevice | None:
        return BLEDevice(ADDRESS, "FuzzMill", None)

    async def release(self, ble_client: Any) -> None:
        pass

    def describe_error(self, err: BaseException) -> str:
        return str(err)


def _uuid_of(char: FakeCharacteristic | str) -> str:
    return char.uuid if isinstance(char, FakeCharacteristic) else normalize_uuid_str(char)


@dataclass
class TreadmillRig:
    peripheral: FtmsPeripheral
    runner: TreadmillRunner
    published: list[object]
    delivery: Delivery
    tamper: Tamper = untouched
    task: asyncio.Task[None] | None = None

    @property
    def engine(self) -> Any:
        assert self.runner.engine is not None
        return self.runner.engine

    def tick(self) -> None:
        """Move the belt to now and let the peripheral send what is due (one record per tick)."""
        self.peripheral.tick(time.monotonic())

    def inject(self, char_uuid: str, value: bytes) -> None:
        """Send raw bytes on a characteristic as if the treadmill had sent them."""
        # The rig's own FakeBleakClient, made inside FtmsLink's connect: only the peripheral holds it.
        sink = self.peripheral._sink  # noqa: SLF001 see above
        assert isinstance(sink, FakeBleakClient)
        sink.send(char_uuid, value)

    def belt_record(self) -> list[BeltEntry]:
        return list(self.peripheral.treadmill.record)

    def ended(self) -> list[p.SessionEnded]:
        return [item for item in self.published if isinstance(item, p.SessionEnded)]

    def telemetry(self) -> list[p.Telemetry]:
        return [item for item in self.published if isinstance(item, p.Telemetry)]

    async def settle(self, turns: int = 20) -> None:
        """Let queued deliveries, the pump and any command round trips run."""
        for _ in range(turns):
            await asyncio.sleep(0)


def fast_spec(quirks: tuple[str, ...] = ()) -> TreadmillSpec:
    # A belt that reaches its target within one tick keeps each example short; the rules under test do
    # not depend on the acceleration. The machine is the one the quirks describe, as treadsim builds it.
    base = spec_for_quirks(quirks)
    return dataclasses.replace(base, acceleration_kmh_s=500.0, deceleration_kmh_s=500.0)


@asynccontextmanager
async def in_process_rig(
    *,
    quirks: tuple[str, ...] = (),
    spec: TreadmillSpec | None = None,
    timing: LinkSettings | None = None,
    link_up_stop: bool = True,
) -> AsyncIterator[TreadmillRig]:
    """A connected runner (engine ready, no session) over a fresh peripheral with these quirks (seed 0, so
    a quirk's random moments are the same in every run). ``spec`` replaces the fast belt, ``timing`` the
    link's settings; with ``link_up_stop=False`` the rig is handed over as soon as the runner started,
    for treadmills that never get connected or never answer."""
    peripheral = FtmsPeripheral.create(
        time.monotonic(), address=ADDRESS, quirks=quirks, spec=spec or fast_spec(quirks), notify_hz=1000.0
    )
    published: list[object] = []
    delivery = Delivery()
    rig_box: list[TreadmillRig] = []

    def current_tamper() -> Tamper:
        return rig_box[0].tamper if rig_box else untouched

    def allowed_kmh() -> float:
        engine = rig_box[0].runner.engine if rig_box else None
        return engine.allowed_speed(time.monotonic()) if engine is not None else 0.0

    def establish_connection(**kwargs: Any) -> FakeBleakClient:
        return FakeBleakClient(
            peripheral, kwargs.get("disconnected_callback"), current_tamper, delivery, allowed_kmh
        )

    async def establish(*_args: Any, **kwargs: Any) -> FakeBleakClient:
        return establish_connection(**kwargs)

    async def no_stale(*_args: Any, **_kwargs: Any) -> None:
        return None

    with (
        mock.patch("pyftms.client.client.establish_connection", establish),
        mock.patch("pyftms.client.client.close_stale_connections", no_stale),
    ):
        link = FtmsLink(
            "fz",
            LinkTarget(address=ADDRESS),
            timing=timing
            or LinkSettings(command_timeout_s=HANG_S / 6, backoff_initial_s=0.01, backoff_max_s=0.05),
            transport=OneTreadmillTransport(),
        )
        runner = TreadmillRunner(
            "fz",
            link,
            OperatorCeilings(),
            CallbackPublisher(lambda _tid, item: published.append(item)),
            tick_hz=50.0,
        )
        rig_box.append(TreadmillRig(peripheral, runner, published, delivery))
        task = asyncio.create_task(runner.run(), name="fuzz-runner")
        rig_box[0].task = task
        try:
            if not link_up_stop:
                yield rig_box[0]
                return
            await asyncio.wait_for(runner.ready.wait(), HANG_S)
            # The engine stops the belt on every link-up; let that round trip finish so a test's first
            # command (and its tamper hook) is the test's own.
            deadline = time.monotonic() + HANG_S
            while (
                not any(frame == b"\x08\x01" for _, frame in delivery.writes) or peripheral.procedure_pending
            ):
                if time.monotonic() > deadline:
                    raise AssertionError(f"no link-up stop was written: {delivery.writes}")
                await asyncio.sleep(0.001)
            await rig_box[0].settle()
            yield rig_box[0]
        finally:
            rig_box[0].tamper = untouched
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def start_session(rig: TreadmillRig, plan: SessionPlan | None = None) -> SessionPlan:
    """Start a session and tick until the engine is past ARMED (the belt confirmed moving)."""
    plan = plan or SessionPlan()
    await rig.runner.submit(ev.Start("fuzzer", plan))
    deadline = time.monotonic() + HANG_S
    while rig.engine.phase not in ev.ACTIVE_PHASES:
        if time.monotonic() > deadline:
            raise AssertionError(f"session did not get under way: {rig.engine.phase}; {rig.ended()}")
        rig.tick()
        await asyncio.sleep(0.002)
    return plan


def client_entries_after(record: list[BeltEntry], since: float) -> list[BeltEntry]:
    return [e for e in record if e.source is ChangeSource.CLIENT and e.time >= since]


def client_starts(record: list[BeltEntry], since: float) -> list[BeltEntry]:
    """Client entries that put a belt that was not running into RUNNING."""
    starts = []
    previous = None
    for entry in record:
        if (
            entry.source is ChangeSource.CLIENT
            and entry.time >= since
            and entry.state is BeltState.RUNNING
            and previous is not None
            and previous.state is not BeltState.RUNNING
        ):
            starts.append(entry)
        previous = entry
    return starts


def speed_writes(delivery: Delivery, since_index: int) -> list[tuple[float, float]]:
    """(allowed km/h when written, km/h written) of every Set Target Speed after ``since_index``."""
    out = []
    for allowed, frame in delivery.writes[since_index:]:
        if frame[:1] == bytes([ControlOp.SET_TARGET_SPEED]) and len(frame) >= 3:
            out.append((allowed, int.from_bytes(frame[1:3], "little") / 100))
    return out


# -------------------------------------------------------------------------------------------- fixtures

WELL_BEHAVED = "well-behaved"
# Every treadmill the fixtures stand in for: a well-behaved one and one per quirk profile retrowalk drives
# (a machine it refuses, e.g. one that sends no data, cannot run a session: tests/link covers those).
PROFILES: tuple[str, ...] = (WELL_BEHAVED, *DRIVABLE_QUIRKS)
RigFactory = Callable[[], AbstractAsyncContextManager[TreadmillRig]]


def quirks_of(profile: str) -> tuple[str, ...]:
    """The treadsim quirks of a profile name from :data:`PROFILES`."""
    return () if profile == WELL_BEHAVED else (profile,)


def profiles(*names: str) -> pytest.MarkDecorator:
    """Run a test's ``treadmill`` or ``treadmill_factory`` only on these profiles, e.g.
    ``@profiles(WELL_BEHAVED)`` for a property that a misbehaving treadmill may break (it then ends the
    session instead)."""
    unknown = sorted(set(names) - set(PROFILES))
    if not names or unknown:
        raise ValueError(f"profiles({', '.join(names)}): choose from {', '.join(PROFILES)}")
    return pytest.mark.parametrize("treadmill_profile", names, indirect=True)


@pytest.fixture(params=PROFILES)
def treadmill_profile(request: pytest.FixtureRequest) -> str:
    """The profile the in-process treadmill runs with; every one of :data:`PROFILES` by default."""
    profile: str = request.param
    return profile


@pytest.fixture
def treadmill_factory(treadmill_profile: str) -> RigFactory:
    """``async with treadmill_factory() as rig``: a fresh connected rig, for tests that need one per
    hypothesis example (a function-scoped rig would be shared by all examples)."""
    return functools.partial(in_process_rig, quirks=quirks_of(treadmill_profile))


@pytest.fixture
async def treadmill(treadmill_profile: str) -> AsyncIterator[TreadmillRig]:
    """A connected runner (engine ready, no session) over treadsim's peripheral with this profile."""
    async with in_process_rig(quirks=quirks_of(treadmill_profile)) as rig:
        yield rig


__all__ = ["CONTROL_POINT", "TREADMILL_DATA"]
