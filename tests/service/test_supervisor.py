"""The service's supervisor: a failed runner is restarted after a backoff, and the backoff starts again
from its first delay when the runner had been running healthily before it failed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest

from retrowalk.config import ServiceSection, Settings, TreadmillConfig
from retrowalk.service.app import Clock, RestartPolicy, Service

POLICY = RestartPolicy(first_delay_s=0.01, max_delay_s=0.16, healthy_after_s=60.0)


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def now(self) -> float:
        return self.now_s


class FailingRunner:
    """A runner that runs for `runs_s` on the service clock, then fails; `None`: runs until cancelled."""

    def __init__(self, clock: FakeClock, runs_s: float | None, last_started: asyncio.Event) -> None:
        self._clock = clock
        self._runs_s = runs_s
        self._last_started = last_started

    async def run(self) -> None:
        if self._runs_s is None:
            self._last_started.set()
            await asyncio.Event().wait()
        assert self._runs_s is not None
        self._clock.now_s += self._runs_s
        raise RuntimeError(f"runner failed after {self._runs_s} s")


async def restart_delays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, runs_s: list[float]
) -> list[float]:
    """Run the service over runners that fail after the given run times; the delays it restarted after."""
    clock = FakeClock()
    settings = Settings(
        service=ServiceSection(id="test", storage=tmp_path / "history.sqlite3"),
        treadmills=[TreadmillConfig(id="tm0", address="AA:BB:CC:00:00:01")],
    )
    service = Service(settings, clock=Clock(now=clock.now), restart=POLICY)
    last_started = asyncio.Event()
    runners = [FailingRunner(clock, r, last_started) for r in [*runs_s, None]]
    service.runners["tm0"] = runners.pop(0)  # type: ignore[assignment]
    monkeypatch.setattr(service, "_new_runner", lambda treadmill_id: runners.pop(0))
    caplog.set_level(logging.ERROR, logger="retrowalk.service.app")
    task = asyncio.create_task(service.run(), name="service-under-test")
    try:
        await asyncio.wait_for(last_started.wait(), 5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    failures = [r for r in caplog.records if "restarting it in" in r.getMessage()]
    assert [r.exc_info is not None for r in failures] == [True] * len(runs_s)  # each with its traceback
    return [float(r.args[2]) for r in failures]  # type: ignore[index, arg-type]


async def test_failures_in_a_row_double_the_restart_delay_up_to_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    delays = await restart_delays(tmp_path, monkeypatch, caplog, [1.0] * 6)
    assert delays == [0.01, 0.02, 0.04, 0.08, 0.16, 0.16]


async def test_a_failure_after_a_healthy_run_restarts_after_the_first_delay_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Three quick failures, then a day of healthy running, then quick failures again.
    delays = await restart_delays(tmp_path, monkeypatch, caplog, [1.0, 1.0, 1.0, 86_400.0, 1.0])
    assert delays == [0.01, 0.02, 0.04, 0.01, 0.02]


async def test_healthy_means_running_at_least_healthy_after_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    just_short = POLICY.healthy_after_s - 0.5
    delays = await restart_delays(
        tmp_path, monkeypatch, caplog, [1.0, just_short, 1.0, POLICY.healthy_after_s, 1.0]
    )
    assert delays == [0.01, 0.02, 0.04, 0.01, 0.02]
