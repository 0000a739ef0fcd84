"""A plan announces the top speed its ramp reaches before the cap, not a target the session ends before.

The default plan (1.0 km/h, a 60 s hold, +0.1 km/h every 30 s up to 1.5 km/h) with a 2-minute cap: steps
come at 60 and 90 s, and 1.3 km/h would come at 120 s, where the cap ends the session. So every place a
person or a kiosk reads the plan's top says 1.2 km/h: the state and ``session_started`` payloads (which
the kiosk's page and a ``member`` reply's ``next_plan`` are made of) and the terminal's start line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retrowalk.cli.local_session import _Progress
from retrowalk.mqtt import payloads as p
from retrowalk.service.publish import notice_payload, plan_info
from retrowalk.session import events as ev
from retrowalk.session.plan import SessionPlan
from tests.plugins.virtual_adapter import SimulatorFactory, wait_until

from .harness import running_rig

TWO_MINUTES = SessionPlan(duration_cap_s=120)


def test_the_payload_of_a_two_minute_plan_announces_the_top_its_ramp_reaches() -> None:
    assert plan_info(TWO_MINUTES).max_speed_kmh == 1.2
    # Five minutes reach the target at 180 s: the target is the top.
    assert plan_info(SessionPlan(duration_cap_s=300)).max_speed_kmh == 1.5


def test_session_started_announces_the_top_its_ramp_reaches() -> None:
    started = ev.SessionStarted(session_id="s1", user_id="ann", treadmill_id="tm0", plan=TWO_MINUTES)
    payload = notice_payload("tm0", started)
    assert isinstance(payload, p.SessionStarted)
    assert payload.plan.max_speed_kmh == 1.2


def test_the_terminal_start_line_says_the_top_the_session_reaches(capsys: pytest.CaptureFixture[str]) -> None:
    progress = _Progress()
    progress(
        "tm0",
        p.SessionStarted(treadmill_id="tm0", session_id="s1", user_id="ann", plan=plan_info(TWO_MINUTES)),
    )
    assert capsys.readouterr().out.splitlines() == [
        "session started for ann: start 1.0 km/h, top 1.2 km/h, 2 min. Hold the handrails; small, "
        "controlled steps."
    ]


async def test_a_two_minute_start_through_the_service_announces_its_reached_top(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(simulator_factory, tmp_path) as rig:
        await rig.wait_connected("tm0")
        await rig.screen_and_start("tm0", plan={"duration_cap_s": 120})
        await wait_until(lambda: rig.recorder.of(p.SessionStarted, "tm0") != [], 10, "session_started")
        await wait_until(
            lambda: any(s.plan is not None for s in rig.recorder.of(p.TreadmillState, "tm0")), 10, "a state"
        )
        await rig.command("tm0", {"type": "stop"})
        await rig.wait_ended("tm0", within=15)
    started = rig.recorder.of(p.SessionStarted, "tm0")[0]
    assert (started.plan.max_speed_kmh, started.plan.duration_cap_s) == (1.2, 120)
    states = [s.plan for s in rig.recorder.of(p.TreadmillState, "tm0") if s.plan is not None]
    assert {plan.max_speed_kmh for plan in states} == {1.2}
