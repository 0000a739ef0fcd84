"""retrowalk's own Treadmill Data and Training Status decoders, on frames real treadmills sent.

Expected values are read off the bytes by hand (FTMS 1.0 layout, little-endian), field by field in the
comments, never computed by the decoder under test. The frames come from tests/link/real_ftms/.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrowalk.link.ftms_data import (
    TrainingStatus,
    UnreadableFrameError,
    decode_training_status,
    decode_treadmill_data,
    without_trailing_bytes,
)

# (frame, More Data set, the values), each read off the bytes by hand in its comment.
FRAMES = [
    pytest.param(
        # 84 25: flags 0x2584 = distance, energy, heart rate, elapsed, reserved bit 13
        # e1 00 speed 2.25 | 00 00 00 distance 0 | 01 00 energy 1, 00 00 per hour 0, 00 per minute 0
        # 00 heart rate 0 | 21 00 elapsed 33 s | 02 00 steps 2 | 00 pad
        "8425e1000000000100000000002100020000",
        False,
        {
            "speed_instant": 2.25,
            "distance_total": 0,
            "energy_total": 1,
            "energy_per_hour": 0,
            "energy_per_minute": 0,
            "heart_rate": 0,
            "time_elapsed": 33,
            "step_count": 2,
        },
        id="urevo: reserved bit 13 carries a step count and a pad byte",
    ),
    pytest.param(
        # 84 24: flags 0x2484 = distance, energy, elapsed, reserved bit 13
        # 58 02 speed 6.00 | 4e 20 00 distance 8270 | 11 01 energy 273, ff ff per hour n/a, ff per minute
        # n/a | 52 17 elapsed 5970 s | 17 27 steps 10007 | 00 pad
        "842458024e20001101ffffff5217172700",
        False,
        {
            "speed_instant": 6.0,
            "distance_total": 8270,
            "energy_total": 273,
            "time_elapsed": 5970,
            "step_count": 10007,
        },
        id="citysports: not-available markers are absent fields",
    ),
    pytest.param(
        # 84 24 as above; 2c 01 speed 3.00 | 96 00 00 distance 150 | 0c 00 energy 12, 00 00, 00 | 78 00
        # 120 s and then nothing, although bit 13 is set: pyftms 0.4 raises EOFError here.
        "84242c019600000c000000007800",
        False,
        {
            "speed_instant": 3.0,
            "distance_total": 150,
            "energy_total": 12,
            "energy_per_hour": 0,
            "energy_per_minute": 0,
            "time_elapsed": 120,
        },
        id="kingsmith: bit 13 without its bytes is tolerated",
    ),
    pytest.param(
        # 8c 05: flags 0x058c = distance, inclination + ramp, energy, heart rate, elapsed
        # 64 00 1.00 km/h | 14 00 00 20 m | 00 00 incline 0, 00 00 ramp 0 | 05 00 5 kcal, e7 00 231/h,
        # 03 3/min | 00 heart rate 0 | 5b 00 91 s
        "8c056400140000000000000500e70003005b00",
        False,
        {
            "speed_instant": 1.0,
            "distance_total": 20,
            "inclination": 0.0,
            "ramp_angle": 0.0,
            "energy_total": 5,
            "energy_per_hour": 231,
            "energy_per_minute": 3,
            "heart_rate": 0,
            "time_elapsed": 91,
        },
        id="kettler: inclination and heart rate",
    ),
    pytest.param(
        # Horizon, idle: 84 04 = distance, energy, elapsed; every value 0 (pyftms drops it as a "null
        # packet"): 00 00 speed 0 | 00 00 00 | 00 00, 00 00, 00 | 00 00
        "8404000000000000000000000000",
        False,
        {
            "speed_instant": 0.0,
            "distance_total": 0,
            "energy_total": 0,
            "energy_per_hour": 0,
            "energy_per_minute": 0,
            "time_elapsed": 0,
        },
        id="horizon: a belt standing still is a speed of zero",
    ),
    pytest.param(
        # 1f 00: More Data, avg speed, distance, inclination + ramp, elevation gain
        # 84 01 avg 3.88 | 2a 00 00 42 m | 00 00 00 00 incline 0, ramp 0 | 01 00 +0.1 m, 00 00 -0 m
        "1f0084012a00000000000001000000",
        True,
        {
            "speed_average": 3.88,
            "distance_total": 42,
            "inclination": 0.0,
            "ramp_angle": 0.0,
            "elevation_gain_positive": 0.1,
            "elevation_gain_negative": 0.0,
        },
        id="technogym: the More Data part has no speed",
    ),
    pytest.param(
        # 80 06: energy, MET, elapsed | 4e 02 5.90 | 02 00 2 kcal, ff ff n/a, ff n/a | 37 MET 5.5 | 27 00 39 s
        "80064e020200ffffff372700",
        False,
        {"speed_instant": 5.9, "energy_total": 2, "metabolic_equivalent": 5.5, "time_elapsed": 39},
        id="technogym: the last part has the speed",
    ),
    pytest.param(
        # 08 10: inclination + ramp, force + power; speed 1.00; incline -2.5 % (0xffe7), ramp n/a (0x7fff);
        # force n/a (0x7fff), power -3 W (0xfffd).
        "08106400e7ffff7fff7ffdff",
        False,
        {"speed_instant": 1.0, "inclination": -2.5, "power_output": -3},
        id="signed fields and their not-available marker",
    ),
    # 00 00: no optional fields | ff ff: speed not available.
    pytest.param("0000ffff", False, {}, id="a speed not available is no speed"),
    # 00 00 | 64 00 1.00 km/h | ab cd: nothing the flags announce.
    pytest.param("00006400abcd", False, {"speed_instant": 1.0}, id="trailing bytes are ignored"),
]


@pytest.mark.parametrize(("frame", "more_data", "values"), FRAMES)
def test_real_frames_decode_field_by_field(frame: str, more_data: bool, values: dict[str, float]) -> None:
    part = decode_treadmill_data(bytes.fromhex(frame))
    assert part.values == values
    assert part.more_data is more_data


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        ("", "shorter than its two flag bytes"),
        ("84", "shorter than its two flag bytes"),
        ("0000", "flags 0x0000 promise 4 bytes of fields, the frame has 2"),
        # Flags promise energy (5 bytes) and elapsed (2): one byte short.
        ("8404e100000000010000000021", "flags 0x0484 promise 14 bytes of fields, the frame has 13"),
    ],
)
def test_a_frame_whose_promised_fields_do_not_fit_is_unreadable(frame: str, why: str) -> None:
    with pytest.raises(UnreadableFrameError, match=f"^{why}$"):
        decode_treadmill_data(bytes.fromhex(frame))


def test_a_step_count_that_ends_the_frame_is_read() -> None:
    # 00 20: flags 0x2000 = reserved bit 13 | 64 00 speed 1.00 | 05 00 steps 5, and no pad byte after it.
    part = decode_treadmill_data(bytes.fromhex("002064000500"))
    assert part.values == {"speed_instant": 1.0, "step_count": 5}


@given(st.binary(max_size=40))
def test_any_bytes_decode_or_are_refused_cleanly(frame: bytes) -> None:
    try:
        part = decode_treadmill_data(frame)
    except UnreadableFrameError:
        return
    speed = part.values.get("speed_instant")
    assert speed is None or 0 <= speed <= 655.34


@pytest.mark.parametrize(
    ("frame", "code", "status", "said"),
    [
        ("0010", 0x10, None, "unknown (0x10)"),  # UREVO, winding down
        ("0011", 0x11, None, "unknown (0x11)"),
        ("000d", 0x0D, TrainingStatus.MANUAL_MODE, "manual mode"),
        ("0101", 0x01, TrainingStatus.IDLE, "idle"),  # FitShow: "string present" with no string
    ],
)
def test_training_status(frame: str, code: int, status: TrainingStatus | None, said: str) -> None:
    report = decode_training_status(bytes.fromhex(frame))
    assert (report.code, report.status, report.text, report.describe()) == (code, status, None, said)


def test_training_status_string() -> None:
    assert decode_training_status(b"\x01\x0dQuick").text == "Quick"
    assert decode_training_status(b"\x01\x0dQ").text == "Q"  # one byte is a string too
    # Bytes that are not UTF-8 are shown as replacement characters, not refused.
    assert decode_training_status(b"\x01\x0dQ\xffk").text == "Q\ufffdk"
    # Without the "string present" flag, bytes after the status are no string.
    assert decode_training_status(b"\x00\x0dQuick").text is None
    with pytest.raises(UnreadableFrameError):
        decode_training_status(b"\x00")


@pytest.mark.parametrize(
    ("frame", "cut"),
    [
        ("040000", "04"),  # UREVO: started by the user, and two bytes FTMS does not define
        ("05d10000", "05d100"),  # target speed 2.09 km/h, one byte too many
        ("05d100", "05d100"),  # exactly its parameter: left as it is
        ("02", "02"),  # stop or pause without its parameter: for pyftms to refuse
        ("07010203", "07010203"),  # target resistance, an op code not in the table: left as it is
        ("", ""),  # nothing at all: left as it is, for pyftms to refuse
    ],
)
def test_a_machine_status_frame_is_cut_after_its_parameter(frame: str, cut: str) -> None:
    assert without_trailing_bytes(bytes.fromhex(frame)) == bytes.fromhex(cut)
