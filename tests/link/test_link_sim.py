"""The link against treadsim through the virtual adapter, with unmodified bleak and pyftms."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from dbus_fast import BusType, Message
from dbus_fast.aio import MessageBus
from sim_fixtures import SimulatorFactory, simulator_factory, wait_until

from retrowalk.link.events import LinkConnected, LinkEvent, LinkLost
from retrowalk.link.ftms import FtmsLink, LinkSettings, LinkTarget
from treadsim.server import Simulator, treadmill_address

__all__ = ["simulator_factory"]

TIMING = LinkSettings(scan_timeout_s=5.0, backoff_initial_s=0.1, backoff_max_s=0.5)


async def bus_connections(address: str) -> int:
    """How many clients are connected to the bus now, the one asking not counted."""
    bus = await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()
    try:
        reply = await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="ListNames",
            )
        )
        names: list[str] = reply.body[0]
        return sum(1 for name in names if name.startswith(":") and name != bus.unique_name)
    finally:
        bus.disconnect()
        await bus.wait_for_disconnect()


@contextlib.asynccontextmanager
async def running_link(sim: Simulator, events: list[LinkEvent]) -> AsyncIterator[FtmsLink]:
    link = FtmsLink("tm0", LinkTarget(address=treadmill_address(0)), events.append, timing=TIMING)
    task = asyncio.create_task(link.run(), name="link-under-test")
    try:
        yield link
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def count(events: list[LinkEvent], kind: type) -> int:
    return sum(1 for event in events if isinstance(event, kind))


async def test_a_lost_link_leaves_no_bus_connection_behind(simulator_factory: SimulatorFactory) -> None:
    # bleak gives each client a D-Bus connection of its own and closes it only when asked to disconnect;
    # a link that only reconnected after each loss kept one more connection per loss until it ended.
    sim = await simulator_factory(treadmills=1)
    events: list[LinkEvent] = []
    async with running_link(sim, events) as link:
        await wait_until(lambda: link.connected, 15, "connected")
        connected_once = await bus_connections(sim.bus_address)
        for loss in range(1, 4):
            sim.perform(0, "link", "drop")
            await wait_until(lambda: count(events, LinkLost) == loss, 10, f"loss {loss}")  # noqa: B023
            await wait_until(lambda: count(events, LinkConnected) == loss + 1, 15, f"reconnect {loss}")  # noqa: B023
        assert await bus_connections(sim.bus_address) == connected_once
