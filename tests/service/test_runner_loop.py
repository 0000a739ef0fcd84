"""The runner's command loop: what the engine returns is carried out in one loop, commands first and in
order (a command's follow-ups before the rest of its turn), notices after all of them in the engine's
order, the rest of a turn dropped after a failed command (its notices kept after a failed stop), a chain
of follow-ups that does not end cut off, and a link gone silent dropped when the engine says so."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from retrowalk.mqtt import payloads as p
from retrowalk.service.runner import MAX_FOLLOW_UP_TURNS, TreadmillRunner, caps_from
from retrowalk.session import events as ev
from retrowalk.session.engine import SessionEngine
from retrowalk.session.plan import OperatorCeilings, SessionPlan
from tests.plugins.stand_in_link import StandInLink, StandInRunnerFactory
from tests.plugins.virtual_adapter import wait_until

from .harness import STAND_IN_INFO as INFO

OK = ev.ResultCode.SUCCESS
FAILED = ev.ResultCode.FAILED


@contextlib.asynccontextmanager
async def connected_runner(
    stand_in_runner: StandInRunnerFactory,
    replies: dict[ev.Command, ev.ResultCode] | None = None,
    **runner_options: Any,
) -> AsyncIterator[tuple[TreadmillRunner, StandInLink, list[object]]]:
    """A runner on a stand-in link, connected, with one log of commands, link drops and publications."""
    log: list[object] = []

    def publish(_treadmill_id: str, item: object) -> None:
        log.append(item)

    async with stand_in_runner(publish, log=log, replies=replies, **runner_options) as (runner, link):
        yield runner, link, log


def warning(left: float) -> ev.CapWarning:
    """A notice that says which one it is (any notice would do)."""
    return ev.CapWarning("s", 60, left)


class ScriptedEngine(SessionEngine):
    """The real engine, except that a Start answers ``on_start`` and the result of a command in
    ``follow_ups`` answers that list."""

    def __init__(self, runner: TreadmillRunner, link: StandInLink, on_start: list[ev.Action]) -> None:
        assert runner.caps is not None
        super().__init__(OperatorCeilings(), runner.caps, runner.treadmill_id)
        super().handle(ev.LinkUp(), time.monotonic())
        self._link = link
        self.on_start = on_start
        self.follow_ups: dict[ev.Command, list[ev.Action]] = {}

    def handle(self, event: ev.Event, now: float) -> list[ev.Action]:
        if isinstance(event, ev.Start):
            return list(self.on_start)
        if isinstance(event, ev.CommandResult):
            return list(self.follow_ups.get(self._link.sent[-1], []))
        return super().handle(event, now)


def published_warnings(log: list[object]) -> list[float]:
    return [item.remaining_s for item in log if isinstance(item, p.CapWarning)]


def commands_in(log: list[object]) -> list[object]:
    return [item for item in log if isinstance(item, ev.COMMAND_TYPES)]


async def run_script(
    stand_in_runner: StandInRunnerFactory,
    on_start: list[ev.Action],
    follow_ups: dict[ev.Command, list[ev.Action]],
    replies: dict[ev.Command, ev.ResultCode] | None = None,
) -> list[object]:
    """Carry out a scripted turn; the log from the Start on."""
    async with connected_runner(stand_in_runner, replies) as (runner, link, log):
        engine = ScriptedEngine(runner, link, on_start)
        engine.follow_ups = follow_ups
        runner.engine = engine
        del log[:]
        await runner.submit(ev.Start("ana", SessionPlan()))
        return list(log)


C1, C2, C3 = ev.SetTargetSpeed(1.1), ev.SetTargetSpeed(1.2), ev.SetTargetSpeed(1.3)


async def test_follow_ups_go_first_and_notices_after_every_command_in_the_engines_order(
    stand_in_runner: StandInRunnerFactory,
) -> None:
    log = await run_script(
        stand_in_runner,
        [warning(1), C1, warning(2), C2],
        {C1: [warning(3), C3], C2: [warning(4)]},
    )
    assert commands_in(log) == [C1, C3, C2]
    assert published_warnings(log) == [1, 3, 2, 4]
    # No notice went out before the last command: a correction never waits for a publication.
    last_command = max(i for i, item in enumerate(log) if isinstance(item, ev.COMMAND_TYPES))
    first_notice = min(i for i, item in enumerate(log) if isinstance(item, p.CapWarning))
    assert last_command < first_notice


async def test_a_failed_command_drops_the_rest_of_its_turn_but_its_follow_ups_run(
    stand_in_runner: StandInRunnerFactory,
) -> None:
    log = await run_script(
        stand_in_runner,
        [warning(1), C1, warning(2), C2],
        {C1: [warning(3), C3]},
        replies={C1: FAILED},
    )
    assert commands_in(log) == [C1, C3]
    assert published_warnings(log) == [1, 3]


async def test_a_failed_stop_drops_the_rest_of_its_commands_but_not_its_notices(
    stand_in_runner: StandInRunnerFactory,
) -> None:
    stop = ev.StopBelt()
    log = await run_script(
        stand_in_runner,
        [warning(1), stop, warning(2), C2, warning(3)],
        {stop: [warning(4), C3]},
        replies={stop: FAILED},
    )
    assert commands_in(log) == [stop, C3]
    assert published_warnings(log) == [1, 4, 2, 3]


async def test_a_failure_deep_in_a_chain_drops_only_the_rest_of_that_turn(
    stand_in_runner: StandInRunnerFactory,
) -> None:
    log = await run_script(
        stand_in_runner,
        [C1, warning(1), C2],
        {C1: [C3, warning(2), ev.SetTargetSpeed(9.0)], C3: [warning(3)]},
        replies={C3: FAILED},
    )
    assert commands_in(log) == [C1, C3, C2]
    assert published_warnings(log) == [3, 1]


async def test_a_chain_of_follow_ups_that_does_not_end_is_cut_off_and_the_belt_stopped(
    stand_in_runner: StandInRunnerFactory,
) -> None:
    log = await run_script(stand_in_runner, [C1, warning(1)], {C1: [C1]})
    # The turn itself and MAX_FOLLOW_UP_TURNS follow-ups of it, then no more: a stop.
    assert commands_in(log) == [C1] * (MAX_FOLLOW_UP_TURNS + 1) + [ev.StopBelt()]
    assert published_warnings(log) == [1]


# --- a link gone silent --------------------------------------------------------------------------------


def test_the_engine_asks_for_the_link_to_be_dropped_when_it_ends_a_session_for_silence() -> None:
    engine = SessionEngine(OperatorCeilings(), caps_from(INFO), "tm0")
    engine.handle(ev.LinkUp(), 0.0)
    engine.handle(ev.Start("ana", SessionPlan(), "s1"), 0.0)
    engine.handle(ev.CommandResult(ev.CommandKind.SET_TARGET_SPEED, OK), 0.1)
    engine.handle(ev.CommandResult(ev.CommandKind.START, OK), 0.2)
    engine.handle(ev.Telemetry(1.0, None, 0.3), 0.3)
    out = engine.handle(ev.Tick(), 3.4)
    ended = [a for a in out if isinstance(a, ev.SessionEnded)]
    assert [e.reason for e in ended] == [ev.EndReason.STALE_TELEMETRY]
    assert out[-1] == ev.DropLink("telemetry stopped while the belt should move")
    assert out.index(ended[0]) < len(out) - 1


def test_no_other_end_drops_the_link() -> None:
    engine = SessionEngine(OperatorCeilings(), caps_from(INFO), "tm0")
    engine.handle(ev.LinkUp(), 0.0)
    engine.handle(ev.Start("ana", SessionPlan(), "s1"), 0.0)
    out = engine.handle(ev.Stop(), 0.1)
    assert any(isinstance(a, ev.SessionEnded) for a in out)
    assert not any(isinstance(a, ev.DropLink) for a in out)


@pytest.mark.parametrize("stop_reply", [OK, FAILED])
async def test_a_session_ended_for_silence_drops_the_link_after_its_end_is_published(
    stand_in_runner: StandInRunnerFactory, stop_reply: ev.ResultCode
) -> None:
    # The clock runs 50 times faster than real time: the 3 s of silence take 60 ms.
    t0 = time.monotonic()
    fast = 50.0
    clock = lambda: t0 + (time.monotonic() - t0) * fast  # noqa: E731
    async with connected_runner(stand_in_runner, clock=clock, speedup=fast) as (runner, link, log):
        await runner.submit(ev.Start("ana", SessionPlan()))
        link.replies = {ev.StopBelt(): stop_reply}  # only the session's own stop
        await wait_until(lambda: link.dropped != [], 5, "the silent link dropped")
        ended = [i for i, item in enumerate(log) if isinstance(item, p.SessionEnded)]
        assert [log[i].reason for i in ended] == ["telemetry_stopped"]  # type: ignore[attr-defined]
        assert link.dropped == ["telemetry stopped while the belt should move"]
        assert log.index(("dropped", link.dropped[0])) > ended[0]
