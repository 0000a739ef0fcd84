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
  crashes; ``pyftms_private`` checks replies pyftms would take on trust and logs unreadable frames by
  treadmill.
- Only a device that offers Treadmill Data is driven (some also offer bike or cross-trainer data; one
  without it is refused, saying so). An all-zero inclination range means the treadmill has no incline,
  whatever its incline command answers. A treadmill that connects and then sends no data at all is
  dropped with a reason that says so (some send nothing until their vendor's app unlocks them), instead
  of leaving a session to time out in silence.
- A burst of "target speed changed" reports that only ever go down is the belt winding down by itself,
  not a person at the console, and so is its first report when the belt is coming to a halt and the
  report is no faster than the belt was measured (``echo.WindDownFilter``).

Control-point replies are accepted whether they come as indications or as notifications (bleak
subscribes to either); each command waits for its reply at most ``command_timeout_s`` and a command
that got none has failed, so a treadmill that answers one of two commands never holds up the next.

The link is in one ``LinkState`` at a time, changed only by ``_enter``, which also reports the changes
the runner must see (``LinkConnected``, ``LinkLost``) on the link's event stream, ``events``. How the
treadmill is found and what the Bluetooth stack needs afterwards is the transport's business
(``transport``, ``bluez``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bleak.exc import BleakCharacteristicNotFoundError, BleakError
from pyftms import FitnessMachine, MachineType, get_client
from pyftms import ResultCode as FtmsResult
from pyftms.client.backends import ControlEvent, SetupEvent, UpdateEvent

from retrowalk.backoff import Backoff
from retrowalk.link.bluez import BluezTransport
from retrowalk.link.echo import EchoFilter, WindDownFilter
from retrowalk.link.events import (
    LinkConnected,
    LinkEvents,
    LinkLost,
    LinkReply,
    Sample,
    StatusChange,
    TreadmillInfo,
)
from retrowalk.link.limits import DeviceRange
from retrowalk.link.pyftms_private import GarbageLog, bleak_client_of, install_guards, request_control
from retrowalk.link.state import LinkState, check_transition
from retrowalk.link.transport import LinkTarget, Transport
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

__all__ = ["FtmsLink", "LinkSettings", "LinkState", "LinkTarget"]

log = logging.getLogger(__name__)

_RESULTS = {
    FtmsResult.SUCCESS: ResultCode.SUCCESS,
    FtmsResult.NOT_SUPPORTED: ResultCode.NOT_SUPPORTED,
    FtmsResult.INVALID_PARAMETER: ResultCode.INVALID_PARAMETER,
    FtmsResult.FAILED: ResultCode.FAILED,
    FtmsResult.NOT_PERMITTED: ResultCode.CONTROL_NOT_PERMITTED,
}

# How long closing a finished connection may take before it is given up.
CLOSE_TIMEOUT_S = 5.0
# The FTMS Treadmill Data characteristic: a device without it is not driven as a treadmill.
TREADMILL_DATA_UUID = "00002acd-0000-1000-8000-00805f9b34fb"


@dataclass(frozen=True)
class LinkSettings:
    """How the link finds and talks to its treadmill (the [link] table of the configuration)."""

    command_timeout_s: float = 2.0
    scan_timeout_s: float = 10.0
    connect_timeout_s: float = 20.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    # A treadmill that sends no Treadmill Data this long after connecting is dropped, saying why. Real
    # machines notify once or twice a second, stopped or not.
    no_data_timeout_s: float = 10.0
    # The BlueZ adapter to use ("hci1"); None: the system's default.
    adapter: str | None = None


@dataclass(eq=False)
class _Connection:
    """One attempt to connect, from the device found until it is closed. A command that began on one
    connection is never sent on the next: ``execute`` compares them by identity."""

    client: FitnessMachine
    # pyftms's BleakClient, kept to release it after a loss (pyftms forgets it): see _close.
    ble_client: Any = None


class FtmsLink:
    """The link to one treadmill. ``run()`` owns the connection; ``execute()`` sends one command;
    ``events`` carries what happens, in order, to the one reader (the runner)."""

    def __init__(
        self,
        treadmill_id: str,
        target: LinkTarget,
        *,
        timing: LinkSettings | None = None,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.treadmill_id = treadmill_id
        self._target = target
        self._timing = timing or LinkSettings()
        self._transport: Transport = transport or BluezTransport(self._timing.adapter)
        self._clock = clock
        self.events = LinkEvents()
        self._state = LinkState.CLOSED
        # Present from CONNECTING until the next WAITING or CLOSED; set only by _enter.
        self._connection: _Connection | None = None
        self._state_changed = asyncio.Event()
        self._info: TreadmillInfo | None = None
        self._command_lock = asyncio.Lock()
        self._echoes = EchoFilter()
        self._wind_down = WindDownFilter(clock)
        # Set by the first Treadmill Data notification of a connection, readable or not.
        self._data_seen = asyncio.Event()
        self.log = logging.LoggerAdapter(log, {"treadmill": treadmill_id})

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def connected(self) -> bool:
        return self._state is LinkState.UP

    @property
    def info(self) -> TreadmillInfo | None:
        return self._info

    # ---------------------------------------------------------------------------------- state

    def _enter(self, new: LinkState, why: str, connection: _Connection | None = None) -> None:
        """The only place the state changes: check the move, keep what goes with it, report it.

        ``connection`` is the attempt that begins (only with CONNECTING). Leaving UP for LOST reports
        ``LinkLost`` with ``why`` as the reason; entering UP reports ``LinkConnected``.
        """
        old = self._state
        check_transition(self.treadmill_id, old, new)
        self._state = new
        if new is LinkState.CONNECTING:
            self._connection = connection
        elif new in (LinkState.SEARCHING, LinkState.WAITING, LinkState.CLOSED):
            self._connection = None
        if new is LinkState.LOST and self._connection is not None:
            # Stop pyftms from reconnecting on the next write: no command may cross the loss.
            self._connection.client.need_connect = False
        self._state_changed.set()
        self.log.debug("link %s -> %s: %s", old, new, why)
        if new is LinkState.UP:
            assert self._info is not None
            self.events.put(LinkConnected(at=self._clock(), info=self._info))
        elif old is LinkState.UP and new is LinkState.LOST:
            self.events.put(LinkLost(at=self._clock(), reason=why))

    async def _left_up(self) -> None:
        while self._state is LinkState.UP:
            self._state_changed.clear()
            await self._state_changed.wait()

    async def _stay_up(self) -> None:
        """Wait while the link is up; drop it if the treadmill sends no data at all after connecting."""
        async with asyncio.TaskGroup() as group:
            down = group.create_task(self._left_up(), name=f"ftms-{self.treadmill_id}-up")
            data = group.create_task(self._data_seen.wait(), name=f"ftms-{self.treadmill_id}-first-data")
            await asyncio.wait(
                {down, data}, timeout=self._timing.no_data_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            data.cancel()
            if not self._data_seen.is_set() and self._state is LinkState.UP:
                waited = self._timing.no_data_timeout_s
                self.drop(
                    f"connected, but the treadmill has sent no data in {waited:g} s; some treadmills "
                    "send nothing until their maker's app has unlocked them: unlock it with that app, "
                    "close the app, and retrowalk will connect again"
                )

    # ---------------------------------------------------------------------------------- connection

    async def run(self) -> None:
        """Keep the treadmill connected until cancelled; report every connect and loss."""
        backoff = Backoff(self._timing.backoff_initial_s, self._timing.backoff_max_s)
        try:
            while True:
                if await self._connect_once():
                    backoff.reset()
                    await self._stay_up()
                    await self._close()
                delay = backoff.next_delay()
                self.log.info("reconnecting to %s in %.1f s", self._target.describe(), delay)
                self._enter(LinkState.WAITING, f"retrying in {delay:.1f} s")
                await asyncio.sleep(delay)
        finally:
            # Refuse commands first, then let go of the connection.
            connection = self._connection
            self._enter(LinkState.CLOSED, "the link was closed")
            await self._close(connection)

    async def _connect_once(self) -> bool:
        target = self._target.describe()
        self._enter(LinkState.SEARCHING, f"looking for {target}")
        try:
            device = await self._transport.find(self._target, self._timing.scan_timeout_s, self.log)
        except (BleakError, OSError) as err:
            self.log.warning("cannot look for %s: %s", target, self._transport.describe_error(err))
            return False
        if device is None:
            self.log.warning(
                "treadmill %s not found within %.0f s (is it on, in range, and free of other apps?)",
                target,
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
        # Frames count from the moment pyftms subscribes, before the link is up.
        self._data_seen.clear()
        install_guards(client, GarbageLog(self.log, device.address), on_data_frame=self._data_seen.set)
        connection = _Connection(client)
        self._enter(LinkState.CONNECTING, f"connecting to {device.address} ({device.name})", connection)
        failure: str | None = None
        try:
            async with asyncio.timeout(self._timing.connect_timeout_s):
                await client.connect()
        except BleakCharacteristicNotFoundError as err:
            failure = _missing_characteristic(device.address, device.name, err)
        except (BleakError, TimeoutError, OSError) as err:
            why = self._transport.describe_error(err) if str(err) else "no answer in time"
            failure = f"could not connect to {device.address} ({device.name}): {why}"
        except Exception as err:  # noqa: BLE001 - pyftms raises assorted types on a malformed treadmill
            failure = f"treadmill {device.address} answered the connection with garbage: {err!r}"
        if self._state is not LinkState.CONNECTING:
            # The treadmill went (or the link was dropped) while connecting; pyftms then usually fails on
            # the connection it has just forgotten, which is no fault of the treadmill's answers.
            failure = f"the connection to {device.address} ended while it was being set up"
        if failure is None and not _offers_treadmill_data(bleak_client_of(client)):
            failure = _not_a_treadmill(device.address, device.name)
        if failure is not None:
            self.log.warning("%s", failure)
            await self._close()
            return False
        connection.ble_client = bleak_client_of(client)
        self._info = _read_info(client, self.log)
        self._echoes.clear()
        self._wind_down.clear()
        self.log.info(
            "connected to %s (%s %s), speed range %s",
            device.address,
            self._info.manufacturer or "unknown maker",
            self._info.model or "unknown model",
            self._info.speed_range,
        )
        self._enter(LinkState.UP, f"connected to {device.address}")
        # Data that arrived while connecting was kept by pyftms but not reported (the link was not up):
        # report the belt as it is now, so a belt found moving is seen at once.
        if "speed_instant" in client.properties:
            self._report_sample(client.properties)
        return True

    def _on_disconnect(self, client: FitnessMachine) -> None:
        """pyftms's callback: the treadmill's connection ended."""
        self._lose(client, "the treadmill disconnected", said="link lost")

    def drop(self, reason: str) -> None:
        """Treat the link as lost now (stale data, a misbehaving treadmill); run() reconnects."""
        self._lose(None, reason, said=f"dropping the link: {reason}")

    def _lose(self, client: FitnessMachine | None, reason: str, *, said: str) -> None:
        """The one way a connection ends while in use, whoever noticed: the treadmill or the service."""
        if client is not None:
            # Whatever happens below: this client must never reconnect by itself on a write.
            client.need_connect = False
        connection = self._connection
        if connection is None or (client is not None and client is not connection.client):
            return  # no connection, or the callback of one already closed
        if self._state is LinkState.UP:
            self.log.warning("%s", said)
        if self._state in (LinkState.UP, LinkState.CONNECTING):
            self._enter(LinkState.LOST, reason)

    async def _close(self, connection: _Connection | None = None) -> None:
        """Disconnect ``connection`` (the current one by default) and release what the stack holds."""
        connection = connection or self._connection
        if connection is None:
            return
        client = connection.client
        client.need_connect = False
        with contextlib.suppress(BleakError, TimeoutError, OSError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await client.disconnect()
        await self._transport.release(connection.ble_client)

    # ---------------------------------------------------------------------------------- events

    def _on_ftms_event(self, event: Any) -> None:
        connection = self._connection
        if self._state is not LinkState.UP or connection is None:
            return
        at = self._clock()
        if isinstance(event, UpdateEvent):
            # One complete Treadmill Data record with its speed (pyftms_private's updater); rssi and
            # training status updates carry none.
            if "speed_instant" in event.event_data:
                self._report_sample(event.event_data)
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

    def _report_sample(self, props: Mapping[str, Any]) -> None:
        sample = self._sample(props)
        self._wind_down.measured(sample.speed_kmh)
        self.events.put(sample)

    def _sample(self, props: Mapping[str, Any]) -> Sample:
        """The sample a record says: its own fields only, so a field it lacks is unknown, not stale."""
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
        if self._wind_down.is_wind_down(status.kind, status.value):
            self.log.debug("treadmill reports its belt winding down: target speed %s", status.value)
            return
        self.events.put(status)

    # ---------------------------------------------------------------------------------- commands

    async def execute(self, command: Command) -> LinkReply:
        """Send one command now, or say why it was not sent. Never waits for a reconnect."""
        # A command that began on one connection is never sent on the next, even after waiting for the
        # command before it.
        began_on = self._connection
        async with self._command_lock:
            if self._state is not LinkState.UP or began_on is None or self._connection is not began_on:
                return _down("the link is down; nothing was sent")
            client = began_on.client
            sent = self._sendable_value(command)
            self._about_to_send(command, sent)
            try:
                code = await self._exchange(client, command, sent)
            except TimeoutError:
                return LinkReply(ResultCode.TIMEOUT, detail="no reply within the command timeout")
            except BleakError as err:
                if not self.connected:
                    return _down(f"the link dropped while sending: {err}")
                return LinkReply(ResultCode.FAILED, detail=f"bluetooth error: {err}")
            except Exception as err:  # noqa: BLE001 - pyftms raises assorted types on a malformed reply
                self.log.warning("unreadable reply to %s: %r", command.kind.value, err)
                return LinkReply(ResultCode.UNKNOWN, detail=f"unreadable reply: {err!r}")
        if not self.connected and code is FtmsResult.FAILED:
            # pyftms answers FAILED without sending anything once its reconnect latch is off.
            return _down("the link dropped; nothing was sent")
        result = _RESULTS.get(code, ResultCode.UNKNOWN)
        if result is not ResultCode.SUCCESS:
            self._echoes.forget(command, sent)
            self.log.warning("treadmill answered %s with %s", command.kind.value, result.value)
        return LinkReply(result, sent_value=sent)

    def _about_to_send(self, command: Command, sent: float | None) -> None:
        """Expect the echo and tell the wind-down filter before writing: the treadmill's status may be
        processed before its reply."""
        self._echoes.expect(command, sent)
        self._wind_down.sent(command, sent)

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
        stop would be refused. The command is then retried once, at once, on the same connection.
        """
        self.log.warning("treadmill says control is not permitted: requesting control again")
        return await request_control(client)

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


def _floored(value: float, device_range: DeviceRange | None) -> float:
    return device_range.floor(value) if device_range else value


def _opt_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _offers_treadmill_data(ble_client: Any) -> bool:
    services = getattr(ble_client, "services", None)
    return services is not None and services.get_characteristic(TREADMILL_DATA_UUID) is not None


def _not_a_treadmill(address: str, name: str | None) -> str:
    return (
        f"{address} ({name}) offers no Treadmill Data (it may be a bike or a cross trainer); "
        "retrowalk drives treadmills only"
    )


def _missing_characteristic(address: str, name: str | None, err: BleakCharacteristicNotFoundError) -> str:
    if str(err.char_specifier).lower() in ("2acd", TREADMILL_DATA_UUID):
        return _not_a_treadmill(address, name)
    return f"treadmill {address} ({name}) lacks a characteristic FTMS requires: {err}"


def _read_info(client: FitnessMachine, log: logging.LoggerAdapter[logging.Logger]) -> TreadmillInfo:
    ranges = client.supported_ranges
    settings = client.supported_settings
    props = client.supported_properties
    info = client.device_info

    def as_range(key: str) -> DeviceRange | None:
        r = ranges.get(key)
        return DeviceRange(r.min_value, r.max_value, r.step) if r else None

    incline_range = as_range("target_inclination")
    if incline_range == DeviceRange(0.0, 0.0, 0.0):
        # Seen on a walking pad whose incline command answers success anyway: there is no incline.
        log.info("treadmill reports an all-zero inclination range: treated as having no incline")
        incline_range = None
    return TreadmillInfo(
        address=client.address,
        name=client.name,
        manufacturer=info.get("manufacturer"),
        model=info.get("model"),
        speed_range=as_range("target_speed"),
        incline_range=incline_range,
        can_set_speed="target_speed" in settings,
        can_set_incline="target_inclination" in settings and incline_range is not None,
        reports_elapsed_time="time_elapsed" in props,
        reports_distance="distance_total" in props,
    )
