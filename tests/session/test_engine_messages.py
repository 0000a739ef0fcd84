"""Every way a session ends says exactly why, in words a person can act on (docs/safety.md rules 8-11).

The texts are written out literally: they are what a person at the kiosk or the operator reads, so a
changed or lost text is a changed behaviour.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from retrowalk.errors import RefusedError
from retrowalk.session.engine import EngineSnapshot, SessionEngine
from retrowalk.session.events import (
    CommandKind,
    CommandResult,
    EndReason,
    LinkDown,
    LinkUp,
    MachineStatus,
    MachineStatusKind,
    PainReported,
    Pause,
    Phase,
    PhaseChanged,
    ResultCode,
    Resume,
    SessionEnded,
    SessionStarted,
    Start,
    Stop,
    Telemetry,
    Tick,
    TreadmillFault,
)
from retrowalk.session.plan import OperatorCeilings, SessionPlan

from .session_rig import GYM, Rig, of_type, started_at_zero


def status(kind: MachineStatusKind, value: float | None = None) -> Callable[[Rig], object]:
    return lambda rig: rig.send(MachineStatus(kind, value), dt=0.5)


def armed(rig: Rig) -> None:
    rig.send(LinkUp())
    rig.send(Start("walker", SessionPlan()))


def walking(rig: Rig) -> Rig:
    started_at_zero(rig=rig)
    rig.walk(20)
    return rig


def cooling_down(rig: Rig) -> None:
    started_at_zero(rig=rig)
    rig.walk(300)


def paused(rig: Rig) -> Rig:
    walking(rig)
    rig.send(Pause())
    return rig


def stopped_with_the_link_down(rig: Rig) -> None:
    rig.send(LinkDown(), dt=0.5)
    rig.send(Stop(), dt=0.5)


CHECK = "check the belt"
CASES: list[tuple[Callable[[Rig], object], Callable[[Rig], object], EndReason, str]] = [
    (walking, lambda rig: rig.send(Stop()), EndReason.KIOSK_STOP, "stopped from a kiosk or Home Assistant"),
    (
        walking,
        stopped_with_the_link_down,
        EndReason.KIOSK_STOP,
        "stopped from a kiosk or Home Assistant (the link is down, so no stop could be sent: check the belt)",
    ),
    (
        walking,
        lambda rig: rig.sample(0.0, dt=0.5),
        EndReason.BELT_STOPPED,
        "the belt stopped but nobody stopped it from retrowalk",
    ),
    (walking, status(MachineStatusKind.SAFETY_KEY), EndReason.SAFETY_KEY, "the safety key was pulled"),
    (
        walking,
        status(MachineStatusKind.CONTROL_LOST),
        EndReason.CONTROL_LOST,
        "the treadmill withdrew retrowalk's control",
    ),
    (walking, status(MachineStatusKind.RESET), EndReason.MACHINE_RESET, "the treadmill reset itself"),
    (walking, status(MachineStatusKind.USER_STOP), EndReason.USER_STOP, "stopped at the treadmill's console"),
    (
        armed,
        status(MachineStatusKind.USER_PAUSE),
        EndReason.USER_STOP,
        "paused at the console; the session ended",
    ),
    (
        walking,
        status(MachineStatusKind.TARGET_INCLINE_CHANGED, 2.5),
        EndReason.INCLINE_CHANGED,
        "the incline was raised to 2.5 % at the console",
    ),
    (
        walking,
        lambda rig: rig.tick(3.5),
        EndReason.STALE_TELEMETRY,
        "no treadmill data while the belt should move: check the treadmill and the connection",
    ),
    (
        walking,
        lambda rig: rig.walk(4, speed=2.0),
        EndReason.OVERSPEED,
        "the belt stayed above the allowed speed + tolerance for longer than the grace period",
    ),
    (
        lambda rig: started_at_zero(rig=rig),
        lambda rig: rig.walk(10.5, speed=0.0),
        EndReason.BELT_DID_NOT_START,
        "the treadmill confirmed the start but the belt stayed still",
    ),
    (
        walking,
        lambda rig: rig.walk(11, speed=0.5),
        EndReason.TREADMILL_FAULT,
        "the treadmill accepted 1.0 km/h but the belt stayed at 0.5 km/h for 10 s: it ignores speed commands",
    ),
    (
        armed,
        lambda rig: rig.tick(10.5),
        EndReason.START_TIMEOUT,
        "the treadmill did not confirm the start in 10.0 s",
    ),
    (
        paused,
        lambda rig: rig.walk(4, speed=1.0),
        EndReason.BELT_DID_NOT_PAUSE,
        "the belt kept moving after a pause",
    ),
    (paused, lambda rig: rig.tick(901), EndReason.PAUSED_TOO_LONG, "paused for over 15 minutes"),
    (cooling_down, lambda rig: rig.walk(60), EndReason.COMPLETED, "the session is complete"),
    (
        walking,
        lambda rig: (rig.send(LinkDown()), rig.tick(290)),
        EndReason.LINK_LOST,
        "the cap was reached while the link was down: check the belt "
        "(the link is down, so no stop could be sent: check the belt)",
    ),
    (
        armed,
        lambda rig: rig.send(LinkDown()),
        EndReason.LINK_LOST,
        "the link was lost while the belt was being started "
        "(the link is down, so no stop could be sent: check the belt)",
    ),
    (
        armed,
        lambda rig: rig.send(LinkUp()),
        EndReason.LINK_LOST,
        "the link dropped and returned while the belt was being started",
    ),
    (
        cooling_down,
        lambda rig: (rig.send(LinkDown()), rig.send(LinkUp(), dt=1)),
        EndReason.LINK_LOST,
        "the link was lost during cool-down",
    ),
    (
        walking,
        lambda rig: rig.send(TreadmillFault("speeds look like mph")),
        EndReason.TREADMILL_FAULT,
        "speeds look like mph",
    ),
]


@pytest.mark.parametrize(("setup", "act", "reason", "detail"), CASES)
def test_each_end_says_exactly_why(
    setup: Callable[[Rig], object], act: Callable[[Rig], object], reason: EndReason, detail: str
) -> None:
    rig = Rig()
    setup(rig)
    act(rig)
    ends = of_type(rig.log, SessionEnded)
    assert [(end.reason, end.detail) for end in ends] == [(reason, detail)]


@pytest.mark.parametrize(
    ("result", "reason", "detail"),
    [
        (
            ResultCode.CONTROL_NOT_PERMITTED,
            EndReason.COMMAND_REFUSED,
            "the treadmill refused control; check its console and reconnect",
        ),
        (
            ResultCode.NOT_SUPPORTED,
            EndReason.COMMAND_REFUSED,
            "the treadmill does not support this; check its capabilities",
        ),
        (
            ResultCode.INVALID_PARAMETER,
            EndReason.COMMAND_REFUSED,
            "the treadmill rejected the value; check its speed range",
        ),
        (ResultCode.FAILED, EndReason.COMMAND_FAILED, "the treadmill could not do it; check the treadmill"),
        (ResultCode.TIMEOUT, EndReason.COMMAND_FAILED, "the treadmill did not answer; check the connection"),
        (
            ResultCode.UNKNOWN,
            EndReason.COMMAND_FAILED,
            "the treadmill's reply was not understood; check the treadmill",
        ),
    ],
)
def test_a_failed_command_names_the_command_the_reply_and_what_to_do(
    result: ResultCode, reason: EndReason, detail: str
) -> None:
    rig = Rig()
    walking(rig)
    rig.send(CommandResult(CommandKind.SET_TARGET_SPEED, result))
    ends = of_type(rig.log, SessionEnded)
    assert [(end.reason, end.detail) for end in ends] == [
        (reason, f"set_target_speed answered {result.value}: {detail}")
    ]


@pytest.mark.parametrize(
    ("setup", "event", "message"),
    [
        (lambda rig: rig.send(LinkUp()), Start("", SessionPlan()), "a session needs a user_id"),
        (lambda rig: rig.send(LinkUp()), Start("walker", "fast"), "plan must be a SessionPlan, got str"),  # type: ignore[arg-type]
        (lambda rig: None, Start("walker", SessionPlan()), "cannot start: the link to the treadmill is down"),
        (
            lambda rig: (walking(rig), rig.send(LinkDown())),
            Pause(),
            r"cannot pause: the link is down \(the session stops when it returns\)",
        ),
        (
            lambda rig: (paused(rig), rig.send(LinkDown())),
            Resume(),
            "cannot resume: the link to the treadmill is down",
        ),
        (walking, TreadmillFault(""), "a treadmill fault needs a detail a person can act on"),
        (walking, PainReported("", 9), "a pain report needs a user_id"),
        (walking, PainReported("walker", 11), "pain must be a whole number from 0 to 10, got 11"),
        (walking, PainReported("walker", True), "pain must be a whole number from 0 to 10, got True"),
        (walking, PainReported("walker", 6.5), r"pain must be a whole number from 0 to 10, got 6\.5"),  # type: ignore[arg-type]
        (walking, Telemetry(float("nan"), 0.0, 30.0), "telemetry speed_kmh must be a finite number, got nan"),
        (walking, Telemetry(1.0, 0.0, float("inf")), "telemetry at must be a finite number, got inf"),
        (walking, Telemetry(-1.0, 0.0, 30.0), r"telemetry speed_kmh must not be negative, got -1\.0"),
        (
            walking,
            MachineStatus(MachineStatusKind.TARGET_SPEED_CHANGED, None),
            "machine status target speed must be a finite number, got None",
        ),
        (
            walking,
            MachineStatus(MachineStatusKind.TARGET_INCLINE_CHANGED, float("nan")),
            "machine status target incline must be a finite number, got nan",
        ),
        (walking, MachineStatus("jump", 1.0), "unknown machine status 'jump'"),  # type: ignore[arg-type]
        (
            walking,
            # A str where a CommandKind belongs: the malformed result this case is about.
            CommandResult("speed", ResultCode.SUCCESS),  # type: ignore[arg-type]
            r"malformed command result CommandResult\(command='speed', result=<ResultCode\.SUCCESS: .*>\)",
        ),
        (walking, object(), r"unknown event <object object at 0x[0-9a-f]+>"),
    ],
)
def test_refusals_say_what_was_wrong_and_change_nothing(
    setup: Callable[[Rig], object], event: object, message: str
) -> None:
    rig = Rig(caps=GYM)
    setup(rig)
    phase = rig.phase()
    with pytest.raises(RefusedError) as refused:
        rig.engine.handle(event, rig.now + 0.5)  # type: ignore[arg-type]
    assert re.fullmatch(message, str(refused.value)), str(refused.value)
    assert rig.phase() is phase
    assert phase is not Phase.ABORTED


def test_the_snapshot_mqtt_publishes_holds_every_field() -> None:
    rig = Rig(treadmill_id="pad-7")
    rig.send(LinkUp())
    rig.sample(0.0)  # the belt at rest before the session: the newest sample stays known across the start
    rig.send(Start("walker", SessionPlan()))
    assert rig.engine.snapshot().last_speed_kmh == 0.0
    rig.result(CommandKind.SET_TARGET_SPEED)
    rig.result(CommandKind.START)
    rig.walk(61)
    plan = SessionPlan()
    assert rig.engine.snapshot() == EngineSnapshot(
        treadmill_id="pad-7",
        phase=Phase.RAMP,
        link_up=True,
        session_id="pad-7-1",
        user_id="walker",
        allowed_kmh=1.1,
        elapsed_backward_s=61.0,
        remaining_s=299.0,
        last_speed_kmh=1.1,
        end_reason=None,
        end_detail="",
        plan=plan,
    )
    rig.send(LinkDown())
    rig.send(Stop(), dt=0.5)
    snapshot = rig.engine.snapshot()
    assert snapshot.link_up is False
    assert (snapshot.phase, snapshot.end_reason, snapshot.remaining_s) == (
        Phase.FINISHED,
        EndReason.KIOSK_STOP,
        0.0,
    )
    assert snapshot.end_detail.startswith("stopped from a kiosk or Home Assistant (the link is down")


def test_the_session_summary_holds_every_field() -> None:
    rig = started_at_zero()
    rig.walk(70)  # 1.1 km/h since 60 s
    rig.sample(1.45, dt=0.5)  # corrected ...
    rig.sample(1.1, dt=0.5)
    rig.sample(1.42, dt=0.5)  # ... and corrected again
    rig.send(Stop(), dt=0.5)
    assert of_type(rig.log, SessionEnded) == [
        SessionEnded(
            session_id="tm-1-1",
            user_id="walker",
            treadmill_id="tm-1",
            phase=Phase.FINISHED,
            reason=EndReason.KIOSK_STOP,
            detail="stopped from a kiosk or Home Assistant",
            backward_s=72.0,
            max_speed_kmh=1.45,
            max_allowed_kmh=1.1,
            overspeed_corrections=2,
        )
    ]


@pytest.mark.parametrize("kind", list(MachineStatusKind))
def test_console_reports_while_the_link_is_down_change_nothing(kind: MachineStatusKind) -> None:
    rig = Rig()
    walking(rig)
    rig.send(LinkDown())
    out = rig.send(MachineStatus(kind, 4.0), dt=0.5)
    assert out == []
    assert rig.phase() is Phase.FAMILIARISE


def test_a_new_session_announces_itself_and_leaves_the_last_ones_end_behind() -> None:
    rig = Rig()
    rig.send(LinkUp())
    rig.sample(0.0, dt=5.0)
    out = rig.send(Start("walker", SessionPlan()), dt=1.0)
    assert of_type(out, SessionStarted) == [SessionStarted("tm-1-1", "walker", "tm-1", SessionPlan())]
    # A late sample from before this session is no news, even one that would be an overspeed.
    assert rig.send(Telemetry(2.0, 0.0, 4.0)) == []
    rig.send(Stop())
    out = rig.send(Start("walker", SessionPlan(), session_id="s-2"), dt=1.0)
    assert of_type(out, PhaseChanged) == [PhaseChanged("s-2", Phase.FINISHED, Phase.ARMED, 1.0, 0.0)]


@pytest.mark.parametrize(
    ("now", "shown"),
    [
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (-float("inf"), "-inf"),
        (True, "True"),
        ("soon", "'soon'"),
    ],
)
def test_a_time_that_is_not_a_finite_number_is_refused(now: object, shown: str) -> None:
    rig = Rig()
    walking(rig)
    with pytest.raises(RefusedError) as refused:
        rig.engine.handle(Tick(), now)  # type: ignore[arg-type]
    assert str(refused.value) == f"now must be a finite number of seconds, got {shown}"


def test_an_engine_needs_a_treadmill_id() -> None:
    with pytest.raises(RefusedError) as refused:
        SessionEngine(OperatorCeilings(), GYM, "")
    assert str(refused.value) == "treadmill_id must not be empty"


def test_a_link_lost_after_the_data_went_stale_sends_nothing() -> None:
    rig = Rig()
    walking(rig)  # the last sample at 20 s
    out = rig.send(LinkDown(), dt=5.0)  # the loss takes effect first: no stop over a dead link
    assert out == []
    assert of_type(rig.log, SessionEnded) == []
