"""A treadmill's echo of our own command is not a person at the console."""

from __future__ import annotations

from retrowalk.link.echo import ECHO_WINDOW_S, EchoFilter
from retrowalk.session.events import MachineStatusKind as K
from retrowalk.session.events import PauseBelt, SetTargetSpeed, StartBelt, StopBelt


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_echo_of_a_stop_is_dropped_once() -> None:
    clock = Clock()
    echoes = EchoFilter(clock)
    echoes.expect(StopBelt(), None)
    assert echoes.is_echo(K.USER_STOP, None)
    # A second "stopped by user" is a person pressing stop: it gets through.
    assert not echoes.is_echo(K.USER_STOP, None)


def test_a_console_speed_up_is_never_mistaken_for_our_echo() -> None:
    echoes = EchoFilter(Clock())
    echoes.expect(SetTargetSpeed(1.1), 1.1)
    assert not echoes.is_echo(K.TARGET_SPEED_CHANGED, 1.5)
    assert echoes.is_echo(K.TARGET_SPEED_CHANGED, 1.1)


def test_other_kinds_and_the_safety_key_get_through() -> None:
    echoes = EchoFilter(Clock())
    echoes.expect(PauseBelt(), None)
    echoes.expect(StartBelt(), None)
    assert not echoes.is_echo(K.USER_STOP, None)
    assert not echoes.is_echo(K.SAFETY_KEY, None)
    assert echoes.is_echo(K.USER_PAUSE, None)
    assert echoes.is_echo(K.USER_START, None)


def test_expectations_expire() -> None:
    clock = Clock()
    echoes = EchoFilter(clock)
    echoes.expect(StopBelt(), None)
    clock.now += ECHO_WINDOW_S + 0.1
    assert not echoes.is_echo(K.USER_STOP, None)


def test_a_failed_command_expects_no_echo() -> None:
    echoes = EchoFilter(Clock())
    echoes.expect(SetTargetSpeed(1.2), 1.2)
    echoes.forget(SetTargetSpeed(1.2), 1.2)
    assert not echoes.is_echo(K.TARGET_SPEED_CHANGED, 1.2)
