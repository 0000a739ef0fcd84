"""A test rig around SessionEngine: the test owns the clock and plays the treadmill's replies."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from retrowalk.session.engine import SessionEngine
from retrowalk.session.events import (
    Action,
    Command,
    CommandKind,
    CommandResult,
    Event,
    LinkUp,
    PauseBelt,
    Phase,
    ResultCode,
    SessionEnded,
    SetTargetIncline,
    SetTargetSpeed,
    Start,
    StartBelt,
    StopBelt,
    Telemetry,
    Tick,
)
from retrowalk.session.plan import OperatorCeilings, SessionPlan, TreadmillCaps

from .plan_envelope import PlanEnvelope

WALKING_PAD = TreadmillCaps(min_speed_kmh=0.5, max_speed_kmh=6.0, speed_step_kmh=0.1)
GYM = TreadmillCaps(
    min_speed_kmh=0.8,
    max_speed_kmh=19.3,
    speed_step_kmh=0.1,
    min_incline_pct=0.0,
    max_incline_pct=15.0,
    incline_step_pct=0.5,
    can_set_incline=True,
)
OK = ResultCode.SUCCESS


def commands(actions: Sequence[Action]) -> list[Command]:
    return [
        a
        for a in actions
        if isinstance(a, SetTargetSpeed | SetTargetIncline | StartBelt | StopBelt | PauseBelt)
    ]


def of_type[T](actions: Sequence[Action], kind: type[T]) -> list[T]:
    return [a for a in actions if isinstance(a, kind)]


def speeds(actions: Sequence[Action]) -> list[float]:
    return [a.kmh for a in actions if isinstance(a, SetTargetSpeed)]


def full_state(engine: SessionEngine) -> object:
    """Everything the engine holds (the private state too): used to prove a refusal changed nothing."""
    return (engine.snapshot(), dataclasses.astuple(engine._state))  # noqa: SLF001 the point: all of it


class Rig:
    def __init__(
        self,
        caps: TreadmillCaps = WALKING_PAD,
        ceilings: OperatorCeilings | None = None,
        treadmill_id: str = "tm-1",
    ) -> None:
        self.caps = caps
        self.engine = SessionEngine(ceilings or OperatorCeilings(), caps, treadmill_id)
        self.now = 0.0
        self.log: list[Action] = []
        # The independent judge: every event goes to it too, and every commanded speed must fit its
        # envelope (a microsecond of slack for the engine's float sums).
        self.model = PlanEnvelope(slack_s=1e-6, belt_min_kmh=caps.min_speed_kmh)

    def phase(self) -> Phase:
        """A method, not a property, so type checkers do not narrow it between two events."""
        return self.engine.phase

    def send(self, event: Event, dt: float = 0.0) -> list[Action]:
        self.now += dt
        out = self.engine.handle(event, self.now)
        problems = self.model.observe(event, out, self.now)
        assert not problems, problems
        self.log.extend(out)
        return out

    def envelope(self, now: float | None = None) -> float:
        """The highest speed the plan allows, by the independent model (km/h)."""
        return self.model.envelope(self.now if now is None else now) / 100

    def result(self, command: CommandKind, result: ResultCode = OK, dt: float = 0.0) -> list[Action]:
        return self.send(CommandResult(command, result), dt)

    def sample(self, speed_kmh: float, dt: float = 0.0, incline: float | None = 0.0) -> list[Action]:
        return self.send(Telemetry(speed_kmh, incline, self.now + dt), dt)

    def tick(self, dt: float) -> list[Action]:
        return self.send(Tick(), dt)

    def start(self, plan: SessionPlan | None = None, user_id: str = "walker") -> list[Action]:
        """Link up, Start, and the treadmill accepting the target speed and the start."""
        out: list[Action] = []
        if not self.engine.link_up:
            out += self.send(LinkUp())
        out += self.send(Start(user_id, plan or SessionPlan()), dt=0.1)
        for action in commands(out):
            if action.kind is CommandKind.SET_TARGET_INCLINE:
                out += self.result(CommandKind.SET_TARGET_INCLINE, dt=0.05)
        out += self.result(CommandKind.SET_TARGET_SPEED, dt=0.05)
        out += self.result(CommandKind.START, dt=0.05)
        return out

    def walk(self, seconds: float, every: float = 0.5, speed: float | None = None) -> list[Action]:
        """Obedient treadmill: a sample every ``every`` seconds at the speed the plan allows by the
        independent model (not the engine's own number), or at ``speed``."""
        out: list[Action] = []
        steps = round(seconds / every)
        for _ in range(steps):
            measured = self.envelope(self.now + every) if speed is None else speed
            out += self.sample(measured, dt=every)
            if any(isinstance(a, SessionEnded) for a in out):
                break
        return out


def started_at_zero(plan: SessionPlan | None = None, rig: Rig | None = None) -> Rig:
    """A session whose belt started at t = 0 exactly, so backward-walking time equals the clock."""
    rig = rig or Rig()
    rig.send(LinkUp())
    rig.send(Start("walker", plan or SessionPlan()))
    if rig.caps.can_set_incline:
        rig.result(CommandKind.SET_TARGET_INCLINE)
    rig.result(CommandKind.SET_TARGET_SPEED)
    rig.result(CommandKind.START)
    assert rig.phase() is Phase.FAMILIARISE
    return rig
