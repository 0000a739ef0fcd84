"""A whole default session on the UREVO E1L profile (0.96-6.43 km/h in 0.32 km/h steps) through the
real service, pyftms and treadsim: the plan is fitted to the grid, the session runs to its cap, and
treadsim's belt record shows the belt never faster than the plan as asked, at any moment.

Before plans were fitted, the service refused every default plan on this treadmill. A second session of 2
minutes then ends before the fitted ramp's first step (the plan as written reaches 1.3 km/h only at its
cap): it is announced and recorded as the 0.96 km/h it runs, not as the 1.28 km/h the belt never reaches.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retrowalk.cli.user_commands import describe_history, describe_user
from retrowalk.mqtt import payloads as p
from retrowalk.session.plan import SessionPlan
from tests.faults.envelope import Envelope, asked_plan
from tests.faults.judge import Belt, longest_stretch
from tests.plugins.virtual_adapter import SimulatorFactory, wait_until
from treadsim.model import BeltState, ChangeSource

from .harness import running_rig
from .test_fitted_plan_output import assert_the_default_plan_fitted_to_the_urevo

FAST = 8.0
# The default plan (1.0 km/h, 60 s hold, +0.1 km/h per 30 s up to 1.5 km/h) with a 3-minute cap: long
# enough for the fitted ramp's step (0.96 -> 1.28 km/h, which the plan reaches at 120 s).
PLAN = {"duration_cap_s": 180}
SETTINGS = {"default_plan": {"cool_down_s": 10}}
ASKED = asked_plan(PLAN, configured=SETTINGS["default_plan"], age=50)
GRID_KMH = (0.96, 1.28, 1.60)
SPEED_NOISE_KMH = 0.005  # the record's floats
# Shorter than the fitted hold (120 s): the whole session at the fitted start speed.
SHORT_PLAN = {"duration_cap_s": 120}


@pytest.mark.slow
async def test_a_default_session_on_the_urevo_grid_runs_fitted_and_never_faster_than_the_plan(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(
        simulator_factory, tmp_path, quirks=("urevo-e1l",), speedup=FAST, settings=SETTINGS
    ) as rig:
        await rig.wait_connected("tm0")
        await rig.screen_and_start("tm0", plan=PLAN)
        ended = await rig.wait_ended("tm0", within=(180 + 10) / FAST + 20)
        end_time = rig.sim.now()
        treadmill = rig.sim.treadmill(0).treadmill
        started = rig.recorder.of(p.SessionStarted, "tm0")
        stored = rig.service.store.sessions_for_user("ana")
        # The start recorded the treadmill's speed steps: `retrowalk user show` fits the next plan to
        # them as a start there will (1.0 and 1.5 rounded down onto 0.96 + n x 0.32 km/h).
        show = describe_user(rig.service.router, "ana", tmp_path / "home.toml", ["tm0"])

        short_from = rig.sim.now()
        await rig.screen_and_start("tm0", plan=SHORT_PLAN)
        await wait_until(lambda: len(rig.recorder.ended("tm0")) == 2, (120 + 10) / FAST + 20, "short end")
        await wait_until(lambda: len(rig.service.store.sessions_for_user("ana")) == 2, 10, "short stored")
        short_ended, short_until = rig.recorder.ended("tm0")[1], rig.sim.now()
        short_started = rig.recorder.of(p.SessionStarted, "tm0")[1:]
        history = describe_history(rig.service.store, "ana")
    upcoming = next(i for i, line in enumerate(show) if line.startswith("next session: "))
    assert show[upcoming].startswith("next session: 1.0 -> 1.4 km/h, 3 min ("), show
    assert show[upcoming + 1] == "on tm0 it runs as 'session start' will show it: 0.96 -> 1.28 km/h, 3 min"
    # The top speed reads as the grid speed it was (1.28, not 1.3: faster than the plan allowed), and the
    # history shows the plan as the treadmill ran it beside the plan as asked.
    assert ", top 1.28 km/h, pain " in show[3], show
    assert len(history) == 2
    ran = (
        ", top 1.28 km/h (plan 1.0 -> 1.4 km/h, 3 min as asked; ran as 0.96 -> 1.28 km/h, 3 min, fitted "
        "to the treadmill's 0.32 km/h speed steps); pain "
    )
    assert ran in history[0], history

    # The history keeps the plan as asked: the next plan progresses from 1.0 -> 1.5 km/h, not from the
    # UREVO's 0.96 -> 1.28, and may run on a treadmill with a finer grid.
    assert len(stored) == 1
    assert stored[0].plan_json is not None
    assert SessionPlan.model_validate_json(stored[0].plan_json) == SessionPlan(
        duration_cap_s=180, cool_down_s=10
    )

    assert ended.reason == "completed", ended
    # The enforced plan says what was fitted, and why.
    assert len(started) == 1
    assert_the_default_plan_fitted_to_the_urevo(started[0].plan)

    # The belt record, judged against the plan as asked (not the fitted one the service reports).
    entries = rig.sim.record(0)
    starts = [e for e in treadmill.record if e.source is ChangeSource.CLIENT and e.state is BeltState.RUNNING]
    assert starts, "the belt never started"
    t0 = starts[0].time
    envelope = Envelope(ASKED, entries, t0, end_time)
    over = longest_stretch(
        Belt(entries), t0, end_time, lambda t: envelope.allowed_at(t) + SPEED_NOISE_KMH, []
    )
    assert over == 0.0, f"{over:.2f} s above the plan's allowed speed (no tolerance)"
    # It walked the fitted ramp: only grid speeds were set, and the top one was reached, not before the
    # plan as asked had reached 1.3 km/h (60 s hold + 2 x 30 s).
    targets = {
        round(e.target_kmh, 2) for e in treadmill.record if e.source is ChangeSource.CLIENT and e.target_kmh
    }
    assert targets <= set(GRID_KMH), targets
    assert treadmill.record.max_speed_between(t0, end_time) == pytest.approx(1.28, abs=0.01)
    sped_up = min(e.time for e in treadmill.record if e.time >= t0 and e.target_kmh > 0.96 + SPEED_NOISE_KMH)
    assert sped_up - t0 >= 120 - 1.0, f"the first step came {sped_up - t0:.1f} s after the start"

    # The 2-minute session: announced with the top it runs, which is the fitted start speed, the whole time.
    assert short_ended.reason == "completed", short_ended
    assert len(short_started) == 1
    assert (short_started[0].plan.start_speed_kmh, short_started[0].plan.max_speed_kmh) == (0.96, 0.96)
    assert treadmill.record.max_speed_between(short_from, short_until) == pytest.approx(0.96, abs=0.01)
    short_ran = (
        ", top 0.96 km/h (plan 1.0 -> 1.2 km/h, 2 min as asked; ran as 0.96 -> 0.96 km/h, 2 min, fitted "
        "to the treadmill's 0.32 km/h speed steps); pain "
    )
    assert short_ran in history[1], history
