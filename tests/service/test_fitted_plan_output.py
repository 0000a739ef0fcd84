"""A plan fitted to a coarse speed grid says so: in the payload kiosks read, and at the terminal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from retrowalk.cli.local_session import _Progress
from retrowalk.mqtt import payloads as p
from retrowalk.service.publish import plan_info
from retrowalk.session.grid import fit_plan_to_grid
from retrowalk.session.plan import SessionPlan, TreadmillCaps

UREVO = TreadmillCaps(min_speed_kmh=0.96, max_speed_kmh=6.43, speed_step_kmh=0.32)


def assert_the_default_plan_fitted_to_the_urevo(info: p.PlanInfo) -> None:
    """The default plan (1.0 -> 1.5 km/h, +0.1 per 30 s) as published for the UREVO's 0.32 km/h grid."""
    numbers = (info.start_speed_kmh, info.max_speed_kmh, info.ramp_step_kmh, info.ramp_interval_s)
    assert numbers == (0.96, 1.28, 0.32, 96)
    assert info.fitted_to_grid is not None
    assert (info.fitted_to_grid.asked_start_speed_kmh, info.fitted_to_grid.asked_max_speed_kmh) == (1.0, 1.5)


def test_the_payload_shows_the_fitted_plan_and_what_was_asked() -> None:
    info = plan_info(fit_plan_to_grid(SessionPlan(), UREVO))
    assert_the_default_plan_fitted_to_the_urevo(info)
    assert info.fitted_to_grid is not None
    assert info.fitted_to_grid.changes[0].startswith("start speed 1.0 -> 0.96 km/h")
    assert plan_info(SessionPlan()).fitted_to_grid is None


def test_the_terminal_prints_what_was_fitted_and_speeds_off_the_tenth(
    capsys: pytest.CaptureFixture[str],
) -> None:
    progress = _Progress()
    plan = plan_info(fit_plan_to_grid(SessionPlan(), UREVO))
    progress("tm0", p.SessionStarted(treadmill_id="tm0", session_id="s1", user_id="ann", plan=plan))
    progress(
        "tm0",
        p.Telemetry(
            treadmill_id="tm0",
            session_id="s1",
            phase="familiarise",
            speed_kmh=0.96,
            allowed_speed_kmh=0.96,
            elapsed_s=6.0,
        ),
    )
    ended = p.SessionSummary(
        treadmill_id="tm0",
        session_id="s1",
        user_id="ann",
        started_at=datetime(2026, 12, 1, 17, 46, tzinfo=UTC),
        ended_at=datetime(2026, 12, 1, 17, 52, tzinfo=UTC),
        end_reason="completed",
        walked_s=300.0,
        distance_m=100.0,
        max_speed_kmh=1.28,
    )
    progress("tm0", ended)
    lines = capsys.readouterr().out.splitlines()
    # The top speed as the grid speed it was: 1.3 would read faster than the plan allowed.
    assert lines.pop() == "summary: walked 300 s, 100 m, top speed 1.28 km/h"
    assert lines[0] == (
        "session started for ann: start 0.96 km/h, top 1.28 km/h, 5 min. Hold the handrails; small, "
        "controlled steps."
    )
    assert lines[1] == "the plan was fitted to the treadmill's 0.32 km/h speed steps:"
    assert "  ramp interval 30 -> 96 s: the ramp's average pace stays the plan's" in lines
    # 0.96 is not shown as 1.0: the belt runs slower than that, and the plan allows no more.
    assert lines[-1] == "  familiarise belt 0.96 km/h (allowed 0.96), walked 6 s"
