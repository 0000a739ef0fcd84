"""Fixtures shared by every test (the leak guard, which fails a test that leaves a task or a timer behind,
is the plugin tests.plugins.leak_guard)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# The suite's fixtures, found by name in every test module (see tests/plugins/__init__.py).
pytest_plugins = [
    "pytester",
    "tests.plugins.markers",
    "tests.plugins.mosquitto",
    "tests.plugins.virtual_adapter",
    "tests.plugins.in_process_treadmill",
    "tests.plugins.stand_in_link",
    "tests.plugins.leak_guard",
]

# Hypothesis fails an example that takes over 200 ms (its default deadline) and, when the example's
# re-run is quick, calls the test flaky: on a loaded 2-core machine one pause of the whole process (a
# full garbage collection, a descheduled CPU) does that to an example of 2 ms. The time an example takes
# says nothing about its correctness here; the tests that promise a time measure it themselves (and the
# fuzz settings, tests/fuzz/budget.py, already turn deadlines off).
settings.register_profile("retrowalk", deadline=None)
settings.load_profile("retrowalk")


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
