"""Fixtures for tests that talk to treadsim through the virtual adapter with unmodified bleak/pyftms: the
end-to-end rig (a dbus-daemon per test), slower than the in-process treadmill of
``tests.plugins.in_process_treadmill`` and kept for what only a real D-Bus path shows.

A test asks for ``private_bus`` or ``simulator_factory`` by name (tests/conftest.py registers this module
as a plugin), and the marker plugin marks it ``dbus``. Each test gets its own private dbus-daemon;
``DBUS_SYSTEM_BUS_ADDRESS`` points at it for the test's duration. bleak keeps one BlueZ manager per event
loop and pytest-asyncio gives every test a fresh loop, so the manager a test creates talks to that test's
bus; when the bus stops, bleak's bus-watcher task ends by itself and the fixture waits for it, so the
task-leak guard stays quiet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import pytest

from treadsim.bluez import PrivateBus
from treadsim.gatt import (
    ATT_CCCD_IMPROPERLY_CONFIGURED,
    Advertisement,
    AttError,
    CharacteristicSpec,
    LinkSink,
    ServiceSpec,
    uuid16,
)

if TYPE_CHECKING:
    from treadsim.peripheral import FtmsPeripheral
    from treadsim.server import PeripheralFactory, Simulator, TreadmillOptions

ECHO_SERVICE = uuid16(0xFFF0)
ECHO_CONTROL = uuid16(0xFFF1)  # write + indicate: answers 0x80 + what was written
ECHO_DATA = uuid16(0xFFF2)  # read + notify: a counter
ECHO_READ_ONLY = uuid16(0xFFF3)  # read only


class EchoPeripheral:
    """A tiny GattPeripheral for adapter tests that must not depend on the FTMS peripheral."""

    def __init__(self, address: str, name: str = "Echo", *, service_data: bytes = b"\x01\x01\x00") -> None:
        self.address = address
        self.name = name
        self.service_data = service_data
        self.sink: LinkSink | None = None
        self.subscribed: set[str] = set()
        self.writes: list[bytes] = []
        self.connects = 0
        self.disconnects = 0
        self.counter = 0

    @property
    def services(self) -> tuple[ServiceSpec, ...]:
        return (
            ServiceSpec(
                ECHO_SERVICE,
                (
                    CharacteristicSpec(ECHO_CONTROL, ("write", "indicate")),
                    CharacteristicSpec(ECHO_DATA, ("read", "notify")),
                    CharacteristicSpec(ECHO_READ_ONLY, ("read",)),
                ),
            ),
        )

    def advertisement(self) -> Advertisement:
        return Advertisement(self.name, (ECHO_SERVICE,), {ECHO_SERVICE: self.service_data}, {}, -55)

    def read(self, char_uuid: str) -> bytes:
        if char_uuid == ECHO_READ_ONLY:
            return b"hello"
        return self.counter.to_bytes(2, "little")

    def write(self, char_uuid: str, value: bytes) -> None:
        if ECHO_CONTROL not in self.subscribed:
            raise AttError(ATT_CCCD_IMPROPERLY_CONFIGURED, "indications not enabled")
        if not value:
            raise AttError(0x80, "empty write (application error)")
        self.writes.append(value)
        assert self.sink is not None
        self.sink.send(char_uuid, b"\x80" + value)

    def set_subscribed(self, char_uuid: str, enabled: bool) -> None:
        if enabled:
            self.subscribed.add(char_uuid)
        else:
            self.subscribed.discard(char_uuid)

    def connected(self, sink: LinkSink) -> None:
        self.connects += 1
        self.sink = sink

    def disconnected(self) -> None:
        self.disconnects += 1
        self.sink = None
        self.subscribed.clear()

    def notify_counter(self) -> None:
        self.counter += 1
        if self.sink is not None:
            self.sink.send(ECHO_DATA, self.counter.to_bytes(2, "little"))


async def wait_for_bleak_bus_watchers(within: float = 5.0) -> None:
    """Wait until bleak's per-loop BlueZ manager noticed the bus went away (its watcher task ended)."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        watchers = [
            task
            for task in asyncio.all_tasks()
            if not task.done() and "_monitor_bus_disconnect" in getattr(task.get_coro(), "__qualname__", "")
        ]
        if not watchers:
            return
        await asyncio.sleep(0.02)


def slow_answering(delay_s: float, quirks: tuple[str, ...] = ()) -> PeripheralFactory:
    """A simulator's ``peripheral_factory``: treadsim's treadmill with these quirks, answering each
    control-point write ``delay_s`` simulated seconds later, as real machines do."""

    def make(options: TreadmillOptions, now: float, clock: Callable[[], float]) -> FtmsPeripheral:
        from treadsim.peripheral import FtmsPeripheral

        return FtmsPeripheral.create(
            now,
            address=options.address,
            name=options.name,
            quirks=quirks,
            seed=options.seed,
            clock=clock,
            response_delay_s=delay_s,
        )

    return make


async def wait_until(predicate: Callable[[], bool], within: float = 5.0, what: str = "condition") -> None:
    """Poll ``predicate`` (cheaply) until it holds; fail the test with ``what`` after ``within`` s."""
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
async def private_bus(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[PrivateBus]:
    """A private system-type bus, selected for bleak through DBUS_SYSTEM_BUS_ADDRESS."""
    bus = PrivateBus()
    address = await bus.start()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
    try:
        yield bus
    finally:
        await bus.stop()
        await wait_for_bleak_bus_watchers()


SimulatorFactory = Callable[..., Awaitable["Simulator"]]


@pytest.fixture
async def simulator_factory(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SimulatorFactory]:
    """``sim = await simulator_factory(treadmills=2, quirks=["0:ignores-speed"], ...)``: a running
    :class:`Simulator` on its own bus (DBUS_SYSTEM_BUS_ADDRESS set), closed at the end of the test."""
    async with AsyncExitStack() as stack:

        async def make(**kwargs: Any) -> Simulator:
            from treadsim.server import Simulator

            sim = await stack.enter_async_context(Simulator(**kwargs))
            monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", sim.bus_address)
            return sim

        try:
            yield make
        finally:
            await stack.aclose()
            await wait_for_bleak_bus_watchers()
