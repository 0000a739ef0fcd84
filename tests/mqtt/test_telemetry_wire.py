"""The telemetry fast path (retrowalk.mqtt.telemetry_wire) sends the bytes the validated model would, and
refuses what the schema refuses."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from retrowalk.mqtt import payloads as p
from retrowalk.mqtt.telemetry_wire import TelemetryFrame, as_telemetry, telemetry_json

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "schemas" / "telemetry.json").read_text())
AT = datetime(2026, 3, 1, 9, 30, 15, 250000, tzinfo=UTC)


def noisy(low: float, high: float) -> st.SearchStrategy[float]:
    """Figures as the engine and the link produce them: grid values with float noise, and anything else."""
    on_grid = st.integers(int(low * 100), int(high * 100)).map(lambda n: n / 100)
    with_noise = st.builds(
        lambda x, e: min(max(x + e, low), high), on_grid, st.sampled_from([0, 1e-15, -1e-15])
    )
    return st.one_of(on_grid, with_noise, st.floats(low, high, allow_nan=False))


def large(high: float) -> st.SearchStrategy[float]:
    return st.one_of(noisy(0, 100_000), st.floats(0, high, allow_nan=False, allow_infinity=False))


frames = st.builds(
    TelemetryFrame,
    treadmill_id=st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z"),
    at=st.one_of(
        st.just(AT),
        st.datetimes(timezones=st.just(UTC)),
        st.datetimes(
            timezones=st.sampled_from([timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])
        ),
    ),
    phase=st.sampled_from(["idle", "starting", "ramp", "cruise", "cool_down", "ended", "some_new_phase"]),
    # Session ids are made by the engine; any text must still be written as pydantic writes it.
    session_id=st.none()
    | st.sampled_from(["tm1-20260301-1", "ünïcode-ß", 'q"uote\\slash', "tab\tnl\n\x01"])
    | st.text(),
    speed_kmh=noisy(0, 30),
    allowed_speed_kmh=noisy(0, 30),
    incline_pct=st.none() | noisy(-10, 20) | st.floats(-1e12, 1e12),
    distance_m=st.none() | large(1e300),
    elapsed_s=large(1e300),
    remaining_s=st.none() | large(1e17),
    heart_rate_bpm=st.none() | st.integers(0, 255),
)


def model_bytes(frame: TelemetryFrame) -> bytes:
    model = as_telemetry(frame)
    return model.__pydantic_serializer__.to_json(model)


@settings(max_examples=400, deadline=None)
@given(frames)
@example(
    TelemetryFrame(
        "tm1",
        AT,
        "ramp",
        "tm1-1",
        1.2000000000000002,
        1.2999999999999998,
        0.30000000000000004,
        41.4999,
        7.860000000000001,
        292.13999999999996,
        72,
    )
)
@example(
    TelemetryFrame("tm1", AT.replace(microsecond=0), "idle", None, 0.0, 0.0, None, None, 0.0, None, None)
)
@example(TelemetryFrame("tm1", AT, "idle", None, 30.0, 0.005, -0.05, 0.5, 1e16, 1.5e17, 0))
@example(TelemetryFrame("tm1", AT, "idle", None, -0.0, 0.004, -0.04, -0.0, 999999999.95, 1e9, 255))
@example(TelemetryFrame("tm1", AT, "idle", None, 0.015, 29.995, 0.05, 0.5, 0.05, 0.25, 1))
def test_the_fast_path_writes_the_models_bytes(frame: TelemetryFrame) -> None:
    sent = telemetry_json(frame)
    assert sent == model_bytes(frame)
    # What a consumer receives validates against the published schema's rules and names its fields.
    p.Telemetry.model_validate_json(sent)
    decoded = json.loads(sent)
    assert set(decoded) == set(SCHEMA["properties"])
    assert set(SCHEMA["required"]) <= set(decoded)


def test_a_validated_model_encodes_to_its_own_bytes() -> None:
    """The bridge accepts the model too (tests and tools publish it): re-rounding changes nothing."""
    model = p.Telemetry(
        treadmill_id="tm1",
        phase="ramp",
        speed_kmh=1.005,
        allowed_speed_kmh=1.3,
        incline_pct=-0.05,
        distance_m=2.5,
        elapsed_s=7.860000000000001,
        remaining_s=0.05,
        heart_rate_bpm=90,
    )
    assert telemetry_json(model) == model.__pydantic_serializer__.to_json(model)


GOOD = TelemetryFrame("tm1", AT, "ramp", "s1", 1.0, 1.0, 0.0, 10.0, 60.0, 240.0, 90)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"elapsed_s": math.inf}, "elapsed_s must be a finite number, got inf"),
        ({"elapsed_s": math.nan}, "elapsed_s must be a finite number, got nan"),
        ({"elapsed_s": -0.1}, "elapsed_s must be a number from 0 to .*, got -0.1"),
        ({"remaining_s": math.inf}, "remaining_s must be a finite number"),
        ({"remaining_s": -1.0}, "remaining_s must be a number from 0"),
        ({"distance_m": -1.0}, "distance_m must be a number from 0"),
        ({"distance_m": math.nan}, "distance_m must be a finite number"),
        ({"incline_pct": -math.inf}, "incline_pct must be a finite number"),
        ({"speed_kmh": 30.01}, "speed_kmh must be a number from 0 to 30, got 30.01"),
        ({"allowed_speed_kmh": -0.01}, "allowed_speed_kmh must be a number from 0 to 30"),
        ({"heart_rate_bpm": 256}, "heart_rate_bpm must be a whole number from 0 to 255, got 256"),
        ({"heart_rate_bpm": -1}, "heart_rate_bpm must be a whole number"),
        ({"treadmill_id": "tm/1"}, "treadmill_id 'tm/1' is not a valid treadmill id"),
        ({"phase": "Ramp"}, "phase 'Ramp' is not a valid phase name"),
        ({"speed_kmh": None}, "speed_kmh must be a number, got None"),
    ],
)
def test_the_fast_path_refuses_what_the_schema_refuses(change: dict[str, object], message: str) -> None:
    bad = TelemetryFrame(**{**_fields(GOOD), **change})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        telemetry_json(bad)
    # The model refuses the same sample: the fast path is no laxer than the schema.
    with pytest.raises(ValidationError):
        as_telemetry(bad)


def test_the_fast_path_refuses_a_time_without_a_zone() -> None:
    """Stricter than the model (which writes a naive time without an offset, not a date-time the schema's
    format allows): a consumer could not tell the sample's moment."""
    naive = TelemetryFrame(**{**_fields(GOOD), "at": AT.replace(tzinfo=None)})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"at must carry a time zone, got 2026-03-01T09:30:15\.250000"):
        telemetry_json(naive)


@pytest.mark.parametrize("field", ["elapsed_s", "remaining_s", "distance_m", "incline_pct"])
def test_the_model_refuses_an_infinite_figure_rather_than_publish_null(field: str) -> None:
    fields = {**_fields(GOOD), field: math.inf}
    with pytest.raises(ValidationError, match="finite number"):
        p.Telemetry(**fields)


def _fields(frame: TelemetryFrame) -> dict[str, object]:
    return frame._asdict()
