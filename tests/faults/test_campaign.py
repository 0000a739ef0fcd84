"""The short fault campaign CI runs: two seeded scenarios with real processes, judged by ground truth.

Seed 1533: three treadmills (flaky-link, fast-notify, console-drift), the broker restarted while the
sessions start, console speed-up and pause, a link drop, connections refused, a treadmill out of range.
Seed 530: two treadmills (one with console-drift), the service killed with SIGKILL and restarted
mid-session, then a console start, the broker restarted, a link drop, the safety key and a pause. It
used to fail the restart rule (docs/reliability.md, finding 1); any violation now fails it.
About a minute and a half each in real time (the service's clock is real time). The long campaign is
`scripts/fault_campaign --count N --seed S`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .campaign import _report, run_scenario, table
from .procs import missing_requirements
from .scenario import CONSOLE_FAULTS, LINK_FAULTS, draw

pytestmark = [
    pytest.mark.slow,
    pytest.mark.dbus,
    pytest.mark.mosquitto,
    pytest.mark.timeout(300),
    pytest.mark.skipif(bool(missing_requirements()), reason=f"missing: {', '.join(missing_requirements())}"),
]

WITHOUT_CRASH = 1533
WITH_SERVICE_KILL = 530


def test_the_ci_seeds_cover_every_kind_of_fault() -> None:
    kinds = {f.kind for seed in (WITHOUT_CRASH, WITH_SERVICE_KILL) for f in draw(seed).faults}
    assert kinds & set(CONSOLE_FAULTS), kinds
    assert kinds & set(LINK_FAULTS), kinds
    assert {"broker-restart", "service-kill"} <= kinds
    assert "service-kill" not in {f.kind for f in draw(WITHOUT_CRASH).faults}


def test_the_same_seed_draws_the_same_scenario() -> None:
    assert draw(WITH_SERVICE_KILL) == draw(WITH_SERVICE_KILL)
    assert draw(WITH_SERVICE_KILL) != draw(WITH_SERVICE_KILL + 1)


async def test_faults_without_a_crash_keep_every_invariant(tmp_path: Path) -> None:
    result = await run_scenario(draw(WITHOUT_CRASH), tmp_path)
    print(table([result]))
    assert result.faults_done == len(draw(WITHOUT_CRASH).faults)
    assert result.sessions, _report(result, tmp_path)
    assert result.ok, _report(result, tmp_path)


async def test_a_service_killed_mid_session_and_restarted_keeps_every_invariant(tmp_path: Path) -> None:
    result = await run_scenario(draw(WITH_SERVICE_KILL), tmp_path)
    print(table([result]))
    report = _report(result, tmp_path)
    assert any(s.killed for s in result.sessions), report
    assert not result.error, report
    assert result.ok, report
