"""The FTMS peripheral through a fake link: control point rules, bad input, statuses and data."""

from __future__ import annotations

import pytest

from treadsim.ftms import (
    CONTROL_POINT,
    FEATURE,
    FTMS_SERVICE,
    INCLINATION_RANGE,
    MACHINE_STATUS,
    MANUFACTURER_NAME,
    MODEL_NUMBER,
    SPEED_RANGE,
    TRAINING_STATUS,
    TREADMILL_DATA,
    ControlResponse,
    MachineStatus,
    MachineStatusCode,
    ResultCode,
)
from treadsim.gatt import AttError, uuid16
from treadsim.model import BeltState, ChangeSource, Treadmill, TreadmillSpec
from treadsim.peripheral import FtmsPeripheral, PeripheralConfigError
from treadsim.quirks import UnknownQuirkError

from .ftms_fake_link import Bench

REQUEST_CONTROL = bytes([0x00])
START = bytes([0x07])
STOP = bytes([0x08, 0x01])
PAUSE = bytes([0x08, 0x02])
RESET = bytes([0x01])
SET_1_00 = bytes([0x02, 0x64, 0x00])  # 1.00 km/h -> 100 = 0x0064
SET_2_00 = bytes([0x02, 0xC8, 0x00])  # 2.00 km/h -> 200 = 0x00C8


def ok(op: int) -> ControlResponse:
    return ControlResponse(op, ResultCode.SUCCESS)


def walking_bench(quirks: tuple[str, ...] = (), mtu: int = 23) -> Bench:
    """Connected, in control, belt at 2.00 km/h by t = 10 s."""
    bench = Bench(quirks=quirks, mtu=mtu)
    bench.connect()
    bench.take_control()
    assert bench.write(SET_2_00) == ok(0x02)
    assert bench.write(START) == ok(0x07)
    bench.run_until(10.0)
    assert bench.treadmill.speed_kmh == pytest.approx(2.0)
    return bench


def test_services_advertisement_and_reads() -> None:
    bench = Bench()
    p = bench.peripheral
    ad = p.advertisement()
    assert ad.service_uuids == (FTMS_SERVICE,)
    # flags 0x01 (available) + machine type 0x0001 (treadmill)
    assert ad.service_data == {FTMS_SERVICE: bytes([0x01, 0x01, 0x00])}
    chars = {c.uuid: c.flags for s in p.services for c in s.characteristics}
    assert chars[CONTROL_POINT] == ("write", "indicate")
    assert chars[TREADMILL_DATA] == ("notify",)
    assert chars[TRAINING_STATUS] == ("read", "notify")
    assert {s.uuid for s in p.services} == {FTMS_SERVICE, uuid16(0x180A)}
    # 0.50-12.00 km/h step 0.10 -> 50, 1200 = 0x04B0, 10; incline 0-15.0 % step 0.5 -> 0, 150 = 0x96, 5
    assert p.read(SPEED_RANGE) == bytes([0x32, 0x00, 0xB0, 0x04, 0x0A, 0x00])
    assert p.read(INCLINATION_RANGE) == bytes([0x00, 0x00, 0x96, 0x00, 0x05, 0x00])
    assert p.read(FEATURE) == bytes([0x0D, 0x1E, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00])
    assert p.read(TRAINING_STATUS) == bytes([0x00, 0x01])  # idle
    assert p.read(MANUFACTURER_NAME) == b"treadsim"
    assert p.read(MODEL_NUMBER) == b"TS-1"
    with pytest.raises(AttError) as not_readable:
        p.read(CONTROL_POINT)
    assert not_readable.value.code == 0x02
    with pytest.raises(AttError) as unknown:
        p.read(uuid16(0x2A00))
    assert unknown.value.code == 0x06
    with pytest.raises(AttError) as not_writable:
        p.write(SPEED_RANGE, b"\x00")
    assert not_writable.value.code == 0x03


def test_a_client_walks_the_belt_up_at_the_model_rate() -> None:
    bench = Bench()
    link = bench.connect()
    bench.take_control()
    assert bench.write(SET_1_00) == ok(0x02)
    assert bench.write(START) == ok(0x07)
    bench.run_until(1.0)
    assert bench.treadmill.speed_kmh == pytest.approx(0.5)  # 0.5 km/h per second
    bench.run_until(5.0)
    assert link.statuses() == [
        MachineStatus(MachineStatusCode.TARGET_SPEED_CHANGED, 100),
        MachineStatus(MachineStatusCode.STARTED_OR_RESUMED_BY_USER),
    ]
    assert link.training_statuses() == [0x0D]  # manual mode
    speeds = [record.speed_cs for _, record in link.records()]
    assert speeds[-1] == 100
    assert max(s for s in speeds if s is not None) == 100
    # The response to each write comes before the statuses it caused.
    order = [s.char_uuid for s in link.sent if s.char_uuid in (CONTROL_POINT, MACHINE_STATUS)]
    assert order == [CONTROL_POINT, CONTROL_POINT, MACHINE_STATUS, CONTROL_POINT, MACHINE_STATUS]


BAD_WRITES = [
    pytest.param(bytes([0x02, 0x64]), 0x02, ResultCode.INVALID_PARAMETER, id="truncated-speed"),
    pytest.param(bytes([0x07, 0x00]), 0x07, ResultCode.INVALID_PARAMETER, id="over-long-start"),
    pytest.param(bytes([0x08, 0x03]), 0x08, ResultCode.INVALID_PARAMETER, id="stop-param-3"),
    pytest.param(bytes([0x04, 0x10, 0x00]), 0x04, ResultCode.OP_NOT_SUPPORTED, id="unknown-op"),
    # 12.10 km/h -> 1210 = 0x04BA: above 12.00
    pytest.param(bytes([0x02, 0xBA, 0x04]), 0x02, ResultCode.INVALID_PARAMETER, id="above-range"),
    # 0.40 km/h -> 40 = 0x0028: below 0.50
    pytest.param(bytes([0x02, 0x28, 0x00]), 0x02, ResultCode.INVALID_PARAMETER, id="below-range"),
    # 0 km/h: not a speed this machine runs at (stop is op 08)
    pytest.param(bytes([0x02, 0x00, 0x00]), 0x02, ResultCode.INVALID_PARAMETER, id="zero-speed"),
    # 2.05 km/h -> 205 = 0x00CD: off the 0.10 grid
    pytest.param(bytes([0x02, 0xCD, 0x00]), 0x02, ResultCode.INVALID_PARAMETER, id="off-increment"),
    # 15.5 % -> 155 = 0x009B: above 15.0 %
    pytest.param(bytes([0x03, 0x9B, 0x00]), 0x03, ResultCode.INVALID_PARAMETER, id="incline-above"),
    # -0.5 % -> -5 = 0xFFFB: below 0 %
    pytest.param(bytes([0x03, 0xFB, 0xFF]), 0x03, ResultCode.INVALID_PARAMETER, id="incline-below"),
]


@pytest.mark.parametrize(("frame", "op", "result"), BAD_WRITES)
def test_bad_writes_get_the_exact_answer_and_move_nothing(frame: bytes, op: int, result: ResultCode) -> None:
    bench = walking_bench()
    record_before = list(bench.treadmill.record)
    bench.link.clear()
    assert bench.write(frame) == ControlResponse(op, result)
    bench.run_until(20.0)
    assert bench.link.statuses() == []
    assert bench.treadmill.target_cs == 200
    assert bench.treadmill.incline_dp == 0
    assert bench.treadmill.state is BeltState.RUNNING
    assert list(bench.treadmill.record) == record_before  # no change of any kind recorded
    assert bench.treadmill.record.max_speed_between(10.0, 20.0) == pytest.approx(2.0)
    assert bench.peripheral.has_control


def test_empty_write_is_an_att_error_and_no_procedure_starts() -> None:
    bench = walking_bench()
    bench.link.clear()
    with pytest.raises(AttError) as caught:
        bench.peripheral.write(CONTROL_POINT, b"")
    assert caught.value.code == 0x0D
    assert bench.link.sent == []
    assert not bench.peripheral.procedure_pending
    # No 0xFE lock-out follows: the next command is served.
    assert bench.write(SET_1_00) == ok(0x02)


def test_commands_without_control_are_refused() -> None:
    bench = Bench()
    link = bench.connect()
    for frame, op in (
        (SET_1_00, 0x02),
        (START, 0x07),
        (STOP, 0x08),
        (RESET, 0x01),
        (bytes([0x03, 0, 0]), 0x03),
    ):
        assert bench.write(frame) == ControlResponse(op, ResultCode.CONTROL_NOT_PERMITTED)
    bench.run_until(5.0)
    assert bench.treadmill.state is BeltState.STOPPED
    assert bench.treadmill.record.max_speed_between(0.0, 5.0) == 0.0
    assert link.statuses() == []


def test_write_before_indications_are_enabled_is_refused() -> None:
    bench = Bench()
    bench.connect(subscriptions=(MACHINE_STATUS, TREADMILL_DATA))
    with pytest.raises(AttError) as caught:
        bench.peripheral.write(CONTROL_POINT, REQUEST_CONTROL)
    assert caught.value.code == 0xFD
    assert not bench.peripheral.has_control


def test_write_while_a_procedure_runs_is_refused() -> None:
    bench = Bench(response_delay_s=0.5)
    link = bench.connect()
    bench.peripheral.write(CONTROL_POINT, REQUEST_CONTROL)
    with pytest.raises(AttError) as caught:
        bench.peripheral.write(CONTROL_POINT, START)
    assert caught.value.code == 0xFE
    bench.run_until(1.0)
    assert link.responses() == [ok(0x00)]
    assert bench.treadmill.state is BeltState.STOPPED  # the refused Start never ran


def test_a_procedure_in_flight_dies_with_the_link() -> None:
    bench = Bench(response_delay_s=0.5)
    bench.connect()
    bench.peripheral.write(CONTROL_POINT, REQUEST_CONTROL)
    bench.run_until(1.0)
    bench.peripheral.write(CONTROL_POINT, START)
    bench.peripheral.disconnected()
    bench.run_until(5.0)
    assert bench.treadmill.state is BeltState.STOPPED
    assert bench.treadmill.record.max_speed_between(0.0, 5.0) == 0.0


def test_control_is_lost_on_disconnect_and_on_reset() -> None:
    bench = walking_bench()
    bench.peripheral.disconnected()
    assert not bench.peripheral.has_control
    link = bench.connect()
    assert bench.write(SET_1_00) == ControlResponse(0x02, ResultCode.CONTROL_NOT_PERMITTED)
    bench.take_control()
    assert bench.write(RESET) == ok(0x01)
    assert link.statuses() == [MachineStatus(MachineStatusCode.RESET)]
    assert bench.write(START) == ControlResponse(0x07, ResultCode.CONTROL_NOT_PERMITTED)
    bench.run_until(20.0)
    assert bench.treadmill.speed_kmh == 0.0  # reset stopped the belt


def test_start_with_the_safety_key_out_fails() -> None:
    bench = Bench()
    bench.connect()
    bench.take_control()
    bench.peripheral.pull_safety_key(0.0)
    bench.link.clear()
    assert bench.write(START) == ControlResponse(0x07, ResultCode.OPERATION_FAILED)
    bench.run_until(3.0)
    assert bench.treadmill.record.max_speed_between(0.0, 3.0) == 0.0
    assert not bench.peripheral.press_start(3.0)
    bench.peripheral.insert_safety_key(4.0)
    assert bench.write(START) == ok(0x07)


def test_target_set_while_stopped_is_used_at_start() -> None:
    bench = Bench()
    bench.connect()
    bench.take_control()
    assert bench.write(bytes([0x02, 0x96, 0x00])) == ok(0x02)  # 1.50 km/h -> 150 = 0x0096
    bench.run_until(5.0)
    assert bench.treadmill.speed_kmh == 0.0
    assert bench.write(START) == ok(0x07)
    bench.run_until(15.0)
    assert bench.treadmill.speed_kmh == pytest.approx(1.5)
    assert bench.treadmill.record.max_speed_between(0.0, 15.0) == pytest.approx(1.5)


def test_client_stop_and_pause() -> None:
    bench = walking_bench()
    bench.link.clear()
    assert bench.write(PAUSE) == ok(0x08)
    bench.run_until(20.0)
    assert bench.treadmill.state is BeltState.PAUSED
    assert bench.treadmill.speed_kmh == 0.0
    assert bench.write(START) == ok(0x07)
    assert bench.write(STOP) == ok(0x08)
    assert bench.link.statuses() == [
        MachineStatus(MachineStatusCode.STOPPED_OR_PAUSED_BY_USER, 2),
        MachineStatus(MachineStatusCode.STARTED_OR_RESUMED_BY_USER),
        MachineStatus(MachineStatusCode.STOPPED_OR_PAUSED_BY_USER, 1),
    ]
    assert bench.peripheral.has_control  # without the pause quirk, pausing keeps control


def test_console_actions_are_announced_by_machine_status() -> None:
    bench = Bench()
    link = bench.connect()
    p = bench.peripheral
    assert p.press_start(1.0)
    p.console_speed_up(2.0)  # 0.50 -> 0.60
    p.console_set_speed(3.0, 1.23)  # snapped to 1.20 -> 120 = 0x78
    p.console_incline_up(4.0)  # 0.5 % -> 5
    p.press_pause(5.0)
    p.press_start(6.0)
    p.press_stop(7.0)
    p.pull_safety_key(8.0)
    S = MachineStatusCode
    assert link.statuses() == [
        MachineStatus(S.STARTED_OR_RESUMED_BY_USER),
        MachineStatus(S.TARGET_SPEED_CHANGED, 60),
        MachineStatus(S.TARGET_SPEED_CHANGED, 120),
        MachineStatus(S.TARGET_INCLINE_CHANGED, 5),
        MachineStatus(S.STOPPED_OR_PAUSED_BY_USER, 2),
        MachineStatus(S.STARTED_OR_RESUMED_BY_USER),
        MachineStatus(S.STOPPED_OR_PAUSED_BY_USER, 1),
        MachineStatus(S.STOPPED_BY_SAFETY_KEY),
    ]
    assert link.values(MACHINE_STATUS)[2] == bytes([0x05, 0x78, 0x00])
    assert link.training_statuses() == [0x0D, 0x0F, 0x01]  # manual mode, post-workout, idle (key out)
    assert {e.source for e in bench.treadmill.record} >= {ChangeSource.CONSOLE, ChangeSource.SAFETY_KEY}


def test_records_split_at_mtu_23_and_fit_whole_at_mtu_247() -> None:
    small, big = walking_bench(mtu=23), walking_bench(mtu=247)
    for bench in (small, big):
        bench.link.clear()
        bench.run_until(13.0)
    small_parts, big_parts = small.link.values(TREADMILL_DATA), big.link.values(TREADMILL_DATA)
    assert all(len(p) <= 20 for p in small_parts)
    assert [p[0] & 1 for p in small_parts[:2]] == [1, 0]  # more data, then the part with the speed
    assert all(not p[0] & 1 for p in big_parts)
    small_records = [r for _, r in small.link.records()]
    big_records = [r for _, r in big.link.records()]
    # Same machine, same times: the split records reassemble to exactly the unsplit ones.
    assert small_records == big_records
    assert len(small_records) == 3  # 1 Hz over 10-13 s
    record = small_records[-1]
    assert record.speed_cs == 200
    assert record.total_distance_m == int(small.treadmill.totals.distance_m)
    assert record.elapsed_s == 13


def test_power_cycle_without_quirk_leaves_the_belt_stopped() -> None:
    bench = walking_bench()
    bench.peripheral.power_cycle(12.0)
    assert bench.link.drops == 1
    assert not bench.peripheral.has_control
    assert not bench.peripheral.is_connected
    bench.run_until(30.0)
    assert bench.treadmill.speed_kmh == 0.0
    assert bench.treadmill.record.speed_at(12.0) == 0.0
    assert bench.treadmill.record.max_speed_between(12.001, 30.0) == 0.0


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(UnknownQuirkError, match=r"valid quirks: .*ignores-speed"):
        FtmsPeripheral.create(0.0, address="AA:BB:CC:DD:EE:01", quirks=["turbo"])
    with pytest.raises(PeripheralConfigError, match="mph"):
        FtmsPeripheral(Treadmill(0.0), address="AA:BB:CC:DD:EE:01", quirks=["mph-as-kmh"])
    with pytest.raises(PeripheralConfigError, match="mph"):
        FtmsPeripheral(Treadmill(0.0, TreadmillSpec.mph_walking_pad()), address="AA:BB:CC:DD:EE:01")
    with pytest.raises(PeripheralConfigError):
        FtmsPeripheral(Treadmill(0.0), address="AA:BB:CC:DD:EE:01", notify_hz=0.0)


def test_counters_saturate_instead_of_breaking_the_record() -> None:
    bench = walking_bench()
    bench.link.clear()
    bench.clock.now = 70_000.0  # more than 0xFFFF = 65535 s of walking in one tick
    bench.peripheral.tick(bench.clock.now)
    (_, record) = bench.link.records()[-1]
    assert record.elapsed_s == 0xFFFF
    assert record.speed_cs == 200
    assert record.total_distance_m == int(bench.treadmill.totals.distance_m)  # ~38.9 km fits uint24
