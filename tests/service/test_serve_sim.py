"""The real service, unmodified, driving treadsim through the virtual adapter; judged by the belt record.

The simulator's ground-truth record of the belt is the judge, not the service's own reports.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from retrowalk.errors import RefusedError
from retrowalk.mqtt import payloads as p
from tests.plugins.virtual_adapter import SimulatorFactory, wait_until
from treadsim.model import BeltEntry, BeltState, ChangeSource, Treadmill
from treadsim.server import Simulator

from .harness import Rig, running_rig

FAST = 8.0  # the shared clock runs eight times faster than real time


async def walking(rig: Rig) -> Treadmill:
    """Connect, screen and start a default session on tm0; return the model once its belt moves."""
    await rig.wait_connected("tm0")
    await rig.screen_and_start("tm0")
    treadmill = rig.sim.treadmill(0).treadmill
    await wait_until(lambda: treadmill.speed_kmh > 0.5, 10, "belt moving")
    return treadmill


def running_entries(rig: Rig, index: int = 0) -> list[BeltEntry]:
    return [e for e in rig.sim.treadmill(index).treadmill.record if e.state is BeltState.RUNNING]


def first_start(rig: Rig, index: int = 0) -> BeltEntry:
    entries = running_entries(rig, index)
    assert entries, "the belt never started"
    return entries[0]


async def assert_ended_by_the_kiosk_without_an_orphan(rig: Rig) -> None:
    """After a kiosk stop: the session ends, the belt comes to rest, and no orphan was reported for it."""
    ended = await rig.wait_ended("tm0", within=5)
    assert ended.reason == "kiosk_stop"
    # Wait for the service to have seen the belt at rest after the end, then judge what it said.
    ended_count = len(rig.recorder.items)
    await wait_until(
        lambda: any(
            isinstance(item, p.Telemetry) and item.speed_kmh == 0.0
            for _, item in rig.recorder.items[ended_count:]
        ),
        10,
        "the belt reported at rest",
    )
    assert rig.recorder.of(p.OrphanedBeltStopped, "tm0") == []


def last_stop_time(rig: Rig, index: int = 0) -> float:
    record = list(rig.sim.treadmill(index).treadmill.record)
    stops = [
        e.time for e in record if e.state is not BeltState.RUNNING and e.time > first_start(rig, index).time
    ]
    assert stops, "the belt never stopped"
    return stops[0]


async def test_a_beginner_session_starts_slow_ramps_and_stops_at_the_cap(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(simulator_factory, tmp_path, speedup=FAST) as rig:
        await rig.wait_connected("tm0")
        await rig.screen_and_start("tm0")
        ended = await rig.wait_ended("tm0", within=(300 + 60 + 30) / FAST + 20)
        plan = rig.service.runners["tm0"].engine.plan  # type: ignore[union-attr]
        assert plan is not None
        assert ended.reason == "completed"

        record = rig.sim.treadmill(0).treadmill.record
        start = first_start(rig)
        # The target speed was set before the belt started: it set off toward the start speed, no faster.
        assert start.target_kmh == pytest.approx(plan.start_speed_kmh)
        assert start.source is ChangeSource.CLIENT
        stop_at = last_stop_time(rig)
        # Familiarisation: held at the start speed for the whole hold.
        hold_end = start.time + plan.familiarisation_s
        assert record.max_speed_between(start.time, hold_end - 1) <= plan.start_speed_kmh + 1e-6
        # The ramp: targets rise by one step at a time, never sooner than the interval.
        raises = [e for e in running_entries(rig) if e.source is ChangeSource.CLIENT and e.target_kmh > 0]
        targets = [round(e.target_kmh, 2) for e in raises]
        steps = [round(b - a, 2) for a, b in itertools.pairwise(targets) if b > a]
        assert steps, "the belt never ramped"
        assert all(step <= plan.ramp_step_kmh + 1e-9 for step in steps)
        rise_times = [b.time for a, b in itertools.pairwise(raises) if b.target_kmh > a.target_kmh]
        gaps = [b - a for a, b in itertools.pairwise(rise_times)]
        assert all(gap >= plan.ramp_interval_s - 1.0 for gap in gaps)
        # Never above the plan's target, and stopped by the cap plus cool-down.
        assert record.max_speed_between(start.time, stop_at) <= plan.target_speed_kmh + 1e-6
        assert stop_at - start.time <= plan.duration_cap_s + plan.cool_down_s + 3.0
        assert stop_at - start.time >= plan.duration_cap_s

        summaries = rig.recorder.of(p.SessionSummary, "tm0")
        assert len(summaries) == 1
        assert summaries[0].end_reason == "completed"
        assert summaries[0].walked_s >= plan.duration_cap_s
        # Five minutes from 1.0 km/h towards 1.5, plus the cool-down: roughly 100-140 m, never 0.
        assert 80 <= summaries[0].distance_m <= 160
        kinds = [e.kind for e in rig.recorder.of(p.SessionStarted) + rig.recorder.of(p.CapWarning)]
        assert kinds.count("session_started") == 1
        assert kinds.count("cap_warning") == 2  # 60 s and 10 s before the cap


async def test_a_start_without_screening_is_refused_and_nothing_moves(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(simulator_factory, tmp_path) as rig:
        await rig.wait_connected("tm0")
        with pytest.raises(RefusedError, match="screening"):
            await rig.command("tm0", {"type": "start", "user_id": "bo"})
        assert running_entries(rig) == []


async def test_a_console_speed_up_is_corrected_within_the_grace_period(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(simulator_factory, tmp_path, speedup=4.0) as rig:
        await rig.wait_connected("tm0")
        await rig.screen_and_start("tm0")
        treadmill = rig.sim.treadmill(0).treadmill
        await wait_until(lambda: treadmill.speed_kmh >= 0.99, 30 / 4.0, "belt at start speed")
        pressed_at = rig.sim.now()
        for _ in range(8):  # a person leaning on "speed up": +0.8 km/h
            result = rig.sim.perform(0, "speed-up")
            assert result["ok"], result
        await wait_until(
            lambda: bool(rig.recorder.of(p.OverspeedCorrected, "tm0")), 10 / 4.0 + 5, "overspeed corrected"
        )
        await wait_until(lambda: rig.sim.now() > pressed_at + 10, 10, "ten seconds after")
        plan = rig.service.runners["tm0"].engine.plan  # type: ignore[union-attr]
        assert plan is not None
        allowed = plan.start_speed_kmh + plan.overspeed_tolerance_kmh
        # The belt was over allowed + tolerance for less than the grace period, then brought back.
        assert treadmill.record.longest_above(allowed, pressed_at, rig.sim.now()) < plan.overspeed_grace_s
        assert treadmill.speed_kmh <= allowed
        assert rig.recorder.ended("tm0") == []  # corrected, not ended
        # The events say what the belt did (by the simulator's record), and apart from it what was keyed.
        corrected = rig.recorder.of(p.OverspeedCorrected, "tm0")
        belt_max = treadmill.record.max_speed_between(pressed_at, rig.sim.now())
        assert all(c.measured_kmh is not None and c.measured_kmh <= belt_max + 0.01 for c in corrected)
        assert all(
            c.console_target_kmh is not None and c.console_target_kmh > c.allowed_kmh for c in corrected
        )


async def test_a_pulled_safety_key_ends_the_session(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(simulator_factory, tmp_path, speedup=4.0) as rig:
        await walking(rig)
        assert rig.sim.perform(0, "key", "pull")["ok"]
        ended = await rig.wait_ended("tm0", within=10)
        assert ended.reason == "safety_key"
        assert rig.recorder.of(p.SafetyKeyPulled, "tm0")
        assert len(rig.recorder.of(p.SessionSummary, "tm0")) == 1


async def test_a_link_drop_mid_session_is_followed_by_a_stop_on_reconnect(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(simulator_factory, tmp_path, speedup=2.0) as rig:
        treadmill = await walking(rig)
        # This treadmill keeps its belt running when the link drops, as some real ones do.
        assert rig.sim.perform(0, "link", "drop")["ok"]
        await wait_until(lambda: bool(rig.recorder.of(p.LinkLost, "tm0")), 5, "link lost reported")
        dropped_at = rig.sim.now()
        await wait_until(lambda: treadmill.state is not BeltState.RUNNING, 20, "belt stopped after reconnect")
        stop = next(e for e in treadmill.record if e.time >= dropped_at and e.state is not BeltState.RUNNING)
        assert stop.source is ChangeSource.CLIENT
        # Nothing but that stop came from the client between the drop and the stop.
        from_client = [
            e
            for e in treadmill.record
            if dropped_at <= e.time < stop.time and e.source is ChangeSource.CLIENT
        ]
        assert from_client == []
        runner = rig.service.runners["tm0"]
        assert runner.phase.value in {"paused", "aborted", "finished"}  # never resumed by itself


async def test_an_orphaned_moving_belt_is_stopped_at_start_up(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async def someone_left_it_running(sim: Simulator) -> None:
        assert sim.perform(0, "press", "start")["ok"]
        assert sim.perform(0, "set-speed", "2.5")["ok"]
        treadmill = sim.treadmill(0).treadmill
        await wait_until(lambda: treadmill.speed_kmh > 1.0, 10, "belt moving before the service starts")

    async with running_rig(simulator_factory, tmp_path, speedup=2.0, prepare=someone_left_it_running) as rig:
        treadmill = rig.sim.treadmill(0).treadmill
        await rig.wait_connected("tm0")
        connected_at = rig.sim.now()
        await wait_until(lambda: treadmill.state is not BeltState.RUNNING, 10, "orphaned belt stopped")
        stop = next(
            e for e in treadmill.record if e.time >= connected_at - 1 and e.state is not BeltState.RUNNING
        )
        assert stop.source is ChangeSource.CLIENT
        assert stop.time - connected_at <= 5.0
        await wait_until(lambda: bool(rig.recorder.of(p.OrphanedBeltStopped, "tm0")), 5, "orphan reported")
        orphans = rig.recorder.of(p.OrphanedBeltStopped, "tm0")
        assert len(orphans) == 1
        assert orphans[0].speed_kmh > 1.0
        assert rig.recorder.ended("tm0") == []  # there was no session to end


async def test_a_kiosk_stop_right_after_a_reconnect_is_not_an_orphaned_belt(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    """The belt still coasting down from retrowalk's own stops is the session's, not an orphan."""
    async with running_rig(simulator_factory, tmp_path, speedup=2.0) as rig:
        treadmill = await walking(rig)
        runner = rig.service.runners["tm0"]
        # This treadmill keeps its belt running when the link drops; on reconnect the service stops
        # it and pauses the session, and the kiosk stops the paused session straight away.
        assert rig.sim.perform(0, "link", "drop")["ok"]
        await wait_until(lambda: bool(rig.recorder.of(p.LinkLost, "tm0")), 5, "link lost reported")
        await wait_until(
            lambda: runner.link.connected and runner.phase.value == "paused", 20, "reconnected and paused"
        )
        assert treadmill.speed_kmh > 0.3, "the belt should still be coasting down"
        await rig.command("tm0", {"type": "stop"})
        await assert_ended_by_the_kiosk_without_an_orphan(rig)


async def test_a_session_stopped_right_after_connecting_leaves_no_orphaned_belt(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    """A session started and stopped within the orphan window: its belt's run-down is not an orphan."""
    async with running_rig(simulator_factory, tmp_path, speedup=2.0) as rig:
        await rig.wait_connected("tm0")
        connected_at = rig.sim.now()
        await rig.screen_and_start("tm0")
        treadmill = rig.sim.treadmill(0).treadmill
        await wait_until(lambda: treadmill.speed_kmh > 0.4, 5, "belt moving")
        await rig.command("tm0", {"type": "stop"})
        assert rig.sim.now() - connected_at < 4.0, "the run-down must fall within the orphan window"
        assert treadmill.speed_kmh > 0.3, "the belt should still be coasting down"
        await assert_ended_by_the_kiosk_without_an_orphan(rig)


async def test_one_failing_treadmill_leaves_the_others_unaffected(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async def middle_one_refuses(sim: Simulator) -> None:
        assert sim.perform(1, "link", "refuse")["ok"]

    async with running_rig(
        simulator_factory,
        tmp_path,
        treadmills=3,
        speedup=FAST,
        prepare=middle_one_refuses,
        settings={"default_plan": {"cool_down_s": 10}},
    ) as rig:
        await rig.wait_connected("tm0")
        await rig.wait_connected("tm2")
        for tid in ("tm0", "tm2"):
            await rig.screen_and_start(tid, user=f"user-{tid}", plan={"duration_cap_s": 90})
        with pytest.raises(RefusedError, match="not been connected"):
            await rig.screen_and_start("tm1", user="user-tm1")
        for tid in ("tm0", "tm2"):
            ended = await rig.wait_ended(tid, within=(90 + 10 + 30) / FAST + 20)
            assert ended.reason == "completed"
        assert not rig.service.runners["tm1"].link.connected
        assert all(e.state is not BeltState.RUNNING for e in rig.sim.treadmill(1).treadmill.record)
        # The refusing treadmill comes back and is picked up without restarting anything.
        assert rig.sim.perform(1, "link", "accept")["ok"]
        await rig.wait_connected("tm1", within=20)


async def test_control_revoked_after_a_pause_is_requested_again_on_resume(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(
        simulator_factory, tmp_path, quirks=("pause-revokes-control",), speedup=4.0
    ) as rig:
        treadmill = await walking(rig)
        await rig.command("tm0", {"type": "pause"})
        await wait_until(lambda: treadmill.state is BeltState.PAUSED, 10, "belt paused")
        await wait_until(lambda: not rig.sim.treadmill(0).peripheral.has_control, 5, "control revoked")
        await rig.command("tm0", {"type": "resume"})
        # Resumed at the start speed: control was requested again instead of the session failing.
        await wait_until(
            lambda: treadmill.state is BeltState.RUNNING and treadmill.speed_kmh > 0.5, 10, "resumed"
        )
        assert rig.sim.treadmill(0).peripheral.has_control
        assert rig.recorder.ended("tm0") == []


async def test_a_treadmill_that_cannot_go_slow_enough_is_refused_with_the_reason(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    from treadsim.model import TreadmillSpec
    from treadsim.peripheral import FtmsPeripheral
    from treadsim.server import TreadmillOptions

    def gym_treadmill(options: TreadmillOptions, now: float, clock: Callable[[], float]) -> FtmsPeripheral:
        # A gym machine whose belt does not run slower than 1.6 km/h.
        spec = TreadmillSpec(min_speed_cs=160, max_speed_cs=1930, speed_step_cs=10)
        return FtmsPeripheral.create(
            now, address=options.address, name=options.name, spec=spec, seed=options.seed, clock=clock
        )

    async with running_rig(simulator_factory, tmp_path, peripheral_factory=gym_treadmill) as rig:
        await rig.wait_connected("tm0")
        with pytest.raises(RefusedError, match=r"start_speed_kmh=1.0 is below the treadmill's minimum speed"):
            await rig.screen_and_start("tm0")
        assert running_entries(rig) == []


async def test_the_next_plan_progresses_from_history_and_pain_reports(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(
        simulator_factory, tmp_path, speedup=FAST, settings={"default_plan": {"cool_down_s": 10}}
    ) as rig:
        await rig.wait_connected("tm0")
        await rig.screen_and_start("tm0", plan={"duration_cap_s": 60, "max_speed_kmh": 1.2})
        runner = rig.service.runners["tm0"]
        first = runner.engine.plan  # type: ignore[union-attr]
        assert first is not None
        session_id = runner.engine.session_id  # type: ignore[union-attr]
        for when, pain in (("before", 1), ("during", 2), ("after", 2), ("next_morning", 1)):
            await rig.command(
                "tm0",
                {
                    "type": "pain_report",
                    "user_id": "ana",
                    "session_id": session_id,
                    "when": when,
                    "pain": pain,
                },
            )
        ended = await rig.wait_ended("tm0", within=(60 + 60 + 10 + 30) / FAST + 15)
        assert ended.reason == "completed"
        await rig.command("tm0", {"type": "start", "user_id": "ana"})
        second = runner.engine.plan  # type: ignore[union-attr]
        assert second is not None
        # Pain <= 3 and the next morning no worse: +0.1 km/h and +2 minutes (references §2).
        assert second.target_speed_kmh == pytest.approx(first.target_speed_kmh + 0.1)
        assert second.duration_cap_s == first.duration_cap_s + 120
        assert second.start_speed_kmh == first.start_speed_kmh
        await rig.command("tm0", {"type": "stop"})


async def test_pain_above_5_during_a_session_ends_it_and_the_next_plan_regresses(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(simulator_factory, tmp_path, speedup=FAST) as rig:
        await rig.wait_connected("tm0")
        await rig.screen_and_start("tm0", plan={"duration_cap_s": 600, "max_speed_kmh": 1.5})
        runner = rig.service.runners["tm0"]
        first = runner.engine.plan  # type: ignore[union-attr]
        assert first is not None
        treadmill = rig.sim.treadmill(0).treadmill
        await wait_until(lambda: treadmill.speed_kmh > 0.5, 10, "walking")
        reported_at = rig.sim.now()
        await rig.command("tm0", {"type": "pain_report", "user_id": "ana", "when": "during", "pain": 6})
        ended = await rig.wait_ended("tm0", within=10)
        assert (ended.reason, ended.detail) == (
            "pain_reported",
            "pain 6/10 reported during the session, above the stop threshold of 5/10",
        )
        # retrowalk itself stopped the belt after the report, and it came to rest.
        await wait_until(lambda: treadmill.speed_kmh == 0, 10, "the belt at rest")
        stops = [
            e for e in treadmill.record
            if e.time >= reported_at and e.state is not BeltState.RUNNING and e.source is ChangeSource.CLIENT
        ]  # fmt: skip
        assert stops, list(treadmill.record)
        assert rig.recorder.of(p.SessionSummary, "tm0")[0].pain_during == 6
        await rig.command("tm0", {"type": "start", "user_id": "ana"})
        second = runner.engine.plan  # type: ignore[union-attr]
        assert second is not None
        assert second.target_speed_kmh < first.target_speed_kmh
        assert second.duration_cap_s < first.duration_cap_s
        await rig.command("tm0", {"type": "stop"})


async def test_a_session_left_open_by_a_crash_is_closed_on_restart(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from retrowalk.session.plan import SessionPlan
    from retrowalk.storage import OpenSession, Store

    async def crashed_earlier(sim: Simulator) -> None:
        store = Store(tmp_path / "history.sqlite3")
        store.open_session(
            OpenSession(
                "tm0-crashed-1",
                "ana",
                "tm0",
                datetime(2026, 11, 24, 8, tzinfo=UTC),
                SessionPlan().model_dump_json(),
            )
        )
        store.close()

    async with running_rig(simulator_factory, tmp_path, prepare=crashed_earlier) as rig:
        await rig.wait_connected("tm0")
        ended = rig.recorder.ended("tm0")
        assert [e.session_id for e in ended] == ["tm0-crashed-1"]
        assert ended[0].reason == "service_restarted"
        summaries = rig.recorder.of(p.SessionSummary, "tm0")
        assert [s.session_id for s in summaries] == ["tm0-crashed-1"]
        assert rig.service.store.open_sessions() == []
        history = rig.service.store.sessions_for_user("ana")
        assert [(h.session_id, h.end_reason) for h in history] == [("tm0-crashed-1", "service_restarted")]
        # Kept as published, for the retained last_session after the next restart.
        assert rig.service.store.last_summary_on("tm0") == summaries[0].model_dump_json()


async def test_an_ended_session_keeps_its_published_summary_in_the_history(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(simulator_factory, tmp_path) as rig:
        await rig.wait_connected("tm0")
        await rig.screen_and_start("tm0")
        await rig.command("tm0", {"type": "stop"})
        await rig.wait_ended("tm0", within=30)
        await wait_until(lambda: rig.recorder.of(p.SessionSummary, "tm0") != [], 10, "the summary")
        (summary,) = rig.recorder.of(p.SessionSummary, "tm0")
        assert rig.service.store.last_summary_on("tm0") == summary.model_dump_json()


@pytest.mark.parametrize(("adapter", "connects"), [("hci0", True), ("hci7", False)])
async def test_the_configured_adapter_is_the_one_that_scans(
    simulator_factory: SimulatorFactory,
    tmp_path: Path,
    adapter: str,
    connects: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="retrowalk")
    settings = {
        "link": {"scan_timeout_s": 2.0, "backoff_initial_s": 0.2, "backoff_max_s": 1.0, "adapter": adapter}
    }
    async with running_rig(simulator_factory, tmp_path, settings=settings) as rig:
        if connects:
            await rig.wait_connected("tm0")
        else:
            # Two attempts that ended without the treadmill (treadsim's only adapter is hci0), each said
            # in the log; only then is "never connected" a finding.
            def failed_attempts() -> int:
                return sum(
                    "not found within" in r.getMessage() or "cannot look for" in r.getMessage()
                    for r in caplog.records
                )

            await wait_until(lambda: failed_attempts() >= 2, 30, "two failed attempts on hci7")
            assert not rig.service.runners["tm0"].link.connected


async def test_a_single_treadmill_without_an_address_is_found_by_its_ftms_service_data(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(simulator_factory, tmp_path, settings={"treadmills": [{"id": "tm0"}]}) as rig:
        await rig.wait_connected("tm0")
        info = rig.service.runners["tm0"].info
        assert info is not None
        assert info.address == rig.sim.treadmill(0).address


async def test_one_person_cannot_walk_on_two_treadmills_at_once(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(simulator_factory, tmp_path, treadmills=3) as rig:
        for tid in rig.ids:
            await rig.wait_connected(tid)
        await rig.screen_and_start("tm0", user="ana")
        with pytest.raises(RefusedError) as refused:
            await rig.command("tm1", {"type": "start", "user_id": "ana"})
        assert str(refused.value) == (
            "'ana' is already in a session on treadmill tm0; "
            "one person walks on one treadmill at a time: stop that session first"
        )
        # Two starts for one person handled side by side: exactly one gets a belt.
        outcomes = await asyncio.gather(
            rig.screen_and_start("tm1", user="bo"),
            rig.screen_and_start("tm2", user="bo"),
            return_exceptions=True,
        )
        refusals = [o for o in outcomes if isinstance(o, RefusedError)]
        assert len(refusals) == 1, outcomes
        assert "'bo' is already in a session on treadmill" in str(refusals[0])
        engines = {tid: rig.service.runners[tid].engine for tid in ("tm1", "tm2")}
        walking_bo = [tid for tid, engine in engines.items() if engine is not None and engine.user_id == "bo"]
        assert len(walking_bo) == 1
        await rig.command("tm0", {"type": "stop"})
        await rig.wait_ended("tm0", within=10)
        # Once ana's session has ended she may start again, on another treadmill.
        await rig.command("tm1" if walking_bo == ["tm2"] else "tm2", {"type": "start", "user_id": "ana"})
        await rig.command("tm1", {"type": "stop"})
        await rig.command("tm2", {"type": "stop"})
