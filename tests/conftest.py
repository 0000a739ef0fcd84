"""Fixtures shared by every test.

The task-leak guard follows the idea of aioesphomeapi's test fixtures: a test that leaves a task running
behind it fails, because in a service that drives a moving belt a forgotten task is a forgotten command.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def private_lock_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own directory for retrowalk's per-treadmill locks: the simulated treadmills of
    tests running side by side share addresses, and must not count as one treadmill driven twice."""
    monkeypatch.delenv("RUNTIME_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))


@pytest.fixture(autouse=True)
async def fail_on_leaked_tasks() -> AsyncIterator[None]:
    before = asyncio.all_tasks()
    yield
    # Give tasks that were cancelled during the test one turn to finish unwinding.
    for _ in range(3):
        await asyncio.sleep(0)
    me = asyncio.current_task()
    leaked = [t for t in asyncio.all_tasks() if t not in before and t is not me and not t.done()]
    for task in leaked:
        task.cancel()
    if leaked:
        names = ", ".join(sorted(t.get_name() for t in leaked))
        pytest.fail(f"test leaked {len(leaked)} running task(s): {names}")


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
