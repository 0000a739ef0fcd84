"""The belt watch: orphaned belts and wrong units, judged from events and the times they happened."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from retrowalk.service.belt_watch import BeltWatch, OrphanedBelt, WrongUnits
from retrowalk.session.safety_constants import MOVING_KMH, ORPHAN_WINDOW_S


def test_a_belt_moving_at_connect_with_no_session_is_an_orphan_once() -> None:
    watch = BeltWatch()
    watch.link_up(100.0, session_owns_belt=False)
    assert watch.sample(100.5, 2.0, 10.0, session_id=None) == OrphanedBelt(2.0)
    assert watch.sample(101.5, 2.0, 10.0, session_id=None) is None


def test_a_belt_at_rest_or_found_moving_after_the_window_is_no_orphan() -> None:
    watch = BeltWatch()
    watch.link_up(100.0, session_owns_belt=False)
    assert watch.sample(101.0, MOVING_KMH, 10.0, session_id=None) is None
    assert watch.sample(100.0 + ORPHAN_WINDOW_S, 2.0, 10.0, session_id=None) == OrphanedBelt(2.0)
    watch.link_up(200.0, session_owns_belt=False)
    assert watch.sample(200.0 + ORPHAN_WINDOW_S + 0.01, 2.0, 10.0, session_id=None) is None


def test_the_belt_of_a_session_still_open_at_connect_is_not_an_orphan() -> None:
    watch = BeltWatch()
    watch.link_up(100.0, session_owns_belt=True)
    assert watch.sample(100.5, 2.0, 10.0, session_id=None) is None


def test_a_session_started_within_the_window_owns_the_belt_and_its_run_down() -> None:
    # The kiosk defect: a stop soon after a reconnection, and the belt coasting down from it.
    watch = BeltWatch()
    watch.link_up(100.0, session_owns_belt=False)
    watch.session_owns_belt()
    assert watch.sample(101.0, 1.5, 10.0, session_id=None) is None


def test_each_reconnection_watches_again() -> None:
    watch = BeltWatch()
    watch.link_up(100.0, session_owns_belt=False)
    assert watch.sample(100.5, 2.0, 10.0, session_id=None) == OrphanedBelt(2.0)
    watch.link_down()
    watch.link_up(110.0, session_owns_belt=False)
    assert watch.sample(110.5, 2.0, 10.0, session_id=None) == OrphanedBelt(2.0)


def mph_walk(watch: BeltWatch, session_id: str, start: float, seconds: int) -> list[object]:
    """A belt reporting 3.0 'km/h' that travels 3 mph (4.83 km/h): its distance counter says so."""
    return [watch.sample(start + t, 3.0, t * 4.828 / 3.6, session_id=session_id) for t in range(seconds + 1)]


def test_mph_reported_as_kmh_during_a_session_is_found_with_its_reason() -> None:
    watch = BeltWatch()
    watch.link_up(0.0, session_owns_belt=False)
    findings = [f for f in mph_walk(watch, "s1", 0.0, 20) if f is not None]
    assert isinstance(findings[0], WrongUnits)
    assert "mph reported as km/h" in findings[0].reason


def test_units_are_not_judged_outside_a_session() -> None:
    watch = BeltWatch()
    watch.link_up(0.0, session_owns_belt=True)
    assert all(watch.sample(t, 3.0, t * 4.828 / 3.6, session_id=None) is None for t in range(1, 40))


def test_a_new_session_is_not_judged_on_the_last_ones_travel() -> None:
    # The next session's belt is honest and keeps the same counter: judged with the first session's
    # travel, it would look like a belt far faster than reported.
    watch = BeltWatch()
    watch.link_up(0.0, session_owns_belt=False)
    # Reported 1 km/h, travelled 5.9 m in 4 s: far off, but under the 6 m needed to judge.
    assert [watch.sample(t, 1.0, t * 5.9 / 4, session_id="s1") for t in range(5)] == [None] * 5
    honest = [watch.sample(5.0 + t, 1.0, 5.9 + t / 3.6, session_id="s2") for t in range(30)]
    assert honest == [None] * 30


def test_a_lost_link_forgets_the_stretch_being_judged() -> None:
    watch = BeltWatch()
    watch.link_up(0.0, session_owns_belt=False)
    assert mph_walk(watch, "s1", 0.0, 3) == [None] * 4
    watch.link_down()
    watch.link_up(4.0, session_owns_belt=True)
    # Judged only from the reconnection on: 3 s of travel is too little to judge again.
    assert [watch.sample(5.0 + t, 3.0, 100.0 + t * 4.828 / 3.6, session_id="s1") for t in range(4)] == [
        None
    ] * 4


# --- property: an independent model of the orphan rule --------------------------------------------------


@dataclass(frozen=True)
class LinkUp:
    owned: bool


@dataclass(frozen=True)
class Owned:
    pass


@dataclass(frozen=True)
class Seen:
    speed_kmh: float
    in_session: bool


steps = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=2.0),
        st.one_of(
            st.builds(
                Seen, st.sampled_from([0.0, 0.05, 0.06, 1.0, 8.0]), st.sampled_from([False, False, True])
            ),
            st.builds(LinkUp, st.booleans()),
            st.just(Owned()),
        ),
    ),
    max_size=40,
)


@settings(max_examples=300)
@given(steps)
def test_an_orphan_is_a_moving_belt_in_the_window_of_a_connection_nothing_owned(
    script: list[tuple[float, LinkUp | Owned | Seen]],
) -> None:
    watch = BeltWatch()
    now = 0.0
    connected_at: float | None = None
    owned_since_connect = True  # before any connection nothing is watched
    reported = False
    for dt, step in script:
        now += dt
        match step:
            case LinkUp(owned=owned):
                watch.link_up(now, session_owns_belt=owned)
                connected_at, owned_since_connect, reported = now, owned, False
            case Owned():
                watch.session_owns_belt()
                owned_since_connect = True
            case Seen(speed_kmh=speed, in_session=in_session):
                finding = watch.sample(now, speed, None, session_id="s" if in_session else None)
                if in_session:
                    owned_since_connect = True
                expected = (
                    not in_session
                    and not owned_since_connect
                    and not reported
                    and connected_at is not None
                    and speed > MOVING_KMH
                    and now <= connected_at + ORPHAN_WINDOW_S
                )
                assert (finding == OrphanedBelt(speed)) is expected, (step, now, connected_at)
                assert finding is None or isinstance(finding, OrphanedBelt)  # no distance: no unit verdict
                reported = reported or expected
