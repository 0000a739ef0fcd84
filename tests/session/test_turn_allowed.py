"""A turn works the allowed speed out once and reuses it: it must follow every value it depends on."""

from __future__ import annotations

import dataclasses

import pytest

from retrowalk.session.events import Phase
from retrowalk.session.plan import OperatorCeilings, SessionPlan, to_centi
from retrowalk.session.ramp import RampState
from retrowalk.session.state import EngineContext, SessionState, allowed_now, limit_now
from retrowalk.session.turn import Turn

from .session_rig import WALKING_PAD

PLAN = SessionPlan(start_speed_kmh=0.5, target_speed_kmh=2.0, ramp_step_kmh=0.1, ramp_interval_s=30)


def ramping_turn() -> Turn:
    """A turn in the ramp, two steps above the start (hold 60 s, a step every 30 s)."""
    state = SessionState(
        link_up=True,
        phase=Phase.RAMP,
        plan=PLAN,
        ramp=RampState.fresh(PLAN, backward_s=0.0),
        backward_s=95.0,
        cool_down_centi=40,
    )
    return Turn(EngineContext(OperatorCeilings(), WALKING_PAD, "t-1"), state, [], 100.0)


# Each change moves the allowed speed away from the 0.7 km/h the ramping turn starts at.
CHANGES = {
    "backward time": lambda s: setattr(s, "backward_s", 200.0),
    "phase": lambda s: setattr(s, "phase", Phase.COOL_DOWN),
    "ramp": lambda s: setattr(s, "ramp", RampState.fresh(PLAN, backward_s=90.0)),
    "plan": lambda s: setattr(s, "plan", PLAN.model_copy(update={"ramp_interval_s": 45})),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_the_allowed_speed_follows_every_value_it_depends_on(change: object) -> None:
    turn = ramping_turn()
    before = turn.allowed()
    assert before == to_centi(0.7) == allowed_now(turn.s)
    change(turn.s)  # type: ignore[operator]
    assert turn.allowed() == allowed_now(turn.s) != before


def test_the_cool_down_speed_is_followed_in_cool_down() -> None:
    turn = ramping_turn()
    turn.s.phase = Phase.COOL_DOWN
    assert turn.allowed() == 40
    turn.s.cool_down_centi = 30
    assert turn.allowed() == 30 == allowed_now(turn.s)


def test_a_state_replaced_in_the_turn_is_followed() -> None:
    turn = ramping_turn()
    assert turn.allowed() == to_centi(0.7)
    turn.s = dataclasses.replace(turn.s, phase=Phase.IDLE, plan=None)
    assert turn.allowed() == 0


def test_the_limit_is_the_states_limit() -> None:
    turn = ramping_turn()
    turn.s.slowdown_from_centi, turn.s.slowdown_at = 150, 99.0
    for at in (99.0, 99.5, 100.0, 101.0, 110.0):
        assert turn.limit(at) == limit_now(turn.s, at)
    assert turn.limit(99.0) == 150 > turn.limit(100.0) > turn.allowed()
