"""Fixtures shared by every test.

The leak guard follows the idea of aioesphomeapi's test fixtures: a test that leaves a task running or a
timer scheduled behind it fails, because in a service that drives a moving belt a forgotten task or timer
is a forgotten command.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# The suite's fixtures, found by name in every test module (see tests/plugins/__init__.py).
pytest_plugins = [
    "pytester",
    "tests.plugins.markers",
    "tests.plugins.mosquitto",
    "tests.plugins.virtual_adapter",
    "tests.plugins.in_process_treadmill",
]


@pytest.fixture(autouse=True)
def private_lock_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own directories for retrowalk's per-treadmill locks (the machine-wide one and
    the per-user fallback): the simulated treadmills of tests running side by side share addresses, and
    must not count as one treadmill driven twice."""
    monkeypatch.delenv("RUNTIME_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    machine = tmp_path / "machine-locks"
    machine.mkdir()
    monkeypatch.setenv("RETROWALK_LOCK_DIR", str(machine))


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


@pytest.fixture(autouse=True)
async def fail_on_leaked_tasks_and_timers() -> AsyncIterator[None]:
    """Fail a test that leaves a task running or a timer scheduled behind it (the tick timer is a
    `call_later` handle: a forgotten one fires into a runner that has already gone)."""
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


@pytest.fixture
def config_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configuration as a user runs it: relative paths resolve in a fresh directory, and no RETROWALK_*
    variable of whoever runs the tests overrides it."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("RETROWALK_"):
            monkeypatch.delenv(name)
    return tmp_path


@pytest.fixture(autouse=True)
def cli_logging_restored() -> Iterator[None]:
    """`retrowalk.cli.main` sets up logging for a whole process; give the test process its own back.

    Autouse: a test that calls `main` with capsys leaves the root logger writing to that test's captured
    stderr, closed once the test ends, and every later test that logs would print "Logging error"."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    before = {
        name: (logger.level, logger.filters[:])
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, logger in logging.Logger.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            level_before, filters_before = before.get(name, (logging.NOTSET, []))
            logger.setLevel(level_before)
            logger.filters[:] = filters_before
