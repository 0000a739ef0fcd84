"""A runner on a stand-in link, for tests of what the runner does with the engine's output, where a
treadmill (even the in-process one) would only add timing: the link answers each command at once, as
the test scripted it.

A test asks for ``stand_in_runner`` by name: ``async with stand_in_runner(publish) as (runner, link)``
gives a connected runner of treadmill ``tm0`` (the stop it sends on connecting already sent) whose
publications go to ``publish``; ``link.replies`` decides each command's answer, also mid-test.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, NoReturn, Protocol

import pytest

from retrowalk.link.events import LinkConnected, LinkEvents, LinkReply, Sample
from retrowalk.service.publish import CallbackPublisher
from retrowalk.service.runner import TreadmillRunner
from retrowalk.session import events as ev
from retrowalk.session.plan import OperatorCeilings
from tests.plugins.virtual_adapter import wait_until
from tests.service.harness import STAND_IN_INFO

__all__ = ["StandInLink", "StandInRunnerFactory", "never_answer", "runner_on_stand_in_link"]

# A command's answer: a result code, or None for a treadmill that never answers it.
Replies = Mapping[ev.Command, ev.ResultCode | None]


class StandInLink:
    """Connects at once (as ``STAND_IN_INFO``) and answers each command from ``replies``: success unless
    a reply is given for it, None never. A Start Belt brings a first sample, so a session walks.
    Every command sent and every drop also goes into ``log``: pass the list the publisher writes to,
    and the test reads the order of commands, drops and publications in one list."""

    def __init__(self, log: list[object] | None = None, replies: Replies | None = None) -> None:
        self.log: list[object] = log if log is not None else []
        self.replies: Replies = dict(replies or {})
        self.events = LinkEvents()
        self.sent: list[ev.Command] = []
        self.dropped: list[str] = []

    @property
    def connected(self) -> bool:
        return True

    async def run(self) -> None:
        self.events.put(LinkConnected(time.monotonic(), STAND_IN_INFO))
        await asyncio.Event().wait()

    async def execute(self, command: ev.Command) -> LinkReply:
        self.sent.append(command)
        self.log.append(command)
        reply = self.replies.get(command, ev.ResultCode.SUCCESS)
        if reply is None:
            await never_answer()
        if isinstance(command, ev.StartBelt):
            self.events.put(Sample(time.monotonic(), 1.0, distance_m=0.0, elapsed_s=1))
        return LinkReply(reply)

    def drop(self, reason: str) -> None:
        self.dropped.append(reason)
        self.log.append(("dropped", reason))


async def never_answer() -> NoReturn:
    """A treadmill that never answers: the runner's deadline, or its cancellation, decides."""
    await asyncio.Event().wait()
    raise AssertionError("an Event nobody sets was set")


class StandInRunnerFactory(Protocol):
    def __call__(
        self,
        publish: Callable[[str, object], None],
        *,
        log: list[object] | None = None,
        replies: Replies | None = None,
        **runner_options: Any,
    ) -> AbstractAsyncContextManager[tuple[TreadmillRunner, StandInLink]]: ...


@contextlib.asynccontextmanager
async def runner_on_stand_in_link(
    publish: Callable[[str, object], None],
    *,
    log: list[object] | None = None,
    replies: Replies | None = None,
    **runner_options: Any,
) -> AsyncIterator[tuple[TreadmillRunner, StandInLink]]:
    """A runner of ``tm0`` on a :class:`StandInLink`, running and connected until the block ends;
    ``runner_options`` go to TreadmillRunner (a clock, a speedup, a shutdown stop)."""
    link = StandInLink(log, replies)
    runner = TreadmillRunner("tm0", link, OperatorCeilings(), CallbackPublisher(publish), **runner_options)
    task = asyncio.create_task(runner.run(), name="runner-under-test")
    try:
        await wait_until(runner.ready.is_set, 5, "the runner connected")
        await wait_until(lambda: link.sent != [], 5, "the stop sent on connecting")
        yield runner, link
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def stand_in_runner() -> StandInRunnerFactory:
    """``async with stand_in_runner(publish, replies=...) as (runner, link)`` (see the module docstring)."""
    return runner_on_stand_in_link
