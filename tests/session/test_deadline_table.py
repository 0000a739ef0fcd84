"""The deadline table's three readers agree: quiet_until, the clock advance and the check after events.

For random sessions (obedient walking, belts too fast or standing still, silences, pauses, console
slow-downs, lost and returning links), after every event: a tick anywhere before ``quiet_until`` does
nothing at all, and a tick just after it does something (an action or a phase change). So quiet_until is
exactly the earliest moment at which advancing the clock acts: it is never late (a skipped tick would
delay a rule) and, when it names a moment, never early.
"""

from __future__ import annotations

import copy
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from retrowalk.errors import RefusedError
from retrowalk.session.deadlines import _before_cap, _until_warned
from retrowalk.session.engine import SessionEngine
from retrowalk.session.events import (
    Action,
    CommandResult,
    EndReason,
    Event,
    LinkDown,
    LinkUp,
    MachineStatus,
    MachineStatusKind,
    Pause,
    ResultCode,
    Resume,
    SessionEnded,
    Start,
    StopBelt,
    Telemetry,
    Tick,
)
from retrowalk.session.plan import OperatorCeilings, SessionPlan
from retrowalk.session.state import SessionState

from .session_rig import WALKING_PAD, Rig, commands, of_type

JUST_AFTER = 1e-6


class World:
    """An engine with a treadmill that answers every command with success, at once."""

    def __init__(self) -> None:
        self.engine = SessionEngine(OperatorCeilings(), WALKING_PAD, "tm-deadlines")
        self.now = 1000.0
        self.checked = 0

    def send(self, event: Event, dt: float = 0.0) -> None:
        self.now += dt
        try:
            out = self.engine.handle(event, self.now)
        except RefusedError:
            return  # a kiosk command that does not fit the phase: nothing changed
        self.check_quiet_until()
        for command in commands(out):
            if self.engine.link_up:
                self.send(CommandResult(command.kind, ResultCode.SUCCESS), 0.05)

    def samples(self, seconds: float, speed: float | None = None) -> None:
        for _ in range(max(1, round(seconds / 0.5))):
            if self.engine.plan is None or self.engine.end_reason is not None:
                return
            kmh = self.engine.allowed_speed(self.now + 0.5) if speed is None else speed
            self.send(Telemetry(kmh, 0.0, self.now + 0.5), 0.5)

    def check_quiet_until(self) -> None:
        engine = self.engine
        quiet = engine.quiet_until()
        last = self.now
        if not math.isfinite(quiet):
            # Outside a session the clock alone never does anything, however long it runs.
            assert tick(engine, last + 10_000.0) == ([], engine.phase)
            return
        if quiet <= last:
            return  # "tick as usual": the engine did not work out a moment
        self.checked += 1
        for at in (last, last + (quiet - last) / 2, quiet - JUST_AFTER):
            if last <= at < quiet:
                assert tick(engine, at) == ([], engine.phase), f"a tick {quiet - at:.6f} s early acted"
        out, phase = tick(engine, quiet + JUST_AFTER)
        assert out or phase is not engine.phase, f"nothing happened just after quiet_until ({engine.phase})"


def tick(engine: SessionEngine, at: float) -> tuple[list[Action], object]:
    probe = copy.deepcopy(engine)
    out = probe.handle(Tick(), at)
    return out, probe.phase


@st.composite
def plans(draw: st.DrawFn) -> SessionPlan:
    start = draw(st.integers(5, 15))  # tenths of km/h
    return SessionPlan(
        start_speed_kmh=start / 10,
        target_speed_kmh=draw(st.integers(start, 25)) / 10,
        familiarisation_s=60,
        ramp_interval_s=30,
        duration_cap_s=draw(st.sampled_from([60, 90, 120])),
        cool_down_s=draw(st.sampled_from([0, 20])),
        stale_telemetry_s=draw(st.sampled_from([1.0, 3.0])),
        overspeed_grace_s=draw(st.sampled_from([1.0, 3.0])),
    )


STEPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["walk", "walk", "walk", "fast", "still", "silence", "pause", "resume", "down", "up", "slower"]
        ),
        st.floats(0.1, 40.0),
    ),
    max_size=12,
)


@settings(max_examples=100, deadline=None)
@given(plan=plans(), steps=STEPS)
def test_quiet_until_is_the_first_moment_a_tick_acts(
    plan: SessionPlan, steps: list[tuple[str, float]]
) -> None:
    world = World()
    world.send(LinkUp())
    world.send(Start("walker", plan), 0.1)
    for step, seconds in steps:
        match step:
            case "walk":
                world.samples(seconds)
            case "fast":
                world.samples(min(seconds, 2.0), speed=world.engine.allowed_speed(world.now) + 1.0)
            case "still":
                world.samples(seconds, speed=0.0)
            case "silence":
                world.send(Tick(), seconds)
            case "pause":
                world.send(Pause(), 0.1)
            case "resume":
                world.send(Resume(), seconds)
            case "down":
                world.send(LinkDown(), 0.1)
            case "up":
                world.send(LinkUp(), seconds)
            case "slower":
                slower = round(world.engine.allowed_speed(world.now) - 0.2, 1)
                if slower >= WALKING_PAD.min_speed_kmh:
                    world.send(MachineStatus(MachineStatusKind.TARGET_SPEED_CHANGED, slower), 0.1)
    world.samples(200.0)  # every session walks on to its end, past every timed rule on the way


def test_the_walk_reaches_every_kind_of_moment() -> None:
    """The property above is not vacuous: a plain session names a moment many times on its way."""
    world = World()
    world.send(LinkUp())
    world.send(Start("walker", SessionPlan(duration_cap_s=60, cool_down_s=20)), 0.1)
    world.samples(120.0)
    assert world.engine.end_reason is not None
    assert world.checked > 100


def test_when_two_timed_rules_are_due_at_once_the_first_row_acts() -> None:
    """The table's order is the rules' priority: a belt still moving in a pause (a fault) wins over the
    pause that ends the session (a finish) when one late tick finds both due."""
    rig = Rig()
    rig.start()
    rig.walk(10)
    rig.send(Pause(), dt=0.1)
    out = rig.sample(1.0, dt=3.0)  # past the slow-down allowance: the belt is stopped, its grace runs
    assert commands(out) == [StopBelt()]
    out = rig.tick(15 * 60 + 1)  # the grace and the longest pause are both long over
    assert [e.reason for e in of_type(out, SessionEnded)] == [EndReason.BELT_DID_NOT_PAUSE]


def test_a_cap_warning_clock_runs_until_its_warning_and_lasts_to_its_threshold_before_the_cap() -> None:
    """The cap-warning rows are built once, at import, by these two helpers; the sessions above check the
    rows, and this checks the helpers themselves, which mutation testing can reach only when called."""
    plan = SessionPlan(duration_cap_s=600)
    assert _until_warned(60)(SessionState()) == 0.0
    assert _until_warned(60)(SessionState(warned=frozenset({120}))) == 0.0
    assert _until_warned(60)(SessionState(warned=frozenset({60, 120}))) is None
    assert _before_cap(60)(SessionState(), plan) == 540.0
    assert _before_cap(120)(SessionState(), plan) == 480.0
