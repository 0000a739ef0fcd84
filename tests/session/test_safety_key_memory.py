"""A start the treadmill fails while its safety key is out says so, instead of "command_failed".

FTMS reports a pulled safety key (machine status 0x03) but has nothing for putting it back, so the engine
remembers the pull until the treadmill shows the key is in again (a moving belt, a console start, an
accepted Start).
"""

from __future__ import annotations

import pytest

from retrowalk.session.events import (
    CommandKind,
    EndReason,
    Event,
    LinkDown,
    LinkUp,
    MachineStatus,
    MachineStatusKind,
    ResultCode,
    SessionEnded,
    Start,
    Stop,
)
from retrowalk.session.plan import SessionPlan

from .session_rig import Rig, of_type

KEY_OUT = (
    "the treadmill did not start (operation_failed) and its last report said the safety key is out: "
    "put the safety key back in, then start the session again"
)


def failed_start(rig: Rig) -> SessionEnded:
    """Start a session that the treadmill fails to start (its belt does not move)."""
    rig.send(Start("walker", SessionPlan()), dt=1.0)
    rig.result(CommandKind.SET_TARGET_SPEED, dt=0.05)
    out = rig.result(CommandKind.START, ResultCode.FAILED, dt=0.05)
    (ended,) = of_type(out, SessionEnded)
    return ended


def test_a_start_after_the_key_was_pulled_in_a_session_says_the_key_is_out() -> None:
    rig = Rig()
    rig.start()
    rig.walk(20)
    rig.send(MachineStatus(MachineStatusKind.SAFETY_KEY), dt=0.1)
    rig.sample(0.0, dt=1.0)
    ended = failed_start(rig)
    assert (ended.reason, ended.detail) == (EndReason.SAFETY_KEY, KEY_OUT)


def test_a_key_pulled_between_sessions_is_remembered() -> None:
    rig = Rig()
    rig.send(LinkUp())
    rig.send(MachineStatus(MachineStatusKind.SAFETY_KEY), dt=5.0)
    ended = failed_start(rig)
    assert (ended.reason, ended.detail) == (EndReason.SAFETY_KEY, KEY_OUT)


@pytest.mark.parametrize(
    "key_back",
    [
        MachineStatus(MachineStatusKind.USER_START),  # someone started the belt at the console
        None,  # the belt was seen moving
    ],
)
def test_once_the_key_is_back_a_failed_start_is_not_blamed_on_it(key_back: Event | None) -> None:
    rig = Rig()
    rig.send(LinkUp())
    rig.send(MachineStatus(MachineStatusKind.SAFETY_KEY), dt=5.0)
    if key_back is None:
        rig.sample(1.0, dt=1.0)
    else:
        rig.send(key_back, dt=1.0)
    assert failed_start(rig).reason is EndReason.COMMAND_FAILED


def test_an_accepted_start_clears_the_memory() -> None:
    rig = Rig()
    rig.send(LinkUp())
    rig.send(MachineStatus(MachineStatusKind.SAFETY_KEY), dt=5.0)
    rig.start()  # the treadmill accepted Start: its key is in
    rig.send(Stop(), dt=0.1)  # ended before the belt was ever seen moving
    assert failed_start(rig).reason is EndReason.COMMAND_FAILED


def test_the_slowest_belt_movement_shows_the_key_is_back_in() -> None:
    rig = Rig()
    rig.send(LinkUp())
    rig.send(MachineStatus(MachineStatusKind.SAFETY_KEY), dt=5.0)
    rig.sample(0.01, dt=1.0)  # 0.01 km/h, the least FTMS can report: the belt moves, so the key is in
    ended = failed_start(rig)
    assert ended.reason is EndReason.COMMAND_FAILED


def test_a_key_report_over_a_lost_link_is_not_remembered() -> None:
    rig = Rig()
    rig.send(LinkUp())
    rig.send(LinkDown(), dt=1.0)
    rig.send(MachineStatus(MachineStatusKind.SAFETY_KEY), dt=0.1)  # stale: nothing comes over a lost link
    rig.send(LinkUp(), dt=1.0)
    ended = failed_start(rig)
    assert ended.reason is EndReason.COMMAND_FAILED
