"""Every quirk profile as an UNMODIFIED pyftms client sees it, through the virtual adapter.

Timed quirks (drift, flaky link) run on a sped-up simulated clock so the test stays short.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from bleak import BleakScanner
from bleak.exc import BleakCharacteristicNotFoundError
from pyftms import ControlEvent, MachineType, SetupEvent, UpdateEvent, get_client
from pyftms.models import ResultCode

from tests.plugins.virtual_adapter import SimulatorFactory, slow_answering, wait_until
from treadsim.gatt import uuid16
from treadsim.model import BeltState, ChangeSource
from treadsim.quirks import QUIRKS
from treadsim.server import Simulator

TREADMILL_DATA = uuid16(0x2ACD)
CROSS_TRAINER_DATA = uuid16(0x2ACE)
CONTROL_POINT = uuid16(0x2AD9)


class Watcher:
    """pyftms's callbacks, recorded."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.disconnects = 0

    def __call__(self, event: Any) -> None:
        self.events.append(event)

    def on_disconnect(self, _client: Any) -> None:
        self.disconnects += 1

    def speeds(self) -> list[float]:
        return [
            e.event_data["speed_instant"]
            for e in self.events
            if isinstance(e, UpdateEvent) and "speed_instant" in e.event_data
        ]

    def updates(self) -> list[dict[str, Any]]:
        return [dict(e.event_data) for e in self.events if isinstance(e, UpdateEvent)]

    def statuses(self) -> list[Any]:
        return [
            e
            for e in self.events
            if isinstance(e, (ControlEvent, SetupEvent)) and e.event_source != "callback"
        ]


@asynccontextmanager
async def connected(sim: Simulator, index: int = 0) -> AsyncIterator[tuple[Any, Watcher]]:
    device = await BleakScanner.find_device_by_address(sim.treadmill(index).address, timeout=3)
    assert device is not None
    watcher = Watcher()
    client = get_client(
        device, MachineType.TREADMILL, on_ftms_event=watcher, on_disconnect=watcher.on_disconnect
    )
    await client.connect()
    try:
        yield client, watcher
    finally:
        await client.disconnect()


async def test_split_records(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(quirks=["split-records"], acceleration_kmh_s=5.0)
    slot = sim.treadmill(0)
    async with connected(sim) as (client, watcher):
        assert await client.set_target_speed(2.0) == ResultCode.SUCCESS
        assert await client.start_resume() == ResultCode.SUCCESS
        await wait_until(lambda: 2.0 in watcher.speeds(), 4, "2.0 km/h reassembled from split records")
        records = len([u for u in watcher.updates() if "speed_instant" in u])
        notifications = slot.device.counters.notifications_by_uuid[TREADMILL_DATA]
        # Each record came in several notifications, yet pyftms saw whole records (speed + the rest).
        assert notifications >= 2 * records
        assert any("distance_total" in u and "speed_instant" in u for u in watcher.updates())


async def test_own_start_speed(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(quirks=["own-start-speed"], acceleration_kmh_s=5.0)
    async with connected(sim) as (client, watcher):
        assert await client.set_target_speed(1.0) == ResultCode.SUCCESS
        assert await client.start_resume() == ResultCode.SUCCESS
        await wait_until(lambda: 3.0 in watcher.speeds(), 4, "the machine's own 3.0 km/h")
    assert sim.treadmill(0).treadmill.record.max_speed_between(0, sim.now()) == 3.0


async def test_ignores_speed(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(quirks=["ignores-speed"], acceleration_kmh_s=5.0)
    slot = sim.treadmill(0)
    async with connected(sim) as (client, watcher):
        assert await client.start_resume() == ResultCode.SUCCESS
        before = slot.treadmill.target_kmh
        assert await client.set_target_speed(2.5) == ResultCode.SUCCESS  # success, and nothing happens
        # Two whole records after the command (each carries the elapsed time, so each is an update): a
        # speed the machine took would show in them.
        seen = len(watcher.updates())
        await wait_until(lambda: len(watcher.updates()) >= seen + 2, 5, "two records after the command")
        assert slot.treadmill.target_kmh == before
        assert 2.5 not in watcher.speeds()
        assert watcher.speeds()[-1] == before


async def test_console_drift(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(quirks=["console-drift"], speedup=10.0, acceleration_kmh_s=5.0)
    slot = sim.treadmill(0)
    async with connected(sim) as (client, watcher):
        assert await client.set_target_speed(1.0) == ResultCode.SUCCESS
        assert await client.start_resume() == ResultCode.SUCCESS
        await wait_until(
            lambda: any(
                isinstance(e, SetupEvent) and e.event_data.get("target_speed", 0) > 1.0
                for e in watcher.statuses()
            ),
            4,
            "a target-speed-changed status nobody asked for",
        )
        await wait_until(lambda: max(watcher.speeds(), default=0) > 1.0, 4, "the belt above the set 1.0 km/h")
    sources = {e.source for e in slot.treadmill.record}
    assert ChangeSource.TREADMILL in sources


async def test_flaky_link(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(quirks=["flaky-link"], speedup=20.0)
    slot = sim.treadmill(0)
    async with connected(sim) as (client, watcher):
        assert await client.start_resume() == ResultCode.SUCCESS
        await wait_until(lambda: watcher.disconnects == 1, 5, "the link to drop by itself")
        assert not client.is_connected
        # The belt does not stop because the link went.
        assert slot.treadmill.state is BeltState.RUNNING


async def test_power_blip(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(quirks=["power-blip"], acceleration_kmh_s=5.0)
    slot = sim.treadmill(0)
    async with connected(sim) as (client, watcher):
        assert await client.set_target_speed(1.5) == ResultCode.SUCCESS
        assert await client.start_resume() == ResultCode.SUCCESS
        await wait_until(lambda: slot.treadmill.speed_kmh == 1.5, 3, "1.5 km/h")
        sim.perform(0, "power-cycle")
        await wait_until(lambda: watcher.disconnects == 1, 3, "the reboot to cut the link")
        # After the reboot the belt runs again at its previous speed, with nobody connected.
        await wait_until(lambda: slot.treadmill.speed_kmh == 1.5, 5, "the belt to restart by itself")
        assert slot.treadmill.state is BeltState.RUNNING
        power = [e for e in slot.treadmill.record if e.source is ChangeSource.POWER]
        assert len(power) >= 2  # switched on at creation, and the blip


async def test_mph_as_kmh(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(quirks=["mph-as-kmh"], acceleration_kmh_s=5.0)
    slot = sim.treadmill(0)
    async with connected(sim) as (client, watcher):
        speed_range = client.supported_ranges["target_speed"]
        assert (speed_range.min_value, speed_range.max_value) == (0.5, 7.5)  # mph numbers, labelled km/h
        assert await client.set_target_speed(1.0) == ResultCode.SUCCESS
        assert await client.start_resume() == ResultCode.SUCCESS
        await wait_until(lambda: 1.0 in watcher.speeds(), 4, "a reported 1.0")
    assert slot.treadmill.speed_kmh == pytest.approx(1.609344)  # the belt's truth


async def test_urevo_e1l(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(quirks=["urevo-e1l"], acceleration_kmh_s=5.0)
    slot = sim.treadmill(0)
    async with connected(sim) as (client, watcher):
        speed_range = client.supported_ranges["target_speed"]
        assert (speed_range.min_value, speed_range.max_value, speed_range.step) == (0.96, 6.43, 0.32)
        assert await client.set_target_speed(1.0) == ResultCode.INVALID_PARAMETER  # off the 0.32 grid
        assert await client.set_target_speed(1.28) == ResultCode.SUCCESS
        assert await client.start_resume() == ResultCode.SUCCESS
        await wait_until(lambda: 1.28 in watcher.speeds(), 4, "a reported 1.28")
        # Unmodified pyftms reads reserved flag bit 13 as a step count, as it does the recording's frames.
        await wait_until(
            lambda: any(u.get("step_count", 0) > 0 for u in watcher.updates()), 4, "a step count"
        )
    assert slot.treadmill.speed_kmh == pytest.approx(1.28)


async def test_slow_start_accept(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(quirks=["slow-start-accept"], speedup=4.0)
    slot = sim.treadmill(0)
    async with connected(sim) as (client, _watcher):
        assert await client.start_resume() == ResultCode.SUCCESS
        target = slot.treadmill.target_kmh
        assert await client.set_target_speed(2.0) == ResultCode.FAILED
        assert slot.treadmill.target_kmh == target
        await asyncio.sleep(1.0)  # 4 simulated seconds
        assert await client.set_target_speed(2.0) == ResultCode.SUCCESS
        assert slot.treadmill.target_kmh == 2.0


async def test_pause_revokes_control(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(quirks=["pause-revokes-control"])
    slot = sim.treadmill(0)
    async with connected(sim) as (client, _watcher):
        assert await client.start_resume() == ResultCode.SUCCESS
        assert await client.pause() == ResultCode.SUCCESS
        await wait_until(lambda: not slot.peripheral.has_control, 2, "control to be revoked")
        # pyftms 0.4.15 cannot decode status 0xFF (its model yields no code), so it keeps believing it has
        # control and does not ask again: the next command is answered "control not permitted".
        assert await client.start_resume() == ResultCode.NOT_PERMITTED
        assert slot.treadmill.state is BeltState.PAUSED
        # A new connection starts with a fresh control request, and commands work again.
        await client.disconnect()
        await client.connect()
        assert await client.start_resume() == ResultCode.SUCCESS
        assert slot.peripheral.has_control
        assert sim.state(0)["belt"] == "running"


async def test_no_final_zero(simulator_factory: SimulatorFactory) -> None:
    # Treadmill 1, without the quirk, is the witness that the simulator kept notifying meanwhile.
    sim = await simulator_factory(
        treadmills=2, quirks=["0:no-final-zero"], notify_hz=4.0, acceleration_kmh_s=5.0
    )
    slot = sim.treadmill(0)
    async with connected(sim) as (client, watcher), connected(sim, 1):
        assert await client.set_target_speed(2.0) == ResultCode.SUCCESS
        assert await client.start_resume() == ResultCode.SUCCESS
        await wait_until(lambda: 2.0 in watcher.speeds(), 4, "2.0 km/h")
        sim.perform(0, "press", "stop")
        await wait_until(
            lambda: ("stop", "user") in [(e.event_id, e.event_source) for e in watcher.statuses()], 2
        )
        sent = slot.device.counters.notifications_by_uuid[TREADMILL_DATA]
        # The other treadmill sent a second of records (4 Hz) meanwhile: this one would have sent as many.
        other = sim.treadmill(1).device.counters.notifications_by_uuid
        heard = other[TREADMILL_DATA]
        await wait_until(lambda: other[TREADMILL_DATA] >= heard + 4, 5, "a second of the witness's data")
        assert slot.device.counters.notifications_by_uuid[TREADMILL_DATA] == sent  # silence
        assert watcher.speeds()[-1] > 0.0  # the last word pyftms heard: still moving
        assert slot.treadmill.speed_kmh == 0.0 or slot.treadmill.state is BeltState.STOPPED


async def test_fast_notify(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(treadmills=2, quirks=["1:fast-notify"])
    async with connected(sim, 0), connected(sim, 1):
        counts = [slot.device.counters.notifications_by_uuid[TREADMILL_DATA] for slot in sim.treadmills]
        began = sim.now()
        await asyncio.sleep(3.0)
        # Divided by the time that passed, not the time asked for: a loaded machine oversleeps.
        elapsed = sim.now() - began
        rates = [
            (slot.device.counters.notifications_by_uuid[TREADMILL_DATA] - before) / elapsed
            for slot, before in zip(sim.treadmills, counts, strict=True)
        ]
    assert 0.6 <= rates[0] <= 1.4
    assert 1.6 <= rates[1] <= 2.4


async def test_zero_incline_range(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(quirks=["zero-incline-range"])
    slot = sim.treadmill(0)
    async with connected(sim) as (client, _watcher):
        incline = client.supported_ranges["target_inclination"]
        assert (incline.min_value, incline.max_value, incline.step) == (0, 0, 0)
        # The command "succeeds", and no incline moves.
        assert await client.set_target_inclination(3.0) == ResultCode.SUCCESS
        assert slot.treadmill.incline_dp == 0


async def test_wind_down_status(simulator_factory: SimulatorFactory) -> None:
    # 1.5 km/h per second both ways: the belt takes 2 s to wind down from 3 km/h.
    sim = await simulator_factory(quirks=["wind-down-status"], acceleration_kmh_s=1.5)
    slot = sim.treadmill(0)
    async with connected(sim) as (client, watcher):
        assert await client.set_target_speed(3.0) == ResultCode.SUCCESS
        assert await client.start_resume() == ResultCode.SUCCESS
        await wait_until(lambda: slot.treadmill.speed_kmh == 3.0, 4, "3.0 km/h")
        before_stop = len(watcher.statuses())
        assert await client.stop() == ResultCode.SUCCESS

        def reported_targets() -> list[float]:
            return [
                e.event_data["target_speed"]
                for e in watcher.statuses()[before_stop:]
                if isinstance(e, SetupEvent) and "target_speed" in e.event_data
            ]

        await wait_until(lambda: len(reported_targets()) >= 4, 4, "target speed reports while the belt slows")
        targets = reported_targets()
        # Each report is the belt's current speed on its way down, not a target anybody set.
        assert targets == sorted(targets, reverse=True)
        assert all(0 < target < 3.0 for target in targets)


async def test_notify_replies(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(peripheral_factory=slow_answering(0.3, ("notify-replies",)))
    slot = sim.treadmill(0)
    replies = slot.device.counters.notifications_by_uuid
    async with connected(sim) as (client, _watcher):
        # The replies come as notifications, and pyftms takes them (Request Control, then the speed).
        assert await client.set_target_speed(1.0) == ResultCode.SUCCESS
        answered = replies[CONTROL_POINT]
        # A write while the Start is still being carried out is obeyed and never answered.
        start = asyncio.create_task(client.start_resume())
        await wait_until(lambda: slot.peripheral.procedure_pending, 2, "the start to be under way")
        cli = client._cli  # noqa: SLF001 - a second write while pyftms waits needs its BleakClient
        await cli.write_gatt_char(CONTROL_POINT, bytes([0x02, 200, 0]), True)  # 2.00 km/h
        assert await start == ResultCode.SUCCESS
        assert slot.treadmill.target_kmh == 2.0
        assert replies[CONTROL_POINT] == answered + 1  # the start's answer only


async def test_request_control_starts(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(quirks=["request-control-starts"], acceleration_kmh_s=5.0)
    slot = sim.treadmill(0)
    async with connected(sim) as (client, watcher):
        assert slot.treadmill.state is BeltState.STOPPED
        # pyftms asks for control before its first command; here that alone starts the belt.
        assert await client.set_target_speed(1.0) == ResultCode.SUCCESS
        starts = [e for e in slot.treadmill.record if e.state is BeltState.RUNNING]
        assert starts
        assert starts[0].target_kmh == 2.5
        assert not any(isinstance(e, ControlEvent) and e.event_id == "start" for e in watcher.statuses())


async def test_needs_unlock(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(quirks=["needs-unlock"], notify_hz=4.0)
    slot = sim.treadmill(0)
    async with connected(sim) as (client, watcher):
        with pytest.raises(TimeoutError):
            await client.set_target_speed(1.0)  # pyftms's Request Control gets no answer
        seen = slot.device.counters.notifications_by_uuid[TREADMILL_DATA]
        # Four records' worth of the treadmill's own time (its clock moves only as it ticks, and every
        # tick sends what is due); the counter says nothing was sent.
        simulated = slot.treadmill.now
        await wait_until(lambda: slot.treadmill.now >= simulated + 1.0, 10, "a simulated second")
        assert slot.device.counters.notifications_by_uuid[TREADMILL_DATA] == seen == 0
        assert watcher.speeds() == []


async def test_cross_trainer_data(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(quirks=["cross-trainer-data"], acceleration_kmh_s=5.0)
    slot = sim.treadmill(0)
    async with connected(sim) as (client, watcher):
        assert await client.set_target_speed(2.0) == ResultCode.SUCCESS
        assert await client.start_resume() == ResultCode.SUCCESS
        await wait_until(lambda: 2.0 in watcher.speeds(), 4, "2.0 km/h from Treadmill Data")
        assert slot.device.counters.notifications_by_uuid[CROSS_TRAINER_DATA] == 0  # not subscribed
        assert CROSS_TRAINER_DATA in {c.uuid for s in slot.peripheral.services for c in s.characteristics}


async def test_cross_trainer_only(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(quirks=["cross-trainer-only"])
    device = await BleakScanner.find_device_by_address(sim.treadmill(0).address, timeout=3)
    assert device is not None
    client = get_client(device, MachineType.TREADMILL)
    try:
        with pytest.raises(BleakCharacteristicNotFoundError):
            await client.connect()  # pyftms subscribes to Treadmill Data, which is not there
    finally:
        await client.disconnect()


def test_every_quirk_has_a_pyftms_test() -> None:
    tested = {
        "split-records": test_split_records,
        "own-start-speed": test_own_start_speed,
        "ignores-speed": test_ignores_speed,
        "console-drift": test_console_drift,
        "flaky-link": test_flaky_link,
        "power-blip": test_power_blip,
        "mph-as-kmh": test_mph_as_kmh,
        "slow-start-accept": test_slow_start_accept,
        "pause-revokes-control": test_pause_revokes_control,
        "no-final-zero": test_no_final_zero,
        "fast-notify": test_fast_notify,
        "zero-incline-range": test_zero_incline_range,
        "wind-down-status": test_wind_down_status,
        "notify-replies": test_notify_replies,
        "request-control-starts": test_request_control_starts,
        "needs-unlock": test_needs_unlock,
        "cross-trainer-data": test_cross_trainer_data,
        "cross-trainer-only": test_cross_trainer_only,
        "urevo-e1l": test_urevo_e1l,
    }
    assert set(tested) == set(QUIRKS), "a quirk profile was added without a pyftms-level test"
