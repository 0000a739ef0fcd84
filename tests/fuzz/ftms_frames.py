"""Hypothesis strategies for FTMS frames a treadmill might send: well-formed, mutated and random.

Three kinds mixed in every strategy, because each finds different bugs: random bytes (anything at all),
well-formed frames with random values (the parser accepts them; does the service survive the values?)
and mutations of well-formed frames (one flipped bit, a truncation, a stray byte: what a flaky radio or
a sloppy firmware sends).
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from treadsim.ftms import (
    RESPONSE_CODE,
    ControlResponse,
    MachineStatus,
    MachineStatusCode,
    ResultCode,
    TreadmillData,
    encode_training_status,
    encode_treadmill_data,
)

_U8 = st.integers(0, 0xFF)
_U16 = st.integers(0, 0xFFFF)
_S16 = st.integers(-0x8000, 0x7FFF)


def _opt(values: st.SearchStrategy[int]) -> st.SearchStrategy[int | None]:
    return st.none() | values


treadmill_records = st.builds(
    TreadmillData,
    speed_cs=st.one_of(st.integers(0, 400), _U16),  # walking speeds often, anything sometimes
    average_speed_cs=_opt(_U16),
    total_distance_m=_opt(st.integers(0, (1 << 24) - 1)),
    inclination_dp=_opt(_S16),
    ramp_angle_dd=_opt(_S16),
    elevation_gain_positive_dm=_opt(_U16),
    elevation_gain_negative_dm=_opt(_U16),
    instantaneous_pace=_opt(_U8),
    average_pace=_opt(_U8),
    energy_total_kcal=_opt(_U16),
    energy_per_hour_kcal=_opt(_U16),
    energy_per_minute_kcal=_opt(_U8),
    heart_rate_bpm=_opt(_U8),
    metabolic_equivalent_dm=_opt(_U8),
    elapsed_s=_opt(_U16),
    remaining_s=_opt(_U16),
    force_n=_opt(_S16),
    power_w=_opt(_S16),
)


@st.composite
def well_formed_treadmill_data(draw: st.DrawFn) -> bytes:
    """One notification of a well-formed record (possibly one part of a split record)."""
    record = draw(treadmill_records)
    parts = encode_treadmill_data(record, draw(st.integers(20, 244)))
    return draw(st.sampled_from(parts))


# One edit: (kind, position as a fraction of the length, a byte value, extra bytes). Positions are
# fractions so the same edits apply to any frame (see reply_spoilers).
Edit = tuple[str, float, int, bytes]
edits = st.lists(
    st.tuples(
        st.sampled_from(["flip", "replace", "truncate", "extend", "insert"]),
        st.floats(0, 1, exclude_max=True),
        _U8,
        st.binary(min_size=1, max_size=6),
    ),
    min_size=1,
    max_size=3,
)


def apply_edits(base: bytes, changes: list[Edit]) -> bytes:
    """``base`` with each edit applied: bit flip, byte replaced, truncated, extended, byte inserted."""
    frame = bytearray(base)
    for wanted, where, value, extra in changes:
        kind = "extend" if wanted in ("flip", "replace", "truncate") and not frame else wanted
        index = int(where * len(frame))
        match kind:
            case "flip":
                frame[index] ^= 1 << (value % 8)
            case "replace":
                frame[index] = value
            case "truncate":
                del frame[index:]
            case "extend":
                frame += extra
            case "insert":
                frame.insert(int(where * (len(frame) + 1)), value)
    return bytes(frame)


def mutated(base: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """``base`` with one to three edits."""
    return st.builds(apply_edits, base, edits)


def _any_of(well_formed: st.SearchStrategy[bytes], max_random: int) -> st.SearchStrategy[bytes]:
    return st.one_of(well_formed, mutated(well_formed), st.binary(max_size=max_random))


def treadmill_data_frames() -> st.SearchStrategy[bytes]:
    return _any_of(well_formed_treadmill_data(), 40)


@st.composite
def well_formed_machine_status(draw: st.DrawFn) -> bytes:
    code = draw(st.sampled_from(list(MachineStatusCode)))
    value: int | None = None
    if code is MachineStatusCode.STOPPED_OR_PAUSED_BY_USER:
        value = draw(st.sampled_from([1, 2]) | _U8)
    elif code is MachineStatusCode.TARGET_SPEED_CHANGED:
        value = draw(st.integers(0, 400) | _U16)
    elif code is MachineStatusCode.TARGET_INCLINE_CHANGED:
        value = draw(_S16)
    return MachineStatus(code, value).encode()


def machine_status_frames() -> st.SearchStrategy[bytes]:
    return _any_of(well_formed_machine_status(), 8)


def training_status_frames() -> st.SearchStrategy[bytes]:
    well_formed = st.builds(encode_training_status, st.integers(0, 0x0F))
    # Flag bit 0 says a UTF-8 string follows: give pyftms strings, good and bad.
    with_text = st.builds(lambda code, text: bytes([1, code]) + text, _U8, st.binary(max_size=12))
    return _any_of(st.one_of(well_formed, with_text), 8)


Spoiler = Callable[[int], bytes]


def reply_spoilers() -> st.SearchStrategy[Spoiler]:
    """Ways to spoil the reply to a request whose op code is known only later (when it is sent):
    any result code, a wrong op code, a mutated success, or random bytes."""
    return st.one_of(
        st.builds(lambda result: lambda op: bytes([RESPONSE_CODE, op, result]), _U8),
        st.builds(lambda other, result: lambda _op: bytes([RESPONSE_CODE, other, result]), _U8, _U8),
        st.builds(lambda changes: lambda op: apply_edits(_success(op), changes), edits),
        st.builds(lambda junk: lambda _op: junk, st.binary(max_size=8)),
    )


def control_point_replies(op: int) -> st.SearchStrategy[bytes]:
    """A reply to a request with op code ``op``: right or wrong op, any result, any shape."""
    return st.builds(lambda spoil: spoil(op), reply_spoilers())


def _success(op: int) -> bytes:
    return ControlResponse(op, ResultCode.SUCCESS).encode()


def is_success_reply(frame: bytes, op: int) -> bool:
    """A successful answer to ``op`` by the FTMS text: ``80 <op> 01``. Bytes after those three are
    accepted as a success too (pyftms ignores them; FTMS defines response parameters for some ops, and
    a treadmill that did what was asked is no danger)."""
    return frame[:3] == bytes([RESPONSE_CODE, op, ResultCode.SUCCESS])


def retried_as_not_permitted(frame: bytes, op: int) -> bool:
    """pyftms reads the frame as "control not permitted" for ``op``: FtmsLink then requests control again
    and retries the command once (by design: some treadmills drop control after a pause), so the
    genuine reply to the retry decides, not this frame."""
    return frame[:3] == bytes([RESPONSE_CODE, op, ResultCode.CONTROL_NOT_PERMITTED])


def must_fail_closed(frame: bytes, op: int) -> bool:
    """Whether a reply to ``op`` must end the session: anything but a success or a retried refusal."""
    return not (is_success_reply(frame, op) or retried_as_not_permitted(frame, op))
