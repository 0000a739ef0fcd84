"""FTMS byte vectors worked out by hand from the specification (all fields little-endian)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from treadsim.ftms import (
    ControlPointFrameError,
    ControlRequest,
    ControlResponse,
    Features,
    FrameProblem,
    FtmsFormatError,
    InclinationRange,
    MachineStatus,
    MachineStatusCode,
    RequestControl,
    Reset,
    ResultCode,
    SetTargetInclination,
    SetTargetSpeed,
    SpeedRange,
    StartResume,
    StopOrPause,
    StopPause,
    TreadmillData,
    TreadmillDataAssembler,
    decode_control_request,
    decode_training_status,
    decode_treadmill_data,
    encode_control_request,
    encode_service_data,
    encode_training_status,
    encode_treadmill_data,
)

# ---------------------------------------------------------------- control point requests
REQUEST_VECTORS = [
    (bytes([0x00]), RequestControl()),
    (bytes([0x01]), Reset()),
    # 3.25 km/h -> 325 = 0x0145 -> 45 01
    (bytes([0x02, 0x45, 0x01]), SetTargetSpeed(325)),
    # 1.00 km/h -> 100 = 0x0064 -> 64 00
    (bytes([0x02, 0x64, 0x00]), SetTargetSpeed(100)),
    # 5.0 % -> 50 = 0x0032 -> 32 00
    (bytes([0x03, 0x32, 0x00]), SetTargetInclination(50)),
    # -1.0 % -> -10 = 0x10000 - 10 = 0xFFF6 -> f6 ff
    (bytes([0x03, 0xF6, 0xFF]), SetTargetInclination(-10)),
    (bytes([0x07]), StartResume()),
    (bytes([0x08, 0x01]), StopOrPause(StopPause.STOP)),
    (bytes([0x08, 0x02]), StopOrPause(StopPause.PAUSE)),
]


@pytest.mark.parametrize(("frame", "request_"), REQUEST_VECTORS)
def test_control_requests_decode_and_encode(frame: bytes, request_: ControlRequest) -> None:
    assert decode_control_request(frame) == request_
    assert encode_control_request(request_) == frame


@pytest.mark.parametrize(
    ("frame", "problem", "opcode"),
    [
        (b"", FrameProblem.EMPTY, None),
        (bytes([0x02, 0x45]), FrameProblem.TRUNCATED, 0x02),  # uint16 speed cut after one byte
        (bytes([0x03]), FrameProblem.TRUNCATED, 0x03),
        (bytes([0x08]), FrameProblem.TRUNCATED, 0x08),
        (bytes([0x02, 0x45, 0x01, 0x00]), FrameProblem.TOO_LONG, 0x02),
        (bytes([0x07, 0x00]), FrameProblem.TOO_LONG, 0x07),
        (bytes([0x00, 0x00]), FrameProblem.TOO_LONG, 0x00),
        (bytes([0x08, 0x03]), FrameProblem.BAD_PARAMETER, 0x08),  # only 1 stop / 2 pause exist
        (bytes([0x08, 0x00]), FrameProblem.BAD_PARAMETER, 0x08),
        (bytes([0x04, 0x10, 0x00]), FrameProblem.UNKNOWN_OPCODE, 0x04),  # resistance: not a treadmill op
        (bytes([0x80, 0x02, 0x01]), FrameProblem.UNKNOWN_OPCODE, 0x80),  # a response is not a request
    ],
)
def test_malformed_control_requests_name_the_problem(
    frame: bytes, problem: FrameProblem, opcode: int | None
) -> None:
    with pytest.raises(ControlPointFrameError) as caught:
        decode_control_request(frame)
    assert caught.value.problem is problem
    assert caught.value.opcode == opcode
    assert str(problem) in str(caught.value)


def test_control_response_vectors() -> None:
    # Response code 0x80, request op 0x02 (set speed), result 0x03 (invalid parameter).
    assert ControlResponse(0x02, ResultCode.INVALID_PARAMETER).encode() == bytes([0x80, 0x02, 0x03])
    assert ControlResponse.decode(bytes([0x80, 0x07, 0x04])) == ControlResponse(
        0x07, ResultCode.OPERATION_FAILED
    )
    for bad in (b"", bytes([0x80, 0x00]), bytes([0x81, 0x00, 0x01]), bytes([0x80, 0x00, 0x09])):
        with pytest.raises(FtmsFormatError):
            ControlResponse.decode(bad)


# ---------------------------------------------------------------- machine status
STATUS_VECTORS = [
    (bytes([0x01]), MachineStatus(MachineStatusCode.RESET)),
    (bytes([0x02, 0x01]), MachineStatus(MachineStatusCode.STOPPED_OR_PAUSED_BY_USER, 1)),
    (bytes([0x02, 0x02]), MachineStatus(MachineStatusCode.STOPPED_OR_PAUSED_BY_USER, 2)),
    (bytes([0x03]), MachineStatus(MachineStatusCode.STOPPED_BY_SAFETY_KEY)),
    (bytes([0x04]), MachineStatus(MachineStatusCode.STARTED_OR_RESUMED_BY_USER)),
    # 3.00 km/h -> 300 = 0x012C -> 2c 01
    (bytes([0x05, 0x2C, 0x01]), MachineStatus(MachineStatusCode.TARGET_SPEED_CHANGED, 300)),
    # -2.5 % -> -25 = 0xFFE7 -> e7 ff
    (bytes([0x06, 0xE7, 0xFF]), MachineStatus(MachineStatusCode.TARGET_INCLINE_CHANGED, -25)),
    (bytes([0xFF]), MachineStatus(MachineStatusCode.CONTROL_PERMISSION_LOST)),
]


@pytest.mark.parametrize(("frame", "status"), STATUS_VECTORS)
def test_machine_status_vectors(frame: bytes, status: MachineStatus) -> None:
    assert status.encode() == frame
    assert MachineStatus.decode(frame) == status


@pytest.mark.parametrize(
    "frame", [b"", bytes([0x07]), bytes([0x05, 0x2C]), bytes([0x02]), bytes([0x04, 0x00])]
)
def test_bad_machine_status_is_rejected(frame: bytes) -> None:
    with pytest.raises(FtmsFormatError):
        MachineStatus.decode(frame)


def test_status_needing_a_value_refuses_to_encode_without_one() -> None:
    with pytest.raises(FtmsFormatError, match="needs a value"):
        MachineStatus(MachineStatusCode.TARGET_SPEED_CHANGED).encode()


# ---------------------------------------------------------------- read-only characteristics
def test_ranges_features_training_status_and_service_data() -> None:
    # 0.50 / 12.00 / 0.10 km/h -> 50 = 0x0032, 1200 = 0x04B0, 10 = 0x000A
    assert SpeedRange(50, 1200, 10).encode() == bytes([0x32, 0x00, 0xB0, 0x04, 0x0A, 0x00])
    assert SpeedRange.decode(bytes([0x32, 0x00, 0xB0, 0x04, 0x0A, 0x00])) == SpeedRange(50, 1200, 10)
    # -3.0 % -> -30 = 0xFFE2; 15.0 % -> 150 = 0x0096; 0.5 % -> 5
    assert InclinationRange(-30, 150, 5).encode() == bytes([0xE2, 0xFF, 0x96, 0x00, 0x05, 0x00])
    assert InclinationRange.decode(bytes([0xE2, 0xFF, 0x96, 0x00, 0x05, 0x00])) == InclinationRange(
        -30, 150, 5
    )
    with pytest.raises(FtmsFormatError):
        SpeedRange.decode(bytes([0x32, 0x00]))
    # Machine features: bits 0, 2, 3, 9, 10, 11, 12 = 0x1 + 0x4 + 0x8 + 0x200 + 0x400 + 0x800 + 0x1000
    # = 0x1E0D -> 0d 1e 00 00; target settings bits 0 (speed) and 1 (inclination) = 0x03.
    assert Features(0x1E0D, 0x03).encode() == bytes([0x0D, 0x1E, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00])
    # Flags 0x00, status 0x0D (manual mode).
    assert encode_training_status(0x0D) == bytes([0x00, 0x0D])
    assert decode_training_status(bytes([0x00, 0x0D])) == 0x0D
    with pytest.raises(FtmsFormatError):
        decode_training_status(bytes([0x00]))
    # Flags 0x01 (machine available) + machine type 0x0001 (treadmill) -> 01 01 00
    assert encode_service_data() == bytes([0x01, 0x01, 0x00])


# ---------------------------------------------------------------- treadmill data
FULL_RECORD = TreadmillData(
    speed_cs=325,
    average_speed_cs=300,
    total_distance_m=1234,
    inclination_dp=5,
    ramp_angle_dd=3,
    energy_total_kcal=12,
    energy_per_hour_kcal=250,
    energy_per_minute_kcal=4,
    heart_rate_bpm=95,
    metabolic_equivalent_dm=31,
    elapsed_s=600,
)


def test_short_record_vector() -> None:
    record = TreadmillData(speed_cs=325, total_distance_m=1234, elapsed_s=600)
    # flags: bit 2 (distance) 0x0004 + bit 10 (elapsed) 0x0400 = 0x0404 -> 04 04, bit 0 clear: speed present
    # speed 325 = 0x0145 -> 45 01; distance 1234 = 0x0004D2 -> d2 04 00; elapsed 600 = 0x0258 -> 58 02
    frame = bytes([0x04, 0x04, 0x45, 0x01, 0xD2, 0x04, 0x00, 0x58, 0x02])
    assert encode_treadmill_data(record, 20) == [frame]
    assert decode_treadmill_data(frame) == (False, record)


def test_full_record_splits_at_20_bytes_with_speed_last() -> None:
    # Fields after the flags: avg 2 + distance 3 + incl/ramp 4 + energy 5 + hr 1 + MET 1 + elapsed 2 = 18,
    # plus speed 2 and flags 2 = 22 > 20 (MTU 23 - 3): the record must be split.
    # Part 1 flags: bit 0 (more data) 0x1 + bits 1, 2, 3 (0xE) + 7, 8, 9, 10 (0x780) = 0x078F -> 8f 07,
    #   avg 300 = 0x012C -> 2c 01; distance d2 04 00; incline 5 -> 05 00, ramp 3 -> 03 00;
    #   energy 12 -> 0c 00, 250 = 0xFA -> fa 00, 4 -> 04; hr 95 = 0x5F; MET 31 = 0x1F; elapsed 58 02
    part1 = bytes.fromhex("8f 07 2c 01 d2 04 00 05 00 03 00 0c 00 fa 00 04 5f 1f 58 02")
    # Part 2 flags 0x0000 (no more data, speed present), speed 45 01.
    part2 = bytes.fromhex("00 00 45 01")
    assert encode_treadmill_data(FULL_RECORD, 20) == [part1, part2]
    assembler = TreadmillDataAssembler()
    assert assembler.feed(part1) is None
    assert assembler.incomplete
    assert assembler.feed(part2) == FULL_RECORD
    assert not assembler.incomplete


def test_full_record_fits_one_notification_with_a_big_mtu() -> None:
    (only,) = encode_treadmill_data(FULL_RECORD, 244)
    # Same flags as above without bit 0: 0x078E -> 8e 07, speed right after the flags.
    assert only[:4] == bytes.fromhex("8e 07 45 01")
    assert decode_treadmill_data(only) == (False, FULL_RECORD)


def test_forced_small_parts_reassemble() -> None:
    parts = encode_treadmill_data(FULL_RECORD, 244, max_groups_per_part=2)
    assert len(parts) == 4
    assert all(p[0] & 1 for p in parts[:-1])
    assert not parts[-1][0] & 1
    assembler = TreadmillDataAssembler()
    results = [assembler.feed(p) for p in parts]
    assert results[:-1] == [None, None, None]
    assert results[-1] == FULL_RECORD


def test_the_recorded_urevo_frame_with_bit_13_decodes_to_its_step_count() -> None:
    # A Treadmill Data notification of the recorded UREVO E1L session (flags 0x2584), byte for byte.
    more, record = decode_treadmill_data(bytes.fromhex("8425e1000000000100000000002100020000"))
    assert not more
    assert (record.speed_cs, record.elapsed_s, record.step_count) == (225, 33, 2)
    assert encode_treadmill_data(record, 244) == [bytes.fromhex("8425e1000000000100000000002100020000")]


@pytest.mark.parametrize(
    ("frame", "complaint"),
    [
        (bytes([0x00]), "2 flag bytes"),
        (bytes([0x00, 0x00, 0x45]), "truncated in speed"),
        (bytes([0x04, 0x00, 0x45, 0x01, 0xD2, 0x04]), "truncated in total distance"),
        (bytes([0x00, 0x00, 0x45, 0x01, 0x00]), "beyond its flags"),
        (bytes([0x00, 0x40, 0x45, 0x01]), "reserved"),
        (bytes([0x00, 0x20, 0x45, 0x01, 0x02]), "truncated in step_count"),
    ],
)
def test_bad_treadmill_data_is_rejected(frame: bytes, complaint: str) -> None:
    with pytest.raises(FtmsFormatError, match=complaint):
        decode_treadmill_data(frame)


def test_encoder_refuses_what_cannot_be_sent() -> None:
    with pytest.raises(FtmsFormatError, match="instantaneous speed"):
        encode_treadmill_data(TreadmillData(elapsed_s=3), 20)
    with pytest.raises(FtmsFormatError, match="uint24"):
        encode_treadmill_data(TreadmillData(speed_cs=1, total_distance_m=1 << 24), 20)
    with pytest.raises(FtmsFormatError, match="cannot carry"):
        encode_treadmill_data(FULL_RECORD, 5)
    with pytest.raises(FtmsFormatError, match="at least one"):
        encode_treadmill_data(FULL_RECORD, 20, max_groups_per_part=-1)


optional_u16 = st.none() | st.integers(0, 0xFFFF)


@given(
    record=st.builds(
        TreadmillData,
        speed_cs=st.integers(0, 0xFFFF),
        average_speed_cs=optional_u16,
        total_distance_m=st.none() | st.integers(0, (1 << 24) - 1),
        inclination_dp=st.none() | st.integers(-0x8000, 0x7FFF),
        ramp_angle_dd=st.just(None),
        heart_rate_bpm=st.none() | st.integers(0, 255),
        elapsed_s=optional_u16,
        remaining_s=optional_u16,
        force_n=st.none() | st.integers(-0x8000, 0x7FFF),
        power_w=st.none() | st.integers(-0x8000, 0x7FFF),
    ),
    payload=st.integers(20, 244),
)
def test_any_record_round_trips_through_any_payload_size(record: TreadmillData, payload: int) -> None:
    parts = encode_treadmill_data(record, payload)
    assert all(len(p) <= payload for p in parts)
    assert all(p[0] & 1 for p in parts[:-1])
    assembler = TreadmillDataAssembler()
    decoded = [assembler.feed(p) for p in parts]
    # Group partners the record left out come back as their "not available"/zero filler.
    expected = record
    if record.inclination_dp is not None:
        expected = expected.merged(TreadmillData(ramp_angle_dd=0x7FFF))
    if (record.force_n is None) != (record.power_w is None):
        expected = expected.merged(TreadmillData(force_n=record.force_n or 0, power_w=record.power_w or 0))
    assert decoded[-1] == expected
