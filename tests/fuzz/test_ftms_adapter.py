"""Fuzzing through the virtual adapter: garbage bytes travel as real BlueZ signals to real bleak and pyftms.

The real ``Service`` (tests/service/harness.py) runs treadsim's treadmill 0 in a session; the test wraps
the adapter's link sink under the peripheral, so it can put any bytes on any characteristic (a raw
notification or indication) and spoil the reply to a control-point write. Slow (a dbus-daemon and a
connection per example), so few examples in CI; test_ftms_fast.py runs thousands of the same kind.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrowalk.mqtt import payloads as p
from retrowalk.session import events as ev
from tests.plugins.virtual_adapter import SimulatorFactory, wait_until
from tests.service.harness import Rig, running_rig
from treadsim.ftms import (
    CONTROL_POINT,
    MACHINE_STATUS,
    TRAINING_STATUS,
    TREADMILL_DATA,
    ControlOp,
    encode_treadmill_data,
)
from treadsim.gatt import LinkSink
from treadsim.model import BeltEntry, BeltState, ChangeSource
from treadsim.server import Simulator

from .budget import fuzz_settings, timeout_s
from .ftms_frames import (
    Spoiler,
    machine_status_frames,
    must_fail_closed,
    reply_spoilers,
    training_status_frames,
    treadmill_data_frames,
)

FAST = 4.0  # the shared clock runs four times faster than real time
# No ramp: the allowed speed is the start speed all session long, so "above allowed" is one number.
FLAT_PLAN: dict[str, Any] = {"start_speed_kmh": 1.0, "max_speed_kmh": 1.0, "duration_cap_s": 600}

notifications = st.one_of(
    st.tuples(st.just(TREADMILL_DATA), treadmill_data_frames()),
    st.tuples(st.just(MACHINE_STATUS), machine_status_frames()),
    st.tuples(st.just(TRAINING_STATUS), training_status_frames()),
    st.tuples(st.just(CONTROL_POINT), st.binary(max_size=6)),
)


@dataclass
class Injector:
    """Installed on the peripheral before the service connects: holds the adapter's sink for the test
    and passes what the peripheral sends through an optional spoiler."""

    sink: LinkSink | None = None
    spoil: Callable[[str, bytes], bytes] | None = None
    spoiled: list[tuple[int, bytes]] = field(default_factory=list)

    def install(self, sim: Simulator) -> None:
        peripheral = sim.treadmill(0).peripheral
        original_connected = peripheral.connected
        injector = self

        class Sink:
            def __init__(self, inner: LinkSink) -> None:
                self._inner = inner

            @property
            def mtu(self) -> int:
                return int(self._inner.mtu)

            def send(self, char_uuid: str, value: bytes) -> None:
                if injector.spoil is not None:
                    value = injector.spoil(char_uuid, value)
                self._inner.send(char_uuid, value)

            def drop(self) -> None:
                self._inner.drop()

        def connected(sink: LinkSink) -> None:
            injector.sink = sink
            original_connected(Sink(sink))

        setattr(peripheral, "connected", connected)  # noqa: B010 - an instance wrapper, nothing in src/

    def inject(self, char_uuid: str, value: bytes) -> None:
        assert self.sink is not None, "the service never connected"
        self.sink.send(char_uuid, value)


def client_entries(rig: Rig, since: float) -> list[BeltEntry]:
    record = rig.sim.treadmill(0).treadmill.record
    return [e for e in record if e.source is ChangeSource.CLIENT and e.time >= since]


@dataclass
class AdapterRig:
    rig: Rig
    injector: Injector
    sessions: int = 0

    async def start_session(self) -> None:
        """A fresh session for this example, on the treadmill the previous example left stopped."""
        runner = self.rig.service.runners["tm0"]
        # Whatever an earlier (possibly failed) example left behind: stop it first.
        if runner.engine is not None:
            await self.rig.command("tm0", {"type": "stop"})
        await wait_until(
            lambda: (
                runner.engine is not None
                and runner.link.connected
                and runner.engine.link_up  # the engine has heard of the link, not just the link itself
                and runner.phase not in ev.SESSION_PHASES
                and self.rig.sim.treadmill(0).treadmill.state is BeltState.STOPPED
            ),
            20,
            "an idle, connected treadmill",
        )
        self.sessions += 1
        self.ended_before = len(self.rig.recorder.ended("tm0"))
        # A new user each time: one person's history (faults included) must not shape the next example.
        await self.rig.screen_and_start("tm0", user=f"fuzz{self.sessions}", plan=FLAT_PLAN)
        if self.injector.spoil is None:
            # The start's commands go out after the kiosk's answer: wait for them before the garbage.
            await wait_until(lambda: runner.phase in ev.ACTIVE_PHASES, 10, "the session under way")

    def ended(self) -> list[p.SessionEnded]:
        return self.rig.recorder.ended("tm0")[self.ended_before :]

    ended_before: int = 0


@pytest.fixture
async def adapter_rig(simulator_factory: SimulatorFactory, tmp_path: Path) -> AsyncIterator[AdapterRig]:
    """One simulator and one service for all examples of a test: bleak keeps one BlueZ manager per event
    loop and hypothesis runs every example on the test's loop, so a second bus per test cannot work."""
    injector = Injector()

    async def prepare(sim: Simulator) -> None:
        injector.install(sim)

    async with running_rig(simulator_factory, tmp_path, speedup=FAST, prepare=prepare) as rig:
        await rig.wait_connected("tm0")
        yield AdapterRig(rig, injector)


SENTINEL_BPM = 217  # a heart rate no genuine record of the simulator carries
# The Treadmill Data decoder the link installs in pyftms logs every frame at DEBUG before decoding it.
PARSER_LOG = "retrowalk.link.pyftms_private"


class _Heard(logging.Handler):
    """Notes whether the link, inside the service, logged receiving ``frame``."""

    def __init__(self, frame: bytes) -> None:
        super().__init__(logging.DEBUG)
        self.line = "received treadmill data: " + frame.hex(" ")
        self.heard = False

    def emit(self, record: logging.LogRecord) -> None:
        self.heard = self.heard or record.getMessage() == self.line


async def after_everything_injected(adapter: AdapterRig) -> None:
    """Wait until the service has received every injected frame: the link in the service logged receiving
    a marked frame sent after them on the same ordered bus (logged before it is decoded, so garbage
    before it cannot hide it). The mark is the machine's own record with a heart rate it never
    sends, so it changes nothing if it is read. Sent again each second: the frames may have ended the
    session and the service be rebuilding the link (everything injected went over the old one)."""
    truth = adapter.rig.sim.treadmill(0).peripheral.current_record()
    record = dataclasses.replace(truth, heart_rate_bpm=SENTINEL_BPM)
    sink = adapter.injector.sink
    assert sink is not None, "the service never connected"
    frames = encode_treadmill_data(record, sink.mtu - 3)
    heard = _Heard(frames[-1])
    parser_log = logging.getLogger(PARSER_LOG)
    level = parser_log.level
    parser_log.addHandler(heard)
    parser_log.setLevel(logging.DEBUG)
    try:
        loop = asyncio.get_running_loop()
        deadline, send_at = loop.time() + 30, loop.time()
        while not heard.heard:
            if loop.time() > deadline:
                pytest.fail("the service never received the marked frame sent after the injected ones")
            if loop.time() >= send_at:
                for frame in frames:
                    adapter.injector.inject(TREADMILL_DATA, frame)
                send_at = loop.time() + 1.0
            await asyncio.sleep(0.01)
    finally:
        parser_log.removeHandler(heard)
        parser_log.setLevel(level)


async def stop_and_check_serving(adapter: AdapterRig) -> None:
    """A kiosk stop still goes through and the belt stops: the service survived what it was sent."""
    rig = adapter.rig
    await rig.command("tm0", {"type": "stop"})
    await wait_until(
        lambda: rig.sim.treadmill(0).treadmill.state is BeltState.STOPPED, 10, "the belt stopped by a kiosk"
    )
    assert len(adapter.ended()) <= 1, adapter.ended()


@pytest.mark.timeout(timeout_s(90, slow=True))
@fuzz_settings(40, slow=True)
@given(frames=st.lists(notifications, min_size=1, max_size=16))
async def test_garbage_on_the_air_never_moves_the_belt(
    adapter_rig: AdapterRig, frames: list[tuple[str, bytes]]
) -> None:
    adapter, rig = adapter_rig, adapter_rig.rig
    adapter.injector.spoil = None
    await adapter.start_session()
    since = rig.sim.now()
    for char_uuid, frame in frames:
        adapter.injector.inject(char_uuid, frame)
        await asyncio.sleep(0.01)
    await after_everything_injected(adapter)
    # A kiosk stop written after any command the frames caused, on the same connection: once the belt
    # is stopped by it, every such command has reached the treadmill's record.
    await stop_and_check_serving(adapter)
    record = list(rig.sim.treadmill(0).treadmill.record)
    for entry in client_entries(rig, since):
        assert entry.target_kmh <= FLAT_PLAN["max_speed_kmh"] + 1e-6, entry
        if entry.state is BeltState.RUNNING:
            earlier = [e for e in record if e.time < entry.time]
            assert earlier[-1].state is BeltState.RUNNING, f"garbage started the belt: {entry}"


@pytest.mark.timeout(timeout_s(90, slow=True))
@fuzz_settings(20, slow=True)
@given(spoiler=reply_spoilers(), which=st.sampled_from([ControlOp.SET_TARGET_SPEED, ControlOp.START_RESUME]))
async def test_a_spoiled_control_point_reply_through_bleak_fails_closed(
    adapter_rig: AdapterRig, spoiler: Spoiler, which: ControlOp
) -> None:
    adapter, rig = adapter_rig, adapter_rig.rig
    injector = adapter.injector
    injector.spoiled.clear()

    def spoil(char_uuid: str, value: bytes) -> bytes:
        if char_uuid != CONTROL_POINT or injector.spoiled or len(value) < 2 or value[1] != which:
            return value
        garbage = spoiler(value[1])
        injector.spoiled.append((value[1], garbage))
        return garbage

    injector.spoil = spoil
    await adapter.start_session()
    await wait_until(lambda: bool(injector.spoiled), 10, f"a reply to op {which:#04x}")
    injector.spoil = None
    op, garbage = injector.spoiled[0]
    if must_fail_closed(garbage, op):
        await wait_until(lambda: bool(adapter.ended()), 10, "the session to end")
        assert adapter.ended()[0].reason in ("command_failed", "command_refused"), adapter.ended()
        await wait_until(
            lambda: rig.sim.treadmill(0).treadmill.state is BeltState.STOPPED, 10, "the belt stopped"
        )
    await stop_and_check_serving(adapter)
