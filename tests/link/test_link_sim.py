"""The link against treadsim through the virtual adapter, with unmodified bleak and pyftms."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
from dbus_fast import BusType, Message
from dbus_fast.aio import MessageBus

from retrowalk.link.events import LinkConnected, LinkEvent, LinkLost
from retrowalk.link.ftms import FtmsLink, LinkSettings, LinkTarget
from retrowalk.session.events import ResultCode, SetTargetSpeed, StopBelt
from tests.plugins.virtual_adapter import SimulatorFactory, slow_answering, wait_until
from treadsim.server import Simulator, treadmill_address

from .running import link_running

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
        await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]  # dbus-fast leaves it unannotated


@contextlib.asynccontextmanager
async def running_link(sim: Simulator, events: list[LinkEvent]) -> AsyncIterator[FtmsLink]:
    """A link to the simulator's first treadmill; what it reports is appended to ``events``."""
    async with link_running(
        FtmsLink("tm0", LinkTarget(address=treadmill_address(0)), timing=TIMING), events
    ) as link:
        yield link


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


REPLY_DELAY_S = 0.3  # simulated seconds the treadmill takes to answer a control-point write


slow_answering_treadmill = slow_answering(REPLY_DELAY_S)


async def test_a_command_cancelled_in_flight_is_answered_before_the_next_one_is_written(
    simulator_factory: SimulatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # A shutdown (or any caller's timeout) cancels a command whose write has left. Abandoned, its reply
    # came with nobody waiting ("unreadable control-point reply (80 00 01)" for the Request Control that
    # pyftms sends before a connection's first command), and the next write, the shutdown's stop, met
    # a control point still busy with the abandoned procedure.
    caplog.set_level(logging.INFO, logger="retrowalk")
    sim = await simulator_factory(treadmills=1, peripheral_factory=slow_answering_treadmill)
    peripheral = sim.treadmill(0).peripheral
    events: list[LinkEvent] = []
    async with running_link(sim, events) as link:
        await wait_until(lambda: link.connected, 15, "connected")
        first = asyncio.create_task(link.execute(SetTargetSpeed(1.0)), name="first-command")
        await wait_until(lambda: peripheral.procedure_pending, 5, "the first write (Request Control) arrived")
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        reply = await link.execute(StopBelt())
    assert reply.result is ResultCode.SUCCESS, reply
    said = [r.getMessage() for r in caplog.records if r.name.startswith("retrowalk")]
    assert not [line for line in said if "unreadable" in line], said


# A treadmill that takes 1.5 s to answer, while the link waits 1 s for each reply.
NOTIFYING_REPLY_S = 1.5
IMPATIENT = LinkSettings(scan_timeout_s=5.0, backoff_initial_s=0.1, backoff_max_s=0.5, command_timeout_s=1.0)


async def test_a_command_the_treadmill_never_answers_fails_within_its_wait_and_holds_up_nothing(
    simulator_factory: SimulatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # The UREVO E1L answers by notification and gave one answer for two back-to-back writes (the
    # notify-replies quirk: a write during a running procedure is obeyed and never answered). The first
    # command's Request Control times out; the second command's Request Control goes out while the
    # first is still running, so it is never answered itself: the late answer to the first stands in
    # for it, and the speed command after it is answered too late. Each command fails within its own
    # bounded wait, and none is counted as obeyed on another's answer.
    caplog.set_level(logging.INFO, logger="retrowalk")
    factory = slow_answering(NOTIFYING_REPLY_S, ("notify-replies",))
    await simulator_factory(treadmills=1, peripheral_factory=factory)
    events: list[LinkEvent] = []
    link = FtmsLink("tm0", LinkTarget(address=treadmill_address(0)), timing=IMPATIENT)
    async with link_running(link, events):
        await wait_until(lambda: link.connected, 15, "connected")
        loop = asyncio.get_running_loop()
        began = loop.time()
        first = await link.execute(StopBelt())
        second = await link.execute(SetTargetSpeed(1.0))
        took = loop.time() - began
        await wait_until(lambda: "late control-point reply (80 02" in caplog.text, 5, "the late speed answer")
    assert first.result is ResultCode.TIMEOUT, first
    assert second.result is ResultCode.TIMEOUT, second
    # Three writes at most, each waited for at most 1 s, and nothing waited for a reply never sent.
    assert took < 3 * IMPATIENT.command_timeout_s + 1.0, took
    assert "unreadable" not in caplog.text
