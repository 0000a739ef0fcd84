"""What the link read from a treadmill becomes the engine's capabilities, and a start is judged on them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from retrowalk.link.events import TreadmillInfo
from retrowalk.link.limits import DeviceRange
from retrowalk.service.runner import caps_from
from retrowalk.session import events as ev
from retrowalk.session.engine import SessionEngine
from retrowalk.session.grid import FittedPlan
from retrowalk.session.plan import OperatorCeilings, SessionPlan

from .harness import STAND_IN_INFO


def connected_engine(info: TreadmillInfo) -> SessionEngine:
    engine = SessionEngine(OperatorCeilings(), caps_from(info), "tm0")
    engine.handle(ev.LinkUp(), 0.0)
    return engine


@pytest.mark.parametrize("elapsed_time", [True, False])
def test_a_treadmill_starts_whether_its_data_carries_elapsed_time_or_not(elapsed_time: bool) -> None:
    # Every record with a speed is a sample and the engine counts its own time: the treadmill's elapsed
    # time was once what told a steady belt from silence, and treadmills without it were refused.
    engine = connected_engine(replace(STAND_IN_INFO, reports_elapsed_time=elapsed_time))
    actions = engine.handle(ev.Start("ana", SessionPlan()), 0.1)
    assert engine.phase is ev.Phase.ARMED
    assert ev.SetTargetSpeed(1.0) in actions


def test_a_treadmill_on_a_coarse_grid_starts_the_plan_fitted_to_it() -> None:
    # The recorded UREVO E1L: 0.96-6.43 km/h in 0.32 km/h steps. Before fitting, every default plan was
    # refused here ("start_speed_kmh=1.0 is not reachable in the treadmill's 0.32 km/h increments").
    engine = connected_engine(replace(STAND_IN_INFO, speed_range=DeviceRange(0.96, 6.43, 0.32)))
    actions = engine.handle(ev.Start("ana", SessionPlan()), 0.1)
    assert engine.phase is ev.Phase.ARMED
    assert ev.SetTargetSpeed(0.96) in actions
    started = next(a for a in actions if isinstance(a, ev.SessionStarted))
    assert isinstance(started.plan, FittedPlan)
    assert started.plan.fit.asked == SessionPlan()
    assert engine.plan == started.plan
