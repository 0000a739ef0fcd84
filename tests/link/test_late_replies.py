"""A control-point reply that comes after pyftms stopped waiting for it is late, not garbage."""

from __future__ import annotations

import asyncio
import logging

import pytest
from pyftms import ResultCode as FtmsResult
from pyftms.models import ControlCode

from retrowalk.link.pyftms_private import CheckedController, GarbageLog

from .characteristics import CONTROL_POINT

ADDRESS = "C0:7E:AD:00:00:07"
WAIT_S = 0.05  # pyftms's wait for a reply, short: the treadmill here answers only when told to


class SilentServices:
    """No characteristics to subscribe to: replies are handed to the controller by the test."""

    def get_characteristic(self, _uuid: str) -> None:
        return None


class QuietTreadmill:
    """A BleakClient stand-in that takes every write and answers none by itself."""

    def __init__(self) -> None:
        self.services = SilentServices()
        self.writes: list[bytes] = []
        self.wrote = asyncio.Event()

    async def write_gatt_char(self, _uuid: str, data: bytes, _response: bool) -> None:
        self.writes.append(bytes(data))
        self.wrote.set()


def controller(caplog: pytest.LogCaptureFixture) -> CheckedController:
    caplog.set_level(logging.INFO, logger="test-link")
    return CheckedController(lambda _event: None, GarbageLog(logging.getLogger("test-link"), ADDRESS))


def said(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "test-link" and r.levelno == level]


async def request_control_that_times_out(
    caplog: pytest.LogCaptureFixture,
) -> tuple[CheckedController, QuietTreadmill]:
    """A controller whose Request Control went out and whose wait for the answer timed out."""
    control, treadmill = controller(caplog), QuietTreadmill()
    with pytest.raises(TimeoutError):
        await control.write_command(treadmill, ControlCode.REQUEST_CONTROL, timeout=WAIT_S)
    assert treadmill.writes == [b"\x00"]
    return control, treadmill


async def test_the_late_answer_to_a_timed_out_request_control_is_said_to_be_late(
    caplog: pytest.LogCaptureFixture,
) -> None:
    control, _ = await request_control_that_times_out(caplog)
    control._on_indicate(CONTROL_POINT, b"\x80\x00\x01")
    assert said(caplog, logging.WARNING) == []
    assert said(caplog, logging.INFO) == [
        f"treadmill {ADDRESS} sent a late control-point reply (80 00 01): its command had already timed "
        "out; dropped"
    ]
    # Only once: a second identical answer was never asked for.
    control._on_indicate(CONTROL_POINT, b"\x80\x00\x01")
    assert any("no command was waiting" in line for line in said(caplog, logging.WARNING))


async def test_a_late_answer_arriving_while_the_next_command_waits_does_not_fail_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # pyftms took any answer as the reply to the command in flight and failed that command when the op
    # codes differed ("Response on another request?..").
    control, treadmill = await request_control_that_times_out(caplog)
    control._auth = True  # granted meanwhile, as the late answer will say: no second Request Control
    treadmill.wrote.clear()
    start = asyncio.create_task(
        control.write_command(treadmill, ControlCode.START_RESUME, timeout=5.0), name="start-in-flight"
    )
    await treadmill.wrote.wait()
    control._on_indicate(CONTROL_POINT, b"\x80\x00\x01")  # the late answer to the Request Control
    control._on_indicate(CONTROL_POINT, b"\x80\x07\x01")  # the answer to Start
    assert await start is FtmsResult.SUCCESS
    assert treadmill.writes == [b"\x00", b"\x07"]
    assert said(caplog, logging.WARNING) == []


async def test_the_wait_asked_for_is_the_wait_given(caplog: pytest.LogCaptureFixture) -> None:
    control, treadmill = controller(caplog), QuietTreadmill()
    # pyftms's own default wait is 2 s: only the 0.05 s asked for ends this within the second.
    async with asyncio.timeout(1.0):
        with pytest.raises(TimeoutError):
            await control.write_command(treadmill, ControlCode.REQUEST_CONTROL, timeout=WAIT_S)


async def start_that_times_out(caplog: pytest.LogCaptureFixture) -> tuple[CheckedController, QuietTreadmill]:
    """A controller in control whose Start went out and whose wait for the answer timed out."""
    control, treadmill = controller(caplog), QuietTreadmill()
    control._auth = True
    with pytest.raises(TimeoutError):
        await control.write_command(treadmill, ControlCode.START_RESUME, timeout=WAIT_S)
    treadmill.wrote.clear()
    return control, treadmill


async def test_a_command_sent_again_after_a_timeout_gets_its_own_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    control, treadmill = await start_that_times_out(caplog)
    again = asyncio.create_task(
        control.write_command(treadmill, ControlCode.START_RESUME, timeout=2.0), name="start-again"
    )
    await treadmill.wrote.wait()
    # The same op code as the one that timed out, but a command of that op code is in flight: its answer.
    control._on_indicate(CONTROL_POINT, b"\x80\x07\x01")
    assert await again is FtmsResult.SUCCESS


async def test_after_pyftms_s_own_request_control_the_outer_command_still_takes_its_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    control, treadmill = await start_that_times_out(caplog)
    control._auth = False  # control lost meanwhile: pyftms asks for it first, inside the Start
    again = asyncio.create_task(
        control.write_command(treadmill, ControlCode.START_RESUME, timeout=2.0), name="start-again"
    )
    await treadmill.wrote.wait()
    treadmill.wrote.clear()
    control._on_indicate(CONTROL_POINT, b"\x80\x00\x01")  # Request Control granted
    await treadmill.wrote.wait()
    control._on_indicate(CONTROL_POINT, b"\x80\x07\x01")  # the Start, whose op code timed out once before
    assert await again is FtmsResult.SUCCESS
    assert treadmill.writes == [b"\x07", b"\x00", b"\x07"]


async def test_a_late_answer_whose_result_code_matches_the_op_in_flight_is_still_late(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 80 07 01: the late "success" of the Start. Reset's op code is 0x01 too, as the result code is: only
    # the op code (the second byte) says whose answer it is.
    control, treadmill = await start_that_times_out(caplog)
    reset = asyncio.create_task(
        control.write_command(treadmill, ControlCode.RESET, timeout=2.0), name="reset"
    )
    await treadmill.wrote.wait()
    control._on_indicate(CONTROL_POINT, b"\x80\x07\x01")
    assert not reset.done()
    control._on_indicate(CONTROL_POINT, b"\x80\x01\x01")
    assert await reset is FtmsResult.SUCCESS
    assert said(caplog, logging.WARNING) == []


async def test_the_late_answer_to_a_timed_out_speed_command_is_said_to_be_late(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # pyftms passes Set Target Speed (and Stop, Pause) with no op code, as keyword arguments; their late
    # answers were called unreadable ("no command was waiting for one") instead of late.
    control, treadmill = controller(caplog), QuietTreadmill()
    control._auth = True
    with pytest.raises(TimeoutError):
        await control.write_command(treadmill, target_speed=1.0, timeout=WAIT_S)
    assert treadmill.writes == [b"\x02\x64\x00"]
    control._on_indicate(CONTROL_POINT, b"\x80\x02\x01")
    assert said(caplog, logging.WARNING) == []
    assert said(caplog, logging.INFO) == [
        f"treadmill {ADDRESS} sent a late control-point reply (80 02 01): its command had already timed "
        "out; dropped"
    ]
