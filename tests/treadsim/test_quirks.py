"""Each quirk, shown through what a central receives (decoded with treadsim's own decoder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from treadsim.ftms import (
    SPEED_RANGE,
    TREADMILL_DATA,
    ControlResponse,
    MachineStatus,
    MachineStatusCode,
    ResultCode,
    SpeedRange,
)
from treadsim.model import BeltState, ChangeSource
from treadsim.quirks import QUIRKS, QuirkSettings, UnknownQuirkError, combine_quirks

from .ftms_fake_link import Bench

REQUEST_CONTROL = bytes([0x00])
START = bytes([0x07])
PAUSE = bytes([0x08, 0x02])
SET_1_00 = bytes([0x02, 0x64, 0x00])  # 1.00 -> 100 = 0x0064
SET_2_00 = bytes([0x02, 0xC8, 0x00])  # 2.00 -> 200 = 0x00C8


def ok(op: int) -> ControlResponse:
    return ControlResponse(op, ResultCode.SUCCESS)


def started_bench(quirks: tuple[str, ...], frame: bytes = SET_2_00, *, mtu: int = 23, seed: int = 1) -> Bench:
    """Connected, in control, target set and started at t = 0."""
    bench = Bench(quirks=quirks, mtu=mtu, seed=seed)
    bench.connect()
    bench.take_control()
    assert bench.write(frame) == ok(0x02)
    assert bench.write(START) == ok(0x07)
    return bench


def reported_speeds(bench: Bench) -> list[int]:
    return [r.speed_cs for _, r in bench.link.records() if r.speed_cs is not None]


def test_registry_names_and_documentation() -> None:
    assert set(QUIRKS) == {
        "split-records",
        "own-start-speed",
        "ignores-speed",
        "console-drift",
        "flaky-link",
        "power-blip",
        "mph-as-kmh",
        "slow-start-accept",
        "pause-revokes-control",
        "no-final-zero",
        "fast-notify",
        "zero-incline-range",
        "wind-down-status",
        "notify-replies",
        "request-control-starts",
        "needs-unlock",
        "cross-trainer-data",
        "cross-trainer-only",
        "urevo-e1l",
    }
    for name, profile in QUIRKS.items():
        assert profile.name == name
        assert all(len(text) > 20 for text in (profile.simulates, profile.real_world, profile.client_advice))
        assert combine_quirks([name]) != QuirkSettings(), f"{name} changes nothing"


def test_quirks_combine_and_unknown_names_are_refused() -> None:
    both = combine_quirks(["ignores-speed", "fast-notify"])
    assert both.ignores_speed
    assert both.notify_hz == 2.0
    assert combine_quirks([]) == QuirkSettings()
    with pytest.raises(UnknownQuirkError) as caught:
        combine_quirks(["ignores-speed", "warp-drive"])
    assert "warp-drive" in str(caught.value)
    assert "no-final-zero" in str(caught.value)  # the valid names are listed


def test_split_records_splits_even_with_a_big_mtu() -> None:
    quirky = started_bench(("split-records",), mtu=247)
    plain = started_bench((), mtu=247)
    for bench in (quirky, plain):
        bench.run_until(8.0)
    quirky_parts = quirky.link.values(TREADMILL_DATA)
    assert len(plain.link.values(TREADMILL_DATA)) == len(plain.link.records())  # one part per record
    assert len(quirky_parts) >= 4 * len(quirky.link.records())
    assert all(part[0] & 1 for part in quirky_parts[:3])  # "more data" on the leading parts
    # Reassembled, the split records say exactly what the whole ones say.
    assert [r for _, r in quirky.link.records()] == [r for _, r in plain.link.records()]


def test_own_start_speed_ignores_the_target_at_start() -> None:
    bench = started_bench(("own-start-speed",), SET_1_00)
    bench.run_until(10.0)
    assert reported_speeds(bench)[-1] == 300  # 3.00 km/h, not the 1.00 asked for
    assert bench.treadmill.record.max_speed_between(0.0, 10.0) == pytest.approx(3.0)
    assert ChangeSource.TREADMILL in {e.source for e in bench.treadmill.record}


def test_ignores_speed_answers_success_and_does_nothing() -> None:
    bench = Bench(quirks=("ignores-speed",))
    bench.connect()
    bench.take_control()
    assert bench.write(SET_2_00) == ok(0x02)
    assert bench.write(START) == ok(0x07)
    bench.run_until(10.0)
    assert bench.write(SET_1_00) == ok(0x02)
    bench.run_until(20.0)
    assert set(reported_speeds(bench)[-10:]) == {50}  # the machine's own 0.50 km/h start speed
    assert MachineStatusCode.TARGET_SPEED_CHANGED not in {s.code for s in bench.link.statuses()}


def drift_of(seed: int) -> tuple[float, int]:
    bench = started_bench(("console-drift",), SET_1_00, seed=seed)
    bench.run_until(30.0)
    (entry,) = [e for e in bench.treadmill.record if e.source is ChangeSource.TREADMILL]
    changes = [s for s in bench.link.statuses() if s.code is MachineStatusCode.TARGET_SPEED_CHANGED]
    # The client's own change (1.00), then the drift announced by the machine.
    assert changes[0] == MachineStatus(MachineStatusCode.TARGET_SPEED_CHANGED, 100)
    jumped = changes[-1].value
    assert jumped is not None
    assert 5.0 <= entry.time <= 15.0
    assert 140 <= jumped <= 300  # 1.00 + 0.4..2.0 km/h
    assert reported_speeds(bench)[-1] == jumped
    return entry.time, jumped


def test_console_drift_jumps_the_target_up_by_itself_reproducibly() -> None:
    assert drift_of(seed=7) == drift_of(seed=7)
    assert drift_of(seed=7) != drift_of(seed=8)


def test_flaky_link_drops_the_link_and_the_belt_keeps_running() -> None:
    bench = started_bench(("flaky-link",))
    bench.run_until(70.0)
    assert bench.link.drops == 1
    last_sent = bench.link.sent[-1].time
    assert 10.0 <= last_sent <= 60.0
    assert not bench.peripheral.is_connected
    assert not bench.peripheral.has_control
    assert bench.treadmill.state is BeltState.RUNNING
    assert bench.treadmill.speed_kmh == pytest.approx(2.0)


def test_power_blip_reboots_and_restarts_the_belt_at_its_previous_speed() -> None:
    bench = started_bench(("power-blip",))
    bench.run_until(10.0)
    bench.peripheral.power_cycle(12.0)
    assert bench.link.drops == 1
    assert not bench.peripheral.has_control
    assert bench.treadmill.record.speed_at(12.0) == 0.0
    bench.run_until(18.0)
    assert bench.treadmill.speed_kmh == pytest.approx(2.0)  # nobody asked it to
    assert [e.source for e in bench.treadmill.record if e.time == 12.0][-1] is ChangeSource.POWER
    # After reconnecting, the client sees a belt running that it never started on this link.
    link = bench.connect()
    bench.run_until(20.0)
    assert reported_speeds(bench)[-1] == 200
    assert link.drops == 0


def test_power_blip_also_happens_by_itself() -> None:
    bench = started_bench(("power-blip",), seed=3)
    bench.run_until(100.0)
    assert bench.link.drops == 1
    blips = [e.time for e in bench.treadmill.record if e.source is ChangeSource.POWER and e.time > 0]
    assert blips
    assert 20.0 <= blips[0] <= 90.0
    assert bench.treadmill.speed_kmh == pytest.approx(2.0)


def test_without_power_blip_a_power_cycle_leaves_the_belt_stopped() -> None:
    bench = started_bench(())
    bench.run_until(10.0)
    bench.peripheral.power_cycle(12.0)
    bench.run_until(30.0)
    assert bench.treadmill.record.max_speed_between(12.001, 30.0) == 0.0


def test_mph_as_kmh_claims_kmh_while_counting_mph() -> None:
    bench = started_bench(("mph-as-kmh",), SET_1_00)
    # 0.50-7.50 "km/h" step 0.10: mph numbers (50, 750 = 0x02EE, 10)
    raw_range = bench.peripheral.read(SPEED_RANGE)
    assert raw_range == bytes([0x32, 0x00, 0xEE, 0x02, 0x0A, 0x00])
    assert SpeedRange.decode(raw_range) == SpeedRange(50, 750, 10)
    bench.run_until(60.0)
    assert reported_speeds(bench)[-1] == 100  # it says 1.00 ...
    assert bench.treadmill.speed_kmh == pytest.approx(1.609344)  # ... and runs 1 mph
    # The distance counter is true metres: 1.609 km/h over most of a minute, not 1.00 km/h.
    (_, last) = bench.link.records()[-1]
    assert last.total_distance_m is not None
    assert last.total_distance_m > 1.5 * 60 / 3.6 * 1.0


def test_urevo_e1l_offers_the_recorded_mph_grid_in_km_h() -> None:
    bench = started_bench(("urevo-e1l",), bytes([0x02, 0x60, 0x00]))  # 0.96 km/h, its lowest speed
    # The recording's Supported Speed Range read, byte for byte: 0.96-6.43 km/h, step 0.32.
    assert bench.peripheral.read(SPEED_RANGE) == bytes.fromhex("600083022000")
    assert bench.write(SET_1_00) == ControlResponse(0x02, ResultCode.INVALID_PARAMETER)  # 1.00: off the grid
    assert bench.write(bytes([0x02, 0x80, 0x00])) == ok(0x02)  # 1.28 = 0.96 + 0.32
    bench.run_until(30.0)
    assert reported_speeds(bench)[-1] == 128
    assert bench.treadmill.speed_kmh == pytest.approx(1.28)  # km/h numbers, km/h belt
    # Its Treadmill Data sets reserved bit 13 and carries a step count that grows with the belt's travel.
    # (At this bench's 23-byte MTU a record is split; the part that carries the count sets the bit.)
    assert any(frame[1] & 0x20 for frame in bench.link.values(TREADMILL_DATA))
    steps = [record.step_count or 0 for _, record in bench.link.records()]
    assert all(record.step_count is not None for _, record in bench.link.records())
    assert steps == sorted(steps)
    assert 0 < steps[-1] <= int(bench.treadmill.totals.distance_m / 0.4)


def test_slow_start_accept_refuses_speed_just_after_start() -> None:
    bench = started_bench(("slow-start-accept",), SET_1_00)
    bench.run_until(1.0)
    assert bench.write(SET_2_00) == ControlResponse(0x02, ResultCode.OPERATION_FAILED)
    assert bench.treadmill.target_cs == 100
    bench.run_until(3.0)
    assert bench.write(SET_2_00) == ok(0x02)
    assert bench.treadmill.target_cs == 200


def test_pause_revokes_control() -> None:
    bench = started_bench(("pause-revokes-control",))
    bench.run_until(5.0)
    bench.link.clear()
    assert bench.write(PAUSE) == ok(0x08)
    assert bench.link.statuses() == [
        MachineStatus(MachineStatusCode.STOPPED_OR_PAUSED_BY_USER, 2),
        MachineStatus(MachineStatusCode.CONTROL_PERMISSION_LOST),
    ]
    assert bench.write(START) == ControlResponse(0x07, ResultCode.CONTROL_NOT_PERMITTED)
    bench.run_until(10.0)
    assert bench.treadmill.speed_kmh == 0.0
    bench.take_control()
    assert bench.write(START) == ok(0x07)


@pytest.mark.parametrize(("quirks", "last_speed_is_zero"), [((), True), (("no-final-zero",), False)])
def test_no_final_zero_goes_quiet_while_the_last_packet_shows_speed(
    quirks: tuple[str, ...], last_speed_is_zero: bool
) -> None:
    bench = started_bench(quirks)
    bench.run_until(10.0)
    bench.peripheral.press_stop(10.0)
    bench.run_until(30.0)
    assert bench.treadmill.speed_kmh == 0.0  # the belt did stop
    assert (reported_speeds(bench)[-1] == 0) is last_speed_is_zero
    if not last_speed_is_zero:
        assert bench.link.records()[-1][0] <= 10.0  # silent since the stop
        assert MachineStatus(MachineStatusCode.STOPPED_OR_PAUSED_BY_USER, 1) in bench.link.statuses()


@pytest.mark.parametrize(("quirks", "records"), [((), 10), (("fast-notify",), 20)])
def test_fast_notify_doubles_the_data_rate(quirks: tuple[str, ...], records: int) -> None:
    bench = started_bench(quirks)
    bench.run_until(0.25)
    bench.link.clear()
    bench.run_until(10.24)
    assert len(bench.link.records()) == records


def test_docs_table_lists_every_quirk() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "quirks.md").read_text()
    rows = {line.split("|")[1].strip().strip("`") for line in docs.splitlines() if line.startswith("| `")}
    assert rows == set(QUIRKS)
