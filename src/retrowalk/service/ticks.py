"""When a treadmill's pump needs its next clock tick, and the one timer that queues it."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

__all__ = ["TIMER_SLACK_S", "TickTimer"]

# A timer may fire this much (real time) before its tick is due and still count as on time: asyncio fires
# timers up to its clock resolution early, and re-arming for a millisecond would only cost a wake-up.
TIMER_SLACK_S = 0.002


class TickTimer:
    """When the pump's next tick is due, and the one timer that queues it.

    Ticks come every tick period during a session, except before the engine's ``quiet_until``: until
    then no tick can do anything (a steady session fed once a second has nothing due until its data is
    late), so none is queued, which spares a fleet most of its ticks. They come through the queue from
    a timer rather than as a timeout on the queue: a timeout cancels the wait, and cancelling is the
    most expensive thing asyncio does.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        tick_s: float,
        speedup: float,
        quiet_until: Callable[[], float],
        wake: Callable[[], None],
    ) -> None:
        self._clock = clock
        self._tick_s = tick_s
        self._speedup = speedup
        self._quiet_until = quiet_until  # math.inf: no ticks needed at all (no session)
        self._wake = wake
        self._handle: asyncio.TimerHandle | None = None
        self._at = math.inf  # clock time the timer is set for; -inf once a tick is queued
        self._next_regular = clock() + tick_s

    def ticked(self, now: float) -> None:
        self.cancel()
        self._next_regular = now + self._tick_s

    def arm(self) -> None:
        """After anything the pump handled: make sure the timer fires no later than the next due tick."""
        if self._next_regular >= self._at:
            # A tick is queued (-inf), or the timer fires no later than the next regular tick: the due
            # time cannot be earlier, so the engine need not be asked (the pump arms after every item).
            return
        due = self._due_at()
        if due < self._at:
            self._schedule(due)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self._at = None, math.inf

    def _due_at(self) -> float:
        return max(self._next_regular, self._quiet_until())

    def _schedule(self, at: float) -> None:
        self.cancel()
        if math.isfinite(at):
            delay = max(0.0, at - self._clock()) / self._speedup
            self._handle = asyncio.get_running_loop().call_later(delay, self._fire)
            self._at = at

    def _fire(self) -> None:
        self._handle = None
        # Samples since the timer was set may have pushed the engine's quiet time further out.
        due = self._due_at()
        if (due - self._clock()) / self._speedup > TIMER_SLACK_S:
            self._schedule(due)
        else:
            self._at = -math.inf  # queued: nothing more to schedule until the pump has ticked
            self._wake()
