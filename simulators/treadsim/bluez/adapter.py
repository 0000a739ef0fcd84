"""The virtual adapter: owns ``org.bluez`` on the private bus, exports Adapter1 at /org/bluez/hci0 and one
:class:`~treadsim.bluez.device.VirtualDevice` per simulated peripheral.

A scanner only learns about devices from signals sent while it scans (bleak reads GetManagedObjects once
per process), so discovery announces every device at once and then sends an advertising report (an RSSI
change) every ``advertise_interval`` seconds, as a real adapter relays advertisements.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dbus_fast import BusType, DBusError, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.constants import RequestNameReply

from treadsim.bluez.device import DEFAULT_MTU, VirtualDevice
from treadsim.bluez.errors import SimulatorError
from treadsim.bluez.objects import ERROR_DOES_NOT_EXIST, ERROR_INVALID_ARGUMENTS, AdapterInterface
from treadsim.gatt import GattPeripheral

__all__ = ["ADAPTER_PATH", "ADVERTISE_INTERVAL_S", "BLUEZ_BUS_NAME", "VirtualAdapter"]

logger = logging.getLogger(__name__)

BLUEZ_BUS_NAME = "org.bluez"
ADAPTER_PATH = "/org/bluez/hci0"
ADVERTISE_INTERVAL_S = 0.5
_FILTER_SIGNATURES = {
    "UUIDs": "as",
    "RSSI": "n",
    "Pathloss": "q",
    "Transport": "s",
    "DuplicateData": "b",
    "Discoverable": "b",
    "Pattern": "s",
}


class VirtualAdapter:
    """hci0 on the private bus. Use as ``async with VirtualAdapter(address) as adapter``."""

    path = ADAPTER_PATH

    def __init__(
        self,
        bus_address: str,
        *,
        address: str = "00:1A:7D:DA:71:00",
        name: str = "treadsim",
        advertise_interval: float = ADVERTISE_INTERVAL_S,
    ) -> None:
        if advertise_interval <= 0:
            raise SimulatorError(f"advertise interval must be positive, got {advertise_interval}")
        self._bus_address = bus_address
        self.address = address
        self.name = name
        self.advertise_interval = advertise_interval
        self._bus: MessageBus | None = None
        self._interface = AdapterInterface(self)
        self._devices: dict[str, VirtualDevice] = {}
        self._discovery_sessions = 0
        self._advertiser: asyncio.Task[None] | None = None

    @property
    def bus(self) -> MessageBus:
        if self._bus is None:
            raise SimulatorError("the virtual adapter is not started")
        return self._bus

    @property
    def discovering(self) -> bool:
        return self._discovery_sessions > 0

    @property
    def devices(self) -> tuple[VirtualDevice, ...]:
        return tuple(self._devices.values())

    async def __aenter__(self) -> VirtualAdapter:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self._bus is not None:
            raise SimulatorError("the virtual adapter is already started")
        bus = MessageBus(bus_address=self._bus_address, bus_type=BusType.SYSTEM)
        await bus.connect()
        self._bus = bus
        bus.export(self.path, self._interface)
        reply = await bus.request_name(BLUEZ_BUS_NAME)
        if reply not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
            bus.disconnect()
            self._bus = None
            raise SimulatorError(f"could not own {BLUEZ_BUS_NAME} on the private bus ({reply.name})")
        logger.info("virtual adapter %s at %s owns %s", self.address, self.path, BLUEZ_BUS_NAME)

    async def close(self) -> None:
        await self._stop_advertiser()
        for device in self._devices.values():
            device.disappear()
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.disconnect()
            with contextlib.suppress(Exception):
                await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]

    # --- devices ---------------------------------------------------------------------------------------

    def add_peripheral(self, peripheral: GattPeripheral, *, mtu: int = DEFAULT_MTU) -> VirtualDevice:
        device = VirtualDevice(self, peripheral, mtu=mtu)
        if device.path in self._devices:
            raise SimulatorError(f"a device with address {device.address} is already on the adapter")
        self._devices[device.path] = device
        device.appear()
        if self.discovering:
            device.advertise()
        return device

    def device(self, address: str) -> VirtualDevice:
        for device in self._devices.values():
            if device.address == address.upper():
                return device
        raise SimulatorError(f"no device with address {address} on the adapter")

    def remove_device_object(self, device_path: str) -> None:
        """Adapter1.RemoveDevice: BlueZ forgets the device (and drops its link); it comes back when it
        advertises again, i.e. on the next discovery."""
        device = self._devices.get(device_path)
        if device is None or not device.present:
            raise DBusError(ERROR_DOES_NOT_EXIST, "Does Not Exist")
        device.disappear()
        asyncio.get_running_loop().call_later(self.advertise_interval, self._reappear, device)

    def _reappear(self, device: VirtualDevice) -> None:
        if self._bus is not None and not device.present:
            device.appear()

    # --- discovery -------------------------------------------------------------------------------------

    def set_discovery_filter(self, properties: dict[str, Variant]) -> None:
        # Validated like BlueZ does, then not applied: bleak filters advertisements by UUID itself.
        for key, value in properties.items():
            expected = _FILTER_SIGNATURES.get(key)
            if expected is None or value.signature != expected:
                raise DBusError(ERROR_INVALID_ARGUMENTS, "Invalid arguments in method call")

    def start_discovery(self) -> None:
        self._discovery_sessions += 1
        if self._discovery_sessions > 1:
            return
        self._interface.emit_properties_changed({"Discovering": True})
        for device in self._devices.values():
            device.advertise()
        self._advertiser = asyncio.get_running_loop().create_task(
            self._advertise_forever(), name="treadsim-adapter-advertiser"
        )

    def stop_discovery(self) -> None:
        # One discovery session per StartDiscovery; scanning stops when the last one stops.
        if self._discovery_sessions == 0:
            return
        self._discovery_sessions -= 1
        if self._discovery_sessions == 0:
            advertiser, self._advertiser = self._advertiser, None
            if advertiser is not None:
                advertiser.cancel()
            self._interface.emit_properties_changed({"Discovering": False})

    async def _stop_advertiser(self) -> None:
        advertiser, self._advertiser = self._advertiser, None
        self._discovery_sessions = 0
        if advertiser is not None:
            advertiser.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await advertiser

    async def _advertise_forever(self) -> None:
        while True:
            await asyncio.sleep(self.advertise_interval)
            for device in self._devices.values():
                device.advertise()
