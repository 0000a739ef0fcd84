"""The BlueZ transport: a local Bluetooth adapter, reached by bleak over the system D-Bus (Linux).

Everything the link needs to know about BlueZ is here, the way bleak keeps its BlueZ code under
``backends/bluezdbus``: the adapter a scan runs on, BlueZ's object paths in ``BLEDevice.details``,
bleak's global BlueZ manager, taking over a treadmill still connected from an earlier run, and the D-Bus
connection bleak keeps per client. See ``transport`` for the interface it implements.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bleak import BleakScanner
from bleak.backends.bluezdbus.manager import get_global_bluez_manager
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from bleak_retry_connector import get_device
from pyftms import MachineType, NotFitnessMachineError, get_machine_type_from_service_data

from retrowalk.link.diagnose import describe_bluetooth_error
from retrowalk.link.transport import LinkLog, LinkTarget

__all__ = ["FTMS_SERVICE", "RELEASE_TIMEOUT_S", "BluezTransport"]

FTMS_SERVICE = "00001826-0000-1000-8000-00805f9b34fb"
# How long releasing a finished client's D-Bus connection may take before it is given up.
RELEASE_TIMEOUT_S = 5.0


class BluezTransport:
    """One BlueZ adapter (``adapter="hci1"``), or the system's default adapter (None)."""

    def __init__(self, adapter: str | None = None) -> None:
        self.adapter = adapter

    async def find(self, target: LinkTarget, timeout_s: float, log: LinkLog) -> BLEDevice | None:
        # Which adapter scans decides which one connects: the device object lives under it.
        scan_args: dict[str, Any] = {"bluez": {"adapter": self.adapter}} if self.adapter else {}
        if target.address:
            # A treadmill still connected to a process that died (SIGKILL, crash) does not advertise, so
            # a scan never finds it, and its belt may be running. BlueZ still knows it: take it from
            # there; pyftms closes the stale connection before connecting anew.
            # bleak registers its BlueZ manager before it has loaded BlueZ's devices; a second runner
            # asking at the same moment would see none. Waiting for the manager first avoids that
            # (found by the fault campaign with two treadmills killed at once).
            await get_global_bluez_manager()
            known = await get_device(target.address)
            if known is not None and _connected(known) and _on_adapter(known, self.adapter):
                log.warning("%s is still connected from an earlier run: taking it over", known.address)
                return known
            return await BleakScanner.find_device_by_address(target.address, timeout_s, **scan_args)
        if target.name:
            return await BleakScanner.find_device_by_name(target.name, timeout_s, **scan_args)
        return await BleakScanner.find_device_by_filter(
            _is_ftms_treadmill, timeout_s, service_uuids=[FTMS_SERVICE], **scan_args
        )

    async def release(self, ble_client: Any) -> None:
        # bleak 3 gives each client a D-Bus connection of its own and closes it only in disconnect().
        # After a loss pyftms drops its client without that call, so without this every loss would
        # leave a connection open on the system bus (the bus limits them per user) until the process
        # ends; at the end the closing bus logs an EOFError traceback. Once disconnected, this call only
        # releases that connection.
        if ble_client is None:
            return
        with contextlib.suppress(BleakError, TimeoutError, OSError):
            async with asyncio.timeout(RELEASE_TIMEOUT_S):
                await ble_client.disconnect()

    def describe_error(self, err: BaseException) -> str:
        return describe_bluetooth_error(err)


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
