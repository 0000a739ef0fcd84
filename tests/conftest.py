"""Fixtures shared by every test.

The task-leak guard follows the idea of aioesphomeapi's test fixtures: a test that leaves a task running
behind it fails, because in a service that drives a moving belt a forgotten task is a forgotten command.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
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
