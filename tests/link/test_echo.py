"""A treadmill's echo of our own command is not a person at the console."""

from __future__ import annotations

import pytest

from retrowalk.link.echo import EchoFilter
from retrowalk.session.events import MachineStatusKind as K
from retrowalk.session.events import PauseBelt, SetTargetIncline, SetTargetSpeed, StartBelt, StopBelt


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


@pytest.mark.parametrize(("after_s", "dropped"), [(2.99, True), (3.0, True), (3.01, False), (5.0, False)])
def test_an_echo_is_expected_for_3_s(after_s: float, dropped: bool) -> None:
    """Literal times: a person pressing stop 3.01 s after our own stop is a person."""
    clock = Clock()
    echoes = EchoFilter(clock)
    echoes.expect(StopBelt(), None)
    clock.now = 100.0 + after_s
    assert echoes.is_echo(K.USER_STOP, None) is dropped


def test_an_expired_expectation_does_not_linger() -> None:
    clock = Clock()
    echoes = EchoFilter(clock)
    echoes.expect(StopBelt(), None)
    clock.now = 104.0
    assert not echoes.is_echo(K.TARGET_SPEED_CHANGED, 1.0)  # looking expires the stop's expectation
    clock.now = 100.0  # even if the clock were to step back, the expectation is gone
    assert not echoes.is_echo(K.USER_STOP, None)


@pytest.mark.parametrize(
    ("reported", "dropped"),
    [(1.1, True), (1.104, True), (1.096, True), (1.11, False), (1.09, False), (None, False)],
)
def test_a_speed_echo_matches_within_half_a_hundredth(reported: float | None, dropped: bool) -> None:
    """FTMS speeds come in 0.01 km/h: the next value up is a different speed, not our echo."""
    echoes = EchoFilter(Clock())
    echoes.expect(SetTargetSpeed(1.1), 1.1)
    assert echoes.is_echo(K.TARGET_SPEED_CHANGED, reported) is dropped


def test_an_incline_echo_is_matched_by_kind_and_value() -> None:
    echoes = EchoFilter(Clock())
    echoes.expect(SetTargetIncline(2.0), 2.0)
    assert not echoes.is_echo(K.TARGET_SPEED_CHANGED, 2.0)
    assert not echoes.is_echo(K.TARGET_INCLINE_CHANGED, 2.5)
    assert echoes.is_echo(K.TARGET_INCLINE_CHANGED, 2.0)


def test_each_command_expects_its_own_echo() -> None:
    echoes = EchoFilter(Clock())
    echoes.expect(StopBelt(), None)
    echoes.expect(StopBelt(), None)
    assert echoes.is_echo(K.USER_STOP, None)
    assert echoes.is_echo(K.USER_STOP, None)
    assert not echoes.is_echo(K.USER_STOP, None)


def test_clear_forgets_every_expectation() -> None:
    echoes = EchoFilter(Clock())
    echoes.expect(StopBelt(), None)
    echoes.expect(SetTargetSpeed(1.2), 1.2)
    echoes.clear()
    assert not echoes.is_echo(K.USER_STOP, None)
    assert not echoes.is_echo(K.TARGET_SPEED_CHANGED, 1.2)


def test_a_failed_command_expects_no_echo() -> None:
    echoes = EchoFilter(Clock())
    echoes.expect(SetTargetSpeed(1.2), 1.2)
    echoes.forget(SetTargetSpeed(1.2), 1.2)
    assert not echoes.is_echo(K.TARGET_SPEED_CHANGED, 1.2)


def test_forgetting_a_failed_command_keeps_the_others() -> None:
    echoes = EchoFilter(Clock())
    echoes.expect(SetTargetSpeed(1.1), 1.1)
    echoes.expect(SetTargetSpeed(1.2), 1.2)
    echoes.expect(StopBelt(), None)
    echoes.expect(StopBelt(), None)
    echoes.forget(SetTargetSpeed(1.2), 1.2)
    echoes.forget(StopBelt(), None)  # one of the two stops failed, the other was sent
    echoes.forget(PauseBelt(), None)  # never expected: nothing to forget
    assert not echoes.is_echo(K.TARGET_SPEED_CHANGED, 1.2)
    assert echoes.is_echo(K.TARGET_SPEED_CHANGED, 1.1)
    assert echoes.is_echo(K.USER_STOP, None)
    assert not echoes.is_echo(K.USER_STOP, None)
