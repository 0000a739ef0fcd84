"""Recorded treadmills as fixtures: every file in tests/link/real_ftms/ replayed into the real link.

Each recording's notifications go, byte for byte and in order, to the callbacks a connected pyftms client
has subscribed (with retrowalk's guards and decoders installed, as ``FtmsLink`` installs them) and from
there into a real ``FtmsLink``. For every file:

- no exception escapes a callback (in bleak that would be a traceback that names no treadmill);
- every Treadmill Data record that carries an instantaneous speed yields exactly one sample with that
  speed. The speed is read off the bytes the way FTMS defines it (flag bit 0 clear: bytes 2-3, uint16,
  0.01 km/h), independently of the decoder; a record split by "More Data" counts once, at its last part;
- nothing that carries a speed is logged as unreadable.

The files named in ``EXPECTED`` are also checked against values read off their bytes by hand. A new
recording needs nothing but its file (docs/recording-a-treadmill.md says how to make one); its
expectations can be added here. The recorded client's control-point writes are the commands retrowalk
would have sent in its place: the link is told of each as it is when it sends one. Control-point replies,
reads and descriptor writes are not replayed: they answer commands this test does not send. The UREVO's
whole session goes on into the session engine in test_recorded_session.py.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from retrowalk.link.events import Sample, StatusChange
from retrowalk.session.events import MachineStatusKind

from .recordings import load, recordings, replay


@dataclass(frozen=True)
class Expected:
    """What a recording yields, read off its bytes by hand."""

    speeds_kmh: list[float]
    # Fields of the first sample beside its speed (None: not carried).
    first: dict[str, float | int | None]
    statuses: list[MachineStatusKind]


def _runs(*runs: tuple[float, int]) -> list[float]:
    return [speed for speed, times in runs for _ in range(times)]


EXPECTED = {
    # 58 02 = 6.00 km/h, 4e 20 00 = 8270 m, 11 01 = 273 kcal, 52 17 = 5970 s; then 64 00 = 1.00 km/h.
    # The second frame carries energy per hour, the first did not: pyftms 0.4 raised KeyError here.
    "citysports-linker.json": Expected(
        [6.0, 1.0], {"distance_m": 8270, "energy_kcal": 273, "elapsed_s": 5970, "incline_pct": None}, []
    ),
    "fitshow-fs-6041f1.json": Expected([], {}, []),
    # Idle, all zero: a belt standing still (pyftms 0.4 dropped these as "null packets").
    "horizon-qz175.json": Expected([0.0] * 3, {"distance_m": 0, "energy_kcal": 0, "elapsed_s": 0}, []),
    # 64 00 = 1.00 km/h, 14 00 00 = 20 m, incline 0, 05 00 = 5 kcal, 5b 00 = 91 s.
    "kettler-alpha-run-600.json": Expected(
        [1.0], {"distance_m": 20, "incline_pct": 0.0, "energy_kcal": 5, "elapsed_s": 91}, []
    ),
    # Bit 13 set with no step bytes (pyftms 0.4: EOFError). 2c 01 = 3.00, 96 00 00 = 150 m, 78 00 = 120 s.
    "kingsmith-walkingpad-z1-ks-hd-z1d.json": Expected(
        [3.0], {"distance_m": 150, "energy_kcal": 12, "elapsed_s": 120}, []
    ),
    # 1e 00 = 0.30, 64 00 = 1.00 twice; 1e 00 00 = 30 m, 02 00 = 2 kcal, a2 00 = 162 s.
    "sperax-rm-01.json": Expected(
        [0.3, 1.0, 1.0], {"distance_m": 30, "energy_kcal": 2, "elapsed_s": 162}, []
    ),
    # Two parts, one record: 42 m and incline 0 from the first, 4e 02 = 5.90 km/h and 39 s from the last.
    "technogym-myrun.json": Expected([5.9], {"distance_m": 42, "incline_pct": 0.0, "elapsed_s": 39}, []),
    # A whole session: winding down from 2.25 (e1 00) in 0.1 mph steps to 0 (28 frames at a standstill,
    # frozen totals), a console start at 2.25 for 123 frames, and the stop's wind-down.
    # First frame: 00 00 00 = 0 m, 01 00 = 1 kcal, heart rate 0 (none), 21 00 = 33 s.
    "urevo-e1l-urtm041.json": Expected(
        _runs(
            (2.25, 1),
            (2.09, 1),
            (1.77, 1),
            (1.6, 1),
            (1.28, 1),
            (1.12, 1),
            (0.8, 1),
            (0.48, 1),
            (0.32, 1),
            (0.0, 28),
            (2.25, 123),
            (2.09, 1),
            (1.77, 1),
        ),
        {"distance_m": 0, "energy_kcal": 1, "elapsed_s": 33, "heart_rate_bpm": None, "incline_pct": None},
        # 05 xx xx: target speed changed, 13 times while the belt winds down (d1 00 ... 00 00, 0.3-0.6 s
        # apart), once at the console start (e1 00), then 04 00 00, the start, which pyftms 0.4 refused for
        # its two extra bytes; then 3 more in the stop's wind-down. Both bursts are the belt slowing by
        # itself, not a person (docs/quirks.md, wind-down-status): the first report of each (d1 00, 2.09)
        # comes while the belt is coming to a halt (just connected; after the client's stop, 08 01) and is
        # below the belt's last measured 2.25, the others are each lower than the one before. Only the
        # console start gets through: e1 00 is faster than the belt standing still.
        [MachineStatusKind.TARGET_SPEED_CHANGED, MachineStatusKind.USER_START],
    ),
}


def _speeds_in_the_bytes(frames: list[dict[str, Any]]) -> list[float]:
    """The instantaneous speeds the recording's Treadmill Data frames carry, by FTMS's definition."""
    speeds = []
    for frame in frames:
        data = bytes.fromhex(frame["hex"])
        if frame["char"] != "2acd" or len(data) < 4 or data[0] & 1:
            continue
        raw = int.from_bytes(data[2:4], "little")
        if raw != 0xFFFF:  # "not available"
            speeds.append(raw / 100)
    return speeds


@pytest.fixture(params=recordings(), ids=lambda path: path.stem)
def recording(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    path: Path = request.param
    return path.name, json.loads(path.read_text())


def test_every_recording_is_here() -> None:
    # The fixtures are a copy, so that a fresh clone tests without the shared folder beside it.
    assert {path.name for path in recordings()} >= set(EXPECTED)


def test_every_frame_that_carries_a_speed_yields_a_sample_with_it(
    recording: tuple[str, dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    _name, content = recording
    caplog.set_level(logging.WARNING, logger="retrowalk")
    events = replay(content["frames"])
    samples = [event.speed_kmh for event in events if isinstance(event, Sample)]
    assert samples == _speeds_in_the_bytes(content["frames"])
    assert not [m for m in caplog.messages if "unreadable treadmill data" in m], caplog.messages


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_recording_yields_what_its_bytes_say(name: str) -> None:
    expected = EXPECTED[name]
    content = load(name)
    events = replay(content["frames"])
    samples = [event for event in events if isinstance(event, Sample)]
    assert [sample.speed_kmh for sample in samples] == expected.speeds_kmh
    if samples:
        first = samples[0]
        assert {field: getattr(first, field) for field in expected.first} == expected.first
    statuses = [event.kind for event in events if isinstance(event, StatusChange)]
    assert statuses == expected.statuses


def test_frames_that_drop_a_field_the_previous_one_carried_still_yield_samples() -> None:
    # CitySports's frames, the one with energy per hour first: pyftms 0.4's change-only updater raised
    # KeyError: 'energy_per_hour' on the second, which no longer carries it (ff ff, not available).
    content = load("citysports-linker.json")
    data = [frame for frame in content["frames"] if frame["char"] == "2acd"]
    events = replay([data[1], data[0], data[1]])
    assert [event.speed_kmh for event in events if isinstance(event, Sample)] == [1.0, 6.0, 1.0]
