"""``SessionEngine.quiet_until``: the time before which a runner may skip ticks.

Each case walks a session to a moment just before something only the clock brings (the end of the
hold, a ramp step, a cap warning, the cap, the end of cool-down, stale data) and checks that quiet_until
names that moment: a tick just before it does nothing, a tick at it (or one tick period later, for the
rules that act strictly after a limit) does what the rule says. The state-machine test probes the same
promise over random sessions.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import pytest

from retrowalk.session.events import (
    Action,
    CapWarning,
    CommandKind,
    EndReason,
    LinkUp,
    Pause,
    Phase,
    PhaseChanged,
    SessionEnded,
    SetTargetSpeed,
    Start,
    Stop,
    Tick,
)
from retrowalk.session.plan import SessionPlan

from .session_rig import OK, Rig, commands, of_type, started_at_zero

PLAN = SessionPlan(
    start_speed_kmh=1.0,
    target_speed_kmh=1.5,
    familiarisation_s=60,
    ramp_interval_s=30,
    ramp_step_kmh=0.1,
    duration_cap_s=300,
    cool_down_s=30,
)
TICK_S = 0.2  # the service's default tick period


def walked(seconds: float) -> Rig:
    """A session on an obedient treadmill, ``seconds`` of backward walking in, the last sample just now."""
    rig = Rig()
    rig.start(PLAN)
    rig.walk(seconds, every=0.5)
    assert rig.engine.phase in (Phase.FAMILIARISE, Phase.RAMP, Phase.STEADY, Phase.COOL_DOWN)
    return rig


def quiet_then(rig: Rig, extra: float = 0.0) -> tuple[float, list[Action], list[Action]]:
    """How long the engine says it is quiet, what a tick just before that does, and what a tick at it
    (plus ``extra``) does; the probes run on copies, so the rig is unchanged."""
    quiet = rig.engine.quiet_until()
    before = copy.deepcopy(rig.engine).handle(Tick(), quiet - 1e-3)
    at = copy.deepcopy(rig.engine).handle(Tick(), quiet + extra)
    return quiet - rig.now, before, at


def _ramp_step(out: list[Action]) -> bool:
    return any(isinstance(c, SetTargetSpeed) for c in commands(out))


def _phase_to(phase: Phase) -> Callable[[list[Action]], bool]:
    return lambda out: any(isinstance(a, PhaseChanged) and a.phase is phase for a in out)


def _warning(threshold: int) -> Callable[[list[Action]], bool]:
    return lambda out: [w.threshold_s for w in of_type(out, CapWarning)] == [threshold]


def _ended(reason: EndReason) -> Callable[[list[Action]], bool]:
    return lambda out: [e.reason for e in of_type(out, SessionEnded)] == [reason]


@pytest.mark.parametrize(
    ("walk_s", "due_in", "happens"),
    [
        pytest.param(58.0, 2.0, _phase_to(Phase.RAMP), id="end of the hold"),
        pytest.param(88.0, 2.0, _ramp_step, id="a ramp step"),
        pytest.param(238.5, 1.5, _warning(60), id="the one-minute cap warning"),
        pytest.param(289.0, 1.0, _warning(10), id="the ten-second cap warning"),
        pytest.param(298.5, 1.5, _phase_to(Phase.COOL_DOWN), id="the cap"),
    ],
)
def test_quiet_until_names_the_next_thing_the_clock_brings(
    walk_s: float, due_in: float, happens: Callable[[list[Action]], bool]
) -> None:
    rig = walked(walk_s)
    quiet_for, before, at = quiet_then(rig)
    # Samples come every 0.5 s, so the last one is at most that old.
    assert quiet_for == pytest.approx(due_in, abs=0.6)
    assert before == []
    assert happens(at), at


def test_quiet_until_ends_with_the_cool_down() -> None:
    rig = walked(300.0)
    assert rig.engine.phase is Phase.COOL_DOWN
    rig.result(CommandKind.SET_TARGET_SPEED, OK)
    rig.walk(28.0, every=0.5)
    quiet_for, before, at = quiet_then(rig)
    assert quiet_for == pytest.approx(1.5, abs=0.6)
    assert before == []
    assert _ended(EndReason.COMPLETED)(at), at


def test_a_steady_session_fed_every_second_is_quiet_until_the_data_is_late() -> None:
    rig = walked(200.0)
    assert rig.engine.phase is Phase.STEADY
    quiet_for, before, at = quiet_then(rig)
    assert quiet_for == pytest.approx(PLAN.stale_telemetry_s)
    assert before == []
    # The stale rule acts strictly after its limit: at it nothing yet, one regular tick later the end.
    assert at == []
    _, _, after = quiet_then(rig, TICK_S)
    assert _ended(EndReason.STALE_TELEMETRY)(after), after


def test_anything_pending_means_tick_as_usual() -> None:
    rig = walked(120.0)
    rig.sample(PLAN.target_speed_kmh + 1.0, dt=0.1)  # overspeed: its grace period is running
    assert rig.engine.quiet_until() == rig.now
    paused = walked(120.0)
    paused.send(Pause(), dt=0.1)
    assert paused.engine.phase is Phase.PAUSED
    assert paused.engine.quiet_until() == paused.now


def test_outside_a_session_nothing_is_ever_due() -> None:
    rig = Rig()
    assert rig.engine.quiet_until() == math.inf
    rig.start(PLAN)
    rig.walk(10.0)
    rig.send(Stop(), dt=0.1)
    assert rig.engine.quiet_until() == math.inf


def test_a_start_in_progress_means_tick_as_usual_even_with_the_speed_accepted() -> None:
    rig = Rig()
    rig.send(LinkUp())
    rig.send(Start("walker", PLAN), dt=0.5)
    assert rig.engine.quiet_until() == 0.5  # the start's own time, not some earlier one
    rig.result(CommandKind.SET_TARGET_SPEED, OK, dt=0.5)  # armed, waiting for the start's reply
    assert rig.engine.phase is Phase.ARMED
    assert rig.engine.quiet_until() == rig.now


def test_a_belt_still_at_rest_after_the_start_is_due_10_s_after_the_start() -> None:
    rig = started_at_zero(PLAN)
    rig.walk(8.0, speed=0.0)  # samples keep coming, so the data is not stale before 11 s
    assert rig.engine.quiet_until() == 10.0
