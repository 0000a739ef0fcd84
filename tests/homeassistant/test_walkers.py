"""Home Assistant's walker commands in the service: who may be chosen, Start for the chosen walker, and a
"before" pain score kept for the session that Start makes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from retrowalk.errors import PlanError, RefusedError
from retrowalk.service.app import Service
from retrowalk.service.commands import CommandRouter
from tests.plugins.virtual_adapter import SimulatorFactory
from tests.service.harness import healthy_screening, running_rig

WALKERS = {"home_assistant": {"walkers": ["ann", "bo", "cy"]}}


async def test_only_screened_walkers_may_be_chosen_start_needs_a_choice_and_a_restart_keeps_it(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(simulator_factory, tmp_path, settings=WALKERS) as rig:
        await rig.wait_connected("tm0")
        router = rig.service.router
        assert router.walkers.startable_walkers() == ()  # nobody screened yet
        with pytest.raises(RefusedError, match="not one of this service's walkers"):
            await rig.command("tm0", {"type": "select_walker", "user_id": "stranger"})
        with pytest.raises(RefusedError, match="screening"):
            await rig.command("tm0", {"type": "select_walker", "user_id": "ann"})
        await rig.command("tm0", healthy_screening("ann"))
        await rig.command("tm0", healthy_screening("bo"))
        # A "yes" that needs a clinician first keeps cy out of Home Assistant's list.
        await rig.command("tm0", {**healthy_screening("cy"), "ligament_injury": True})
        assert router.walkers.startable_walkers() == ("ann", "bo")
        # Two may start: Home Assistant must say which.
        assert router.walkers.chosen_walker("tm0") is None
        with pytest.raises(RefusedError, match="no walker chosen"):
            await rig.command("tm0", {"type": "start_walker"})
        with pytest.raises(RefusedError, match="no walker chosen"):
            await rig.command("tm0", {"type": "walker_pain_report", "when": "after", "pain": 2})
        assert rig.service.runners["tm0"].engine.phase.value == "idle"  # type: ignore[union-attr]
        await rig.command("tm0", {"type": "select_walker", "user_id": "bo"})
        assert router.walkers.chosen_walker("tm0") == "bo"
        settings = rig.service.settings
    # A restarted service over the same history still starts the walker chosen before.
    restarted = Service(settings)
    try:
        assert restarted.router.walkers.chosen_walker("tm0") == "bo"
    finally:
        restarted.store.close()


async def test_start_for_the_chosen_walker_ties_the_earlier_before_pain_to_that_session(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(simulator_factory, tmp_path, settings=WALKERS) as rig:
        await rig.wait_connected("tm0")
        await rig.command("tm0", healthy_screening("ann"))
        # The only walker who may start is the one Start is for, without a choice.
        assert rig.service.router.walkers.chosen_walker("tm0") == "ann"
        router = rig.service.router
        assert shown_before_pain(router, "tm0") is None  # Home Assistant's *Pain before* shows unknown
        await rig.command("tm0", {"type": "walker_pain_report", "when": "before", "pain": 3})
        assert pain_rows(tmp_path) == []  # kept until the session exists
        assert shown_before_pain(router, "tm0") == 3  # and shown as kept
        await rig.command("tm0", {"type": "start_walker"})
        engine = rig.service.runners["tm0"].engine
        assert engine is not None
        assert engine.user_id == "ann"
        assert pain_rows(tmp_path) == [("ann", engine.session_id, "before", 3)]
        # Taken by the session: nothing waits for the next Start, so nothing is shown.
        assert shown_before_pain(router, "tm0") is None
        await rig.command("tm0", {"type": "stop"})


def pain_rows(tmp_path: Path) -> list[tuple[str, str | None, str, int]]:
    with sqlite3.connect(tmp_path / "history.sqlite3") as db:
        return list(db.execute("SELECT user_id, session_id, moment, pain FROM pain_reports ORDER BY rowid"))


async def test_a_kept_before_score_is_shown_only_while_the_next_start_would_take_it(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(simulator_factory, tmp_path, settings=WALKERS) as rig:
        await rig.wait_connected("tm0")
        await rig.command("tm0", healthy_screening("ann"))
        await rig.command("tm0", healthy_screening("bo"))
        router = rig.service.router
        await rig.command("tm0", {"type": "select_walker", "user_id": "ann"})
        await rig.command("tm0", {"type": "walker_pain_report", "when": "before", "pain": 2})
        assert shown_before_pain(router, "tm0") == 2
        # Kept for ann: with bo chosen, Start would take none.
        await rig.command("tm0", {"type": "select_walker", "user_id": "bo"})
        assert shown_before_pain(router, "tm0") is None
        await rig.command("tm0", {"type": "select_walker", "user_id": "ann"})
        # Given more than an hour ago: a Start would not record it, so it is not shown.
        with sqlite3.connect(tmp_path / "history.sqlite3") as db:
            db.execute("UPDATE kept_before_pain SET given_at = ?", ("2026-01-01T08:00:00+00:00",))
        assert shown_before_pain(router, "tm0") is None


def shown_before_pain(router: CommandRouter, treadmill_id: str) -> int | None:
    """What Home Assistant's *Pain before* shows: the score kept for the chosen walker's next Start."""
    user_id = router.walkers.chosen_walker(treadmill_id)
    return None if user_id is None else router.walkers.kept_before_pain(treadmill_id, user_id)


async def test_a_before_score_of_7_takes_the_walker_off_the_list_and_start_is_refused(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    """The kept score is a report about the walker's next session: the pain rule refers them, so Home
    Assistant no longer offers them and a Start for them (on any treadmill) is refused, as the kiosk's
    member info says."""
    async with running_rig(simulator_factory, tmp_path, settings=WALKERS) as rig:
        await rig.wait_connected("tm0")
        await rig.command("tm0", healthy_screening("ann"))
        await rig.command("tm0", healthy_screening("bo"))
        router = rig.service.router
        await rig.command("tm0", {"type": "select_walker", "user_id": "ann"})
        await rig.command("tm0", {"type": "walker_pain_report", "when": "before", "pain": 7})
        assert router.walkers.startable_walkers() == ("bo",)
        with pytest.raises(PlanError, match="pain 7/10 reported before it at ") as refused:
            await rig.command("tm0", {"type": "start", "user_id": "ann"})
        assert refused.value.code == "see_clinician"
        info = router.member_info("ann", rig.service.runners["tm0"])
        assert (info.screening, info.next_plan) == ("see_clinician", None)
        assert rig.service.runners["tm0"].engine.phase.value == "idle"  # type: ignore[union-attr]
