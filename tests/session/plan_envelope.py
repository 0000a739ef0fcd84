"""An independent model of what a session plan allows: the envelope, for judging the engine from outside.

Written from docs/safety.md (rules 1-10), not from the engine's code, and fed only with what a test can
see: the plan that was asked for, the events the test sent (kiosk commands, replies, console reports,
link changes) with their times, and the commands and session ends the engine emitted. It never asks the
engine for a speed or a phase. Speeds are in hundredths of km/h so that comparisons are exact.

- ``envelope(now)``: the highest speed the plan allows at ``now``: the start speed during the familiarisation
  hold, then one ramp step at the hold's end and one per interval, never above the target (rule 3); the ramp
  counts backward-walking time (belt started, not paused, until cap + cool-down) and the link being down does
  not stop that time (rule 10). A console slow-down (below what the treadmill was last told) becomes the base
  the ramp climbs from, one step a full interval later (rule 5). At the cap: the start speed or slower for the
  cool-down, then 0 (rule 6). Paused, armed before a resume, ended: the speed the resume may set (armed) or 0
  (rule 7). A resume after a pause longer than ``pause_restart_after_s``, or after the link was lost, restarts
  at the start speed with a fresh hold (rules 7 and 10).
- ``limit(now)``: what the belt may be measured at before the overspeed rule must act (tolerance not
  included): the envelope, or, just after the envelope fell, the earlier value falling at 0.4 km/h per
  second (rule 4's slow-down allowance). Deliberately generous: every fall gets the allowance.

The model is an upper bound where the engine may legitimately be stricter (it may end a session for a
fault the model does not follow: the model ends when the engine announces the end, which only lowers the
envelope).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, auto

from retrowalk.session.events import (
    Action,
    CommandKind,
    CommandResult,
    Event,
    LinkDown,
    LinkUp,
    MachineStatus,
    MachineStatusKind,
    Pause,
    Resume,
    SessionEnded,
    SessionStarted,
    SetTargetSpeed,
)
from retrowalk.session.plan import SessionPlan

# docs/safety.md rule 4: the belt may take this long to slow down after retrowalk lowered its speed.
SLOWDOWN_CENTI_PER_S = 40


def centi(kmh: float) -> int:
    return round(kmh * 100)


class Stage(Enum):
    NONE = auto()  # no session (never started, or ended)
    ARMED = auto()  # speed being set; the belt starts when Start is confirmed
    WALKING = auto()  # belt started, backward-walking time runs (cap not reached)
    COOL_DOWN = auto()
    PAUSED = auto()


@dataclass(frozen=True)
class PlanNumbers:
    """The plan's numbers the envelope depends on, in hundredths of km/h and seconds."""

    start: int
    target: int
    step: int
    interval_s: float
    hold_s: float
    cap_s: float
    cool_down_s: float
    restart_after_s: float

    @classmethod
    def of(cls, plan: SessionPlan) -> PlanNumbers:
        return cls(
            start=centi(plan.start_speed_kmh),
            target=centi(plan.target_speed_kmh),
            step=centi(plan.ramp_step_kmh),
            interval_s=float(plan.ramp_interval_s),
            hold_s=float(plan.familiarisation_s),
            cap_s=float(plan.duration_cap_s),
            cool_down_s=float(plan.cool_down_s),
            restart_after_s=float(plan.pause_restart_after_s),
        )


class PlanEnvelope:
    """The envelope of one treadmill's sessions, advanced by the test's own clock.

    ``slack_s`` makes the model generous by that much backward-walking time at every boundary (ramp
    steps come that much earlier, the cap and the restart threshold that much later): an engine that
    sums its time in other steps must not fail on float noise. Hand-computed examples use 0.
    ``belt_min_kmh`` is the treadmill's slowest speed: a console slow-down below it restarts the ramp there.
    """

    def __init__(self, slack_s: float = 0.0, belt_min_kmh: float = 0.0) -> None:
        self.slack_s = slack_s
        self.belt_min = centi(belt_min_kmh)  # the treadmill's slowest speed: no ramp starts below it
        self.stage = Stage.NONE
        self.plan: PlanNumbers | None = None
        self.now = -math.inf
        self.link_up = False
        self.walked_s = 0.0  # backward-walking time of the current session
        # The ramp: ``base`` until ``hold_end_s``; then one step at ``first_step_s`` and one per interval.
        self.base = 0
        self.hold_end_s = 0.0
        self.first_step_s = 0.0
        self.cool_down = 0
        self.speed_accepted = False  # armed: the treadmill accepted the speed, Start may follow
        self.paused_at = 0.0
        self.link_lost_since_pause = False
        self.current_target: int | None = None  # what the treadmill was last told (echoes are ignored)
        self.falling_from = 0  # rule 4's slow-down allowance: the value the limit falls from ...
        self.falling_at = 0.0  # ... and since when

    # --- what the plan allows -----------------------------------------------------------------------------
    def envelope(self, now: float) -> int:
        """The highest allowed speed at ``now`` (hundredths of km/h) if nothing but time happens until
        then; the model itself does not change."""
        walked, stage = self._walked_at(now)
        return self._envelope_at(walked, stage)

    def limit(self, now: float) -> int:
        """The speed the belt may show at ``now`` before the overspeed rule acts (tolerance not included)."""
        return max(self.envelope(now), self._falling(now))

    def ramp_at(self, walked_s: float) -> int:
        """The ramp: ``base`` during the hold; then one step at ``first_step_s`` and one per interval."""
        assert self.plan is not None
        walked_s += self.slack_s
        if walked_s < self.hold_end_s:
            return min(self.base, self.plan.target)
        steps = 1 + math.floor((walked_s - self.first_step_s) / self.plan.interval_s)
        return min(self.plan.target, self.base + self.plan.step * max(0, steps))

    def _cool_down_speed(self) -> int:
        assert self.plan is not None
        if self.stage is Stage.COOL_DOWN:
            return self.cool_down
        return min(self.plan.start, self.ramp_at(self.plan.cap_s))

    def _envelope_at(self, walked_s: float, stage: Stage) -> int:
        if stage in (Stage.WALKING, Stage.ARMED):
            return self.ramp_at(walked_s)
        if stage is Stage.COOL_DOWN:
            return self._cool_down_speed()
        return 0

    def _falling(self, now: float) -> int:
        return math.ceil(self.falling_from - SLOWDOWN_CENTI_PER_S * max(0.0, now - self.falling_at))

    def _walked_at(self, now: float) -> tuple[float, Stage]:
        """Backward-walking time and stage at ``now`` if nothing but time happens until then."""
        if self.stage not in (Stage.WALKING, Stage.COOL_DOWN) or self.plan is None:
            return self.walked_s, self.stage
        walked = self.walked_s + max(0.0, now - self.now)
        if walked >= self._cap_s() + self.plan.cool_down_s:
            return walked, Stage.NONE
        if walked >= self._cap_s():
            return walked, Stage.COOL_DOWN
        return walked, self.stage

    def _cap_s(self) -> float:
        assert self.plan is not None
        return self.plan.cap_s + self.slack_s

    # --- judging the engine -------------------------------------------------------------------------------
    def observe(self, event: Event, out: Sequence[Action], now: float) -> list[str]:
        """Take one event the engine accepted at ``now`` and the actions it answered with, in order;
        return what the engine did wrong by this model (an empty list: nothing)."""
        self.advance(now)
        must_correct = self._take(event, now)
        problems: list[str] = []
        corrected = False
        for action in out:
            if isinstance(action, SessionStarted):
                self.start(action.plan, now)
            elif isinstance(action, SessionEnded):
                self.end(now)
            elif isinstance(action, SetTargetSpeed):
                allowed = self.envelope(now)
                if centi(action.kmh) > allowed:
                    problems.append(f"{action} above the plan's envelope {allowed / 100} km/h at {now}")
                self.commanded(action.kmh)
                corrected = True
        if must_correct and not corrected and self.stage is not Stage.NONE:
            problems.append(f"{event} is a speed-up above the plan's envelope and was not corrected")
        return problems

    def _take(self, event: Event, now: float) -> bool:
        """Apply an input; True when it is a console speed-up the engine must answer with a correction."""
        match event:
            case Pause():
                self.pause(now)
            case Resume():
                self.resume(now)
            case CommandResult(command=CommandKind.SET_TARGET_SPEED | CommandKind.START) if event.ok:
                self.command_succeeded(event.command is CommandKind.SET_TARGET_SPEED, now)
            case LinkUp():
                self.link_recovered(now)
            case LinkDown():
                self.link_down(now)
            case MachineStatus(kind=MachineStatusKind.USER_PAUSE) if self.link_up:
                self.pause(now, by_console=True)
            case MachineStatus(kind=MachineStatusKind.USER_START) if self.link_up:
                self.resume(now, at_console=True)
            case MachineStatus(kind=MachineStatusKind.TARGET_SPEED_CHANGED, value=int() | float() as value):
                return self.console_speed(value, now)
        return False

    # --- time and events ----------------------------------------------------------------------------------
    def advance(self, now: float) -> None:
        """Let time pass up to ``now``: the cap starts the cool-down, its end ends the session."""
        if not math.isfinite(self.now):
            self.now = now
        if now <= self.now:
            return
        if self.plan is not None and self.stage is Stage.WALKING:
            cap_at = self.now + (self._cap_s() - self.walked_s)
            if now < cap_at:
                self.walked_s += now - self.now
                self.now = now
                return
            self.walked_s, self.now = self._cap_s(), cap_at
            cool_down = self._cool_down_speed()
            self._lower_to(cool_down, Stage.COOL_DOWN)
            self.cool_down = cool_down
        if self.plan is not None and self.stage is Stage.COOL_DOWN:
            end = self._cap_s() + self.plan.cool_down_s
            end_at = self.now + (end - self.walked_s)
            if now < end_at:
                self.walked_s += now - self.now
            else:
                self.walked_s, self.now = end, end_at
                self._lower_to(0, Stage.NONE)
        self.now = now

    def start(self, plan: SessionPlan, now: float) -> None:
        """A kiosk Start the engine accepted."""
        self.advance(now)
        self.plan = PlanNumbers.of(plan)
        self.walked_s = 0.0
        self._fresh_ramp()
        self.stage = Stage.ARMED
        self.speed_accepted = False
        self.current_target = None
        self.falling_from = 0

    def command_succeeded(self, speed_not_start: bool, now: float) -> None:
        """A success reply: for the speed while armed it releases Start; for Start it starts the belt."""
        self.advance(now)
        if self.stage is not Stage.ARMED:
            return
        if speed_not_start:
            self.speed_accepted = True
        elif self.speed_accepted:
            self.stage = Stage.WALKING

    def commanded(self, kmh: float) -> None:
        self.current_target = centi(kmh)

    def pause(self, now: float, by_console: bool = False) -> None:
        """A kiosk pause the engine accepted, or one at the console (which ends an armed start or a
        cool-down: the session is nearly over)."""
        self.advance(now)
        if self.stage is Stage.WALKING:
            self._pause()
        elif by_console and self.stage in (Stage.ARMED, Stage.COOL_DOWN):
            self.end(now)

    def resume(self, now: float, at_console: bool = False) -> None:
        """A resume the engine accepted (kiosk), or start pressed at the console during a pause."""
        self.advance(now)
        if self.stage is not Stage.PAUSED:
            return
        assert self.plan is not None
        if self.link_lost_since_pause or now - self.paused_at > self.plan.restart_after_s + self.slack_s:
            self._fresh_ramp()
        self.current_target = None
        self.stage = Stage.WALKING if at_console else Stage.ARMED
        self.speed_accepted = False

    def console_speed(self, kmh: float, now: float) -> bool:
        """A target speed keyed at the console. Returns True when it is a speed-up the engine must answer
        with a correction (above the envelope); a slow-down (below what the treadmill was last told)
        lowers the ramp's base instead. A speed between the two is a person speeding the belt up, not
        choosing to walk slower: it lowers nothing (the engine may still correct it: on a coarse grid
        its allowed speed is below the plan as written's)."""
        self.advance(now)
        value = centi(kmh)
        if not self.link_up or self.stage in (Stage.NONE, Stage.PAUSED) or value == self.current_target:
            return False
        if value > self.envelope(now):
            return True
        assert self.plan is not None
        faster_than_told = self.current_target is not None and value > self.current_target
        self.current_target = value
        if faster_than_told:
            return False
        if self.stage is Stage.COOL_DOWN:
            self.cool_down = min(self.cool_down, value)
            return False
        self.base = max(value, self.belt_min)
        self.first_step_s = max(self.walked_s + self.plan.interval_s, self.hold_end_s)
        return False

    def link_down(self, now: float) -> None:
        self.advance(now)
        self.link_up = False
        if self.stage is Stage.ARMED:
            self.end(now)

    def link_recovered(self, now: float) -> None:
        """The first thing after a link comes back is a stop; a running session becomes paused."""
        self.advance(now)
        self.link_up = True
        self.current_target = None
        if self.stage in (Stage.ARMED, Stage.COOL_DOWN):
            self.end(now)
        elif self.stage is Stage.WALKING:
            self._pause()
        if self.stage is Stage.PAUSED:
            self.link_lost_since_pause = True

    def end(self, now: float) -> None:
        """The session ended (the engine announced it, or a rule above ends it)."""
        self.advance(now)
        self._lower_to(0, Stage.NONE)

    # --- helpers ------------------------------------------------------------------------------------------
    def _fresh_ramp(self) -> None:
        assert self.plan is not None
        self.base = self.plan.start
        self.hold_end_s = self.walked_s + self.plan.hold_s
        self.first_step_s = self.hold_end_s

    def _pause(self) -> None:
        self._lower_to(0, Stage.PAUSED)
        self.paused_at = self.now
        self.link_lost_since_pause = False

    def _lower_to(self, value: int, stage: Stage) -> None:
        """Change stage; a fall of the envelope starts the slow-down allowance from where it was."""
        before = max(self._envelope_at(self.walked_s, self.stage), self._falling(self.now))
        if value < before:
            self.falling_from, self.falling_at = before, self.now
        self.stage = stage
