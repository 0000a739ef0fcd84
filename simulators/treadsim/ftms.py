"""FTMS (Fitness Machine Service 1.0) byte formats, as a treadmill writes and reads them.

Written from the specification, not from any client library, so the simulator can catch a client that
gets the format wrong instead of sharing its mistakes. All fields are little-endian. Besides the
peripheral's encoders it has decoders for the peripheral's own outputs (Treadmill Data with reassembly
of split records, Machine Status, Control Point responses) so tests can read what a client would see.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields
from enum import IntEnum, StrEnum

from .gatt import uuid16

__all__ = [
    "CONTROL_POINT",
    "CROSS_TRAINER_DATA",
    "DEVICE_INFORMATION_SERVICE",
    "FEATURE",
    "FEATURE_AVERAGE_SPEED",
    "FEATURE_ELAPSED_TIME",
    "FEATURE_EXPENDED_ENERGY",
    "FEATURE_HEART_RATE",
    "FEATURE_INCLINATION",
    "FEATURE_METABOLIC_EQUIVALENT",
    "FEATURE_TOTAL_DISTANCE",
    "FLAGS_SIZE",
    "FTMS_SERVICE",
    "INCLINATION_RANGE",
    "MACHINE_STATUS",
    "MACHINE_TYPE_CROSS_TRAINER",
    "MACHINE_TYPE_TREADMILL",
    "MANUFACTURER_NAME",
    "MODEL_NUMBER",
    "MORE_DATA",
    "RESPONSE_CODE",
    "SERVICE_DATA_MACHINE_AVAILABLE",
    "SPEED_RANGE",
    "SPEED_SIZE",
    "TARGET_INCLINATION_SUPPORTED",
    "TARGET_SPEED_SUPPORTED",
    "TRAINING_STATUS",
    "TREADMILL_DATA",
    "ControlOp",
    "ControlPointFrameError",
    "ControlRequest",
    "ControlResponse",
    "Features",
    "FrameProblem",
    "FtmsFormatError",
    "InclinationRange",
    "MachineStatus",
    "MachineStatusCode",
    "RequestControl",
    "Reset",
    "ResultCode",
    "SetTargetInclination",
    "SetTargetSpeed",
    "SpeedRange",
    "StartResume",
    "StopOrPause",
    "StopPause",
    "TreadmillData",
    "TreadmillDataAssembler",
    "decode_control_request",
    "decode_training_status",
    "decode_treadmill_data",
    "encode_control_request",
    "encode_cross_trainer_speed",
    "encode_service_data",
    "encode_training_status",
    "encode_treadmill_data",
]

FTMS_SERVICE = uuid16(0x1826)
FEATURE = uuid16(0x2ACC)
TREADMILL_DATA = uuid16(0x2ACD)
CROSS_TRAINER_DATA = uuid16(0x2ACE)
TRAINING_STATUS = uuid16(0x2AD3)
SPEED_RANGE = uuid16(0x2AD4)
INCLINATION_RANGE = uuid16(0x2AD5)
CONTROL_POINT = uuid16(0x2AD9)
MACHINE_STATUS = uuid16(0x2ADA)
DEVICE_INFORMATION_SERVICE = uuid16(0x180A)
MANUFACTURER_NAME = uuid16(0x2A29)
MODEL_NUMBER = uuid16(0x2A24)

# Service data flags and machine type (FTMS 3.1.1).
SERVICE_DATA_MACHINE_AVAILABLE = 0x01
MACHINE_TYPE_TREADMILL = 0x0001
MACHINE_TYPE_CROSS_TRAINER = 0x0002

RESPONSE_CODE = 0x80


class FtmsFormatError(ValueError):
    """Bytes that do not follow the FTMS format; says what is wrong and where."""


class ControlOp(IntEnum):
    REQUEST_CONTROL = 0x00
    RESET = 0x01
    SET_TARGET_SPEED = 0x02
    SET_TARGET_INCLINATION = 0x03
    START_RESUME = 0x07
    STOP_PAUSE = 0x08


class ResultCode(IntEnum):
    SUCCESS = 0x01
    OP_NOT_SUPPORTED = 0x02
    INVALID_PARAMETER = 0x03
    OPERATION_FAILED = 0x04
    CONTROL_NOT_PERMITTED = 0x05


class MachineStatusCode(IntEnum):
    RESET = 0x01
    STOPPED_OR_PAUSED_BY_USER = 0x02
    STOPPED_BY_SAFETY_KEY = 0x03
    STARTED_OR_RESUMED_BY_USER = 0x04
    TARGET_SPEED_CHANGED = 0x05
    TARGET_INCLINE_CHANGED = 0x06
    CONTROL_PERMISSION_LOST = 0xFF


class StopPause(IntEnum):
    STOP = 1
    PAUSE = 2


# Machine feature bits (FTMS 4.3.1.1) and target setting bits (4.3.1.2) the simulator uses.
FEATURE_AVERAGE_SPEED = 1 << 0
FEATURE_TOTAL_DISTANCE = 1 << 2
FEATURE_INCLINATION = 1 << 3
FEATURE_EXPENDED_ENERGY = 1 << 9
FEATURE_HEART_RATE = 1 << 10
FEATURE_METABOLIC_EQUIVALENT = 1 << 11
FEATURE_ELAPSED_TIME = 1 << 12
TARGET_SPEED_SUPPORTED = 1 << 0
TARGET_INCLINATION_SUPPORTED = 1 << 1


# ---------------------------------------------------------------- simple characteristics
@dataclass(frozen=True)
class Features:
    machine: int
    target_setting: int

    def encode(self) -> bytes:
        return struct.pack("<II", self.machine, self.target_setting)


@dataclass(frozen=True)
class SpeedRange:
    """Supported Speed Range in 0.01 km/h (as claimed: a quirky machine may put mph numbers here)."""

    minimum: int
    maximum: int
    increment: int

    def encode(self) -> bytes:
        return struct.pack("<HHH", self.minimum, self.maximum, self.increment)

    @classmethod
    def decode(cls, data: bytes) -> SpeedRange:
        _expect_length("Supported Speed Range", data, 6)
        return cls(*struct.unpack("<HHH", data))


@dataclass(frozen=True)
class InclinationRange:
    """Supported Inclination Range in 0.1 %."""

    minimum: int
    maximum: int
    increment: int

    def encode(self) -> bytes:
        return struct.pack("<hhH", self.minimum, self.maximum, self.increment)

    @classmethod
    def decode(cls, data: bytes) -> InclinationRange:
        _expect_length("Supported Inclination Range", data, 6)
        return cls(*struct.unpack("<hhH", data))


def encode_training_status(status: int) -> bytes:
    # Flags 0: no training status string follows.
    return bytes([0x00, status])


def decode_training_status(data: bytes) -> int:
    if len(data) < 2:
        raise FtmsFormatError(f"Training Status needs at least 2 bytes, got {len(data)}")
    return data[1]


def _expect_length(what: str, data: bytes, length: int) -> None:
    if len(data) != length:
        raise FtmsFormatError(f"{what} must be {length} bytes, got {len(data)}: {data.hex(' ')}")


# ---------------------------------------------------------------- machine status
@dataclass(frozen=True)
class MachineStatus:
    code: MachineStatusCode
    # 02: 1 stop / 2 pause; 05: target speed in 0.01 km/h; 06: target incline in 0.1 %.
    value: int | None = None

    def encode(self) -> bytes:
        match self.code:
            case MachineStatusCode.STOPPED_OR_PAUSED_BY_USER:
                return struct.pack("<BB", self.code, self._value())
            case MachineStatusCode.TARGET_SPEED_CHANGED:
                return struct.pack("<BH", self.code, self._value())
            case MachineStatusCode.TARGET_INCLINE_CHANGED:
                return struct.pack("<Bh", self.code, self._value())
            case _:
                return bytes([self.code])

    def _value(self) -> int:
        if self.value is None:
            raise FtmsFormatError(f"machine status {self.code.name} needs a value")
        return self.value

    @classmethod
    def decode(cls, data: bytes) -> MachineStatus:
        if not data:
            raise FtmsFormatError("empty Machine Status")
        try:
            code = MachineStatusCode(data[0])
        except ValueError:
            raise FtmsFormatError(f"unknown Machine Status op 0x{data[0]:02x}") from None
        body = data[1:]
        match code:
            case MachineStatusCode.STOPPED_OR_PAUSED_BY_USER:
                _expect_length("Machine Status 02 parameter", body, 1)
                return cls(code, body[0])
            case MachineStatusCode.TARGET_SPEED_CHANGED:
                _expect_length("Machine Status 05 parameter", body, 2)
                return cls(code, struct.unpack("<H", body)[0])
            case MachineStatusCode.TARGET_INCLINE_CHANGED:
                _expect_length("Machine Status 06 parameter", body, 2)
                return cls(code, struct.unpack("<h", body)[0])
            case _:
                _expect_length(f"Machine Status {code:02x} parameter", body, 0)
                return cls(code)


# ---------------------------------------------------------------- control point
@dataclass(frozen=True)
class RequestControl:
    op = ControlOp.REQUEST_CONTROL


@dataclass(frozen=True)
class Reset:
    op = ControlOp.RESET


@dataclass(frozen=True)
class SetTargetSpeed:
    speed_cs: int  # 0.01 km/h
    op = ControlOp.SET_TARGET_SPEED


@dataclass(frozen=True)
class SetTargetInclination:
    incline_dp: int  # 0.1 %
    op = ControlOp.SET_TARGET_INCLINATION


@dataclass(frozen=True)
class StartResume:
    op = ControlOp.START_RESUME


@dataclass(frozen=True)
class StopOrPause:
    action: StopPause
    op = ControlOp.STOP_PAUSE


type ControlRequest = (
    RequestControl | Reset | SetTargetSpeed | SetTargetInclination | StartResume | StopOrPause
)

# Parameter layout of every supported op: the struct format after the op code.
_PARAMETER_FORMATS: dict[ControlOp, str] = {
    ControlOp.REQUEST_CONTROL: "",
    ControlOp.RESET: "",
    ControlOp.SET_TARGET_SPEED: "<H",
    ControlOp.SET_TARGET_INCLINATION: "<h",
    ControlOp.START_RESUME: "",
    ControlOp.STOP_PAUSE: "<B",
}


class FrameProblem(StrEnum):
    EMPTY = "empty"
    TRUNCATED = "truncated"
    TOO_LONG = "too long"
    UNKNOWN_OPCODE = "unknown op code"
    BAD_PARAMETER = "bad parameter"


class ControlPointFrameError(FtmsFormatError):
    """A Control Point write that is not a well-formed supported request."""

    def __init__(self, problem: FrameProblem, opcode: int | None, detail: str) -> None:
        where = "" if opcode is None else f" (op 0x{opcode:02x})"
        super().__init__(f"control point write {problem}{where}: {detail}")
        self.problem = problem
        self.opcode = opcode


def decode_control_request(data: bytes) -> ControlRequest:
    """Parse a Control Point write; raises :class:`ControlPointFrameError` saying exactly what is wrong."""
    if not data:
        raise ControlPointFrameError(FrameProblem.EMPTY, None, "no op code")
    opcode = data[0]
    try:
        op = ControlOp(opcode)
    except ValueError:
        raise ControlPointFrameError(
            FrameProblem.UNKNOWN_OPCODE, opcode, "a treadmill supports 00, 01, 02, 03, 07, 08"
        ) from None
    fmt = _PARAMETER_FORMATS[op]
    want = struct.calcsize(fmt) if fmt else 0
    body = data[1:]
    if len(body) < want:
        raise ControlPointFrameError(
            FrameProblem.TRUNCATED, opcode, f"needs {want} parameter byte(s), got {len(body)}"
        )
    if len(body) > want:
        raise ControlPointFrameError(
            FrameProblem.TOO_LONG, opcode, f"takes {want} parameter byte(s), got {len(body)}"
        )
    value: int = struct.unpack(fmt, body)[0] if fmt else 0
    match op:
        case ControlOp.REQUEST_CONTROL:
            return RequestControl()
        case ControlOp.RESET:
            return Reset()
        case ControlOp.SET_TARGET_SPEED:
            return SetTargetSpeed(value)
        case ControlOp.SET_TARGET_INCLINATION:
            return SetTargetInclination(value)
        case ControlOp.START_RESUME:
            return StartResume()
        case ControlOp.STOP_PAUSE:
            try:
                return StopOrPause(StopPause(value))
            except ValueError:
                raise ControlPointFrameError(
                    FrameProblem.BAD_PARAMETER, opcode, f"stop/pause parameter must be 1 or 2, got {value}"
                ) from None


def encode_control_request(request: ControlRequest) -> bytes:
    """The bytes a client writes (used by tests and the console's self-checks)."""
    fmt = _PARAMETER_FORMATS[request.op]
    match request:
        case SetTargetSpeed(speed_cs=v) | SetTargetInclination(incline_dp=v):
            return bytes([request.op]) + struct.pack(fmt, v)
        case StopOrPause(action=action):
            return bytes([request.op, action])
        case _:
            return bytes([request.op])


@dataclass(frozen=True)
class ControlResponse:
    op: int
    result: ResultCode

    def encode(self) -> bytes:
        return bytes([RESPONSE_CODE, self.op, self.result])

    @classmethod
    def decode(cls, data: bytes) -> ControlResponse:
        _expect_length("Control Point response", data, 3)
        if data[0] != RESPONSE_CODE:
            raise FtmsFormatError(f"Control Point response must start with 80, got {data.hex(' ')}")
        try:
            return cls(data[1], ResultCode(data[2]))
        except ValueError:
            raise FtmsFormatError(f"unknown result code 0x{data[2]:02x}") from None


# ---------------------------------------------------------------- treadmill data
@dataclass(frozen=True)
class TreadmillData:
    """One Treadmill Data record. ``None`` means the field is absent (its flag bit is 0)."""

    speed_cs: int | None = None  # 0.01 km/h; present iff bit 0 ("More Data") is 0
    average_speed_cs: int | None = None
    total_distance_m: int | None = None  # uint24
    inclination_dp: int | None = None  # sint16 0.1 %, sent together with ramp angle
    ramp_angle_dd: int | None = None  # sint16 0.1 degree
    elevation_gain_positive_dm: int | None = None  # uint16 0.1 m, sent together with negative
    elevation_gain_negative_dm: int | None = None
    instantaneous_pace: int | None = None  # uint8 0.1 km/min (FTMS 1.0 text)
    average_pace: int | None = None
    energy_total_kcal: int | None = None  # uint16, sent with per hour (uint16) and per minute (uint8)
    energy_per_hour_kcal: int | None = None
    energy_per_minute_kcal: int | None = None
    heart_rate_bpm: int | None = None
    metabolic_equivalent_dm: int | None = None  # uint8 0.1
    elapsed_s: int | None = None
    remaining_s: int | None = None
    force_n: int | None = None  # sint16, sent with power sint16
    power_w: int | None = None
    # Not FTMS 1.0: reserved flag bit 13, a uint16 step count and a pad byte (the UREVO E1L and KingSmith
    # pads send it; treadsim only with the urevo-e1l quirk).
    step_count: int | None = None

    def merged(self, other: TreadmillData) -> TreadmillData:
        """This record with every field ``other`` carries taken from ``other``."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values |= {
            f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name) is not None
        }
        return TreadmillData(**values)


@dataclass(frozen=True)
class _Group:
    """The fields one flag bit switches on, and their layout."""

    bit: int
    names: tuple[str, ...]
    fmt: str
    # Value written for a group member the record leaves out (FTMS "not available" where defined).
    filler: tuple[int, ...]


_GROUPS: tuple[_Group, ...] = (
    _Group(1, ("average_speed_cs",), "<H", (0,)),
    _Group(2, ("total_distance_m",), "<3s", (0,)),  # uint24, handled specially
    _Group(3, ("inclination_dp", "ramp_angle_dd"), "<hh", (0, 0x7FFF)),
    _Group(4, ("elevation_gain_positive_dm", "elevation_gain_negative_dm"), "<HH", (0, 0)),
    _Group(5, ("instantaneous_pace",), "<B", (0,)),
    _Group(6, ("average_pace",), "<B", (0,)),
    _Group(
        7,
        ("energy_total_kcal", "energy_per_hour_kcal", "energy_per_minute_kcal"),
        "<HHB",
        (0xFFFF, 0xFFFF, 0xFF),
    ),
    _Group(8, ("heart_rate_bpm",), "<B", (0,)),
    _Group(9, ("metabolic_equivalent_dm",), "<B", (0,)),
    _Group(10, ("elapsed_s",), "<H", (0,)),
    _Group(11, ("remaining_s",), "<H", (0,)),
    _Group(12, ("force_n", "power_w"), "<hh", (0, 0)),
    _Group(13, ("step_count",), "<Hx", (0,)),  # reserved in FTMS 1.0; see TreadmillData.step_count
)
_RESERVED_BITS = 0xC000
MORE_DATA = 0x0001
FLAGS_SIZE = 2
SPEED_SIZE = 2


def _group_bytes(group: _Group, record: TreadmillData) -> bytes | None:
    values = [getattr(record, name) for name in group.names]
    if all(v is None for v in values):
        return None
    filled = [group.filler[i] if v is None else v for i, v in enumerate(values)]
    if group.bit == 2:
        if not 0 <= filled[0] < 1 << 24:
            raise FtmsFormatError(f"total distance {filled[0]} m does not fit in uint24")
        return filled[0].to_bytes(3, "little")
    try:
        return struct.pack(group.fmt, *filled)
    except struct.error as exc:
        raise FtmsFormatError(f"{group.names} = {filled} do not fit {group.fmt}: {exc}") from None


def encode_treadmill_data(
    record: TreadmillData, payload_size: int, *, max_groups_per_part: int | None = None
) -> list[bytes]:
    """The notifications carrying ``record``, each at most ``payload_size`` (ATT MTU - 3) bytes.

    A record that does not fit is split (FTMS 4.9.1): every part but the last has bit 0 ("More Data") set
    and no speed; the instantaneous speed travels in the last part. ``max_groups_per_part`` forces
    smaller parts (the ``split-records`` quirk).
    """
    if record.speed_cs is None:
        raise FtmsFormatError("a treadmill record always carries the instantaneous speed")
    if not 0 <= record.speed_cs <= 0xFFFF:
        raise FtmsFormatError(f"speed {record.speed_cs} does not fit in uint16")
    groups = [(g.bit, b) for g in _GROUPS if (b := _group_bytes(g, record)) is not None]
    room = payload_size - FLAGS_SIZE
    if room < max((len(b) for _, b in groups), default=0) or room < SPEED_SIZE:
        raise FtmsFormatError(f"payload of {payload_size} bytes cannot carry a treadmill data field")
    if max_groups_per_part is not None and max_groups_per_part < 1:
        raise FtmsFormatError(f"a part carries at least one field, not {max_groups_per_part}")
    limit = max_groups_per_part or len(groups) + 1
    parts: list[bytes] = []
    rest = groups
    while sum(len(b) for _, b in rest) + SPEED_SIZE > room or len(rest) >= limit:
        take, used = 0, 0
        while take < len(rest) and take < limit and used + len(rest[take][1]) <= room:
            used += len(rest[take][1])
            take += 1
        chunk, rest = rest[:take], rest[take:]
        flags = MORE_DATA | sum(1 << bit for bit, _ in chunk)
        parts.append(struct.pack("<H", flags) + b"".join(b for _, b in chunk))
    flags = sum(1 << bit for bit, _ in rest)
    parts.append(struct.pack("<HH", flags, record.speed_cs) + b"".join(b for _, b in rest))
    return parts


def decode_treadmill_data(data: bytes) -> tuple[bool, TreadmillData]:
    """One notification: (``more_data``, the fields it carries)."""
    if len(data) < FLAGS_SIZE:
        raise FtmsFormatError(f"Treadmill Data needs 2 flag bytes, got {len(data)}")
    flags = struct.unpack_from("<H", data)[0]
    if flags & _RESERVED_BITS:
        raise FtmsFormatError(f"reserved Treadmill Data flag bits set: 0x{flags:04x}")
    more = bool(flags & MORE_DATA)
    pos = FLAGS_SIZE
    values: dict[str, int] = {}

    def take(size: int, what: str) -> bytes:
        nonlocal pos
        if pos + size > len(data):
            raise FtmsFormatError(f"Treadmill Data truncated in {what}: {data.hex(' ')}")
        chunk = data[pos : pos + size]
        pos += size
        return chunk

    if not more:
        values["speed_cs"] = struct.unpack("<H", take(SPEED_SIZE, "speed"))[0]
    for group in _GROUPS:
        if not flags & (1 << group.bit):
            continue
        if group.bit == 2:
            values["total_distance_m"] = int.from_bytes(take(3, "total distance"), "little")
            continue
        unpacked = struct.unpack(group.fmt, take(struct.calcsize(group.fmt), group.names[0]))
        values |= dict(zip(group.names, unpacked, strict=True))
    if pos != len(data):
        raise FtmsFormatError(
            f"Treadmill Data has {len(data) - pos} byte(s) beyond its flags: {data.hex(' ')}"
        )
    return more, TreadmillData(**values)


class TreadmillDataAssembler:
    """Joins split Treadmill Data notifications back into records, as a client must."""

    def __init__(self) -> None:
        self._pending: TreadmillData | None = None

    def feed(self, data: bytes) -> TreadmillData | None:
        """A complete record when ``data`` is a record's last part, else None."""
        more, part = decode_treadmill_data(data)
        merged = part if self._pending is None else self._pending.merged(part)
        if more:
            self._pending = merged
            return None
        self._pending = None
        return merged

    @property
    def incomplete(self) -> bool:
        return self._pending is not None


def encode_service_data(available: bool = True, *, cross_trainer: bool = False) -> bytes:
    """FTMS advertising service data: flags byte + uint16 machine type (a bit per machine type)."""
    machine_type = MACHINE_TYPE_TREADMILL | (MACHINE_TYPE_CROSS_TRAINER if cross_trainer else 0)
    return struct.pack("<BH", SERVICE_DATA_MACHINE_AVAILABLE if available else 0, machine_type)


def encode_cross_trainer_speed(speed_cs: int) -> bytes:
    """A Cross Trainer Data record (FTMS 4.10) carrying only the instantaneous speed: uint24 flags, all 0
    (bit 0 clear: the speed is present), then the speed in 0.01 km/h."""
    return struct.pack("<HBH", 0, 0, speed_cs)
