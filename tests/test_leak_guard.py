"""The task-leak guard must be able to fail a test."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()


def test_leaked_task_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.replace('pytest_plugins = ["pytester"]', ""))
    pytester.makepyfile(
        """
        import asyncio

        async def test_leaks():
            asyncio.create_task(asyncio.sleep(60), name="forgotten-timer")

        async def test_cleans_up():
            task = asyncio.create_task(asyncio.sleep(60), name="tidy")
            task.cancel()
        """
    )
    result = pytester.runpytest(
        "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function"
    )
    # The leaking test itself passes; the guard turns its teardown into an error.
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*leaked 1 running task(s): forgotten-timer*"])
