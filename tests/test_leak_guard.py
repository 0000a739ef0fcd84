"""The leak guard must be able to fail a test: for a task left running and for a timer left scheduled."""

from __future__ import annotations

from pathlib import Path

import pytest

LEAK_GUARD = (Path(__file__).parent / "plugins" / "leak_guard.py").read_text()


def run_guarded(pytester: pytest.Pytester, test_module: str) -> pytest.RunResult:
    """Run `test_module` under the project's own leak guard (tests/plugins/leak_guard.py)."""
    # Without the suite's other plugins (pytester, the fixtures): the guard alone, as a conftest.
    pytester.makeconftest(LEAK_GUARD)
    pytester.makepyfile(test_module)
    return pytester.runpytest("-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function")


def test_leaked_task_fails_the_test(pytester: pytest.Pytester) -> None:
    result = run_guarded(
        pytester,
        """
        import asyncio

        async def test_leaks():
            asyncio.create_task(asyncio.sleep(60), name="forgotten-timer")

        async def test_cleans_up():
            task = asyncio.create_task(asyncio.sleep(60), name="tidy")
            task.cancel()
        """,
    )
    # The leaking test itself passes; the guard turns its teardown into an error.
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*leaked 1 running task(s): forgotten-timer*"])
    # The task's own sleep timer is cancelled as the task unwinds: it is not a second, separate leak.
    result.stdout.no_fnmatch_line("*Failed: *timer(s) scheduled*")


def test_leaked_timer_fails_the_test(pytester: pytest.Pytester) -> None:
    result = run_guarded(
        pytester,
        """
        import asyncio
        import time

        from retrowalk.service.ticks import TickTimer

        def forgotten_callback():
            pass

        async def test_leaks_a_call_later():
            asyncio.get_running_loop().call_later(60, forgotten_callback)

        async def test_leaks_an_armed_tick_timer():
            timer = TickTimer(time.monotonic, 60.0, 1.0, time.monotonic, lambda: None)
            timer.arm()

        async def test_cancels_its_timers():
            asyncio.get_running_loop().call_later(60, forgotten_callback).cancel()
            timer = TickTimer(time.monotonic, 60.0, 1.0, time.monotonic, lambda: None)
            timer.arm()
            timer.cancel()

        async def test_lets_its_timer_fire():
            fired = asyncio.Event()
            asyncio.get_running_loop().call_later(0.01, fired.set)
            await fired.wait()
        """,
    )
    # Each leaking test passes; the guard turns its teardown into an error.
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks_a_call_later*",
            "*left 1 timer(s) scheduled: <TimerHandle*forgotten_callback()*",
            "*ERROR at teardown of test_leaks_an_armed_tick_timer*",
            "*left 1 timer(s) scheduled: <TimerHandle*TickTimer._fire()>*",
        ]
    )
