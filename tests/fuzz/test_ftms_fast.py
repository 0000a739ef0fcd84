"""Fuzzing the client path in process: garbage FTMS frames into unmodified pyftms, FtmsLink and the runner.

Judged by ground truth (treadsim's belt record and the writes that reached the peripheral), not by what
the service says about itself:
- the runner task stays alive and keeps answering (a kiosk stop is handled after the garbage);
- no client change of the belt that the engine did not decide: no start, no speed above the allowed
  speed, no incline above the plan, whatever the treadmill sends;
- a control-point reply that is not a clean success makes the command fail closed: the session ends and
  the belt is stopped.
See tests/plugins/in_process_treadmill.py for what the in-process transport keeps from the real one;
test_ftms_adapter.py runs a few cases of the same through the virtual adapter with real bleak.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrowalk.link.events import Sample, StatusChange
from retrowalk.session import events as ev
from retrowalk.session.plan import SessionPlan
from tests.link.guarded_link import GuardedLink
from tests.plugins.in_process_treadmill import (
    ADDRESS,
    HANG_S,
    WELL_BEHAVED,
    RigFactory,
    TreadmillRig,
    client_starts,
    profiles,
    speed_writes,
    start_session,
)
from treadsim.ftms import CONTROL_POINT, MACHINE_STATUS, TRAINING_STATUS, TREADMILL_DATA, ControlOp
from treadsim.model import BeltState

from .budget import fuzz_settings, timeout_s
from .ftms_frames import (
    control_point_replies,
    machine_status_frames,
    must_fail_closed,
    reply_spoilers,
    training_status_frames,
    treadmill_data_frames,
)

# (characteristic, frame): what a treadmill (or a radio) might put on the air.
notifications = st.one_of(
    st.tuples(st.just(TREADMILL_DATA), treadmill_data_frames()),
    st.tuples(st.just(MACHINE_STATUS), machine_status_frames()),
    st.tuples(st.just(TRAINING_STATUS), training_status_frames()),
    # An indication nobody asked for (no command in flight).
    st.tuples(st.just(CONTROL_POINT), control_point_replies(ControlOp.SET_TARGET_SPEED)),
)

# --------------------------------------------------------------------------- layer 1: parsers and link


@pytest.mark.timeout(timeout_s(60))
@fuzz_settings(600)
@given(frames=st.lists(notifications, min_size=1, max_size=30))
def test_pyftms_and_the_link_turn_any_frame_into_a_sane_event_and_never_raise(
    frames: list[tuple[str, bytes]],
) -> None:
    # pyftms with the guards and decoders the link installs: no exception may escape a callback (in
    # bleak it would be a traceback that names no treadmill; the guards log what they drop instead).
    rig = GuardedLink("F0:22:00:00:00:02")
    for char_uuid, frame in frames:
        rig.feed(char_uuid, frame)
    for event in rig.take_events():
        if isinstance(event, Sample):
            # Whatever was parsed is a number the engine can compare against a limit.
            assert math.isfinite(event.speed_kmh)
            assert event.speed_kmh >= 0
            assert event.incline_pct is None or math.isfinite(event.incline_pct)
        else:
            assert isinstance(event, StatusChange)
            assert isinstance(event.kind, ev.MachineStatusKind)
            assert event.value is None or math.isfinite(event.value)


# --------------------------------------------------------------------------- layer 2: the runner


def _assert_no_undecided_change(
    rig: TreadmillRig, since: float, writes_before: int, incline_pct: float
) -> None:
    record = rig.belt_record()
    assert client_starts(record, since) == [], f"garbage started the belt: {record[-5:]}"
    for allowed, written in speed_writes(rig.delivery, writes_before):
        assert written <= allowed + 1e-9, f"Set Target Speed {written} km/h with {allowed} km/h allowed"
    for _allowed, frame in rig.delivery.writes[writes_before:]:
        assert frame[0] != ControlOp.START_RESUME, f"a Start was written: {rig.delivery.writes}"
        assert frame[0] != ControlOp.RESET
        if frame[0] == ControlOp.SET_TARGET_INCLINATION:
            assert int.from_bytes(frame[1:3], "little", signed=True) <= round(incline_pct * 10)


async def _until(condition: Callable[[], bool], rig: TreadmillRig, within_s: float = 5.0) -> None:
    """Tick the treadmill until ``condition`` holds or ``within_s`` passes (the caller asserts after)."""
    deadline = time.monotonic() + within_s
    while not condition() and time.monotonic() < deadline:
        rig.tick()
        await asyncio.sleep(0.002)


async def _assert_still_serving(rig: TreadmillRig) -> None:
    """The pump answers a kiosk stop, the belt is stopped, and at most one summary per session."""
    task = rig.task
    assert task is not None
    assert not task.done(), "the runner task ended"
    await asyncio.wait_for(rig.runner.submit(ev.Stop()), HANG_S)
    await _until(lambda: rig.peripheral.treadmill.state is BeltState.STOPPED, rig, HANG_S)
    assert rig.peripheral.treadmill.state is BeltState.STOPPED, (
        f"belt still {rig.peripheral.treadmill.state} after a stop"
    )
    assert not task.done()
    assert len(rig.ended()) <= 1, rig.ended()


@profiles(WELL_BEHAVED)
@pytest.mark.timeout(timeout_s(60))
@fuzz_settings(150)
@given(frames=st.lists(notifications, min_size=1, max_size=12), ticks_between=st.integers(0, 2))
async def test_garbage_notifications_never_move_the_belt_and_the_runner_keeps_serving(
    treadmill_factory: RigFactory, frames: list[tuple[str, bytes]], ticks_between: int
) -> None:
    async with treadmill_factory() as rig:
        plan = await start_session(rig)
        since = time.monotonic()
        writes_before = len(rig.delivery.writes)
        for char_uuid, frame in frames:
            rig.inject(char_uuid, frame)
            for _ in range(ticks_between):
                rig.tick()  # the treadmill's own, true records in between
            await rig.settle()
        _assert_no_undecided_change(rig, since, writes_before, plan.incline_pct)
        await _assert_still_serving(rig)


@profiles(WELL_BEHAVED)
@pytest.mark.timeout(timeout_s(60))
@fuzz_settings(150)
@given(data=st.data(), moment=st.sampled_from(["start", "correction"]))
async def test_a_garbage_control_point_reply_fails_closed(
    treadmill_factory: RigFactory, data: st.DataObject, moment: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    caplog.set_level(logging.INFO, logger="retrowalk")
    async with treadmill_factory() as rig:
        spoiled: list[tuple[int, bytes]] = []  # (op it answered, what pyftms got instead)
        countdown = [data.draw(st.integers(0, 2), label="which reply")]
        spoiler = data.draw(reply_spoilers(), label="spoiler")

        def spoil(char_uuid: str, value: bytes) -> list[bytes]:
            if char_uuid != CONTROL_POINT or spoiled or len(value) < 2:
                return [value]
            if countdown[0] > 0:
                countdown[0] -= 1
                return [value]
            op = value[1]
            garbage = spoiler(op)
            spoiled.append((op, garbage))
            return [garbage]

        if moment == "start":
            rig.tamper = spoil
            await rig.runner.submit(ev.Start("fuzzer", SessionPlan()))
        else:
            await start_session(rig)
            countdown[0] = 0
            rig.tamper = spoil
            # A person speeds the belt up at the console: the engine's correction gets the spoiled reply.
            rig.peripheral.console_set_speed(time.monotonic(), 3.0)
        for _ in range(100):
            rig.tick()
            await asyncio.sleep(0.002)
            if rig.ended() and rig.peripheral.treadmill.state is BeltState.STOPPED:
                break
        assert rig.task is not None
        assert not rig.task.done()
        if spoiled:
            op, garbage = spoiled[0]
            if op != ControlOp.REQUEST_CONTROL and must_fail_closed(garbage, op):
                # A loaded machine may need longer than the loop above for the round trips (10^5-case
                # runs failed here twice and passed on replay). The belt comes first: it must be stopped
                # within 5 s; the session's end is then published, in a bound that only catches a hang.
                await _until(lambda: rig.peripheral.treadmill.state is BeltState.STOPPED, rig, 5.0)
                assert rig.peripheral.treadmill.state is BeltState.STOPPED, (
                    f"reply {garbage.hex(' ')} to op {op:#04x}: belt still moving 5 s later; "
                    f"writes {rig.delivery.writes[-6:]}, record {rig.belt_record()[-3:]}"
                )
                await _until(lambda: bool(rig.ended()), rig, HANG_S)
                ended = rig.ended()
                assert ended, f"reply {garbage.hex(' ')} to op {op:#04x} did not end the session"
                assert ended[0].reason in ("command_failed", "command_refused"), ended[0]
                # The log says which session ended and why, in words (see the report on what it lacks).
                said = [r.getMessage() for r in caplog.records if r.name.startswith("retrowalk")]
                assert any(ended[0].reason in line for line in said), said
                assert rig.peripheral.treadmill.state is BeltState.STOPPED, rig.belt_record()[-3:]
                # Nothing after the failed command may have started the belt again.
                assert client_starts(rig.belt_record(), rig.belt_record()[-1].time) == []
        await _assert_still_serving(rig)


@profiles(WELL_BEHAVED)
async def test_a_reply_without_the_response_op_code_is_not_a_success(
    treadmill: TreadmillRig, caplog: pytest.LogCaptureFixture
) -> None:
    # pyftms 0.4 alone reads `00 02 01` as a successful Set Target Speed (it never checks the 0x80
    # response code); the link's guard must turn it into a failed command that ends the session.
    caplog.set_level(logging.WARNING, logger="retrowalk")
    rig = treadmill
    spoiled: list[bytes] = []

    def spoil(char_uuid: str, value: bytes) -> list[bytes]:
        answers_speed = value[1:2] == bytes([ControlOp.SET_TARGET_SPEED])
        if char_uuid == CONTROL_POINT and not spoiled and answers_speed:
            spoiled.append(b"\x00" + value[1:])  # 00 02 01: the response code 0x80 is missing
            return [spoiled[-1]]
        return [value]

    rig.tamper = spoil
    await rig.runner.submit(ev.Start("fuzzer", SessionPlan()))
    for _ in range(50):
        rig.tick()
        await asyncio.sleep(0.002)
    assert spoiled == [b"\x00\x02\x01"]
    ended = rig.ended()
    assert ended, f"a reply without 0x80 was taken as success; phase {rig.engine.phase}"
    assert ended[0].reason == "command_failed"
    assert rig.peripheral.treadmill.state is BeltState.STOPPED
    assert any("00 02 01 is not an FTMS response" in r.getMessage() for r in caplog.records)


@profiles(WELL_BEHAVED)
async def test_unreadable_frames_are_logged_by_treadmill_and_change_nothing(
    treadmill: TreadmillRig, caplog: pytest.LogCaptureFixture
) -> None:
    # Before the guards, pyftms raised inside bleak's callback and only dbus-fast logged it, naming no
    # treadmill. Now: one warning per burst with the address and the bytes, and nothing else happens.
    caplog.set_level(logging.WARNING, logger="retrowalk")
    rig = treadmill
    await start_session(rig)
    phase = rig.engine.phase
    writes_before = len(rig.delivery.writes)
    for _ in range(3):
        rig.inject(MACHINE_STATUS, b"\x05")  # Target Speed Changed without its speed
        await rig.settle()
    rig.inject(CONTROL_POINT, b"\x80\x02\x01")  # an answer to a command nobody sent
    await rig.settle()
    said = [r.getMessage() for r in caplog.records if r.name.startswith("retrowalk")]
    unreadable = [line for line in said if "sent an unreadable machine status (05)" in line]
    assert len(unreadable) == 1, said
    assert unreadable[0].startswith(f"treadmill {ADDRESS}"), unreadable
    assert any("control-point reply (80 02 01): no command was waiting" in line for line in said), said
    assert rig.engine.phase is phase
    assert rig.delivery.writes[writes_before:] == []
    await _assert_still_serving(rig)
