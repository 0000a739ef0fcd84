"""The recorded UREVO E1L session replayed on, through the real link, into a real ``SessionEngine``.

The recording (tests/link/real_ftms/urevo-e1l-urtm041.json) is a whole session as a phone app ran it: the
belt winds down after an earlier walk, stands still, is started at the console at the pad's own start
speed (2.25 km/h), the app sends Start, the belt runs at 2.25 km/h for about a minute, and the stop's
wind-down begins. Here retrowalk takes the app's place: its session starts at the moment the app sent
Start, and every sample and status the link reports goes to the engine at its recorded time, with clock
ticks between them as the runner sends them. The treadmill's answers to retrowalk's commands are not in
the recording (the belt did what the console told it), so every command is answered with success and the
belt goes on as recorded: the engine judges the recorded belt.

What each session must do is worked out here from the recording's bytes (the speed range it read, the
speed of every Treadmill Data frame, the moment of the app's Start, the statuses) and from the plan as
docs/safety.md fits it to the pad's 0.32 km/h grid, never by asking the engine.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pytest

from retrowalk.link.events import LinkEvent, Sample, StatusChange
from retrowalk.session.engine import SessionEngine
from retrowalk.session.events import (
    Action,
    CommandResult,
    DropLink,
    EndReason,
    Event,
    LinkUp,
    MachineStatus,
    OverspeedCorrected,
    Phase,
    PhaseChanged,
    ResultCode,
    SessionEnded,
    SessionStarted,
    SetTargetSpeed,
    Start,
    StartBelt,
    StopBelt,
    StopNotConfirmed,
    Telemetry,
    Tick,
)
from retrowalk.session.plan import OperatorCeilings, SessionPlan, TreadmillCaps

from .recordings import load, replay

RECORDING = "urevo-e1l-urtm041.json"
TICK_S = 0.1  # the runner ticks up to tick_hz (10) times a second during a session
# How long the replay keeps ticking after the recording's last frame: past the stale-data limit.
AFTER_THE_END_S = 5.0
# docs/safety.md: a belt still moving after the end is stopped again for this long after it.
STOP_WATCH_S = 30.0


# --- what the recording's bytes say, read here without the link ----------------------------------------
def _uint16s(hex_text: str) -> list[int]:
    data = bytes.fromhex(hex_text)
    return [int.from_bytes(data[i : i + 2], "little") for i in range(0, len(data), 2)]


def caps_in_the_bytes(content: dict[str, Any]) -> TreadmillCaps:
    """Supported Speed Range (0x2AD4: minimum, maximum, increment, uint16 in 0.01 km/h). The
    inclination range is all zero, so the pad is driven without an incline."""
    low, high, step = _uint16s(content["speed_range"])
    assert set(_uint16s(content["incline_range"])) == {0}
    return TreadmillCaps(min_speed_kmh=low / 100, max_speed_kmh=high / 100, speed_step_kmh=step / 100)


def timed_speeds(content: dict[str, Any]) -> list[tuple[float, float]]:
    """(t, km/h) of every Treadmill Data frame: flags clear in bit 0 put the speed in bytes 2-3."""
    out = []
    for frame in content["frames"]:
        data = bytes.fromhex(frame["hex"])
        if frame["char"] == "2acd" and not data[0] & 1:
            out.append((float(frame["t"]), int.from_bytes(data[2:4], "little") / 100))
    return out


def app_start_at(content: dict[str, Any]) -> float:
    """When the app wrote Start (Control Point opcode 0x07): where retrowalk's session starts."""
    return next(
        float(frame["t"])
        for frame in content["frames"]
        if frame["char"] == "2ad9" and frame["dir"] == "write" and frame["hex"] == "07"
    )


def fitted_speed(asked_kmh: float, caps: TreadmillCaps) -> float:
    """docs/safety.md: a speed is rounded down onto the grid that counts from the treadmill's minimum."""
    low, step = round(caps.min_speed_kmh * 100), round(caps.speed_step_kmh * 100)
    return (low + (round(asked_kmh * 100) - low) // step * step) / 100


# --- the engine, fed the way the runner feeds it --------------------------------------------------------
@dataclass
class EngineReplay:
    """Feeds events to a real engine at their times and answers each command with success at once, its
    follow-ups first (as the runner carries a turn out); keeps every action with the time it came."""

    engine: SessionEngine
    actions: list[tuple[float, Action]] = field(default_factory=list)
    _ticked_to: float = 0.0

    def feed(self, event: Event, now: float) -> None:
        pending: deque[Event] = deque([event])
        while pending:
            for action in self.engine.handle(pending.popleft(), now):
                self.actions.append((now, action))
                if isinstance(action, SetTargetSpeed | StartBelt | StopBelt):
                    pending.append(CommandResult(action.kind, ResultCode.SUCCESS))

    def tick_until(self, until: float) -> None:
        """The ticks of a 10 Hz runner clock before ``until``."""
        step = math.floor(self._ticked_to / TICK_S) + 1
        while step * TICK_S < until:
            self.feed(Tick(), step * TICK_S)
            step += 1
        self._ticked_to = max(self._ticked_to, until)

    def link_event(self, event: LinkEvent) -> None:
        self.tick_until(event.at)
        match event:
            case Sample():
                self.feed(Telemetry(event.speed_kmh, event.incline_pct, event.at), event.at)
            case StatusChange():
                self.feed(MachineStatus(event.kind, event.value), event.at)
            case _:
                pytest.fail(f"the replay yields no {event!r}")
        self._ticked_to = event.at

    def of_type[T](self, kind: type[T]) -> list[tuple[float, T]]:
        return [(at, action) for at, action in self.actions if isinstance(action, kind)]


def run_the_recorded_session(plan: SessionPlan) -> EngineReplay:
    """The recording through the link into an engine whose session, with ``plan``, starts when the
    app started it; ticked on past the recording's end."""
    content = load(RECORDING)
    rig = EngineReplay(SessionEngine(OperatorCeilings(), caps_in_the_bytes(content), "urevo"))
    rig.feed(LinkUp(), 0.0)  # the runner's answer to LinkConnected; the link was up before the first frame
    start = app_start_at(content)
    # The app's own writes (its Stop among them) are not retrowalk's: the engine sends its commands here.
    events = replay(content["frames"], client_writes=False)
    for event in (e for e in events if e.at < start):
        rig.link_event(event)
    rig.tick_until(start)
    rig.feed(Start("walker", plan), start)
    for event in (e for e in events if e.at >= start):
        rig.link_event(event)
    rig.tick_until(timed_speeds(content)[-1][0] + AFTER_THE_END_S)
    return rig


def phases(rig: EngineReplay) -> list[Phase]:
    return [change.phase for _at, change in rig.of_type(PhaseChanged)]


def test_the_pads_own_start_speed_is_overspeed_for_a_first_session_and_ends_it() -> None:
    # A first session asks 1.0 km/h; on the pad's 0.96 + n x 0.32 km/h grid that is 0.96. The console
    # started the belt at the pad's own 2.25 km/h, and the recorded belt never slows down: corrected at
    # the first sample, stopped when the grace period runs out, and stopped again while it keeps running
    # after the end (the recording's belt ignores every command, as some treadmills do).
    plan = SessionPlan()
    content = load(RECORDING)
    caps = caps_in_the_bytes(content)
    start, allowed = app_start_at(content), fitted_speed(plan.start_speed_kmh, caps)
    assert allowed == 0.96
    over = [(t, kmh) for t, kmh in timed_speeds(content) if t >= start and kmh > allowed + 0.3]
    first_over_at, first_over_kmh = over[0]
    ends_at = first_over_at + plan.overspeed_grace_s

    rig = run_the_recorded_session(plan)

    [(_, started)] = rig.of_type(SessionStarted)
    assert started.plan.start_speed_kmh == allowed
    assert phases(rig) == [Phase.ARMED, Phase.FAMILIARISE, Phase.ABORTED]
    [(corrected_at, corrected)] = rig.of_type(OverspeedCorrected)
    assert (corrected_at, corrected.measured_kmh, corrected.allowed_kmh) == (
        first_over_at,
        first_over_kmh,
        allowed,
    )
    [(ended_at, ended)] = rig.of_type(SessionEnded)
    assert ended.reason is EndReason.OVERSPEED
    assert ended.backward_s == pytest.approx(ends_at - start)
    assert ended_at == pytest.approx(ends_at, abs=TICK_S)  # acted on within one tick
    assert ended.max_speed_kmh == first_over_kmh
    speeds_sent = [(at, cmd.kmh) for at, cmd in rig.of_type(SetTargetSpeed)]
    assert speeds_sent == [(start, allowed), (first_over_at, allowed)]
    stops = [at for at, _ in rig.of_type(StopBelt)]
    # Stopped on link up (before anything else), at the end, and then at the first sample at least a grace
    # period after the end and after the stop before it, while the recorded belt is still moving, for
    # STOP_WATCH_S after the end.
    restops: list[float] = []
    for t, kmh in timed_speeds(content):
        since_end = t - ended_at
        last = restops[-1] if restops else ended_at
        grace = plan.overspeed_grace_s
        if kmh > 0.3 and grace <= since_end <= STOP_WATCH_S and t - last >= grace:
            restops.append(t)
    assert len(restops) >= 5  # the belt ran on at 2.25 km/h for about a minute
    assert stops == [0.0, ended_at, *restops]
    assert [at for at, _ in rig.of_type(StopNotConfirmed)] == restops


def test_a_plan_that_allows_the_pads_start_speed_runs_the_recorded_session_without_a_correction() -> None:
    # Asked 2.3 km/h, fitted down to 0.96 + 4 x 0.32 = 2.24 km/h: start and target at once, so steady. The
    # recorded 2.25 km/h is within the 0.3 km/h tolerance. The status of the stop's wind-down (05 d1 00,
    # 2.09 km/h) is, to a session retrowalk did not stop, a slow-down at the console: allowed, and back to
    # the ramp. The recording then ends: no data, so the stale-data rule ends the session.
    plan = SessionPlan(start_speed_kmh=2.3, target_speed_kmh=2.3)
    content = load(RECORDING)
    caps = caps_in_the_bytes(content)
    start, allowed = app_start_at(content), fitted_speed(plan.start_speed_kmh, caps)
    assert allowed == 2.24
    walked = [kmh for t, kmh in timed_speeds(content) if t >= start]
    assert max(walked) <= allowed + 0.3
    last_sample_at = timed_speeds(content)[-1][0]

    rig = run_the_recorded_session(plan)

    assert not rig.of_type(OverspeedCorrected)
    assert phases(rig) == [Phase.ARMED, Phase.FAMILIARISE, Phase.STEADY, Phase.RAMP, Phase.ABORTED]
    [(ramp_at, _)] = [(at, c) for at, c in rig.of_type(PhaseChanged) if c.phase is Phase.RAMP]
    slowed_at = next(float(f["t"]) for f in content["frames"] if f["char"] == "2ada" and f["t"] > start)
    assert ramp_at == slowed_at
    [(ended_at, ended)] = rig.of_type(SessionEnded)
    assert ended.reason is EndReason.STALE_TELEMETRY
    assert ended.backward_s == pytest.approx(last_sample_at + plan.stale_telemetry_s - start)
    assert ended.max_speed_kmh == max(walked)
    assert [at for at, _ in rig.of_type(StopBelt)] == [0.0, ended_at]
    assert [at for at, _ in rig.of_type(DropLink)] == [ended_at]
