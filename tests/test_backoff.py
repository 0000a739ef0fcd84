"""The one backoff rule of the link, the MQTT bridge and the supervisor: bounds, cap and reset."""

from __future__ import annotations

import pytest

from retrowalk.backoff import Backoff


def delays(backoff: Backoff, count: int) -> list[float]:
    return [backoff.next_delay() for _ in range(count)]


def test_the_delay_starts_at_the_initial_one_and_doubles() -> None:
    assert delays(Backoff(0.5, 30.0), 4) == [0.5, 1.0, 2.0, 4.0]


def test_the_delay_never_exceeds_the_cap() -> None:
    assert delays(Backoff(1.0, 5.0), 6) == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_a_cap_equal_to_the_initial_delay_keeps_it_constant() -> None:
    assert delays(Backoff(2.0, 2.0), 3) == [2.0, 2.0, 2.0]


def test_reset_starts_again_from_the_initial_delay() -> None:
    backoff = Backoff(0.5, 30.0)
    delays(backoff, 5)  # 0.5 ... 8.0: a run of failures
    backoff.reset()
    assert delays(backoff, 2) == [0.5, 1.0]


def test_reset_before_any_failure_changes_nothing() -> None:
    backoff = Backoff(0.5, 30.0)
    backoff.reset()
    assert delays(backoff, 2) == [0.5, 1.0]


@pytest.mark.parametrize(("initial_s", "max_s"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_bounds_that_cannot_make_a_backoff_are_refused(initial_s: float, max_s: float) -> None:
    with pytest.raises(ValueError, match=rf"0 < initial_s <= max_s \(got {initial_s} and {max_s}\)"):
        Backoff(initial_s, max_s)
