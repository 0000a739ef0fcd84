"""How a link reaches its treadmill's radio: the seam between FTMS and the Bluetooth stack under it.

The link (``ftms.FtmsLink``) speaks FTMS through pyftms and knows nothing of the stack that carries it.
A transport answers the three questions that depend on the stack:

- ``find(target, timeout_s, log)``: the ``BLEDevice`` to connect to, or None when the treadmill cannot
  be found within ``timeout_s``. A transport may return a device that does not advertise (one still
  connected from an earlier run, whose belt may be running) and says so on ``log``. Raises
  ``BleakError`` or ``OSError`` when the stack itself is unusable; the link reports that and retries.
- ``release(ble_client)``: called once a connection has ended and been disconnected, with the
  ``BleakClient`` pyftms had used (or None); frees what the stack still holds for it. Must not raise
  ``BleakError``, ``OSError`` or ``TimeoutError`` for a client that is already gone.
- ``describe_error(err)``: a stack error in words a person can act on ("BlueZ is not running: ...").

pyftms builds its own ``BleakClient`` from the ``BLEDevice`` (bleak-retry-connector's
``establish_connection``), so a transport steers the connection only through the device it returns.
``bluez.BluezTransport`` is the local adapter through BlueZ. An ESPHome Bluetooth proxy transport would
return the devices its proxies see (bleak-esphome registers them with habluetooth, whose devices bleak
connects through the proxy), hold no D-Bus connections to release, and explain proxy errors instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from bleak.backends.device import BLEDevice

__all__ = ["LinkLog", "LinkTarget", "Transport"]

type LinkLog = logging.Logger | logging.LoggerAdapter[logging.Logger]


@dataclass(frozen=True)
class LinkTarget:
    """How to recognise the treadmill: by address, by advertised name, or the first FTMS treadmill."""

    address: str | None = None
    name: str | None = None

    def describe(self) -> str:
        return self.address or (f"name {self.name!r}" if self.name else "the first FTMS treadmill")


class Transport(Protocol):
    """The Bluetooth stack under one link (see the module docstring for the contract)."""

    async def find(self, target: LinkTarget, timeout_s: float, log: LinkLog) -> BLEDevice | None: ...

    async def release(self, ble_client: Any) -> None: ...

    def describe_error(self, err: BaseException) -> str: ...
