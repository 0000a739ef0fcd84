"""The leak guard, autouse: a test that leaves a task running or a timer scheduled behind it fails.

It follows the idea of aioesphomeapi's test fixtures: in a service that drives a moving belt a forgotten
task or timer is a forgotten command. Tests that share an event loop across a module (the browser tests,
which keep one chromium per module) override the fixture with the same guard on their module's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest


def _pending_timers(loop: asyncio.AbstractEventLoop) -> set[asyncio.TimerHandle]:
    """The loop's timers that are still due to fire (`call_later`, `call_at`).

    asyncio has no public API that lists them: they sit in the loop's private `_scheduled` heap, which
    aioesphomeapi's `verify_no_lingering_tasks` reads too. A fired timer leaves the heap; a cancelled one
    stays in it until the loop sweeps it, so those are skipped."""
    scheduled = getattr(loop, "_scheduled", None)
    if not isinstance(scheduled, list):
        # Fail closed: a loop we cannot inspect would let every leaked timer pass unseen.
        pytest.fail(f"the leak guard cannot list the timers of {type(loop).__name__}")
    return {h for h in scheduled if isinstance(h, asyncio.TimerHandle) and not h.cancelled()}


@contextlib.asynccontextmanager
async def no_leaked_tasks_or_timers() -> AsyncIterator[None]:
    """Fail if the code inside leaves a task running or a timer scheduled on the running loop behind it
    (the tick timer is a `call_later` handle: a forgotten one fires into a runner that has already gone).
    What was running or scheduled when it began does not count."""
    loop = asyncio.get_running_loop()
    tasks_before = asyncio.all_tasks()
    timers_before = _pending_timers(loop)
    yield
    # Give tasks that were cancelled during the test one turn to finish unwinding.
    for _ in range(3):
        await asyncio.sleep(0)
    me = asyncio.current_task()
    leaked_tasks = [t for t in asyncio.all_tasks() if t not in tasks_before and t is not me and not t.done()]
    for task in leaked_tasks:
        task.cancel()
    if leaked_tasks:
        # Let them unwind, so that timers they own (an `asyncio.sleep`) are cancelled by their own
        # `finally` and only timers nobody owns are reported below.
        await asyncio.wait(leaked_tasks, timeout=1.0)
    leaked_timers = sorted(_pending_timers(loop) - timers_before, key=lambda h: h.when())
    problems: list[str] = []
    if leaked_tasks:
        names = ", ".join(sorted(t.get_name() for t in leaked_tasks))
        problems.append(f"test leaked {len(leaked_tasks)} running task(s): {names}")
    if leaked_timers:
        # Described before cancelling: a cancelled handle's repr no longer names its callback.
        handles = ", ".join(repr(h) for h in leaked_timers)
        problems.append(f"test left {len(leaked_timers)} timer(s) scheduled: {handles}")
    for timer in leaked_timers:
        timer.cancel()
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture(autouse=True)
async def fail_on_leaked_tasks_and_timers() -> AsyncIterator[None]:
    """Fail a test that leaves a task running or a timer scheduled behind it."""
    async with no_leaked_tasks_or_timers():
        yield
