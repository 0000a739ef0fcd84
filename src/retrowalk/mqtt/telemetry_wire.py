"""The telemetry payload's fast path: one sample as a plain frame, encoded straight to the bytes the
validated :class:`~retrowalk.mqtt.payloads.Telemetry` model would serialise.

Telemetry is sent for every sample of every treadmill. Building the pydantic model (six rounding
validators, a default factory) and running its serialiser cost more per sample than the rest of the
bridge's work, so the runner builds a :class:`TelemetryFrame` instead and the bridge encodes it with
:func:`telemetry_json`. ``Telemetry`` stays the documented schema (docs/schemas, docs/mqtt.md) and what
consumers parse; the bytes are the same (tests/mqtt/test_telemetry_wire.py holds the two side by side).
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from retrowalk.mqtt.payloads import Telemetry

__all__ = ["TelemetryFields", "TelemetryFrame", "as_telemetry", "telemetry_json"]

# The same patterns as the model's TreadmillId and PhaseName.
_TREADMILL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PHASE = re.compile(r"[a-z_]{1,32}")
# The largest finite float: a range up to it refuses infinities (and every comparison refuses NaN).
_LARGEST = sys.float_info.max
# Compact, and UTF-8 as it is rather than \u escapes: what pydantic's serialiser writes.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


class TelemetryFields(Protocol):
    """What the bridge and the attention rules read from a sample: a frame or a ``Telemetry`` model."""

    @property
    def treadmill_id(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def phase(self) -> str: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def speed_kmh(self) -> float: ...
    @property
    def allowed_speed_kmh(self) -> float: ...
    @property
    def incline_pct(self) -> float | None: ...
    @property
    def distance_m(self) -> float | None: ...
    @property
    def elapsed_s(self) -> float: ...
    @property
    def remaining_s(self) -> float | None: ...
    @property
    def heart_rate_bpm(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class TelemetryFrame:
    """One telemetry sample as the runner has it: unrounded and unchecked until :func:`telemetry_json`."""

    treadmill_id: str
    at: datetime
    phase: str
    session_id: str | None
    speed_kmh: float
    allowed_speed_kmh: float
    incline_pct: float | None
    distance_m: float | None
    elapsed_s: float
    remaining_s: float | None
    heart_rate_bpm: int | None


def _in_range(name: str, value: float, digits: int, low: float, high: float) -> float:
    """``value`` rounded as the model's validators round it; NaN, infinities and values outside the
    schema's range are refused (the model let an infinite time through and published it as null)."""
    if not low <= value <= high:  # also False for NaN
        if not math.isfinite(value):
            raise ValueError(f"telemetry {name} must be a finite number, got {value!r}")
        raise ValueError(f"telemetry {name} must be a number from {low:g} to {high:g}, got {value!r}")
    return round(float(value), digits)


def _maybe(name: str, value: float | None, digits: int, low: float, high: float) -> float | None:
    return None if value is None else _in_range(name, value, digits, low, high)


def _utc_text(at: datetime) -> str:
    """The timestamp as pydantic writes it: ISO 8601, microseconds only when there are some, and UTC as
    ``Z`` (any other offset as ``+hh:mm``)."""
    if at.tzinfo is None:
        raise ValueError(f"telemetry at must carry a time zone, got {at.isoformat()}")
    text = at.isoformat()
    return text[:-6] + "Z" if at.utcoffset() == _NO_OFFSET else text


_NO_OFFSET = UTC.utcoffset(None)


def telemetry_json(sample: TelemetryFields) -> bytes:
    """The payload's bytes, equal to what the validated ``Telemetry`` model serialises for the same values.

    Raises ``ValueError`` (and so publishes nothing) for a value the schema refuses: a bad treadmill id
    or phase, a speed outside 0-30 km/h, a NaN or infinite figure, a negative distance or time, a heart
    rate outside 0-255."""
    treadmill_id = sample.treadmill_id
    if _TREADMILL_ID.fullmatch(treadmill_id) is None:
        raise ValueError(f"telemetry treadmill_id {treadmill_id!r} is not a valid treadmill id")
    phase = sample.phase
    if _PHASE.fullmatch(phase) is None:
        raise ValueError(f"telemetry phase {phase!r} is not a valid phase name")
    heart_rate = sample.heart_rate_bpm
    if heart_rate is not None and not (type(heart_rate) is int and 0 <= heart_rate <= 255):
        raise ValueError(f"telemetry heart_rate_bpm must be a whole number from 0 to 255, got {heart_rate!r}")
    session_id = sample.session_id
    if session_id is not None and type(session_id) is not str:
        raise ValueError(f"telemetry session_id must be text, got {session_id!r}")
    big = _LARGEST
    # Dict order is the wire's field order: the model's declaration order.
    return _ENCODE(
        {
            "treadmill_id": treadmill_id,
            "at": _utc_text(sample.at),
            "phase": phase,
            "session_id": session_id,
            "speed_kmh": _in_range("speed_kmh", sample.speed_kmh, 2, 0.0, 30.0),
            "allowed_speed_kmh": _in_range("allowed_speed_kmh", sample.allowed_speed_kmh, 2, 0.0, 30.0),
            "incline_pct": _maybe("incline_pct", sample.incline_pct, 1, -big, big),
            "distance_m": _maybe("distance_m", sample.distance_m, 0, 0.0, big),
            "elapsed_s": _in_range("elapsed_s", sample.elapsed_s, 1, 0.0, big),
            "remaining_s": _maybe("remaining_s", sample.remaining_s, 1, 0.0, big),
            "heart_rate_bpm": heart_rate,
        }
    ).encode()


def as_telemetry(sample: TelemetryFields) -> Telemetry:
    """The validated model of a sample, for code that wants the schema's type (terminal views, tests)."""
    if isinstance(sample, Telemetry):
        return sample
    return Telemetry(
        treadmill_id=sample.treadmill_id,
        at=sample.at,
        phase=sample.phase,
        session_id=sample.session_id,
        speed_kmh=sample.speed_kmh,
        allowed_speed_kmh=sample.allowed_speed_kmh,
        incline_pct=sample.incline_pct,
        distance_m=sample.distance_m,
        elapsed_s=sample.elapsed_s,
        remaining_s=sample.remaining_s,
        heart_rate_bpm=sample.heart_rate_bpm,
    )
