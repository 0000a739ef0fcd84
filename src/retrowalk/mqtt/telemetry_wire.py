"""The telemetry payload's fast path: one sample as a plain frame, encoded straight to the bytes the
validated :class:`~retrowalk.mqtt.payloads.Telemetry` model would serialise.

Telemetry is sent for every sample of every treadmill. Building the pydantic model (six rounding
validators, a default factory) and running its serialiser cost about a third more CPU per sample than
building a frame and encoding it here (bench/engine_turn.py), so the runner builds a
:class:`TelemetryFrame` instead and the bridge encodes it with :func:`telemetry_json`. ``Telemetry``
stays the documented schema (docs/schemas, docs/mqtt.md) and what consumers parse; the bytes are the
same (tests/mqtt/test_telemetry_wire.py holds the two side by side).
"""

from __future__ import annotations

import json
import math
import re
import sys
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

import pydantic_core

from retrowalk.mqtt.payloads import HEART_RATE_MAX, KMH_MAX, PHASE_PATTERN, TREADMILL_ID_PATTERN, Telemetry

__all__ = ["TelemetryFields", "TelemetryFrame", "as_telemetry", "telemetry_json"]

# The model's own patterns for TreadmillId and PhaseName.
_TREADMILL_ID = re.compile(TREADMILL_ID_PATTERN)
_PHASE = re.compile(PHASE_PATTERN)
# Ids and phases already checked: a runner sends the same few for every sample, and a set lookup costs
# a fraction of a pattern match. Bounded, so that a stream of odd values cannot grow it without end.
_CHECKED_IDS: set[str] = set()
_CHECKED_PHASES: set[str] = set()
_CHECKED_AT_MOST = 10_000
# The largest finite float: a range up to it refuses infinities (and every comparison refuses NaN).
_LARGEST = sys.float_info.max
# The schema's range for each figure (payloads.py's types), in the payload's field order: name, lowest,
# highest, may be null. The refusal reads it; the usual case's one-pass check below uses the same bounds.
_RANGES: tuple[tuple[str, float, float, bool], ...] = (
    ("speed_kmh", 0.0, KMH_MAX, False),
    ("allowed_speed_kmh", 0.0, KMH_MAX, False),
    ("incline_pct", -_LARGEST, _LARGEST, True),
    ("distance_m", 0.0, _LARGEST, True),
    ("elapsed_s", 0.0, _LARGEST, False),
    ("remaining_s", 0.0, _LARGEST, True),
)
# Below this, a figure with one or two decimals has at most 11 significant digits, so its fixed-point
# text is also the shortest text that reads back as the same float (what repr writes).
_EXACT = 1e9
# The timestamp as the Telemetry model writes it (ISO 8601, microseconds only when there are some, UTC
# as Z), from the same serialiser.
_timestamp_json = pydantic_core.to_json
# A JSON string in quotes, UTF-8 characters as they are (not \u escapes): what pydantic's serialiser writes.
_quoted = json.encoder.encode_basestring


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


class TelemetryFrame(NamedTuple):
    """One telemetry sample as the runner has it: unrounded and unchecked until :func:`telemetry_json`.

    A NamedTuple rather than a frozen dataclass: it is built for every sample, and a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__`` (about 2.5 times the cost)."""

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


def telemetry_json(sample: TelemetryFields) -> bytes:
    """The payload's bytes, equal to what the validated ``Telemetry`` model serialises for the same values:
    its field order, figures rounded as its validators round them, floats written as ``repr`` writes
    them (as pydantic does), ``null`` for what is missing.

    Raises ``ValueError`` (and so publishes nothing) for a value the schema refuses: a bad treadmill id
    or phase, a speed outside 0-30 km/h, a NaN or infinite figure, a negative distance or time, a heart
    rate outside 0-255. The model let an infinite time through and published it as null."""
    treadmill_id = sample.treadmill_id
    if treadmill_id not in _CHECKED_IDS:
        _check_name(_CHECKED_IDS, _TREADMILL_ID, treadmill_id, "treadmill_id", "a valid treadmill id")
    phase = sample.phase
    if phase not in _CHECKED_PHASES:
        _check_name(_CHECKED_PHASES, _PHASE, phase, "phase", "a valid phase name")
    session_id = sample.session_id
    speed = sample.speed_kmh
    allowed = sample.allowed_speed_kmh
    incline = sample.incline_pct
    distance = sample.distance_m
    elapsed = sample.elapsed_s
    remaining = sample.remaining_s
    heart_rate = sample.heart_rate_bpm
    # One pass over the usual case (every comparison is False for NaN), with _RANGES's bounds written
    # out (a loop over the table costs more than the rest of the check); the refusal says which value.
    big, top_kmh = _LARGEST, KMH_MAX
    try:
        usual = (
            0.0 <= speed <= top_kmh
            and 0.0 <= allowed <= top_kmh
            and (incline is None or -big <= incline <= big)
            and (distance is None or 0.0 <= distance <= big)
            and 0.0 <= elapsed <= big
            and (remaining is None or 0.0 <= remaining <= big)
            and (heart_rate is None or (type(heart_rate) is int and 0 <= heart_rate <= HEART_RATE_MAX))
            and (session_id is None or type(session_id) is str)
        )
    except TypeError:  # a figure that is no number at all
        usual = False
    if not usual:
        raise _refusal(sample)
    at = sample.at
    if at.tzinfo is not UTC and at.utcoffset() is None:
        raise ValueError(f"telemetry at must carry a time zone, got {at.isoformat()}")
    # Figures are written by fixed-point formatting, which rounds as round() does (both correctly, from
    # the float's exact value) and, below 1e9, gives repr's text of the rounded float once the trailing
    # zeros are dropped: cheaper than round() and repr(), and the same bytes. Larger figures take the
    # long way (repr switches to exponents at 1e16). treadmill_id and phase need no escaping: their
    # patterns allow no character JSON escapes. The timestamp is pydantic's own serialiser's text.
    exact = _EXACT
    incline_text = (
        "null" if incline is None
        else f"{incline:.1f}" if -exact < incline < exact
        else repr(round(float(incline), 1))
    )  # fmt: skip
    distance_text = (
        "null" if distance is None
        else f"{distance:.0f}.0" if distance < exact
        else repr(round(float(distance), 0))
    )  # fmt: skip
    remaining_text = (
        "null" if remaining is None
        else f"{remaining:.1f}" if remaining < exact
        else repr(round(float(remaining), 1))
    )  # fmt: skip
    elapsed_text = f"{elapsed:.1f}" if elapsed < exact else repr(round(float(elapsed), 1))
    return (
        f'{{"treadmill_id":"{treadmill_id}","at":{_timestamp_json(at).decode()},"phase":"{phase}",'
        f'"session_id":{"null" if session_id is None else _quoted(session_id)},'
        f'"speed_kmh":{_hundredths(speed)},"allowed_speed_kmh":{_hundredths(allowed)},'
        f'"incline_pct":{incline_text},"distance_m":{distance_text},"elapsed_s":{elapsed_text},'
        f'"remaining_s":{remaining_text},"heart_rate_bpm":{"null" if heart_rate is None else heart_rate}}}'
    ).encode()


def _hundredths(kmh: float) -> str:
    """A speed (0-30 km/h) to 0.01 as repr writes the rounded float: at most one trailing zero to drop."""
    text = f"{kmh:.2f}"
    return text[:-1] if text[-1] == "0" else text


def _check_name(checked: set[str], pattern: re.Pattern[str], value: str, name: str, what: str) -> None:
    if type(value) is not str or pattern.fullmatch(value) is None:
        raise ValueError(f"telemetry {name} {value!r} is not {what}")
    if len(checked) >= _CHECKED_AT_MOST:
        checked.clear()
    checked.add(value)


def _refusal(sample: TelemetryFields) -> ValueError:
    """Why the schema refuses a sample: the first value out of its range, in the payload's field order."""
    for name, low, high, nullable in _RANGES:
        value = getattr(sample, name)
        if value is None and nullable:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            return ValueError(f"telemetry {name} must be a number, got {value!r}")
        if not math.isfinite(value):
            return ValueError(f"telemetry {name} must be a finite number, got {value!r}")
        if not low <= value <= high:
            return ValueError(f"telemetry {name} must be a number from {low:g} to {high:g}, got {value!r}")
    if sample.session_id is not None and not isinstance(sample.session_id, str):
        return ValueError(f"telemetry session_id must be text, got {sample.session_id!r}")
    return ValueError(
        f"telemetry heart_rate_bpm must be a whole number from 0 to {HEART_RATE_MAX}, "
        f"got {sample.heart_rate_bpm!r}"
    )


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
