"""Every use of pyftms's private API, in one place, checked when this module is imported.

pyftms 0.4 has no public way to do four things the link needs, so this module reaches inside it:

- check the bytes a treadmill sends before pyftms's parsers trust them (the guards below, subclasses of
  pyftms's internal ``MachineController`` and ``DataUpdater`` swapped into ``_controller`` and
  ``_updater``);
- decode Treadmill Data and Training Status with retrowalk's own decoders (``ftms_data``, which says
  why), in those same subclasses: real treadmills send frames pyftms's parsers cannot read;
- ask for control again after the treadmill revoked it (``_write_command``; see ``request_control``);
- release the BleakClient pyftms dropped after a loss (``_cli``; see ``bleak_client_of``).

A pyftms release may rename any of these without notice. Importing this module therefore checks that the
installed pyftms is the version these uses were written against (``PYFTMS_VERSION``, the version pinned
in pyproject.toml) and that every private attribute used here exists, and refuses with an error that
names what is missing: a link that silently lost its guards would count garbled replies as obeyed
commands. To move to a new pyftms: read its changes to the attributes in ``PRIVATE_API``, adapt this
module, then change ``PYFTMS_VERSION`` and the pin together.

Why the guards: pyftms 0.4 trusts a little too much, and what it trusts decides whether a command "succeeded":

- It reads any control-point indication as the answer to the command in flight as long as the second
  byte names that command; it never checks that the first byte is the Response Code op code (0x80).
  ``00 02 01`` is a successful Set Target Speed to it. Fuzzing found this; a treadmill that garbles its
  replies must not get its commands counted as obeyed, so such a reply fails the command instead.
- An indication that arrives when no command is in flight touches a future that does not exist yet
  (an ``AttributeError`` inside bleak's callback). It is logged and dropped.
- When pyftms's wait for a reply times out, the write has still left, and the treadmill may answer
  it late: alone, or while the next command waits, which pyftms then fails ("Response on another
  request"). A late ``80 <op> <result>`` for an op whose wait timed out is recognised as such, logged
  at INFO, and leaves the command in flight waiting for its own reply.
- A notification it cannot parse raises inside bleak's callback, where dbus-fast logs a traceback that
  names no treadmill. Here it is logged once per burst with the treadmill's address and the bytes;
  the frame is dropped, and a stream of them looks like silence, which the session engine ends as
  stale telemetry. (Treadmill Data and Training Status no longer go through pyftms's parsers at all;
  Machine Status still does.)

The guards are pyftms's own classes with one callback each overridden, swapped into the client before
it connects (pyftms subscribes the bound methods on connect).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Mapping
from importlib.metadata import version
from typing import Any

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from pyftms import FitnessMachine, MachineType, get_client
from pyftms import ResultCode as FtmsResult
from pyftms.client.backends import DataUpdater, FtmsCallback, MachineController, UpdateEvent
from pyftms.models import ControlCode, ControlModel

from retrowalk.errors import TreadmillFaultError
from retrowalk.link.ftms_data import (
    Reading,
    UnreadableFrameError,
    decode_training_status,
    decode_treadmill_data,
    without_trailing_bytes,
)

__all__ = [
    "GARBAGE_LOG_EVERY_S",
    "MAX_RECORD_PARTS",
    "PRIVATE_API",
    "PYFTMS_VERSION",
    "REPLY_LENGTH",
    "RESPONSE_CODE",
    "CheckedController",
    "CheckedUpdater",
    "GarbageLog",
    "MalformedReplyError",
    "PyftmsMismatchError",
    "bleak_client_of",
    "check_pyftms",
    "install_guards",
    "missing_private_api",
    "request_control",
]

# The pyftms release the private uses below were written against; pyproject.toml pins the same one.
PYFTMS_VERSION = "0.4.15"

# Every private attribute of pyftms used in this module, by the pyftms class it belongs to.
PRIVATE_API: Mapping[str, tuple[str, ...]] = {
    # A client instance: the parsers swapped in, what they are built from, the command write, and the
    # BleakClient (declared on the class, set only while connected).
    "FitnessMachine": ("_controller", "_updater", "_on_event", "_data_model", "_write_command", "_cli"),
    "MachineController": ("_on_indicate", "_on_machine_status", "_on_training_status", "_indicate"),
    "DataUpdater": ("_on_notify",),
}


class PyftmsMismatchError(ImportError):
    """The installed pyftms is not the one retrowalk's uses of its private API were written for."""


def missing_private_api(owners: Mapping[str, object], wanted: Mapping[str, tuple[str, ...]]) -> list[str]:
    """``Owner.attribute`` for each wanted attribute that ``owners[Owner]`` neither has nor declares."""
    missing = []
    for owner_name, attributes in wanted.items():
        owner = owners[owner_name]
        cls = owner if isinstance(owner, type) else type(owner)
        declared = {name for klass in cls.__mro__ for name in inspect.get_annotations(klass)}
        missing += [
            f"{owner_name}.{attribute}"
            for attribute in attributes
            if not hasattr(owner, attribute) and attribute not in declared
        ]
    return missing


def check_pyftms(installed: str, owners: Mapping[str, object]) -> None:
    """Refuse (``PyftmsMismatchError``, naming what differs) unless ``installed`` is ``PYFTMS_VERSION``
    and ``owners`` have every attribute of ``PRIVATE_API``."""
    problems = []
    if installed != PYFTMS_VERSION:
        problems.append(f"pyftms {installed} is installed, retrowalk needs exactly {PYFTMS_VERSION}")
    missing = missing_private_api(owners, PRIVATE_API)
    if missing:
        problems.append(f"pyftms lacks {', '.join(missing)}, which retrowalk's treadmill link uses")
    if problems:
        raise PyftmsMismatchError(
            "; ".join(problems) + f" (reinstall retrowalk, or: pip install pyftms=={PYFTMS_VERSION})"
        )


def _installed_owners() -> dict[str, object]:
    # A client that is never connected: instance attributes exist only once one is built.
    sample = get_client(BLEDevice("00:00:00:00:00:00", "version check", None), MachineType.TREADMILL)
    return {"FitnessMachine": sample, "MachineController": MachineController, "DataUpdater": DataUpdater}


check_pyftms(version("pyftms"), _installed_owners())

log = logging.getLogger(__name__)

RESPONSE_CODE = 0x80
REPLY_LENGTH = 3  # response code, request op code, result code (some replies carry more)
GARBAGE_LOG_EVERY_S = 30.0
# Treadmill Data has 13 field groups; a record split over more notifications than that is not one.
MAX_RECORD_PARTS = 13


class MalformedReplyError(TreadmillFaultError):
    """A control-point indication that is not an FTMS response; the command it answered failed."""


class GarbageLog:
    """Logs unreadable frames with the treadmill's address, at most once per interval per source."""

    def __init__(
        self,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger],
        address: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._address = address
        self._clock = clock
        self._last: dict[str, float] = {}
        self._dropped: dict[str, int] = {}
        self._unknown_codes: set[int] = set()

    def late(self, source: str, data: bytes | bytearray, why: str) -> None:
        """A frame that is readable but came too late to matter: said at INFO, with the address."""
        self._log.info(
            "treadmill %s sent a late %s (%s): %s; dropped", self._address, source, bytes(data).hex(" "), why
        )

    def unknown_training_status(self, code: int, data: bytes | bytearray) -> None:
        """A Training Status code FTMS does not define: said once per code per connection, at INFO."""
        if code in self._unknown_codes:
            return
        self._unknown_codes.add(code)
        self._log.info(
            "treadmill %s reports training status %#04x (%s), which FTMS does not define; taken as unknown",
            self._address,
            code,
            bytes(data).hex(" "),
        )

    def frame(self, source: str, data: bytes | bytearray, why: str) -> None:
        now = self._clock()
        self._dropped[source] = self._dropped.get(source, 0) + 1
        last = self._last.get(source)
        if last is not None and now - last < GARBAGE_LOG_EVERY_S:
            return
        self._last[source] = now
        count, self._dropped[source] = self._dropped[source], 0
        self._log.warning(
            "treadmill %s sent an unreadable %s (%s): %s; dropped %d such frame(s)%s",
            self._address,
            source,
            bytes(data).hex(" ") or "empty",
            why,
            count,
            "" if last is None else f" in the last {now - last:.0f} s",
        )


class CheckedController(MachineController):  # type: ignore[misc]  # pyftms is untyped
    """pyftms's controller, refusing control-point replies that are not FTMS responses."""

    def __init__(self, callback: FtmsCallback, garbage: GarbageLog) -> None:
        super().__init__(callback)
        self._garbage = garbage
        # Kept here rather than read back from pyftms's private ``_cb``.
        self._emit = callback
        # Op codes written whose reply pyftms stopped waiting for (timed out), and the op in flight.
        self._timed_out: set[int] = set()
        self._writing: int | None = None

    async def write_command(
        self,
        cli: Any,
        code: ControlCode | None = None,
        *,
        timeout: float = 2.0,  # noqa: ASYNC109 - pyftms's own signature, overridden
        **kwargs: Any,
    ) -> Any:
        # pyftms sends its Request Control through this same method, so the op in flight is always the
        # one whose reply is awaited. Stop, pause and the target settings come with no ``code``: pyftms
        # derives their op code from the keyword arguments, and so does this.
        outer, self._writing = self._writing, _op_code(code, kwargs)
        try:
            return await super().write_command(cli, code, timeout=timeout, **kwargs)
        except TimeoutError:
            if self._writing is not None:
                self._timed_out.add(self._writing)
            raise
        finally:
            self._writing = outer

    def _on_indicate(self, c: BleakGATTCharacteristic, data: bytes | bytearray) -> None:
        pending: asyncio.Future[bytes] | None = getattr(self, "_indicate", None)
        if self._late_reply(data):
            return
        if pending is None or pending.done():
            self._garbage.frame("control-point reply", data, "no command was waiting for one")
            return
        if len(data) < REPLY_LENGTH or data[0] != RESPONSE_CODE:
            err = MalformedReplyError(
                f"control-point reply {bytes(data).hex(' ') or '(empty)'} is not an FTMS response "
                f"(it must start with {RESPONSE_CODE:#04x} and name the command and a result)"
            )
            pending.set_exception(err)
            return
        pending.set_result(bytes(data))

    def _late_reply(self, data: bytes | bytearray) -> bool:
        """True (and logged) for the answer to a write whose wait had timed out, not the one in flight."""
        if len(data) < REPLY_LENGTH or data[0] != RESPONSE_CODE or data[1] == self._writing:
            return False
        if data[1] not in self._timed_out:
            return False
        self._timed_out.discard(data[1])
        self._garbage.late("control-point reply", data, "its command had already timed out")
        return True

    def _on_machine_status(self, c: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            super()._on_machine_status(c, bytearray(without_trailing_bytes(data)))
        except Exception as err:  # noqa: BLE001 - pyftms raises assorted types on a malformed frame
            self._garbage.frame("machine status", data, _why(err))

    def _on_training_status(self, c: BleakGATTCharacteristic, data: bytearray) -> None:
        # Decoded by retrowalk: pyftms's strict enum raises on codes FTMS does not define (UREVO sends
        # 0x10 and 0x11 while its belt winds down), which are reported here as unknown instead.
        try:
            report = decode_training_status(data)
        except UnreadableFrameError as err:
            self._garbage.frame("training status", data, str(err))
            return
        status: int = report.code
        if report.status is None:
            self._garbage.unknown_training_status(report.code, data)
        else:
            status = report.status  # OTHER is 0: not to be tested for truth
        update: dict[str, object] = {"training_status": status}
        if report.text:
            update["training_status_string"] = report.text
        self._emit(UpdateEvent(event_id="update", event_data=update))


class CheckedUpdater(DataUpdater):  # type: ignore[misc]  # pyftms is untyped
    """Treadmill Data decoded by retrowalk (``ftms_data``), one update per complete record.

    pyftms's own ``_on_notify`` is replaced, not wrapped: it reports only the fields that changed (and
    raises ``KeyError`` when a field the previous frame carried is missing), and drops all-zero records,
    a belt standing still. Here every complete record that carries an instantaneous speed is one
    ``UpdateEvent`` with all of its fields, so each such frame is a sample. A record without a usable
    speed (unreadable, or its speed "not available") is dropped and logged once per burst with the
    bytes: the session engine's stale-data rule then keeps the belt safe.
    """

    def __init__(
        self,
        model: Any,
        callback: FtmsCallback,
        garbage: GarbageLog,
        on_frame: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(model, callback)
        self._garbage = garbage
        self._on_frame = on_frame
        self._emit = callback  # as in CheckedController
        # Fields of a record split over several notifications ("More Data"), until its last part.
        self._parts: dict[str, Reading] = {}
        self._part_count = 0

    def reset(self) -> None:
        super().reset()
        self._parts.clear()
        self._part_count = 0

    def _on_notify(self, c: BleakGATTCharacteristic, data: bytearray) -> None:
        # Every frame counts as a sign of life, also one pyftms drops (its "null packets", all zeros, are
        # what some treadmills send while standing still) or cannot read.
        if self._on_frame is not None:
            self._on_frame()
        if log.isEnabledFor(logging.DEBUG):  # as pyftms's own updater did; the adapter fuzz test waits on it
            log.debug("received treadmill data: %s", bytes(data).hex(" "))
        try:
            part = decode_treadmill_data(data)
        except UnreadableFrameError as err:
            self._parts.clear()  # a record with a part missing is not one record
            self._part_count = 0
            self._garbage.frame("treadmill data", data, str(err))
            return
        self._parts |= part.values
        self._part_count += 1
        if part.more_data:
            if self._part_count >= MAX_RECORD_PARTS:
                # Each part carries at least one field group, so a real record has fewer parts: this
                # treadmill never sends the last one (the one with the speed). Say so, and start over.
                self._garbage.frame("treadmill data", data, f"{self._part_count} parts and none with a speed")
                self._parts.clear()
                self._part_count = 0
            return
        record, self._parts, self._part_count = self._parts, {}, 0
        if "speed_instant" not in record:
            self._garbage.frame("treadmill data", data, "its instantaneous speed is not available")
            return
        self._emit(UpdateEvent(event_id="update", event_data=record))


def install_guards(
    client: FitnessMachine, garbage: GarbageLog, on_data_frame: Callable[[], None] | None = None
) -> None:
    """Swap the checked parsers into a pyftms client; call before ``connect``. ``on_data_frame`` is
    called for every machine-data notification, readable or not."""
    on_event = client._on_event  # noqa: SLF001 - the client's event sink, which the parsers feed
    client._controller = CheckedController(on_event, garbage)  # noqa: SLF001 - no injection point
    model = client._data_model  # noqa: SLF001 - as above
    client._updater = CheckedUpdater(model, on_event, garbage, on_data_frame)  # noqa: SLF001 - as above


async def request_control(client: FitnessMachine) -> bool:
    """Send Request Control; True when the treadmill granted it.

    pyftms 0.4 sends Request Control only before the first command of a connection and cannot decode
    Machine Status 0xFF (control lost), so after a treadmill revoked control it never asks again. Its
    own internal write is the only way to send the procedure.
    """
    code = await client._write_command(ControlCode.REQUEST_CONTROL)  # noqa: SLF001 - see the docstring
    return bool(code is FtmsResult.SUCCESS)


def bleak_client_of(client: FitnessMachine) -> Any:
    """The BleakClient under a connected pyftms client (None when it has none).

    After a loss pyftms forgets its BleakClient without disconnecting it; the caller keeps it from here
    so that the transport can release what it holds (see ``BluezTransport.release``).
    """
    return getattr(client, "_cli", None)


def _op_code(code: ControlCode | None, kwargs: Mapping[str, Any]) -> int | None:
    """The op code a pyftms control-point write will carry (None when pyftms cannot build it either)."""
    if code is not None:
        return int(code)
    try:
        derived = ControlModel(code=None, **kwargs).code
    except (TypeError, ValueError):
        return None  # pyftms refuses the same arguments when it builds the request
    return None if derived is None else int(derived)


def _why(err: BaseException) -> str:
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
