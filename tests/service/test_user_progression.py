"""A person's progression at a terminal: the pain prompt of `session start` in a real process against
treadsim, and `retrowalk user ...` next to the real service running sessions on the simulator.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from retrowalk.cli import main
from retrowalk.storage import KeptBeforePain, Store
from tests.plugins.virtual_adapter import SimulatorFactory, wait_until

from .harness import running_rig
from .served import reaped
from .test_processes import BIN, belt, wait_for, write_config

FAST = 8.0


@pytest.fixture
def root_logging() -> Iterator[None]:
    """`main` points the root logger at this test's captured stderr; give the rig's teardown its own back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def pain_rows(storage: Path, user: str) -> list[tuple[str | None, str, int]]:
    store = Store(storage)
    try:
        return [(r.session_id, r.moment, r.pain) for r in store.pain_reports_for_user(user)]
    finally:
        store.close()


def open_sessions(storage: Path) -> int:
    store = Store(storage)
    try:
        return len(store.open_sessions())
    finally:
        store.close()


@pytest.mark.slow
def test_the_session_prompt_takes_pain_before_and_during_and_pain_above_5_stops_the_belt(
    treadsim_bus: str, tmp_path: Path, root_logging: None
) -> None:
    config = write_config(tmp_path)
    storage = tmp_path / "history.sqlite3"
    # A wrong "yes" on record: the --screening of this start corrects it instead of being ignored.
    assert (
        main(["user", "screening", "--config", str(config), "--user", "ana", "--answers", "50,yes,no,no"])
        == 0
    )
    # A before score given to a `serve` that then stopped: the one asked at this start is newer and replaces
    # it, so the session has one baseline, not two.
    kept = Store(storage)
    kept.keep_before_pain(KeptBeforePain("home", "ana", datetime.now(UTC), 5))
    kept.close()
    args = ["session", "start", "--config", str(config), "--user", "ana", "--screening", "50,no,no,no"]
    proc = subprocess.Popen(
        [str(BIN / "retrowalk"), *args, "--pain-before", "1"],
        env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": treadsim_bus},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with reaped(proc):
        assert proc.stdin is not None
        wait_for(lambda: belt(treadsim_bus)["speed_kmh"] >= 0.9, 60, "the session's belt moving")
        proc.stdin.write("2\n")
        proc.stdin.flush()
        wait_for(lambda: len(pain_rows(storage, "ana")) == 2, 10, "the pain typed during the session")
        proc.stdin.write("6\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=30)
    assert belt(treadsim_bus)["belt"] != "running"
    rows = pain_rows(storage, "ana")
    session_id = rows[0][0]
    assert session_id is not None
    assert rows == [(session_id, "before", 1), (session_id, "during", 2), (session_id, "during", 6)]
    assert proc.returncode == 1, err
    store = Store(storage)
    corrected = store.latest_screening("ana")
    store.close()
    assert corrected is not None
    assert not any(corrected.answers[k] for k in corrected.answers if k != "age")
    lines = out.splitlines()
    assert "Type your knee pain, 0-10, and Enter at any time; above 5 stops the belt." in lines
    assert "  pain 2/10 noted" in lines
    assert "  pain 6/10 noted: the belt is stopping and the session ends" in lines
    # Six is above five: the next session is shorter and slower (-0.2 km/h, -20 %), and says so.
    assert lines[-2:] == [
        f"next session: 1.0 -> 1.3 km/h, 4 min (regressed: pain 6/10 during or after session {session_id})",
        "tomorrow morning, report how the knee feels: "
        f"retrowalk user pain --config {config} --user ana --when next-morning SCORE",
    ]


@pytest.mark.slow
async def test_the_second_session_is_held_until_pain_is_reported_at_the_terminal_then_progresses(
    simulator_factory: SimulatorFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    root_logging: None,
) -> None:
    config = tmp_path / "home.toml"
    config.write_text(
        f'[service]\nstorage = "{tmp_path / "history.sqlite3"}"\n\n[[treadmills]]\nid = "tm0"\n'
    )

    def user(*args: str) -> list[str]:
        assert main(["user", args[0], "--config", str(config), "--user", "ana", *args[1:]]) == 0
        out, err = capsys.readouterr()
        assert err == ""
        return out.splitlines()

    async with running_rig(
        simulator_factory, tmp_path, speedup=FAST, settings={"default_plan": {"cool_down_s": 10}}
    ) as rig:
        await rig.wait_connected("tm0")
        # What `session start` does with the score asked before walking: sent ahead of the start, which
        # takes it for its session (sent during the walk, it would be refused).
        await rig.command("tm0", {"type": "pain_report", "user_id": "ana", "when": "before", "pain": 2})
        await rig.screen_and_start("tm0", plan={"duration_cap_s": 120})
        runner = rig.service.runners["tm0"]
        first = runner.engine.plan  # type: ignore[union-attr]
        assert first is not None
        # Typed while the walk runs, a report without --session means that walk: refused, not recorded
        # for an earlier one, whatever process drives the belt (the storage says a session is open).
        await wait_until(
            lambda: open_sessions(tmp_path / "history.sqlite3") == 1, 10, "the session noted as open"
        )
        assert main(["user", "pain", "--config", str(config), "--user", "ana", "--when", "after", "3"]) == 2
        out, err = capsys.readouterr()
        store = Store(tmp_path / "history.sqlite3")
        [running] = store.open_sessions()
        store.close()
        assert out == ""
        assert err.startswith(
            f"retrowalk: nothing recorded: ana's session {running.session_id} on tm0, started "
            f"{running.started_at:%Y-%m-%d %H:%M} UTC, has not ended yet, so report the after pain once it "
            "has, "
        )
        assert [moment for _, moment, _ in pain_rows(tmp_path / "history.sqlite3", "ana")] == ["before"]
        ended = await rig.wait_ended("tm0", within=(120 + 10 + 30) / FAST + 15)
        assert ended.reason == "completed"

        # No report after the session yet: held at the first plan, and it says what it waits for.
        show = user("show")
        assert show[-4] == (
            # Held at the plan as asked (target 1.5 km/h), announced with the top its 2 minutes reach.
            "next session: 1.0 -> 1.2 km/h, 2 min (held: pain reports missing for session "
            f"{ended.session_id})"
        )
        assert show[-3].endswith("it becomes 1.0 -> 1.6 km/h, 4 min")
        held = rig.service.router.plan_for("ana", None, runner)
        assert (held.target_speed_kmh, held.duration_cap_s) == (first.target_speed_kmh, first.duration_cap_s)

        store = Store(tmp_path / "history.sqlite3")
        started = store.sessions_for_user("ana")[-1].started_at
        store.close()
        assert user("pain", "--when", "after", "3")[0] == (
            f"after pain 3/10 recorded for ana, for session {ended.session_id} "
            f"on {started:%Y-%m-%d %H:%M} UTC"
        )
        assert user("pain", "--when", "next-morning", "2")[-1] == (
            "next session: 1.0 -> 1.6 km/h, 4 min (progressed: pain 3/10 and the next morning not worse "
            f"({ended.session_id}))"
        )
        # The running service plans the next start from what the terminal recorded.
        await rig.command("tm0", {"type": "start", "user_id": "ana"})
        second = runner.engine.plan  # type: ignore[union-attr]
        assert second is not None
        # While it runs, the terminal says so instead of planning past it.
        running_id = runner.engine.session_id  # type: ignore[union-attr]
        store = rig.service.store
        await wait_until(lambda: bool(store.open_sessions()), 5, "the session noted as open")
        show = user("show")
        assert show[4].startswith(f"session running: {running_id} on tm0 since "), show
        assert show[-1] == (
            f"next session: planned when {running_id} has ended, from how it went and the pain after it"
        )
        assert second.target_speed_kmh == pytest.approx(first.target_speed_kmh + 0.1)
        assert second.duration_cap_s == first.duration_cap_s + 120
        await rig.command("tm0", {"type": "stop"})
    rows = pain_rows(tmp_path / "history.sqlite3", "ana")
    assert [(m, p) for s, m, p in rows if s == ended.session_id] == [
        ("before", 2),
        ("after", 3),
        ("next_morning", 2),
    ]
