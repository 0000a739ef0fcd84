"""The link's state machine, with the real FtmsLink and pyftms over treadsim's peripheral in process
(only bleak's transport replaced, as in the fuzzing rig): each move, what it reports, and the moves
that do not exist."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest

from retrowalk.link.events import LinkConnected, LinkEvent, LinkLost
from retrowalk.link.ftms import FtmsLink, LinkSettings, LinkState, LinkTarget
from retrowalk.link.state import LinkStateError
from retrowalk.session.events import ResultCode, StopBelt
from tests.plugins.in_process_treadmill import (
    ADDRESS,
    Delivery,
    FakeBleakClient,
    OneTreadmillTransport,
    fast_spec,
    untouched,
)
from tests.plugins.virtual_adapter import wait_until
from treadsim.peripheral import FtmsPeripheral

from .running import link_running

S = LinkState
FIRST_CONNECT = [(S.CLOSED, S.SEARCHING), (S.SEARCHING, S.CONNECTING), (S.CONNECTING, S.UP)]
RECONNECT = [(S.LOST, S.WAITING), (S.WAITING, S.SEARCHING), (S.SEARCHING, S.CONNECTING), (S.CONNECTING, S.UP)]


@dataclass
class LinkRig:
    link: FtmsLink
    peripheral: FtmsPeripheral
    delivery: Delivery
    caplog: pytest.LogCaptureFixture
    events: list[LinkEvent] = field(default_factory=list)
    clients: list[FakeBleakClient] = field(default_factory=list)

    def moves(self) -> list[tuple[LinkState, LinkState]]:
        """Every state change the link logged, in order."""
        return [
            (LinkState(str(r.args[0])), LinkState(str(r.args[1])))
            for r in self.caplog.records
            if r.name == "retrowalk.link.ftms" and r.msg == "link %s -> %s: %s" and isinstance(r.args, tuple)
        ]

    def said(self, level: int) -> list[str]:
        return [
            r.getMessage()
            for r in self.caplog.records
            if r.name == "retrowalk.link.ftms" and r.levelno == level
        ]

    def count(self, kind: type) -> int:
        return sum(1 for event in self.events if isinstance(event, kind))


class SlowToReadClient(FakeBleakClient):
    """A connection whose reads take a moment, as over the air: room for the treadmill to go meanwhile."""

    async def read_gatt_char(self, char: Any) -> bytearray:
        await asyncio.sleep(0.01)
        return await super().read_gatt_char(char)


@contextlib.asynccontextmanager
async def link_rig(
    caplog: pytest.LogCaptureFixture, backoff_s: float = 0.01, *, first_goes_while_connecting: bool = False
) -> AsyncIterator[LinkRig]:
    """A running link to an in-process treadmill, connected. ``first_goes_while_connecting``: the
    treadmill disconnects during the first connection's setup (while pyftms reads what it can do)."""
    caplog.set_level(logging.DEBUG, logger="retrowalk.link")
    peripheral = FtmsPeripheral.create(time.monotonic(), address=ADDRESS, spec=fast_spec())
    link = FtmsLink(
        "tm-state",
        LinkTarget(address=ADDRESS),
        timing=LinkSettings(command_timeout_s=1.0, backoff_initial_s=backoff_s, backoff_max_s=backoff_s),
        transport=OneTreadmillTransport(),
    )
    rig = LinkRig(link, peripheral, Delivery(), caplog)

    async def establish(*_args: Any, **kwargs: Any) -> FakeBleakClient:
        kind = SlowToReadClient if first_goes_while_connecting and not rig.clients else FakeBleakClient
        client = kind(
            peripheral, kwargs.get("disconnected_callback"), lambda: untouched, rig.delivery, lambda: 0.0
        )
        if kind is SlowToReadClient:
            client.drop()
        rig.clients.append(client)
        return client

    async def no_stale(*_args: Any, **_kwargs: Any) -> None:
        return None

    with (
        mock.patch("pyftms.client.client.establish_connection", establish),
        mock.patch("pyftms.client.client.close_stale_connections", no_stale),
    ):
        async with link_running(link, rig.events):
            await wait_until(lambda: link.connected, 5, "connected")
            yield rig


async def test_a_link_searches_connects_and_reports_the_connection_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with link_rig(caplog) as rig:
        await wait_until(lambda: rig.count(LinkConnected) == 1, 5, "the connection reported")
        assert rig.moves() == FIRST_CONNECT
        assert rig.link.state is S.UP
        assert rig.count(LinkLost) == 0
        # Each move is logged with the treadmill it happened to.
        moved = [r for r in caplog.records if r.msg == "link %s -> %s: %s"]
        assert {getattr(r, "treadmill", None) for r in moved} == {"tm-state"}


async def test_a_treadmill_that_disconnects_is_lost_once_and_searched_for_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with link_rig(caplog) as rig:
        rig.clients[-1].drop()
        await wait_until(lambda: rig.count(LinkConnected) == 2, 5, "connected again")
        assert rig.moves() == [*FIRST_CONNECT, (S.UP, S.LOST), *RECONNECT]
        lost = [event for event in rig.events if isinstance(event, LinkLost)]
        assert [event.reason for event in lost] == ["the treadmill disconnected"]
        assert rig.said(logging.WARNING) == ["link lost"]


async def test_a_dropped_link_is_lost_once_although_closing_it_disconnects_the_treadmill(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # drop() and the treadmill's disconnect are one path: closing a dropped connection fires the
    # disconnect callback too, and that is not a second loss.
    async with link_rig(caplog) as rig:
        dropped = rig.clients[-1]
        rig.link.drop("telemetry stopped")
        await wait_until(lambda: rig.count(LinkConnected) == 2, 5, "connected again")
        assert not dropped.is_connected
        assert rig.moves() == [*FIRST_CONNECT, (S.UP, S.LOST), *RECONNECT]
        lost = [event for event in rig.events if isinstance(event, LinkLost)]
        assert [event.reason for event in lost] == ["telemetry stopped"]
        assert rig.said(logging.WARNING) == ["dropping the link: telemetry stopped"]


async def test_a_treadmill_that_goes_while_connecting_is_neither_reported_up_nor_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with link_rig(caplog, first_goes_while_connecting=True) as rig:
        await wait_until(lambda: rig.count(LinkConnected) == 1, 5, "the second connection reported")
        assert rig.moves() == [*FIRST_CONNECT[:2], (S.CONNECTING, S.LOST), *RECONNECT]
        assert rig.count(LinkLost) == 0
        assert len(rig.clients) == 2
        # Said as what happened, not as garbage from the treadmill (pyftms fails on the connection it
        # forgot when the treadmill went).
        assert rig.said(logging.WARNING) == [f"the connection to {ADDRESS} ended while it was being set up"]


async def test_nothing_is_sent_once_the_link_is_lost(caplog: pytest.LogCaptureFixture) -> None:
    async with link_rig(caplog, backoff_s=5.0) as rig:
        writes = len(rig.delivery.writes)
        rig.link.drop("a misbehaving treadmill")
        reply = await rig.link.execute(StopBelt())
        assert reply.link_down
        assert reply.result is ResultCode.FAILED
        assert len(rig.delivery.writes) == writes


async def test_a_command_that_began_on_one_connection_is_not_sent_on_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with link_rig(caplog) as rig:
        # The command waits behind another one (the lock) while the link is lost and comes back.
        async with rig.link._command_lock:
            waiting = asyncio.create_task(rig.link.execute(StopBelt()), name="command-behind-another")
            await asyncio.sleep(0)
            rig.clients[-1].drop()
            await wait_until(lambda: rig.count(LinkConnected) == 2, 5, "connected again")
            writes = len(rig.delivery.writes)
        reply = await waiting
        assert reply.link_down, reply
        assert len(rig.delivery.writes) == writes


async def test_a_closed_link_lets_go_of_the_treadmill_without_reporting_a_loss(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with link_rig(caplog) as rig:
        client = rig.clients[-1]
    assert rig.moves() == [*FIRST_CONNECT, (S.UP, S.CLOSED)]
    assert rig.link.state is S.CLOSED
    assert not client.is_connected
    assert rig.count(LinkLost) == 0


@pytest.mark.parametrize(
    ("old", "new"),
    [(S.CLOSED, S.UP), (S.LOST, S.UP), (S.WAITING, S.UP), (S.UP, S.CONNECTING), (S.SEARCHING, S.LOST)],
)
def test_a_move_the_link_does_not_have_is_refused_naming_the_treadmill(
    old: LinkState, new: LinkState
) -> None:
    link = FtmsLink("tm-odd", LinkTarget(address=ADDRESS))
    link._state = old
    with pytest.raises(LinkStateError, match=f"treadmill tm-odd: the link cannot go from {old} to {new}"):
        link._enter(new, "a test")
    assert link.state is old
