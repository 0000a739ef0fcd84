"""A real FtmsLink, up, over a pyftms client with retrowalk's guards and decoders installed, fed raw
bytes the way bleak calls the callbacks pyftms subscribes on connect. No radio, no treadmill: the
recorded-device tests and the fuzz tests use it to put a treadmill's bytes straight into the link."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from bleak.backends.device import BLEDevice
from pyftms import MachineType, get_client

from retrowalk.link.events import LinkConnected, LinkEvent
from retrowalk.link.ftms import FtmsLink, LinkState, LinkTarget, _Connection
from retrowalk.link.pyftms_private import GarbageLog, install_guards
from retrowalk.session.events import (
    Command,
    PauseBelt,
    SetTargetIncline,
    SetTargetSpeed,
    StartBelt,
    StopBelt,
)
from tests.service.harness import STAND_IN_INFO

from .characteristics import CONTROL_POINT, MACHINE_STATUS, TRAINING_STATUS, TREADMILL_DATA


class GuardedLink:
    """``feed(uuid, frame)`` hands a frame to the callback subscribed for that characteristic (its
    exceptions, if any, propagate: in bleak they would be a traceback naming no treadmill);
    ``take_events()`` returns what the link reported since the last call."""

    def __init__(self, address: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.link = FtmsLink("guarded", LinkTarget(address=address), clock=clock)
        self.client = get_client(
            BLEDevice(address, "Guarded", None), MachineType.TREADMILL, on_ftms_event=self.link._on_ftms_event
        )
        install_guards(self.client, GarbageLog(self.link.log, address))
        # No connect without a radio: the link is moved to up by hand, since it handles events only
        # while it is up, which its connect path decides.
        self.link._enter(LinkState.SEARCHING, "test")
        self.link._enter(LinkState.CONNECTING, "test", _Connection(self.client))
        self.link._info = STAND_IN_INFO
        self.link._enter(LinkState.UP, "test")
        assert isinstance(self.link.events.get_nowait(), LinkConnected)
        updater, controller = self.client._updater, self.client._controller
        self._callbacks: dict[str, tuple[Any, Callable[[Any, bytearray], None]]] = {
            TREADMILL_DATA.uuid: (TREADMILL_DATA, updater._on_notify),
            MACHINE_STATUS.uuid: (MACHINE_STATUS, controller._on_machine_status),
            TRAINING_STATUS.uuid: (TRAINING_STATUS, controller._on_training_status),
            CONTROL_POINT.uuid: (CONTROL_POINT, controller._on_indicate),
        }

    def feed(self, uuid: str, frame: bytes) -> None:
        characteristic, callback = self._callbacks[uuid]
        callback(characteristic, bytearray(frame))

    def client_wrote(self, frame: bytes) -> None:
        """A control-point write by the recorded client: the link is told it sends that command, as its
        ``execute`` does just before writing (so it knows the echoes and that the belt was stopped)."""
        command = control_point_command(frame)
        if command is not None:
            value = command.kmh if isinstance(command, SetTargetSpeed) else None
            if isinstance(command, SetTargetIncline):
                value = command.pct
            self.link._about_to_send(command, value)

    def take_events(self) -> list[LinkEvent]:
        events = []
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                events.append(self.link.events.get_nowait())
        return events


def control_point_command(frame: bytes) -> Command | None:
    """The command a Fitness Machine Control Point write carries (FTMS 4.16.1), or None for one retrowalk
    never sends (Request Control, Reset, ...)."""
    op, parameter = frame[0], frame[1:]
    if op == 0x02 and len(parameter) == 2:  # Set Target Speed, uint16 in 0.01 km/h
        return SetTargetSpeed(int.from_bytes(parameter, "little") / 100)
    if op == 0x03 and len(parameter) == 2:  # Set Target Inclination, sint16 in 0.1 %
        return SetTargetIncline(int.from_bytes(parameter, "little", signed=True) / 10)
    if op == 0x07:
        return StartBelt()
    if op == 0x08 and parameter == b"\x01":
        return StopBelt()
    if op == 0x08 and parameter == b"\x02":
        return PauseBelt()
    return None
