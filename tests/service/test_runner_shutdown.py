"""A runner cancelled mid-session (the service stopping) ends the session with the service's reason and
says so, whatever the treadmill answers to the stop: success, failure, or nothing before the deadline."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from retrowalk.mqtt import payloads as p
from retrowalk.service.runner import TreadmillRunner
from retrowalk.session import events as ev
from retrowalk.session.plan import SessionPlan
from tests.plugins.stand_in_link import StandInRunnerFactory
from tests.plugins.virtual_adapter import wait_until

from .harness import Recorder


def service_stopped() -> ev.Stop:
    return ev.Stop(ev.EndReason.SERVICE_STOPPED, "the service was stopped (SIGTERM)")


@contextlib.asynccontextmanager
async def walking_runner(
    stand_in_runner: StandInRunnerFactory, stop_reply: ev.ResultCode | None
) -> AsyncIterator[tuple[TreadmillRunner, Recorder]]:
    """A runner walking a session on a link that accepts every command at once, except a Stop from now
    on: that one gets ``stop_reply``, or no answer at all (None)."""
    recorder = Recorder()
    async with stand_in_runner(recorder, shutdown_stop=service_stopped) as (runner, link):
        await runner.submit(ev.Start("ana", SessionPlan()))
        await wait_until(lambda: runner.phase is ev.Phase.FAMILIARISE, 5, "the session walking")
        link.replies = {ev.StopBelt(): stop_reply}  # the stop on connecting was answered
        yield runner, recorder


@pytest.mark.parametrize(
    ("stop_reply", "confirmed"),
    [(ev.ResultCode.SUCCESS, True), (ev.ResultCode.FAILED, False), (None, False)],
)
async def test_a_cancelled_runner_ends_its_session_with_the_services_reason(
    stand_in_runner: StandInRunnerFactory, stop_reply: ev.ResultCode | None, confirmed: bool
) -> None:
    async with walking_runner(stand_in_runner, stop_reply) as (runner, recorder):
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


async def test_a_kiosk_stop_the_treadmill_refuses_still_ends_the_session_and_says_check_the_belt(
    stand_in_runner: StandInRunnerFactory,
) -> None:
    async with walking_runner(stand_in_runner, ev.ResultCode.FAILED) as (runner, recorder):
        await runner.submit(ev.Stop())
        ended = recorder.of(p.SessionEnded)
        assert [e.reason for e in ended] == ["kiosk_stop"]
        assert [s.end_reason for s in recorder.of(p.SessionSummary)] == ["kiosk_stop"]
        assert len(recorder.of(p.StopNotConfirmed)) == 1
