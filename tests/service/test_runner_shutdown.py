"""A runner cancelled mid-session (the service stopping) ends the session with the service's reason and
says so, whatever the treadmill answers to the stop: success, failure, or nothing before the deadline."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from retrowalk.link.events import LinkConnected, LinkEvents, LinkReply, Sample
from retrowalk.mqtt import payloads as p
from retrowalk.service.publish import CallbackPublisher
from retrowalk.service.runner import TreadmillRunner
from retrowalk.session import events as ev
from retrowalk.session.plan import OperatorCeilings, SessionPlan
from tests.plugins.virtual_adapter import wait_until

from .harness import STAND_IN_INFO as INFO
from .harness import Recorder


class StandInLink:
    """Accepts every command at once, except a Stop once the belt was started: that one gets
    ``stop_reply``, or no answer at all."""

    def __init__(self, stop_reply: ev.ResultCode | None) -> None:
        self.events = LinkEvents()
        self._stop_reply = stop_reply
        self.sent: list[ev.Command] = []

    @property
    def connected(self) -> bool:
        return True

    async def run(self) -> None:
        self.events.put(LinkConnected(time.monotonic(), INFO))
        await asyncio.Event().wait()

    async def execute(self, command: ev.Command) -> LinkReply:
        self.sent.append(command)
        started = any(isinstance(c, ev.StartBelt) for c in self.sent)
        if isinstance(command, ev.StopBelt) and started:  # the stop on connecting is answered
            if self._stop_reply is None:
                await asyncio.Event().wait()  # a treadmill that never answers
            return LinkReply(self._stop_reply or ev.ResultCode.SUCCESS)
        if isinstance(command, ev.StartBelt):
            self.events.put(Sample(time.monotonic(), 1.0, distance_m=0.0, elapsed_s=1))
        return LinkReply(ev.ResultCode.SUCCESS)

    def drop(self, reason: str) -> None:
        pass


@contextlib.asynccontextmanager
async def walking_runner(stop_reply: ev.ResultCode | None) -> AsyncIterator[tuple[TreadmillRunner, Recorder]]:
    recorder = Recorder()
    runner = TreadmillRunner(
        "tm0",
        StandInLink(stop_reply),
        OperatorCeilings(),
        CallbackPublisher(recorder),
        shutdown_stop=lambda: ev.Stop(ev.EndReason.SERVICE_STOPPED, "the service was stopped (SIGTERM)"),
    )
    task = asyncio.create_task(runner.run(), name="runner-under-test")
    try:
        await wait_until(runner.ready.is_set, 5, "the runner connected")
        await runner.submit(ev.Start("ana", SessionPlan()))
        await wait_until(lambda: runner.phase is ev.Phase.FAMILIARISE, 5, "the session walking")
        yield runner, recorder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(
    ("stop_reply", "confirmed"),
    [(ev.ResultCode.SUCCESS, True), (ev.ResultCode.FAILED, False), (None, False)],
)
async def test_a_cancelled_runner_ends_its_session_with_the_services_reason(
    stop_reply: ev.ResultCode | None, confirmed: bool
) -> None:
    async with walking_runner(stop_reply) as (runner, recorder):
        pass
    ended = recorder.of(p.SessionEnded)
    assert [(e.reason, e.detail) for e in ended] == [("service_stopped", "the service was stopped (SIGTERM)")]
    assert [s.end_reason for s in recorder.of(p.SessionSummary)] == ["service_stopped"]
    # A stop the treadmill did not confirm is said, so that a person checks the belt.
    assert (recorder.of(p.StopNotConfirmed) == []) is confirmed
    assert isinstance(runner.link.sent[-1], ev.StopBelt)  # type: ignore[attr-defined]
    final = recorder.of(p.TreadmillState)[-1]
    assert (final.phase, final.connected, final.session_id) == ("idle", False, None)
    assert recorder.of(p.Availability)[-1].root == "offline"


async def test_a_kiosk_stop_the_treadmill_refuses_still_ends_the_session_and_says_check_the_belt() -> None:
    async with walking_runner(ev.ResultCode.FAILED) as (runner, recorder):
        await runner.submit(ev.Stop())
        ended = recorder.of(p.SessionEnded)
        assert [e.reason for e in ended] == ["kiosk_stop"]
        assert [s.end_reason for s in recorder.of(p.SessionSummary)] == ["kiosk_stop"]
        assert len(recorder.of(p.StopNotConfirmed)) == 1
