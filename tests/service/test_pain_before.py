"""A "before" pain score sent as a plain `pain_report` while the person is not walking: kept for their
next Start on that treadmill (within BEFORE_PAIN_KEPT_FOR), tied to that session, and so the baseline
the progression rule compares the next morning with."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from retrowalk.errors import PlanError
from retrowalk.service import commands
from tests.plugins.virtual_adapter import SimulatorFactory, wait_until
from tests.service.harness import Rig, healthy_screening, running_rig
from treadsim.server import Simulator


def pain_rows(tmp_path: Path) -> list[tuple[str, str | None, str, int]]:
    with sqlite3.connect(tmp_path / "history.sqlite3") as db:
        return list(db.execute("SELECT user_id, session_id, moment, pain FROM pain_reports ORDER BY rowid"))


async def test_a_before_score_sent_ahead_of_the_start_is_the_baseline_of_the_session_it_starts(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(simulator_factory, tmp_path) as rig:
        await rig.wait_connected("tm0")
        await rig.command("tm0", healthy_screening("ann"))
        await rig.command("tm0", healthy_screening("bo"))
        await rig.command("tm0", {"type": "pain_report", "user_id": "ann", "when": "before", "pain": 4})
        await rig.command("tm0", {"type": "pain_report", "user_id": "ann", "when": "before", "pain": 2})
        assert pain_rows(tmp_path) == []  # kept until the session exists
        # Somebody else's session does not take ann's score.
        await rig.command("tm0", {"type": "start", "user_id": "bo"})
        await rig.command("tm0", {"type": "stop"})
        await rig.wait_ended("tm0", within=30)
        assert pain_rows(tmp_path) == []

        await rig.command("tm0", {"type": "start", "user_id": "ann"})
        engine = rig.service.runners["tm0"].engine
        assert engine is not None
        session_id = engine.session_id
        # The latest score before the start, once, tied to the session that start made.
        assert pain_rows(tmp_path) == [("ann", session_id, "before", 2)]
        await rig.command("tm0", {"type": "stop"})
        await wait_until(lambda: len(rig.recorder.ended("tm0")) == 2, 30, "ann's session ended")
        for when, pain in (("after", 2), ("next_morning", 2)):
            await rig.command("tm0", {"type": "pain_report", "user_id": "ann", "when": when, "pain": pain})
        progression, _ = rig.service.router.progression_for("ann")
        # With the baseline the rule gets as far as the early stop; without it, it would hold for want of one.
        assert progression.reasons == (f"session {session_id} ended early (kiosk_stop)",)


async def test_a_before_score_older_than_the_window_is_not_tied_to_a_later_session(
    simulator_factory: SimulatorFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands, "BEFORE_PAIN_KEPT_FOR", timedelta(0))
    async with running_rig(simulator_factory, tmp_path) as rig:
        await rig.wait_connected("tm0")
        await rig.command("tm0", healthy_screening("ann"))
        await rig.command("tm0", {"type": "pain_report", "user_id": "ann", "when": "before", "pain": 2})
        await rig.command("tm0", {"type": "start", "user_id": "ann"})
        assert rig.service.runners["tm0"].engine.user_id == "ann"  # type: ignore[union-attr]
        assert pain_rows(tmp_path) == []
        await rig.command("tm0", {"type": "stop"})


def the_same_treadmills(sim: Simulator) -> SimulatorFactory:
    """A simulator factory that hands out the running simulator: the service restarts, the treadmill
    (and its belt) does not."""

    async def same(**_options: Any) -> Simulator:
        return sim

    return same


async def started_session(rig: Rig, user: str) -> str:
    """Start a session for the person on tm0; its id."""
    await rig.command("tm0", {"type": "start", "user_id": user})
    engine = rig.service.runners["tm0"].engine
    assert engine is not None
    return engine.session_id


async def before_score_then_service_stopped(simulator_factory: SimulatorFactory, tmp_path: Path) -> Simulator:
    """ann's before score of 3 given to a service that then stops before any start; the treadmill."""
    async with running_rig(simulator_factory, tmp_path) as rig:
        await rig.wait_connected("tm0")
        await rig.command("tm0", healthy_screening("ann"))
        await rig.command("tm0", {"type": "pain_report", "user_id": "ann", "when": "before", "pain": 3})
    assert pain_rows(tmp_path) == []  # no session yet: nothing recorded
    return rig.sim


async def test_a_before_score_kept_across_a_service_restart_is_the_baseline_of_the_session_it_starts(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    sim = await before_score_then_service_stopped(simulator_factory, tmp_path)
    # A new service over the same history file and the same treadmill.
    async with running_rig(the_same_treadmills(sim), tmp_path) as restarted:
        await restarted.wait_connected("tm0")
        session_id = await started_session(restarted, "ann")
        assert pain_rows(tmp_path) == [("ann", session_id, "before", 3)]
        await restarted.command("tm0", {"type": "stop"})
        await restarted.wait_ended("tm0", within=30)
        # Taken once: the next start has no baseline from it.
        await restarted.command("tm0", {"type": "start", "user_id": "ann"})
        assert pain_rows(tmp_path) == [("ann", session_id, "before", 3)]
        await restarted.command("tm0", {"type": "stop"})


async def test_a_before_score_over_an_hour_old_is_not_recorded_after_a_restart_either(
    simulator_factory: SimulatorFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await before_score_then_service_stopped(simulator_factory, tmp_path)
    # The service was down for longer than the score is good for: it was given 61 minutes before the start.
    given_at = datetime.now(UTC) - timedelta(minutes=61)
    with sqlite3.connect(tmp_path / "history.sqlite3") as db:
        assert db.execute("UPDATE kept_before_pain SET given_at = ?", (given_at.isoformat(),)).rowcount == 1
    caplog.set_level(logging.INFO, logger=commands.__name__)
    async with running_rig(the_same_treadmills(sim), tmp_path) as restarted:
        await restarted.wait_connected("tm0")
        await restarted.command("tm0", {"type": "start", "user_id": "ann"})
        assert restarted.service.runners["tm0"].engine.user_id == "ann"  # type: ignore[union-attr]
        too_old = [r.getMessage() for r in caplog.records if "too old for this session" in r.getMessage()]
        given = given_at.isoformat(timespec="seconds")
        assert too_old == [
            f"[tm0] before-session pain 3/10 for ann from {given} is too old for this session; not recorded"
        ]
        assert pain_rows(tmp_path) == []
        await restarted.command("tm0", {"type": "stop"})


async def test_a_red_flag_in_the_kept_before_score_stops_the_start_and_is_recorded_at_once(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    """Swelling, a knee giving way or pain >= 7 before a session is about that session: its Start is
    refused (see a clinician) on a first session as on a later one, and a person with a session behind them
    has the report recorded at once, so that the pain rule refers them whether or not they start."""
    async with running_rig(simulator_factory, tmp_path) as rig:
        await rig.wait_connected("tm0")
        await rig.command("tm0", healthy_screening("ann"))
        await rig.command("tm0", {"type": "pain_report", "user_id": "ann", "when": "before", "pain": 3,
                                  "swelling": True})  # fmt: skip
        assert pain_rows(tmp_path) == []  # no session yet to tie it to: kept, and the Start refused
        with pytest.raises(PlanError) as refused:
            await rig.command("tm0", {"type": "start", "user_id": "ann"})
        assert refused.value.code == "see_clinician"
        assert "swelling reported before it at " in str(refused.value)
        assert rig.recorder.ended("tm0") == []
        idle = rig.service.runners["tm0"].engine
        assert idle is not None
        assert idle.phase.value == "idle"  # the belt was never started

        # A milder score replaces it (the person scored again); a session, then a red flag again.
        await rig.command("tm0", {"type": "pain_report", "user_id": "ann", "when": "before", "pain": 1})
        await rig.command("tm0", {"type": "start", "user_id": "ann"})
        engine = rig.service.runners["tm0"].engine
        assert engine is not None
        first = engine.session_id
        await rig.command("tm0", {"type": "stop"})
        await rig.wait_ended("tm0", within=30)
        await rig.command("tm0", {"type": "pain_report", "user_id": "ann", "when": "before", "pain": 8})
        assert pain_rows(tmp_path) == [("ann", first, "before", 1), ("ann", first, "before", 8)]
        with pytest.raises(PlanError) as refused:
            await rig.command("tm0", {"type": "start", "user_id": "ann"})
        assert refused.value.code == "see_clinician"
        progression, _ = rig.service.router.progression_for("ann")
        assert progression.plan is None  # referred by the pain rule itself, not only by the kept score
        assert progression.reasons == (f"pain 8/10 reported ({first})",)
