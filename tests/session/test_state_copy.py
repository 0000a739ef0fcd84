"""The engine keeps a turn's state only when the whole event was handled, so a copy must be complete."""

from __future__ import annotations

import copy
import dataclasses

from retrowalk.session.events import CommandKind, EndReason, Phase
from retrowalk.session.plan import SessionPlan
from retrowalk.session.ramp import RampState
from retrowalk.session.state import SessionState

# A value for every field, each different from the field's default, so a field the copy left out
# would come back as its default and show.
NOT_DEFAULT: dict[str, object] = {
    "link_up": True,
    "phase": Phase.RAMP,
    "sessions_started": 3,
    "last_now": 12.5,
    "session_id": "s-1",
    "user_id": "walker",
    "plan": SessionPlan(),
    "ramp": RampState(80, 60.0, 30.0),
    "backward_s": 70.0,
    "cool_down_centi": 50,
    "awaiting": CommandKind.START,
    "armed_at": 1.5,
    "belt_started_at": 2.5,
    "belt_seen_moving": True,
    "last_sample_at": 12.0,
    "last_speed_centi": 90,
    "last_commanded_centi": 100,
    "overspeed_since": 11.0,
    "paused_at": 4.0,
    "restart_on_resume": True,
    "warned": frozenset({60}),
    "max_speed_centi": 110,
    "max_allowed_centi": 120,
    "corrections": 2,
    "end_reason": EndReason.OVERSPEED,
    "end_detail": "too fast",
    "ended_at": 13.0,
    "last_restop_at": 9.0,
    "slowdown_from_centi": 300,
    "slowdown_at": 8.0,
    "slow_since": 7.0,
    "safety_key_out": True,
}


def test_the_values_used_cover_every_field_and_differ_from_the_defaults() -> None:
    default = SessionState()
    assert set(NOT_DEFAULT) == {f.name for f in dataclasses.fields(SessionState)}
    assert [name for name, value in NOT_DEFAULT.items() if getattr(default, name) == value] == []


def test_a_copy_has_every_field_and_is_a_state_of_its_own() -> None:
    state = SessionState(**NOT_DEFAULT)  # type: ignore[arg-type]
    copied = copy.copy(state)
    assert copied is not state
    assert dataclasses.astuple(copied) == dataclasses.astuple(state)
    copied.backward_s += 1.0
    copied.phase = Phase.STEADY
    assert (state.backward_s, state.phase) == (70.0, Phase.RAMP)
