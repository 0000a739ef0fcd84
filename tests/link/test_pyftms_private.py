"""The fence around pyftms's private API: its check at import, the reply guard and the log of unreadable
frames, in isolation (the fuzz tests drive the guards through pyftms and a simulated treadmill; these pin
the exact rules: which replies pass, when a line is logged, what a mismatched pyftms is told)."""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import logging
import tomllib
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from bleak.backends.device import BLEDevice
from packaging.requirements import Requirement
from pyftms import MachineType, get_client
from pyftms.client.machines.treadmill import TreadmillData

from retrowalk.link import pyftms_private
from retrowalk.link.ftms_data import TrainingStatus
from retrowalk.link.pyftms_private import (
    PRIVATE_API,
    PYFTMS_VERSION,
    CheckedController,
    CheckedUpdater,
    GarbageLog,
    MalformedReplyError,
    PyftmsMismatchError,
    check_pyftms,
    install_guards,
)

from .characteristics import CONTROL_POINT, MACHINE_STATUS, TRAINING_STATUS, TREADMILL_DATA

ADDRESS = "AA:BB:CC:00:00:01"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="test.guards")
    return caplog


def garbage_log(clock: Clock) -> GarbageLog:
    return GarbageLog(logging.getLogger("test.guards"), ADDRESS, clock)


def test_the_first_unreadable_frame_is_logged_with_the_treadmill_and_the_bytes(
    logged: pytest.LogCaptureFixture,
) -> None:
    garbage_log(Clock()).frame("treadmill data", b"\x01\x02", "ValueError: short")
    assert logged.messages == [
        f"treadmill {ADDRESS} sent an unreadable treadmill data (01 02): ValueError: short; "
        "dropped 1 such frame(s)"
    ]


def test_an_empty_frame_says_so(logged: pytest.LogCaptureFixture) -> None:
    garbage_log(Clock()).frame("machine status", b"", "IndexError")
    assert logged.messages == [
        f"treadmill {ADDRESS} sent an unreadable machine status (empty): IndexError; dropped 1 such frame(s)"
    ]


def test_a_burst_is_logged_once_every_30_s_with_the_count(logged: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = garbage_log(clock)
    log.frame("machine status", b"\x05", "first")
    for at in (1.0, 10.0, 29.99):
        clock.now = 1000.0 + at
        log.frame("machine status", b"\x05", "again")
    assert len(logged.messages) == 1
    clock.now = 1030.0
    log.frame("machine status", b"\x05", "at 30 s")
    assert logged.messages[1] == (
        f"treadmill {ADDRESS} sent an unreadable machine status (05): at 30 s; "
        "dropped 4 such frame(s) in the last 30 s"
    )
    # The count starts again from the line just logged.
    clock.now = 1075.4
    log.frame("machine status", b"\x05", "later")
    assert logged.messages[2].endswith("dropped 1 such frame(s) in the last 45 s")


def test_each_kind_of_frame_has_its_own_burst(logged: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = garbage_log(clock)
    log.frame("machine status", b"\x05", "one")
    clock.now += 1.0
    log.frame("training status", b"\x00", "two")
    log.frame("machine status", b"\x05", "three")
    assert [line.split(" sent an unreadable ")[1].split(" (")[0] for line in logged.messages] == [
        "machine status",
        "training status",
    ]


def controller(clock: Clock) -> CheckedController:
    return CheckedController(lambda _event: None, garbage_log(clock))


async def test_a_reply_starting_with_the_response_code_answers_the_command() -> None:
    guard = controller(Clock())
    guard._indicate = asyncio.get_running_loop().create_future()
    guard._on_indicate(CONTROL_POINT, bytearray(b"\x80\x02\x01"))
    assert guard._indicate.result() == b"\x80\x02\x01"


@pytest.mark.parametrize(
    ("reply", "shown"),
    [(b"\x00\x02\x01", "00 02 01"), (b"\x81\x02\x01", "81 02 01"), (b"\x80\x02", "80 02"), (b"", "(empty)")],
)
async def test_a_reply_that_is_not_an_ftms_response_fails_the_command(reply: bytes, shown: str) -> None:
    guard = controller(Clock())
    guard._indicate = asyncio.get_running_loop().create_future()
    guard._on_indicate(CONTROL_POINT, reply)
    with pytest.raises(MalformedReplyError) as caught:
        guard._indicate.result()
    assert str(caught.value) == (
        f"control-point reply {shown} is not an FTMS response "
        "(it must start with 0x80 and name the command and a result)"
    )


async def test_a_reply_with_no_command_waiting_is_logged_and_dropped(
    logged: pytest.LogCaptureFixture,
) -> None:
    guard = controller(Clock())
    guard._on_indicate(CONTROL_POINT, b"\x80\x02\x01")  # nothing sent yet
    done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    done.set_result(b"\x80\x07\x01")
    guard._indicate = done
    guard._on_indicate(CONTROL_POINT, b"\x80\x02\x01")  # the command in flight was already answered
    assert done.result() == b"\x80\x07\x01"
    assert logged.messages == [
        f"treadmill {ADDRESS} sent an unreadable control-point reply (80 02 01): no command was waiting "
        "for one; dropped 1 such frame(s)"
    ]


def test_an_unparsable_status_names_the_error(logged: pytest.LogCaptureFixture) -> None:
    guard = controller(Clock())
    guard._on_machine_status(MACHINE_STATUS, bytearray(b"\x02"))  # stopped or paused: which, it does not say
    guard._on_training_status(TRAINING_STATUS, bytearray(b"\x00"))  # flags without a status
    assert logged.messages == [
        f"treadmill {ADDRESS} sent an unreadable machine status (02): EOFError: Unexpected end of stream.; "
        "dropped 1 such frame(s)",
        f"treadmill {ADDRESS} sent an unreadable training status (00): shorter than its flags and status "
        "bytes; dropped 1 such frame(s)",
    ]


def test_a_machine_status_with_bytes_after_its_parameter_is_read(logged: pytest.LogCaptureFixture) -> None:
    # UREVO E1L, belt started at its console: 04 00 00 (pyftms 0.4 refuses the two extra bytes).
    events: list[Any] = []
    guard = CheckedController(events.append, garbage_log(Clock()))
    guard._on_machine_status(MACHINE_STATUS, bytearray(b"\x04\x00\x00"))
    guard._on_machine_status(MACHINE_STATUS, bytearray(b"\x05\xd1\x00\x00"))  # target speed 2.09
    assert [(e.event_id, e.event_source) for e in events] == [("start", "user"), ("setup", "other")]
    assert events[1].event_data == {"target_speed": 2.09}
    assert logged.messages == []


def test_a_training_status_ftms_does_not_define_is_reported_as_unknown_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # UREVO E1L sends 0x10 and 0x11 while its belt winds down; pyftms 0.4 raises on them.
    caplog.set_level(logging.INFO, logger="test.guards")
    events: list[Any] = []
    guard = CheckedController(events.append, garbage_log(Clock()))
    for frame in (b"\x00\x10", b"\x00\x11", b"\x00\x10", b"\x00\x0d", b"\x00\x00"):
        guard._on_training_status(TRAINING_STATUS, bytearray(frame))
    assert [e.event_data["training_status"] for e in events] == [0x10, 0x11, 0x10, 0x0D, 0x00]
    assert events[3].event_data["training_status"] is TrainingStatus.MANUAL_MODE
    assert events[4].event_data["training_status"] is TrainingStatus.OTHER
    assert caplog.messages == [
        f"treadmill {ADDRESS} reports training status 0x10 (00 10), which FTMS does not define; taken as "
        "unknown",
        f"treadmill {ADDRESS} reports training status 0x11 (00 11), which FTMS does not define; taken as "
        "unknown",
    ]


def test_readable_frames_pass_the_guards_unchanged(logged: pytest.LogCaptureFixture) -> None:
    events: list[Any] = []  # pyftms's event types
    garbage = garbage_log(Clock())
    guard = CheckedController(events.append, garbage)
    updater = CheckedUpdater(TreadmillData, events.append, garbage)
    guard._on_training_status(TRAINING_STATUS, bytearray(b"\x00\x01"))
    guard._on_machine_status(MACHINE_STATUS, bytearray(b"\x04"))
    updater._on_notify(TREADMILL_DATA, bytearray(b"\x00\x00\x64\x00"))  # 1.00 km/h
    assert [(type(e).__name__, e.event_id) for e in events] == [
        ("UpdateEvent", "update"),
        ("ControlEvent", "start"),
        ("UpdateEvent", "update"),
    ]
    assert events[0].event_data == {"training_status": 1}
    assert events[2].event_data == {"speed_instant": 1.0}
    assert logged.messages == []


def test_unreadable_treadmill_data_is_logged_and_not_delivered(logged: pytest.LogCaptureFixture) -> None:
    events: list[object] = []
    updater = CheckedUpdater(TreadmillData, events.append, garbage_log(Clock()))
    updater._on_notify(TREADMILL_DATA, bytearray(b"\x00"))
    assert events == []
    assert logged.messages == [
        f"treadmill {ADDRESS} sent an unreadable treadmill data (00): shorter than its two flag bytes; "
        "dropped 1 such frame(s)"
    ]


def test_installed_guards_serve_the_client_and_its_event_callback(logged: pytest.LogCaptureFixture) -> None:
    events: list[Any] = []
    client = get_client(BLEDevice(ADDRESS, "Pad", None), MachineType.TREADMILL, on_ftms_event=events.append)
    install_guards(client, garbage_log(Clock()))
    client._updater._on_notify(TREADMILL_DATA, bytearray(b"\x00\x00\x64\x00"))  # 1.00 km/h
    client._updater._on_notify(TREADMILL_DATA, bytearray(b"\x00"))
    client._controller._on_machine_status(MACHINE_STATUS, bytearray(b"\x04"))  # started by the user
    client._controller._on_machine_status(MACHINE_STATUS, bytearray(b"\x02"))
    assert ("speed_instant", 1.0) in events[0].event_data.items()
    assert events[1].event_id == "start"
    assert len(events) == 2
    assert [m.split(" sent an unreadable ")[1].split(" (")[0] for m in logged.messages] == [
        "treadmill data",
        "machine status",
    ]


# --------------------------------------------------------------------------- the check at import


def _owners_as_installed() -> dict[str, object]:
    client = get_client(BLEDevice(ADDRESS, "Checked", None), MachineType.TREADMILL)
    return {"FitnessMachine": client, "MachineController": CheckedController, "DataUpdater": CheckedUpdater}


def test_another_pyftms_version_is_refused_naming_both_versions() -> None:
    with pytest.raises(PyftmsMismatchError) as refused:
        check_pyftms("0.5.0", _owners_as_installed())
    assert f"pyftms 0.5.0 is installed, retrowalk needs exactly {PYFTMS_VERSION}" in str(refused.value)
    assert "lacks" not in str(refused.value)


def test_a_private_attribute_that_is_gone_is_refused_by_name() -> None:
    class UpdaterWithoutItsCallback:
        """A DataUpdater as a future pyftms might write it."""

        def on_notify(self) -> None: ...

    owners = {**_owners_as_installed(), "DataUpdater": UpdaterWithoutItsCallback}
    with pytest.raises(PyftmsMismatchError, match=r"pyftms lacks DataUpdater\._on_notify, which retrowalk"):
        check_pyftms(PYFTMS_VERSION, owners)


def test_every_attribute_of_a_client_is_looked_for_even_those_set_only_once_connected() -> None:
    owners = {**_owners_as_installed(), "FitnessMachine": object()}
    with pytest.raises(PyftmsMismatchError) as refused:
        check_pyftms(PYFTMS_VERSION, owners)
    for attribute in PRIVATE_API["FitnessMachine"]:
        assert f"FitnessMachine.{attribute}" in str(refused.value)


def test_the_check_runs_when_the_module_is_imported() -> None:
    path = Path(pyftms_private.__file__)
    spec = importlib.util.spec_from_file_location("pyftms_private_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    fresh = importlib.util.module_from_spec(spec)
    refusal = f"pyftms 0.4.0 is installed, retrowalk needs exactly {PYFTMS_VERSION}"
    with (
        mock.patch("importlib.metadata.version", return_value="0.4.0"),
        pytest.raises(ImportError, match=refusal),
    ):
        spec.loader.exec_module(fresh)


def test_the_version_checked_for_is_the_one_pinned_and_installed() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    pins = [Requirement(dep) for dep in pyproject["project"]["dependencies"]]
    (pin,) = [pin for pin in pins if pin.name == "pyftms"]
    assert pin.specifier.contains(PYFTMS_VERSION), pin
    assert importlib.metadata.version("pyftms") == PYFTMS_VERSION


def test_a_record_whose_last_part_never_comes_is_logged_and_started_over(
    logged: pytest.LogCaptureFixture,
) -> None:
    # More Data set on every part (flags 0x0005: total distance 10 m), so no part carries the speed.
    events: list[Any] = []
    updater = CheckedUpdater(TreadmillData, events.append, garbage_log(Clock()))
    for _ in range(12):
        updater._on_notify(TREADMILL_DATA, bytearray(b"\x05\x00\x0a\x00\x00"))
    assert logged.messages == []
    updater._on_notify(TREADMILL_DATA, bytearray(b"\x05\x00\x0a\x00\x00"))
    assert logged.messages == [
        f"treadmill {ADDRESS} sent an unreadable treadmill data (05 00 0a 00 00): 13 parts and none with a "
        "speed; dropped 1 such frame(s)"
    ]
    # The parts given up are not merged into the next record.
    updater._on_notify(TREADMILL_DATA, bytearray(b"\x00\x00\xc8\x00"))  # 2.00 km/h
    assert [e.event_data for e in events] == [{"speed_instant": 2.0}]
