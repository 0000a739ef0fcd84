"""More of what real treadmills and people do (refs §4), each against the rule that answers it."""

from __future__ import annotations

import pytest

from retrowalk.errors import RefusedError
from retrowalk.session.events import (
    CapWarning,
    CommandKind,
    CommandResult,
    EndReason,
    LinkDown,
    LinkUp,
    MachineStatus,
    MachineStatusKind,
    Pause,
    Phase,
    PhaseChanged,
    ResultCode,
    SessionEnded,
    SetTargetIncline,
    SetTargetSpeed,
    Stop,
    StopBelt,
    StopNotConfirmed,
    TreadmillFault,
)
from retrowalk.session.plan import SessionPlan

from .session_rig import GYM, Rig, commands, full_state, of_type


def ended(rig: Rig) -> SessionEnded:
    ends = of_type(rig.log, SessionEnded)
    assert len(ends) == 1, ends
    return ends[0]


# --- more of what real treadmills and people do ------------------------------------------------------
def test_start_pressed_at_the_console_during_a_pause_takes_over_at_the_resume_speed() -> None:
    rig = Rig()
    rig.start(SessionPlan(target_speed_kmh=2.0, duration_cap_s=900))
    rig.walk(120)
    rig.send(Pause(), dt=0.1)
    rig.tick(60)  # a long pause: the start speed again
    out = rig.send(MachineStatus(MachineStatusKind.USER_START), dt=0.1)
    assert commands(out) == [SetTargetSpeed(1.0)]
    assert rig.phase() is Phase.FAMILIARISE


def test_incline_raised_at_the_console_is_set_back_or_ends_the_session() -> None:
    gym = Rig(caps=GYM)
    gym.start()
    gym.walk(5)
    out = gym.send(MachineStatus(MachineStatusKind.TARGET_INCLINE_CHANGED, 4.0), dt=0.1)
    assert commands(out) == [SetTargetIncline(0.0)]
    pad = Rig()
    pad.start()
    pad.walk(5)
    out = pad.send(MachineStatus(MachineStatusKind.TARGET_INCLINE_CHANGED, 4.0), dt=0.1)
    assert commands(out) == [StopBelt()]
    assert ended(pad).reason is EndReason.INCLINE_CHANGED


def test_link_up_with_no_session_still_stops_first() -> None:
    rig = Rig()
    assert commands(rig.send(LinkUp())) == [StopBelt()]
    assert rig.phase() is Phase.IDLE


def test_the_console_is_free_when_no_session_runs() -> None:
    rig = Rig()
    rig.send(LinkUp())
    for kind in MachineStatusKind:
        assert rig.send(MachineStatus(kind, 5.0), dt=0.1) == []
    assert rig.sample(8.0, dt=0.1) == []
    assert rig.phase() is Phase.IDLE


def test_a_one_minute_cap_warns_at_once_and_at_ten_seconds() -> None:
    rig = Rig()
    out = rig.start(SessionPlan(duration_cap_s=60))
    out += rig.walk(1)
    assert [w.threshold_s for w in of_type(out, CapWarning)] == [60]
    out = rig.walk(50)
    assert [w.threshold_s for w in of_type(out, CapWarning)] == [10]


def test_slower_during_cool_down_is_kept() -> None:
    rig = Rig()
    rig.start(SessionPlan(target_speed_kmh=1.5, duration_cap_s=300))
    rig.walk(300.5)
    assert rig.phase() is Phase.COOL_DOWN
    out = rig.send(MachineStatus(MachineStatusKind.TARGET_SPEED_CHANGED, 0.7), dt=0.1)
    assert commands(out) == []
    assert rig.engine.allowed_speed(rig.now) == 0.7


def test_a_pause_at_the_console_during_cool_down_ends_the_session() -> None:
    rig = Rig()
    rig.start(SessionPlan(duration_cap_s=60))
    rig.walk(61)
    out = rig.send(MachineStatus(MachineStatusKind.USER_PAUSE), dt=0.1)
    assert commands(out) == [StopBelt()]
    assert (ended(rig).reason, rig.phase()) == (EndReason.USER_STOP, Phase.FINISHED)


def test_link_lost_during_cool_down_aborts_on_link_up() -> None:
    rig = Rig()
    rig.start(SessionPlan(duration_cap_s=60))
    rig.walk(61)
    rig.send(LinkDown(), dt=0.1)
    out = rig.send(LinkUp(), dt=2)
    assert commands(out) == [StopBelt()]
    assert (ended(rig).reason, rig.phase()) == (EndReason.LINK_LOST, Phase.ABORTED)


def test_replies_nobody_waits_for_change_nothing() -> None:
    rig = Rig()
    rig.start()
    rig.walk(5)
    before = full_state(rig.engine)
    for command in CommandKind:
        assert rig.engine.handle(CommandResult(command, ResultCode.SUCCESS), rig.now) == []
    assert full_state(rig.engine) == before


def test_a_new_session_after_the_last_one_ended() -> None:
    rig = Rig()
    rig.start()
    rig.walk(5)
    rig.send(Stop(), dt=0.1)
    out = rig.start(SessionPlan(), user_id="second")
    assert rig.phase() is Phase.FAMILIARISE
    assert rig.engine.session_id == "tm-1-2"
    assert rig.engine.user_id == "second"
    assert rig.engine.elapsed_backward_s == 0.0
    assert len(of_type(out, PhaseChanged)) == 2


def test_snapshot_carries_what_mqtt_needs() -> None:
    rig = Rig()
    rig.start(user_id="ann")
    rig.walk(61)
    snap = rig.engine.snapshot()
    assert (snap.phase, snap.user_id, snap.session_id, snap.allowed_kmh) == (Phase.RAMP, "ann", "tm-1-1", 1.1)
    assert snap.remaining_s == pytest.approx(300 + 60 - 61)
    assert snap.link_up
    assert snap.end_reason is None


def test_a_belt_that_ignores_the_final_stop_is_stopped_again_for_a_while() -> None:
    rig = Rig()
    rig.start()
    rig.walk(20)
    rig.send(Stop(), dt=0.1)
    assert commands(rig.sample(0.8, dt=1.0)) == []  # still slowing down
    out = rig.sample(1.0, dt=2.5)
    assert commands(out) == [StopBelt()]
    assert of_type(out, StopNotConfirmed) == [StopNotConfirmed("tm-1-1", ResultCode.UNKNOWN)]
    assert commands(rig.sample(1.0, dt=1.0)) == []  # not more often than once per grace period
    assert commands(rig.sample(1.0, dt=2.5)) == [StopBelt()]
    assert commands(rig.sample(2.0, dt=30)) == []  # later, a person may walk at the console on purpose
    assert len(of_type(rig.log, SessionEnded)) == 1


def test_a_kiosk_stop_with_the_link_down_ends_the_session_and_says_the_stop_was_not_sent() -> None:
    rig = Rig()
    rig.start()
    rig.walk(20)
    rig.send(LinkDown(), dt=0.1)
    assert commands(rig.send(Stop(), dt=0.1)) == []
    assert ended(rig).reason is EndReason.KIOSK_STOP
    assert "no stop could be sent" in ended(rig).detail
    assert commands(rig.send(LinkUp(), dt=3)) == [StopBelt()]


def test_a_treadmill_fault_found_by_the_service_aborts_with_its_detail() -> None:
    rig = Rig()
    assert rig.send(TreadmillFault("speeds look like mph")) == []  # no session: nothing to end
    rig.start()
    rig.walk(20)
    out = rig.send(TreadmillFault("speeds look like mph reported as km/h"), dt=0.1)
    assert commands(out) == [StopBelt()]
    assert (ended(rig).reason, ended(rig).detail) == (
        EndReason.TREADMILL_FAULT,
        "speeds look like mph reported as km/h",
    )
    before = full_state(rig.engine)
    with pytest.raises(RefusedError, match="detail"):
        rig.send(TreadmillFault(""))
    assert full_state(rig.engine) == before
