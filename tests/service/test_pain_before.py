"""A "before" pain score sent as a plain `pain_report` while the person is not walking: kept for their
next Start on that treadmill (within BEFORE_PAIN_KEPT_FOR), tied to that session, and so the baseline
the progression rule compares the next morning with."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from retrowalk.service import commands
from tests.plugins.virtual_adapter import SimulatorFactory, wait_until
from tests.service.harness import healthy_screening, running_rig


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
