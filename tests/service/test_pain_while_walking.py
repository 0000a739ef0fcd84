"""An `after` or `next_morning` pain report naming no session, sent while the person walks: refused on
every treadmill of the service (and from Home Assistant's walker), never recorded for the session before
the one they are on; once that session has ended it is the one such a report is recorded for. Pain
`during` a walk sent to another treadmill than the person's is refused, naming where they walk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from retrowalk.errors import RefusedError, StorageError
from tests.plugins.virtual_adapter import SimulatorFactory, wait_until
from tests.service.harness import healthy_screening, running_rig
from treadsim.server import treadmill_address


def pain_rows(tmp_path: Path) -> list[tuple[str | None, str, int]]:
    with sqlite3.connect(tmp_path / "history.sqlite3") as db:
        return list(db.execute("SELECT session_id, moment, pain FROM pain_reports ORDER BY rowid"))


def open_rows(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "history.sqlite3") as db:
        return [row[0] for row in db.execute("SELECT session_id FROM open_sessions")]


async def test_a_report_without_a_session_waits_for_the_walk_to_end_and_then_belongs_to_it(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    settings = {
        "treadmills": [
            {"id": "tm0", "address": treadmill_address(0)},
            {"id": "tm1", "address": treadmill_address(1)},
        ],
        "home_assistant": {"walkers": ["ann"]},
    }
    async with running_rig(simulator_factory, tmp_path, treadmills=2, settings=settings) as rig:
        await rig.wait_connected("tm0")
        await rig.wait_connected("tm1")
        await rig.command("tm0", healthy_screening("ann"))
        with pytest.raises(RefusedError, match=r"ann is not walking on this treadmill; .* walk on$"):
            await rig.command("tm0", {"type": "pain_report", "user_id": "ann", "when": "during", "pain": 2})
        await rig.command("tm0", {"type": "start", "user_id": "ann"})
        await rig.command("tm0", {"type": "stop"})
        await wait_until(lambda: len(rig.recorder.ended("tm0")) == 1, 30, "ann's first session ended")
        first = rig.recorder.ended("tm0")[0].session_id

        await rig.command("tm0", {"type": "start", "user_id": "ann"})
        await wait_until(lambda: len(open_rows(tmp_path)) == 1, 10, "ann's second session noted as open")
        [second] = open_rows(tmp_path)
        await rig.command("tm1", {"type": "select_walker", "user_id": "ann"})
        for treadmill_id, payload in [
            ("tm0", {"type": "pain_report", "user_id": "ann", "when": "after", "pain": 2}),
            ("tm1", {"type": "pain_report", "user_id": "ann", "when": "next_morning", "pain": 2}),
            ("tm1", {"type": "walker_pain_report", "when": "after", "pain": 2}),
        ]:
            with pytest.raises(RefusedError) as refused:
                await rig.command(treadmill_id, payload)
            assert refused.value.code == "already_walking"
            assert str(refused.value).startswith(f"nothing recorded: ann's session {second} on tm0, started ")
            when = str(payload["when"]).replace("_", "-")
            assert str(refused.value).endswith(
                f", has not ended yet, so report the {when} pain once it has, or name an earlier session "
                "with session_id"
            )
        assert pain_rows(tmp_path) == []
        # Just after a start, before its first turn has reached the treadmill, the session is not noted in
        # the storage yet: this process's engine knows it, and the report is refused all the same.
        with sqlite3.connect(tmp_path / "history.sqlite3") as db:
            db.execute("DELETE FROM open_sessions")
        with pytest.raises(RefusedError) as refused:
            await rig.command("tm1", {"type": "walker_pain_report", "when": "after", "pain": 2})
        assert str(refused.value).startswith(f"nothing recorded: ann's session {second} on tm0, started ")
        assert pain_rows(tmp_path) == []
        # A "before" score during the walk would move the session's baseline after the fact: refused.
        with pytest.raises(RefusedError) as refused:
            await rig.command("tm0", {"type": "pain_report", "user_id": "ann", "when": "before", "pain": 5})
        assert refused.value.code == "already_walking"
        assert str(refused.value).startswith(f"nothing recorded: ann's session {second} is running; ")
        assert pain_rows(tmp_path) == []
        # Pain *during* a walk, sent to a treadmill the person is not walking on, would stop no belt: refused,
        # naming where they walk, and not recorded.
        with pytest.raises(RefusedError) as refused:
            await rig.command("tm1", {"type": "pain_report", "user_id": "ann", "when": "during", "pain": 8})
        assert refused.value.code == "no_session"
        assert str(refused.value) == (
            "nothing recorded: ann is not walking on this treadmill; pain during a session is reported at "
            f"the treadmill they walk on (they walk on tm0, session {second}: report it there)"
        )
        assert pain_rows(tmp_path) == []
        assert rig.recorder.ended("tm0") == rig.recorder.ended("tm0")[:1]  # still walking
        # Aimed at the earlier session on purpose, it is taken.
        await rig.command(
            "tm1", {"type": "pain_report", "user_id": "ann", "when": "after", "pain": 3, "session_id": first}
        )

        await rig.command("tm0", {"type": "stop"})
        await wait_until(lambda: len(rig.recorder.ended("tm0")) == 2, 30, "ann's second session ended")
        await rig.command("tm1", {"type": "walker_pain_report", "when": "after", "pain": 1})
    assert pain_rows(tmp_path) == [(first, "after", 3), (second, "after", 1)]


async def test_pain_during_a_walk_reaches_the_engine_even_when_the_storage_fails(
    simulator_factory: SimulatorFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine hears pain during a walk before the history is written: a storage that fails (a full
    disk, a lock held too long) must not keep a belt running under a person in pain."""
    async with running_rig(simulator_factory, tmp_path) as rig:
        await rig.wait_connected("tm0")
        await rig.command("tm0", healthy_screening("ann"))
        await rig.command("tm0", {"type": "start", "user_id": "ann"})

        def failing(_report: object) -> None:
            raise StorageError("the disk is full")

        monkeypatch.setattr(rig.service.router.store, "add_pain_report", failing)
        with pytest.raises(StorageError):
            await rig.command("tm0", {"type": "pain_report", "user_id": "ann", "when": "during", "pain": 8})
        ended = await rig.wait_ended("tm0", within=30)
        assert ended.reason == "pain_reported"
