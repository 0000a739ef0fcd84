"""pyftms, UNMODIFIED, drives treadsim through the virtual adapter exactly as it would a real treadmill."""

from __future__ import annotations

from typing import Any

from pyftms import ControlEvent, MachineType, SetupEvent, UpdateEvent, discover_ftms_devices, get_client
from pyftms.models import ResultCode

from tests.plugins.virtual_adapter import SimulatorFactory, wait_until
from treadsim.model import BeltState, ChangeSource

ACCELERATION = 2.0  # km/h per second: fast enough for a short test, far from the model's default


class EventLog:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, event: Any) -> None:
        self.events.append(event)

    def updates_with(self, key: str) -> list[Any]:
        return [e.event_data[key] for e in self.events if isinstance(e, UpdateEvent) and key in e.event_data]

    def controls(self) -> list[tuple[str, str]]:
        return [(e.event_id, e.event_source) for e in self.events if isinstance(e, ControlEvent)]

    def setups(self, source: str) -> list[dict[str, Any]]:
        return [
            dict(e.event_data) for e in self.events if isinstance(e, SetupEvent) and e.event_source == source
        ]


async def test_pyftms_discovers_two_treadmills_and_drives_one(simulator_factory: SimulatorFactory) -> None:
    sim = await simulator_factory(treadmills=2, acceleration_kmh_s=ACCELERATION, notify_hz=4.0)
    found: dict[str, Any] = {}
    async for device, machine_type in discover_ftms_devices(discover_time=5):
        assert machine_type is MachineType.TREADMILL
        found[device.address] = device
        if len(found) == 2:
            break
    assert sorted(found) == sorted(slot.address for slot in sim.treadmills)

    logs = {address: EventLog() for address in found}
    clients = {
        address: get_client(device, MachineType.TREADMILL, on_ftms_event=logs[address])
        for address, device in found.items()
    }
    for client in clients.values():
        await client.connect()
        speed_range = client.supported_ranges["target_speed"]
        assert (speed_range.min_value, speed_range.max_value, speed_range.step) == (0.5, 12.0, 0.1)
    assert all(slot.device.is_connected for slot in sim.treadmills)

    slot = sim.treadmill(0)
    client, log = clients[slot.address], logs[slot.address]
    await wait_until(lambda: log.updates_with("speed_instant") != [], 3, "treadmill data")
    assert log.updates_with("speed_instant")[-1] == 0.0

    assert await client.set_target_speed(3.0) == ResultCode.SUCCESS
    assert await client.start_resume() == ResultCode.SUCCESS
    record = slot.treadmill.record
    started = next(e for e in record if e.state is BeltState.RUNNING and e.source is ChangeSource.CLIENT)
    assert started.target_kmh == 3.0
    await wait_until(lambda: slot.treadmill.speed_kmh >= 3.0, 5, "the belt to reach 3.0 km/h")
    # The ground truth: the belt climbed at exactly the configured rate, never faster.
    assert started.rate_kmh_s == ACCELERATION
    assert abs(record.speed_at(started.time + 0.5) - (started.speed_kmh + ACCELERATION * 0.5)) < 1e-9
    assert record.max_speed_between(started.time, started.time + 1.0) <= started.speed_kmh + ACCELERATION
    await wait_until(lambda: 3.0 in log.updates_with("speed_instant"), 3, "3.0 km/h in the treadmill data")

    # Console actions reach the client as machine-status events.
    sim.perform(0, "speed-up")
    await wait_until(lambda: {"target_speed": 3.1} in log.setups("other"), 3, "target-speed-changed status")
    sim.perform(0, "press", "pause")
    await wait_until(lambda: ("pause", "user") in log.controls(), 3, "paused-by-user status")
    sim.perform(0, "press", "start")
    await wait_until(lambda: ("start", "user") in log.controls(), 3, "started-by-user status")
    sim.perform(0, "key", "pull")
    await wait_until(lambda: ("stop", "safety") in log.controls(), 3, "safety-key status")
    assert slot.treadmill.speed_kmh == 0.0
    sim.perform(0, "key", "insert")

    assert await client.start_resume() == ResultCode.SUCCESS
    await wait_until(lambda: slot.treadmill.speed_kmh > 0.0, 3, "the belt to restart")
    assert await client.stop() == ResultCode.SUCCESS
    await wait_until(lambda: slot.treadmill.state is BeltState.STOPPED, 3, "the belt to stop")
    await wait_until(lambda: slot.treadmill.speed_kmh == 0.0, 5, "the belt to come to rest")

    # The other treadmill saw none of it.
    other = sim.treadmill(1)
    assert other.treadmill.state is BeltState.STOPPED
    assert all(e.speed_kmh == 0.0 for e in other.treadmill.record)

    for client in clients.values():
        await client.disconnect()
    await wait_until(lambda: not any(s.device.is_connected for s in sim.treadmills), 3, "disconnects")
