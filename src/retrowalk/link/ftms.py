"""One treadmill over pyftms and bleak: find it, connect, read what it can do, report, obey, fail safe.

Rules this module keeps, whatever the session is doing:

- No command crosses a disconnect. pyftms reconnects by itself when a command is written while the link
  is down; the link switches that off (``need_connect = False``) the moment the link drops, refuses
  commands while it is down, and a command that started before a drop is reported as failed, not
  retried. Reconnecting is this module's job, with backoff, and only the session engine decides what is
  sent afterwards (a stop, first).
- One command in flight, each result code checked and reported (``CommandResult``).
- Values are floored onto the device's range and increment before they leave (pyftms does not check).
- Garbage from the treadmill (an unknown result code, a malformed reply) fails the command, never
  crashes; ``guards`` checks replies pyftms would take on trust and logs unreadable frames by treadmill.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bleak import BleakScanner
from bleak.backends.bluezdbus.manager import get_global_bluez_manager
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from bleak_retry_connector import get_device
from pyftms import (
    FitnessMachine,
    MachineType,
    NotFitnessMachineError,
    get_client,
    get_machine_type_from_service_data,
)
from pyftms import ResultCode as FtmsResult
from pyftms.client.backends import ControlEvent, SetupEvent, UpdateEvent
from pyftms.models import ControlCode

from retrowalk.backoff import Backoff
from retrowalk.link.diagnose import describe_bluetooth_error
from retrowalk.link.echo import EchoFilter
from retrowalk.link.events import (
    LinkConnected,
    LinkEvent,
    LinkLost,
    LinkReply,
    Sample,
    StatusChange,
    TreadmillInfo,
)
from retrowalk.link.guards import GarbageLog, install_guards
from retrowalk.link.limits import DeviceRange
from retrowalk.session.events import (
    Command,
    MachineStatusKind,
    PauseBelt,
    ResultCode,
    SetTargetIncline,
    SetTargetSpeed,
    StartBelt,
    StopBelt,
)

log = logging.getLogger(__name__)

_RESULTS = {
    FtmsResult.SUCCESS: ResultCode.SUCCESS,
    FtmsResult.NOT_SUPPORTED: ResultCode.NOT_SUPPORTED,
    FtmsResult.INVALID_PARAMETER: ResultCode.INVALID_PARAMETER,
    FtmsResult.FAILED: ResultCode.FAILED,
    FtmsResult.NOT_PERMITTED: ResultCode.CONTROL_NOT_PERMITTED,
}

# Keys of pyftms updates that come from a Treadmill Data record (rssi and training status do not).
_DATA_KEYS = frozenset(
    {"speed_instant", "distance_total", "time_elapsed", "inclination", "heart_rate", "energy_total"}
)


@dataclass(frozen=True)
class LinkTarget:
    """How to recognise the treadmill: by address, by advertised name, or the first FTMS treadmill."""

    address: str | None = None
    name: str | None = None

    def describe(self) -> str:
        return self.address or (f"name {self.name!r}" if self.name else "the first FTMS treadmill")


@dataclass(frozen=True)
class LinkSettings:
    """How the link finds and talks to its treadmill (the [link] table of the configuration)."""

    command_timeout_s: float = 2.0
    scan_timeout_s: float = 10.0
    connect_timeout_s: float = 20.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    # The BlueZ adapter to use ("hci1"); None: the system's default.
    adapter: str | None = None


class FtmsLink:
    """The link to one treadmill. ``run()`` owns the connection; ``execute()`` sends one command."""

    def __init__(
        self,
        treadmill_id: str,
        target: LinkTarget,
        on_event: Callable[[LinkEvent], None],
        *,
        timing: LinkSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.treadmill_id = treadmill_id
        self._target = target
        self._on_event = on_event
        self._timing = timing or LinkSettings()
        self._clock = clock
        self._client: FitnessMachine | None = None
        # pyftms's BleakClient, kept to close it after a loss: see _close.
        self._ble_client: Any = None
        self._info: TreadmillInfo | None = None
        self._up = False
        self._lost = asyncio.Event()
        self._command_lock = asyncio.Lock()
        self._echoes = EchoFilter()
        # Bumped on every connect: a command that began on an older connection must not be sent.
        self._generation = 0
        self.log = logging.LoggerAdapter(log, {"treadmill": treadmill_id})

    @property
    def connected(self) -> bool:
        return self._up

    @property
    def info(self) -> TreadmillInfo | None:
        return self._info

    # ---------------------------------------------------------------------------------- connection

    async def run(self) -> None:
        """Keep the treadmill connected until cancelled; report every connect and loss."""
        backoff = Backoff(self._timing.backoff_initial_s, self._timing.backoff_max_s)
        try:
            while True:
                if await self._connect_once():
                    backoff.reset()
                    await self._lost.wait()
                    await self._close()
                delay = backoff.next_delay()
                self.log.info("reconnecting to %s in %.1f s", self._target.describe(), delay)
                await asyncio.sleep(delay)
        finally:
            await self._close()

    async def _connect_once(self) -> bool:
        try:
            device = await self._find()
        except (BleakError, OSError) as err:
            reason = describe_bluetooth_error(err)
            self.log.warning("cannot look for %s: %s", self._target.describe(), reason)
            return False
        if device is None:
            self.log.warning(
                "treadmill %s not found within %.0f s (is it on, in range, and free of other apps?)",
                self._target.describe(),
                self._timing.scan_timeout_s,
            )
            return False
        client = get_client(
            device,
            MachineType.TREADMILL,
            timeout=self._timing.command_timeout_s,
            on_ftms_event=self._on_ftms_event,
            on_disconnect=self._on_disconnect,
        )
        install_guards(client, GarbageLog(self.log, device.address))
        self._lost.clear()
        self._client = client
        try:
            async with asyncio.timeout(self._timing.connect_timeout_s):
                await client.connect()
        except (BleakError, TimeoutError, OSError) as err:
            why = describe_bluetooth_error(err) if str(err) else "no answer in time"
            self.log.warning("could not connect to %s (%s): %s", device.address, device.name, why)
            await self._close()
            return False
        except Exception as err:  # noqa: BLE001 - pyftms raises assorted types on a malformed treadmill
            self.log.warning("treadmill %s answered the connection with garbage: %r", device.address, err)
            await self._close()
            return False
        self._ble_client = getattr(client, "_cli", None)
        self._info = _read_info(client)
        self._generation += 1
        self._echoes.clear()
        self._up = True
        self.log.info(
            "connected to %s (%s %s), speed range %s",
            device.address,
            self._info.manufacturer or "unknown maker",
            self._info.model or "unknown model",
            self._info.speed_range,
        )
        self._on_event(LinkConnected(at=self._clock(), info=self._info))
        # Data that arrived while connecting was kept by pyftms but not reported (the link was not up):
        # report the belt as it is now, so a belt found moving is seen at once.
        if "speed_instant" in client.properties:
            self._on_event(self._sample(client))
        return True

    async def _find(self) -> BLEDevice | None:
        timeout = self._timing.scan_timeout_s
        adapter = self._timing.adapter
        # Which adapter scans decides which one connects: the device object lives under it.
        scan_args: dict[str, Any] = {"bluez": {"adapter": adapter}} if adapter else {}
        if self._target.address:
            # A treadmill still connected to a process that died (SIGKILL, crash) does not advertise, so
            # a scan never finds it, and its belt may be running. BlueZ still knows it: take it from
            # there; pyftms closes the stale connection before connecting anew.
            # bleak registers its BlueZ manager before it has loaded BlueZ's devices; a second runner
            # asking at the same moment would see none. Waiting for the manager first avoids that
            # (found by the fault campaign with two treadmills killed at once).
            await get_global_bluez_manager()
            known = await get_device(self._target.address)
            if known is not None and _connected(known) and _on_adapter(known, adapter):
                self.log.warning("%s is still connected from an earlier run: taking it over", known.address)
                return known
            return await BleakScanner.find_device_by_address(self._target.address, timeout, **scan_args)
        if self._target.name:
            return await BleakScanner.find_device_by_name(self._target.name, timeout, **scan_args)
        return await BleakScanner.find_device_by_filter(
            _is_ftms_treadmill, timeout, service_uuids=[FTMS_SERVICE], **scan_args
        )

    def _on_disconnect(self, client: FitnessMachine) -> None:
        # Stop pyftms from reconnecting on the next write: no command may cross the loss.
        client.need_connect = False
        if self._up:
            self._up = False
            self.log.warning("link lost")
            self._on_event(LinkLost(at=self._clock(), reason="the treadmill disconnected"))
        self._lost.set()

    def drop(self, reason: str) -> None:
        """Treat the link as lost now (stale data, a misbehaving treadmill); run() reconnects."""
        if self._client is not None:
            self._client.need_connect = False
        if self._up:
            self._up = False
            self.log.warning("dropping the link: %s", reason)
            self._on_event(LinkLost(at=self._clock(), reason=reason))
        self._lost.set()

    async def _close(self) -> None:
        client, self._client = self._client, None
        ble_client, self._ble_client = self._ble_client, None
        self._up = False
        if client is None:
            return
        client.need_connect = False
        with contextlib.suppress(BleakError, TimeoutError, OSError):
            async with asyncio.timeout(5):
                await client.disconnect()
                # bleak 3 gives each client a D-Bus connection of its own and closes it only in
                # disconnect(). After a loss pyftms drops its client without that call, so without this
                # every loss would leave a connection open on the system bus (the bus limits them per
                # user) until the process ends; at the end the closing bus logs an EOFError traceback.
                # Once disconnected, this call only releases that connection.
                if ble_client is not None:
                    await ble_client.disconnect()

    # ---------------------------------------------------------------------------------- events

    def _on_ftms_event(self, event: Any) -> None:
        if not self._up:
            return
        at = self._clock()
        if isinstance(event, UpdateEvent):
            if _DATA_KEYS.isdisjoint(event.event_data) or self._client is None:
                return
            self._on_event(self._sample(self._client))
        elif isinstance(event, ControlEvent):
            # "callback" events echo our own successful commands; their results are already known.
            kind = _CONTROL_KINDS.get((event.event_id, event.event_source))
            if kind is not None:
                self._status(StatusChange(at=at, kind=kind))
        elif isinstance(event, SetupEvent) and event.event_source == "other":
            # Someone changed a target at the console (Machine Status 05/06).
            for key, kind in _SETUP_KINDS.items():
                if key in event.event_data:
                    self._status(StatusChange(at=at, kind=kind, value=event.event_data[key]))

    def _sample(self, client: FitnessMachine) -> Sample:
        props = client.properties
        return Sample(
            at=self._clock(),
            speed_kmh=float(props.get("speed_instant") or 0.0),
            incline_pct=_opt_float(props.get("inclination")),
            distance_m=_opt_float(props.get("distance_total")),
            elapsed_s=props.get("time_elapsed"),
            heart_rate_bpm=props.get("heart_rate") or None,
            energy_kcal=props.get("energy_total"),
        )

    def _status(self, status: StatusChange) -> None:
        if self._echoes.is_echo(status.kind, status.value):
            self.log.debug("treadmill echoed our command: %s", status.kind.value)
            return
        self._on_event(status)

    # ---------------------------------------------------------------------------------- commands

    async def execute(self, command: Command) -> LinkReply:
        """Send one command now, or say why it was not sent. Never waits for a reconnect."""
        generation = self._generation
        async with self._command_lock:
            client = self._client
            if not self._up or client is None or generation != self._generation:
                return _down("the link is down; nothing was sent")
            sent = self._sendable_value(command)
            # Expect the echo before writing: the status may be processed before the reply.
            self._echoes.expect(command, sent)
            try:
                code = await self._exchange(client, command, sent)
            except TimeoutError:
                return LinkReply(ResultCode.TIMEOUT, detail="no reply within the command timeout")
            except BleakError as err:
                if not self._up:
                    return _down(f"the link dropped while sending: {err}")
                return LinkReply(ResultCode.FAILED, detail=f"bluetooth error: {err}")
            except Exception as err:  # noqa: BLE001 - pyftms raises assorted types on a malformed reply
                self.log.warning("unreadable reply to %s: %r", command.kind.value, err)
                return LinkReply(ResultCode.UNKNOWN, detail=f"unreadable reply: {err!r}")
        if not self._up and code is FtmsResult.FAILED:
            # pyftms answers FAILED without sending anything once its reconnect latch is off.
            return _down("the link dropped; nothing was sent")
        result = _RESULTS.get(code, ResultCode.UNKNOWN)
        if result is not ResultCode.SUCCESS:
            self._echoes.forget(command, sent)
            self.log.warning("treadmill answered %s with %s", command.kind.value, result.value)
        return LinkReply(result, sent_value=sent)

    async def _exchange(self, client: FitnessMachine, command: Command, value: float | None) -> FtmsResult:
        """Send ``command`` and read its reply; once begun, the exchange finishes even if the caller is
        cancelled (a shutdown, a caller's timeout), and only then does the cancellation go on.

        A write that has left may still be answered. Abandoned, its reply arrived with no command
        waiting for it ("unreadable control-point reply (80 08 01)" after a stop cut short by a
        shutdown, or "80 00 01" for the Request Control pyftms sends before the first command of a
        connection), and the next write, typically the shutdown's stop, went out while the treadmill
        was still busy with the abandoned one: FTMS runs one control-point procedure at a time, so a
        real machine refuses such a write ("procedure already in progress"), and pyftms pairs the late
        reply with the new request and fails it. The command lock stays held until the exchange ends,
        which pyftms bounds by the command timeout.
        """
        exchange = asyncio.create_task(
            self._send_regaining_control(client, command, value),
            name=f"ftms-{self.treadmill_id}-{command.kind.value}",
        )
        # Whatever happens to the caller, the exchange's own exception is consumed (and was reported
        # to the caller, unless it had been cancelled).
        exchange.add_done_callback(lambda task: task.cancelled() or task.exception())
        try:
            return await asyncio.shield(exchange)
        except asyncio.CancelledError:
            await asyncio.wait([exchange])
            self.log.info(
                "%s: the caller gave up; the exchange with the treadmill ended first", command.kind.value
            )
            raise

    async def _send_regaining_control(
        self, client: FitnessMachine, command: Command, value: float | None
    ) -> FtmsResult:
        code = await self._send(client, command, value)
        if code is FtmsResult.NOT_PERMITTED and await self._regain_control(client):
            code = await self._send(client, command, value)
        return code

    async def _regain_control(self, client: FitnessMachine) -> bool:
        """Ask for control again after "control not permitted"; True when the treadmill granted it.

        A treadmill may revoke control (Machine Status 0xFF, e.g. after a pause). pyftms 0.4 cannot decode
        that status, so it still believes it holds control and never asks again: without this, even a
        stop would be refused. Request Control is pyftms's own procedure, reached through its internal
        write; the command is then retried once, at once, on the same connection.
        """
        self.log.warning("treadmill says control is not permitted: requesting control again")
        code = await client._write_command(ControlCode.REQUEST_CONTROL)
        return bool(code is FtmsResult.SUCCESS)

    def _sendable_value(self, command: Command) -> float | None:
        """The value that will actually go out, floored onto the device's grid."""
        info = self._info
        match command:
            case SetTargetSpeed(kmh=kmh):
                return _floored(kmh, info.speed_range if info else None)
            case SetTargetIncline(pct=pct):
                return _floored(pct, info.incline_range if info else None)
        return None

    async def _send(self, client: FitnessMachine, command: Command, value: float | None) -> FtmsResult:
        match command:
            case SetTargetSpeed():
                assert value is not None
                return await client.set_target_speed(value)
            case SetTargetIncline():
                assert value is not None
                return await client.set_target_inclination(value)
            case StartBelt():
                return await client.start_resume()
            case StopBelt():
                return await client.stop()
            case PauseBelt():
                return await client.pause()


def _down(detail: str) -> LinkReply:
    return LinkReply(ResultCode.FAILED, link_down=True, detail=detail)


_SETUP_KINDS = {
    "target_speed": MachineStatusKind.TARGET_SPEED_CHANGED,
    "target_inclination": MachineStatusKind.TARGET_INCLINE_CHANGED,
}
_CONTROL_KINDS = {
    ("stop", "user"): MachineStatusKind.USER_STOP,
    ("pause", "user"): MachineStatusKind.USER_PAUSE,
    ("start", "user"): MachineStatusKind.USER_START,
    ("stop", "safety"): MachineStatusKind.SAFETY_KEY,
    ("reset", "other"): MachineStatusKind.RESET,
}


FTMS_SERVICE = "00001826-0000-1000-8000-00805f9b34fb"


def _is_ftms_treadmill(_device: BLEDevice, advertisement: AdvertisementData) -> bool:
    try:
        return MachineType.TREADMILL in get_machine_type_from_service_data(advertisement)
    except NotFitnessMachineError:
        return False


def _on_adapter(device: BLEDevice, adapter: str | None) -> bool:
    details = device.details if isinstance(device.details, dict) else {}
    path = str(details.get("path", ""))
    return adapter is None or path.startswith(f"/org/bluez/{adapter}/")


def _connected(device: BLEDevice) -> bool:
    details = device.details if isinstance(device.details, dict) else {}
    props = details.get("props", {})
    return bool(isinstance(props, dict) and props.get("Connected"))


def _floored(value: float, device_range: DeviceRange | None) -> float:
    return device_range.floor(value) if device_range else value


def _opt_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _read_info(client: FitnessMachine) -> TreadmillInfo:
    ranges = client.supported_ranges
    settings = client.supported_settings
    props = client.supported_properties
    info = client.device_info

    def as_range(key: str) -> DeviceRange | None:
        r = ranges.get(key)
        return DeviceRange(r.min_value, r.max_value, r.step) if r else None

    return TreadmillInfo(
        address=client.address,
        name=client.name,
        manufacturer=info.get("manufacturer"),
        model=info.get("model"),
        speed_range=as_range("target_speed"),
        incline_range=as_range("target_inclination"),
        can_set_speed="target_speed" in settings,
        can_set_incline="target_inclination" in settings,
        reports_elapsed_time="time_elapsed" in props,
        reports_distance="distance_total" in props,
    )
