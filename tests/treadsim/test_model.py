"""The treadmill model: physics, limits, console, safety key and the ground-truth record."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from treadsim.model import (
    BeltState,
    ChangeSource,
    ClockError,
    ModelError,
    OffIncrementError,
    SafetyKeyOutError,
    SettingOutOfRangeError,
    SpeedUnit,
    TrainingStatus,
    Treadmill,
    TreadmillSpec,
)

CLIENT = ChangeSource.CLIENT


def running_at(speed_cs: int, spec: TreadmillSpec | None = None) -> Treadmill:
    belt = Treadmill(0.0, spec)
    belt.set_target_speed(0.0, speed_cs, CLIENT)
    belt.start(0.0, CLIENT)
    return belt


def test_belt_accelerates_and_decelerates_at_the_configured_rates() -> None:
    belt = running_at(300, TreadmillSpec(acceleration_kmh_s=0.5, deceleration_kmh_s=1.0))
    belt.advance(2.0)
    assert belt.speed_kmh == pytest.approx(1.0)  # 0.5 km/h/s * 2 s
    belt.advance(10.0)
    assert belt.speed_kmh == pytest.approx(3.0)  # reached the target at 6 s and stays there
    belt.stop(10.0, CLIENT)
    belt.advance(11.0)
    assert belt.speed_kmh == pytest.approx(2.0)  # 1.0 km/h/s down
    belt.advance(20.0)
    assert belt.speed_kmh == 0.0
    assert belt.state is BeltState.STOPPED


def test_distance_is_the_exact_integral_of_the_ramp() -> None:
    belt = running_at(200)
    belt.advance(10.0)
    # Ramp 0 -> 2 km/h in 4 s (mean 1 km/h) then 6 s at 2 km/h: 4 + 12 = 16 km/h*s = 16 / 3.6 m.
    assert belt.totals.distance_m == pytest.approx(16 / 3.6)
    assert belt.totals.elapsed_s == pytest.approx(10.0)
    assert belt.average_speed_kmh() == pytest.approx(16 / 3.6 / 10 * 3.6)
    assert belt.totals.energy_kcal > 0


def test_elapsed_time_only_counts_while_running() -> None:
    belt = running_at(100)
    belt.advance(5.0)
    belt.pause(5.0, CLIENT)
    belt.advance(50.0)
    assert belt.totals.elapsed_s == pytest.approx(5.0)
    assert belt.speed_kmh == 0.0
    belt.start(50.0, CLIENT)  # resume keeps the totals and heads back to the setting
    belt.advance(52.0)
    assert belt.totals.elapsed_s == pytest.approx(7.0)
    assert belt.speed_kmh == pytest.approx(1.0)
    assert belt.target_cs == 100


@pytest.mark.parametrize(
    ("speed_cs", "error"),
    [
        (49, SettingOutOfRangeError),
        (1201, SettingOutOfRangeError),
        (0, SettingOutOfRangeError),
        (105, OffIncrementError),
    ],
)
def test_speed_outside_range_or_increment_is_refused_and_changes_nothing(
    speed_cs: int, error: type[ModelError]
) -> None:
    belt = running_at(300)
    belt.advance(3.0)
    entries_before = len(belt.record)
    with pytest.raises(error):
        belt.set_target_speed(3.0, speed_cs, CLIENT)
    assert belt.target_cs == 300
    assert len(belt.record) == entries_before


def test_range_edges_and_grid_are_exact() -> None:
    belt = Treadmill(0.0, TreadmillSpec(min_speed_cs=80, max_speed_cs=1930, speed_step_cs=50))
    for ok in (80, 130, 1930):  # 1930 = 80 + 37 * 50
        belt.set_target_speed(0.0, ok, CLIENT)
        assert belt.target_cs == ok
    with pytest.raises(OffIncrementError):
        belt.set_target_speed(0.0, 1905, CLIENT)
    with pytest.raises(OffIncrementError):
        belt.set_target_speed(0.0, 100, CLIENT)


def test_incline_limits() -> None:
    belt = Treadmill(0.0)
    belt.set_target_incline(0.0, 55, CLIENT)
    assert belt.incline_dp == 55
    with pytest.raises(OffIncrementError):
        belt.set_target_incline(0.0, 53, CLIENT)
    with pytest.raises(SettingOutOfRangeError):
        belt.set_target_incline(0.0, 155, CLIENT)
    assert belt.incline_dp == 55


def test_safety_key_stops_at_once_and_blocks_start_until_reinserted() -> None:
    belt = running_at(300)
    belt.advance(10.0)
    belt.pull_safety_key(10.0)
    assert belt.speed_kmh == 0.0
    assert belt.state is BeltState.STOPPED
    assert belt.record.last.source is ChangeSource.SAFETY_KEY
    with pytest.raises(SafetyKeyOutError):
        belt.start(11.0, CLIENT)
    belt.advance(12.0)
    assert belt.speed_kmh == 0.0
    belt.insert_safety_key(13.0)
    belt.start(13.0, ChangeSource.CONSOLE)
    belt.advance(14.0)
    assert belt.speed_kmh == pytest.approx(0.5)


def test_console_steps_stop_at_the_ends_of_the_range_and_snap_keyed_speeds() -> None:
    belt = Treadmill(0.0)
    assert belt.target_cs == 50  # a bare machine starts at its minimum
    belt.console_speed_step(0.0, -1)
    assert belt.target_cs == 50
    belt.console_speed_step(0.0, +3)
    assert belt.target_cs == 80
    belt.console_set_speed(0.0, 2.04)
    assert belt.target_cs == 200
    belt.console_set_speed(0.0, 99.0)
    assert belt.target_cs == 1200
    assert belt.record.last.source is ChangeSource.CONSOLE
    with pytest.raises(ModelError):
        belt.console_set_speed(0.0, float("nan"))
    belt.console_incline_step(0.0, -1)
    assert belt.incline_dp == 0
    belt.console_incline_step(0.0, 2)
    assert belt.incline_dp == 10


def test_time_must_not_go_backwards() -> None:
    belt = running_at(100)
    belt.advance(5.0)
    with pytest.raises(ClockError):
        belt.advance(4.0)
    with pytest.raises(ClockError):
        belt.set_target_speed(4.0, 200, CLIENT)
    assert belt.target_cs == 100


def test_record_answers_max_speed_and_time_above() -> None:
    belt = running_at(300)
    for second in range(1, 21):
        belt.advance(float(second))
    belt.set_target_speed(20.0, 100, CLIENT)
    belt.advance(30.0)
    record = belt.record
    # 0 -> 3 km/h over 0-6 s; 3 km/h until 20 s; down to 1 km/h by 24 s.
    assert record.max_speed_between(0.0, 30.0) == pytest.approx(3.0)
    assert record.max_speed_between(0.0, 2.0) == pytest.approx(1.0)
    assert record.speed_at(22.0) == pytest.approx(2.0)
    # Above 2 km/h from 4 s (ramp up) to 22 s (ramp down): 18 s.
    assert record.time_above(2.0, 0.0, 30.0) == pytest.approx(18.0)
    assert record.time_above(2.0, 10.0, 21.0) == pytest.approx(11.0)
    assert record.longest_above(2.0, 0.0, 30.0) == pytest.approx(18.0)
    assert record.time_above(5.0, 0.0, 30.0) == 0.0
    assert {e.source for e in record} >= {CLIENT, ChangeSource.PHYSICS}


def test_longest_above_sees_separate_stretches() -> None:
    belt = running_at(200)
    belt.advance(10.0)  # above 1 km/h from 2 s
    belt.pause(10.0, CLIENT)
    belt.advance(20.0)  # below 1 km/h from 12 s
    belt.start(20.0, CLIENT)
    belt.advance(30.0)  # above again from 22 s to 30 s
    assert belt.record.time_above(1.0, 0.0, 30.0) == pytest.approx(10.0 + 8.0)
    assert belt.record.longest_above(1.0, 0.0, 30.0) == pytest.approx(10.0)


def test_power_cycle_leaves_a_resting_belt_with_fresh_settings() -> None:
    belt = running_at(400)
    belt.advance(20.0)
    belt.power_cycle(20.0)
    assert belt.speed_kmh == 0.0
    assert belt.state is BeltState.STOPPED
    assert belt.target_cs == 50
    assert belt.totals.distance_m == 0.0
    assert belt.training_status is TrainingStatus.IDLE
    assert belt.record.last.source is ChangeSource.POWER


def test_reset_stops_at_the_normal_rate_and_clears_totals() -> None:
    belt = running_at(200)
    belt.advance(10.0)
    belt.reset(10.0, CLIENT)
    assert belt.totals.distance_m == 0.0
    belt.advance(11.0)
    assert belt.speed_kmh == pytest.approx(1.5)
    assert belt.training_status is TrainingStatus.IDLE


def test_training_status_follows_the_workout() -> None:
    belt = Treadmill(0.0)
    seen = [belt.training_status]
    belt.start(0.0, CLIENT)
    seen.append(belt.training_status)
    belt.stop(1.0, CLIENT)
    seen.append(belt.training_status)
    assert seen == [TrainingStatus.IDLE, TrainingStatus.MANUAL_MODE, TrainingStatus.POST_WORKOUT]


def test_mph_machine_runs_its_numbers_as_mph_and_records_true_kmh() -> None:
    spec = TreadmillSpec.mph_walking_pad()
    assert spec.unit is SpeedUnit.MPH
    belt = running_at(100, spec)
    belt.advance(60.0)
    assert belt.speed_kmh == pytest.approx(1.609344)
    assert belt.speed_cs == 100
    assert belt.record.max_speed_between(0.0, 60.0) == pytest.approx(1.609344)


def test_heart_rate_and_met_are_deterministic_and_rise_with_speed() -> None:
    slow, fast = running_at(100), running_at(400)
    for belt in (slow, fast):
        belt.advance(60.0)
    assert slow.heart_rate() < fast.heart_rate()
    assert slow.metabolic_equivalent() < fast.metabolic_equivalent()
    assert running_at(100).heart_rate() == running_at(100).heart_rate()


def test_impossible_specs_are_refused() -> None:
    with pytest.raises(ModelError):
        TreadmillSpec(min_speed_cs=500, max_speed_cs=100)
    with pytest.raises(ModelError):
        TreadmillSpec(acceleration_kmh_s=0.0)


@given(
    steps=st.lists(
        st.tuples(
            st.floats(0.0, 5.0, allow_nan=False),
            st.sampled_from(["advance", "speed", "start", "stop", "pause", "key-out", "key-in", "power"]),
            st.integers(5, 120),
        ),
        max_size=40,
    )
)
def test_record_replays_the_belt_exactly(steps: list[tuple[float, str, int]]) -> None:
    belt = Treadmill(0.0, TreadmillSpec(acceleration_kmh_s=0.7, deceleration_kmh_s=1.3))
    now, seen = 0.0, [(0.0, 0.0)]
    for dt, action, tenth_kmh in steps:
        now += dt
        match action:
            case "speed":
                belt.set_target_speed(now, tenth_kmh * 10, CLIENT)
            case "start" if belt.safety_key_in:
                belt.start(now, CLIENT)
            case "stop":
                belt.stop(now, CLIENT)
            case "pause":
                belt.pause(now, CLIENT)
            case "key-out":
                belt.pull_safety_key(now)
            case "key-in":
                belt.insert_safety_key(now)
            case "power":
                belt.power_cycle(now)
            case _:
                belt.advance(now)
        seen.append((now, belt.speed_kmh))
    now += 10.0
    belt.advance(now)
    seen.append((now, belt.speed_kmh))
    record = belt.record
    # speed_at(t) is the speed after every change made at exactly t: compare with the last one seen.
    for t, speed in dict(seen).items():
        assert record.speed_at(t) == pytest.approx(speed, abs=1e-9)
    # Time above a threshold agrees with a fine sampling of the exact speed curve.
    threshold, dt = 3.0, 0.01
    samples = int(now / dt)
    sampled = sum(dt for i in range(samples) if record.speed_at((i + 0.5) * dt) > threshold)
    assert record.time_above(threshold, 0.0, samples * dt) == pytest.approx(
        sampled, abs=0.05 + 0.02 * len(steps)
    )
    assert record.longest_above(threshold, 0.0, now) <= record.time_above(threshold, 0.0, now) + 1e-9
    peak = max(speed for _, speed in seen)
    assert record.max_speed_between(0.0, now) >= peak - 1e-9
