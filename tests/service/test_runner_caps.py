"""What the link read from a treadmill becomes the engine's capabilities, and a start is judged on them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from retrowalk.errors import PlanError
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


def test_a_treadmill_whose_data_has_no_elapsed_time_is_refused_at_start_and_nothing_moves() -> None:
    engine = connected_engine(replace(STAND_IN_INFO, reports_elapsed_time=False))
    with pytest.raises(PlanError, match=r"^plan refused: the treadmill does not report elapsed time, so "):
        engine.handle(ev.Start("ana", SessionPlan()), 0.1)
    assert engine.phase is ev.Phase.IDLE


def test_the_same_treadmill_with_elapsed_time_starts() -> None:
    engine = connected_engine(STAND_IN_INFO)
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
