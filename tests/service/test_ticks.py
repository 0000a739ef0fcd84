"""TickTimer: one timer per runner that queues a tick when one is due, and none before quiet_until.

Real event loop, real monotonic clock, short periods; the checks are "not before" (asyncio never fires a
timer early by more than its resolution, allowed for by TIMER_SLACK_S) and "within a generous bound".
"""

from __future__ import annotations

import asyncio
import math
import time

from retrowalk.service.ticks import TIMER_SLACK_S, TickTimer

EARLY = TIMER_SLACK_S + 0.002  # how early a wake may come and still be on time


class Rig:
    def __init__(self, tick_s: float, quiet_until: float = -math.inf) -> None:
        self.quiet = quiet_until
        self.wakes: list[float] = []
        self.woken = asyncio.Event()
        self.timer = TickTimer(time.monotonic, tick_s, 1.0, lambda: self.quiet, self._wake)

    def _wake(self) -> None:
        self.wakes.append(time.monotonic())
        self.woken.set()

    async def next_wake(self, within_s: float = 2.0) -> float:
        self.woken.clear()
        await asyncio.wait_for(self.woken.wait(), within_s)
        return self.wakes[-1]


async def witness_ticks(span_s: float, tick_s: float = 0.01) -> int:
    """A timer that needs every tick, armed now and ticked until its wakes span ``span_s``: a positive
    event showing that the loop ran timers of that period meanwhile (a timer under test that should not
    fire would have fired by then). Returns how many wakes it took."""
    witness = Rig(tick_s=tick_s)
    start = time.monotonic()
    while not witness.wakes or witness.wakes[-1] < start + span_s:
        witness.timer.arm()
        witness.timer.ticked(await witness.next_wake())
    witness.timer.cancel()
    return len(witness.wakes)


async def test_ticks_come_every_period_while_the_engine_needs_them() -> None:
    rig = Rig(tick_s=0.03)
    start = time.monotonic()
    rig.timer.arm()
    first = await rig.next_wake()
    assert first >= start + 0.03 - EARLY
    rig.timer.ticked(first)
    rig.timer.arm()
    second = await rig.next_wake()
    assert second >= first + 0.03 - EARLY
    rig.timer.cancel()


async def test_no_tick_is_queued_before_quiet_until() -> None:
    start = time.monotonic()
    rig = Rig(tick_s=0.01, quiet_until=start + 0.15)
    rig.timer.arm()
    woke = await rig.next_wake()
    assert woke >= start + 0.15 - EARLY
    assert len(rig.wakes) == 1
    rig.timer.cancel()


async def test_a_quiet_time_pushed_out_meanwhile_is_followed_without_a_wake() -> None:
    start = time.monotonic()
    rig = Rig(tick_s=0.01, quiet_until=start + 0.05)
    rig.timer.arm()
    rig.quiet = start + 0.2  # a sample arrived: nothing is due until later
    woke = await rig.next_wake()
    assert woke >= start + 0.2 - EARLY
    assert len(rig.wakes) == 1
    rig.timer.cancel()


async def test_something_due_sooner_brings_the_timer_forward() -> None:
    start = time.monotonic()
    rig = Rig(tick_s=0.01, quiet_until=start + 10.0)
    rig.timer.arm()
    rig.quiet = -math.inf  # an overspeed sample: tick as usual from now on
    rig.timer.arm()
    woke = await rig.next_wake(within_s=1.0)
    assert woke < start + 1.0
    rig.timer.cancel()


async def test_outside_a_session_nothing_is_ever_queued_and_one_tick_is_queued_at_a_time() -> None:
    idle = Rig(tick_s=0.01, quiet_until=math.inf)
    idle.timer.arm()
    assert await witness_ticks(0.08) >= 2
    assert idle.wakes == []
    busy = Rig(tick_s=0.01, quiet_until=time.monotonic() + 0.05)
    busy.timer.arm()
    await busy.next_wake()
    # The pump has not taken the tick yet, and now something is due at once (an overspeed sample):
    # arming again must not queue a second tick.
    busy.quiet = -math.inf
    busy.timer.arm()
    assert await witness_ticks(0.05) >= 2
    assert len(busy.wakes) == 1
    busy.timer.cancel()


async def test_the_engine_is_not_asked_while_a_tick_is_queued() -> None:
    asked: list[float] = []

    def quiet_until() -> float:
        asked.append(time.monotonic())
        return -math.inf  # every tick needed

    woken = asyncio.Event()
    timer = TickTimer(time.monotonic, 0.01, 1.0, quiet_until, woken.set)
    timer.arm()
    await asyncio.wait_for(woken.wait(), 2.0)
    before = len(asked)
    # The pump handles items before it takes the queued tick; each is followed by arm().
    for _ in range(5):
        timer.arm()
    assert len(asked) == before
    timer.cancel()
