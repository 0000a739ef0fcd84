"""Decoding the FTMS data characteristics the way real treadmills send them: Treadmill Data and Training
Status.

retrowalk decodes these two itself and keeps pyftms for everything else (connecting, ranges, the control
point, Machine Status); ``pyftms_private`` plugs the decoders into a pyftms client. Why not pyftms's own
parsers (0.4.15): they are built for frames that follow the FTMS text to the byte, and real machines do
not (``docs/pyftms-upstream.md`` has the details and test vectors from recordings):

- a "not available" marker (0xFFFF, 0xFF, 0x7FFF) inside a group of fields drops a field pyftms's model
  requires, and the frame dies with ``TypeError``;
- reserved flag bits or a trailing byte after the fields end in ``EOFError`` or ``AssertionError``;
- its updater reports only the fields that changed since the previous frame and raises ``KeyError`` when
  a field the previous frame carried is missing now (CitySports: ``'energy_per_hour'``), and it drops
  frames whose values are all zero as "null packets", so a belt standing still looks like silence;
- its Training Status enum refuses codes the specification does not define (UREVO: 0x10, 0x11).

The rules here: every field the flags promise is read in the specification's order; a "not available"
marker means the field is absent, never a value; reserved flag bits (13-15) and bytes after the last
defined field are tolerated once every field the flags promise has been read in full. A frame whose
promised fields do not fit its length is unreadable as a whole (where its speed ends cannot be trusted
either), and so is a frame without flags. Keys are pyftms's property names, so that a pyftms client's
``properties`` keep meaning what they meant.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "FIRST_RESERVED_BIT",
    "MORE_DATA",
    "STEP_COUNT_BIT",
    "Reading",
    "TrainingStatus",
    "TrainingStatusReport",
    "TreadmillDataPart",
    "UnreadableFrameError",
    "decode_training_status",
    "decode_treadmill_data",
    "without_trailing_bytes",
]

# Flag bit 0 is inverted: when it is set ("More Data"), the instantaneous speed is absent and another
# part of the same record follows.
MORE_DATA = 0x0001
# Bits 13-15 are reserved in FTMS 1.0. UREVO, KingSmith and CitySports set bit 13 and may then send a
# step count (uint16; the byte after it, 0 in every recording, is not part of it).
STEP_COUNT_BIT = 0x2000
FIRST_RESERVED_BIT = 13

type Reading = float | int


@dataclass(frozen=True)
class _Field:
    name: str
    size: int  # bytes, little-endian
    signed: bool = False
    scale: float | None = None  # the value's unit per count; None: an integer count

    def read(self, data: bytes, at: int) -> Reading | None:
        """The field's value at ``at``, or None for the "not available" marker (all ones, or the
        largest positive value of a signed field)."""
        raw = int.from_bytes(data[at : at + self.size], "little", signed=self.signed)
        if raw == (1 << (8 * self.size - self.signed)) - 1:
            return None
        return raw if self.scale is None else round(raw * self.scale, 4)


# Treadmill Data fields by flag bit, in the order they follow the flags (FTMS 1.0, 4.9.1).
_FIELDS_BY_BIT: tuple[tuple[_Field, ...], ...] = (
    (_Field("speed_instant", 2, scale=0.01),),  # present when bit 0 is clear
    (_Field("speed_average", 2, scale=0.01),),
    (_Field("distance_total", 3),),
    (_Field("inclination", 2, signed=True, scale=0.1), _Field("ramp_angle", 2, signed=True, scale=0.1)),
    (_Field("elevation_gain_positive", 2, scale=0.1), _Field("elevation_gain_negative", 2, scale=0.1)),
    # Pace is uint8 in FTMS 1.0; every device seen sends it so.
    (_Field("pace_instant", 1, scale=0.1),),
    (_Field("pace_average", 1, scale=0.1),),
    (_Field("energy_total", 2), _Field("energy_per_hour", 2), _Field("energy_per_minute", 1)),
    (_Field("heart_rate", 1),),
    (_Field("metabolic_equivalent", 1, scale=0.1),),
    (_Field("time_elapsed", 2),),
    (_Field("time_remaining", 2),),
    (_Field("force_on_belt", 2, signed=True), _Field("power_output", 2, signed=True)),
)
_STEP_COUNT = _Field("step_count", 2)


class UnreadableFrameError(ValueError):
    """A frame whose fields cannot be located; nothing in it is used."""


@dataclass(frozen=True)
class TreadmillDataPart:
    """One Treadmill Data notification: the fields it carries with a value, and whether the record
    continues in the next notification (then it carries no instantaneous speed)."""

    values: dict[str, Reading]
    more_data: bool


def decode_treadmill_data(data: bytes | bytearray) -> TreadmillDataPart:
    """Decode one Treadmill Data notification; raises ``UnreadableFrameError`` saying why it cannot."""
    frame = bytes(data)
    if len(frame) < 2:
        raise UnreadableFrameError("shorter than its two flag bytes")
    flags = int.from_bytes(frame[:2], "little")
    promised = [
        field
        for bit, fields in enumerate(_FIELDS_BY_BIT)
        if bool(flags & (1 << bit)) != (bit == 0)  # bit 0 is inverted
        for field in fields
    ]
    needed = 2 + sum(field.size for field in promised)
    if len(frame) < needed:
        raise UnreadableFrameError(
            f"flags {flags:#06x} promise {needed} bytes of fields, the frame has {len(frame)}"
        )
    values: dict[str, Reading] = {}
    at = 2
    for field in promised:
        value = field.read(frame, at)
        if value is not None:
            values[field.name] = value
        at += field.size
    if flags & STEP_COUNT_BIT and len(frame) - at >= _STEP_COUNT.size:
        steps = _STEP_COUNT.read(frame, at)
        if steps is not None:
            values[_STEP_COUNT.name] = steps
    return TreadmillDataPart(values=values, more_data=bool(flags & MORE_DATA))


class TrainingStatus(IntEnum):
    """Training Status codes FTMS 1.0 defines (4.10.1.2); a treadmill may send others."""

    OTHER = 0x00
    IDLE = 0x01
    WARMING_UP = 0x02
    LOW_INTENSITY_INTERVAL = 0x03
    HIGH_INTENSITY_INTERVAL = 0x04
    RECOVERY_INTERVAL = 0x05
    ISOMETRIC = 0x06
    HEART_RATE_CONTROL = 0x07
    FITNESS_TEST = 0x08
    SPEED_TOO_LOW = 0x09
    SPEED_TOO_HIGH = 0x0A
    COOL_DOWN = 0x0B
    WATT_CONTROL = 0x0C
    MANUAL_MODE = 0x0D
    PRE_WORKOUT = 0x0E
    POST_WORKOUT = 0x0F


_STRING_PRESENT = 0x01


@dataclass(frozen=True)
class TrainingStatusReport:
    """One Training Status frame. ``status`` is None for a code FTMS does not define (``code`` has it)."""

    code: int
    status: TrainingStatus | None
    text: str | None = None

    def describe(self) -> str:
        if self.status is None:
            return f"unknown ({self.code:#04x})"
        return self.status.name.lower().replace("_", " ")


def decode_training_status(data: bytes | bytearray) -> TrainingStatusReport:
    """Decode one Training Status frame (flags, status, optional UTF-8 string). A code outside the
    specification is reported as unknown; a "string present" flag with no string means no string."""
    frame = bytes(data)
    if len(frame) < 2:
        raise UnreadableFrameError("shorter than its flags and status bytes")
    code = frame[1]
    try:
        status: TrainingStatus | None = TrainingStatus(code)
    except ValueError:
        status = None
    text = None
    if frame[0] & _STRING_PRESENT and len(frame) > 2:
        text = frame[2:].decode("utf-8", errors="replace")
    return TrainingStatusReport(code=code, status=status, text=text)


# Machine Status (FTMS 1.0, 4.16): op code -> bytes of parameter after it, for the statuses a treadmill
# sends (reset, stop/pause, safety key, start, target speed, target incline, control lost).
_MACHINE_STATUS_PARAMETER_BYTES = {0x01: 0, 0x02: 1, 0x03: 0, 0x04: 0, 0x05: 2, 0x06: 2, 0xFF: 0}


def without_trailing_bytes(machine_status: bytes | bytearray) -> bytes:
    """A Machine Status frame cut after its parameter. UREVO sends "started by the user" as ``04 00 00``,
    which pyftms (still the Machine Status parser) refuses for its two extra bytes; a frame of another
    op code, or one too short for its parameter, is left as it is, for pyftms to judge."""
    frame = bytes(machine_status)
    size = _MACHINE_STATUS_PARAMETER_BYTES.get(frame[0]) if frame else None
    if size is None or len(frame) < 1 + size:
        return frame
    return frame[: 1 + size]
