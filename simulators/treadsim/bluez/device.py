"""One simulated peripheral as BlueZ would show it: a Device1 object, its GATT objects while connected,
and the link (a :class:`treadsim.gatt.LinkSink`) the peripheral talks through.

Link life cycle, in BlueZ's order (bleak depends on it):
connect: ``Connected`` true, every GATT object exported, the Connect reply, then ``ServicesResolved`` true
(only then may a client look up characteristics). Disconnect, from either side or a fault:
``ServicesResolved`` false, ``Connected`` false, then the GATT objects are removed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dbus_fast import DBusError, Variant
from dbus_fast.service import ServiceInterface

from treadsim.bluez.errors import SimulatorError
from treadsim.bluez.objects import (
    ERROR_FAILED,
    DeviceInterface,
    GattCharacteristicInterface,
    GattDescriptorInterface,
    GattServiceInterface,
    dbus_error_for_att,
)
from treadsim.gatt import Advertisement, AttError, GattPeripheral, uuid16

if TYPE_CHECKING:
    from treadsim.bluez.adapter import VirtualAdapter

__all__ = [
    "CCCD_UUID",
    "CONNECT_REFUSED_TEXT",
    "DEFAULT_MTU",
    "FIRST_HANDLE",
    "LinkCounters",
    "VirtualDevice",
    "device_path",
]

logger = logging.getLogger(__name__)

CCCD_UUID = uuid16(0x2902)
# The first attribute handle of the first exported service: real devices start their own services after
# GAP/GATT; the value only has to be four hex digits, because bleak reads handles from the path's tail.
FIRST_HANDLE = 0x000A
DEFAULT_MTU = 247
# BlueZ's text for an LE connection attempt that got no answer (device out of range or not accepting).
CONNECT_REFUSED_TEXT = "Software caused connection abort"


def device_path(adapter_path: str, address: str) -> str:
    return f"{adapter_path}/dev_{address.upper().replace(':', '_')}"


@dataclass
class LinkCounters:
    """What went over the links of one device (for tests and the capacity bench)."""

    connects: int = 0
    disconnects: int = 0
    refused_connects: int = 0
    notifications: int = 0
    notifications_by_uuid: Counter[str] = field(default_factory=Counter)
    writes: int = 0
    reads: int = 0


class _Link:
    """The LinkSink a peripheral gets for one connection; dead (silently ignored) once that link is gone."""

    def __init__(self, device: VirtualDevice, generation: int) -> None:
        self._device = device
        self._generation = generation

    @property
    def mtu(self) -> int:
        return self._device.mtu

    def send(self, char_uuid: str, value: bytes) -> None:
        self._device.send_from_peripheral(self._generation, char_uuid, value)

    def drop(self) -> None:
        self._device.drop_link(reason="dropped by the peripheral", generation=self._generation)


class VirtualDevice:
    """A peripheral on the virtual adapter, with link-fault controls for tests and the console."""

    def __init__(
        self, adapter: VirtualAdapter, peripheral: GattPeripheral, *, mtu: int = DEFAULT_MTU
    ) -> None:
        if not 23 <= mtu <= 517:
            raise SimulatorError(f"ATT MTU {mtu} is outside 23..517")
        self.adapter = adapter
        self.peripheral = peripheral
        self.address = peripheral.address.upper()
        self.path = device_path(adapter.path, self.address)
        self.mtu = mtu
        self.counters = LinkCounters()
        self.refuse_connections = False
        self.present = False
        self.is_connected = False
        self.services_resolved = False
        self._interface = DeviceInterface(self)
        self._advertisement = peripheral.advertisement()
        self._rssi_wiggle = 0
        self._generation = 0
        self._gatt_objects: list[tuple[str, ServiceInterface]] = []
        self._chars_by_uuid: dict[str, GattCharacteristicInterface] = {}
        self._deferring_sends = False
        self._deferred_sends: list[tuple[int, str, bytes]] = []

    # --- what the Device1 properties read -------------------------------------------------------------

    @property
    def adapter_path(self) -> str:
        return self.adapter.path

    @property
    def advertised_name(self) -> str:
        return self._advertisement.local_name

    @property
    def advertised_uuids(self) -> list[str]:
        return list(self._advertisement.service_uuids)

    @property
    def advertised_service_data(self) -> dict[str, Variant]:
        return {uuid: Variant("ay", data) for uuid, data in self._advertisement.service_data.items()}

    @property
    def advertised_manufacturer_data(self) -> dict[int, Variant]:
        return {cid: Variant("ay", data) for cid, data in self._advertisement.manufacturer_data.items()}

    @property
    def rssi(self) -> int:
        return self._advertisement.rssi - self._rssi_wiggle

    # --- presence and advertising ----------------------------------------------------------------------

    def appear(self) -> None:
        """Export Device1 (InterfacesAdded): a scanner sees the device advertise."""
        if self.present:
            return
        self._advertisement = self.peripheral.advertisement()
        self.adapter.bus.export(self.path, self._interface)
        self.present = True
        logger.info("%s appeared at %s", self.address, self.path)

    def disappear(self) -> None:
        """Out of range: the link (if any) is lost at once and the Device1 object is removed."""
        if not self.present:
            return
        self._teardown_link("device disappeared")
        self.adapter.bus.unexport(self.path, self._interface)
        self.present = False
        logger.info("%s disappeared", self.address)

    def advertise(self) -> None:
        """One advertising report while the adapter discovers: RSSI, plus any advertisement data changed.

        A connected FTMS machine stops advertising, so it stays silent here like a real one.
        """
        if not self.present or self.is_connected:
            return
        fresh = self.peripheral.advertisement()
        changed: dict[str, object] = {}
        if fresh != self._advertisement:
            changed.update(self._advertisement_changes(self._advertisement, fresh))
            self._advertisement = fresh
        self._rssi_wiggle ^= 1  # a real RSSI never holds still; a changing value also defeats dedup.
        changed["RSSI"] = self.rssi
        self._interface.emit_properties_changed(changed)

    def _advertisement_changes(self, old: Advertisement, new: Advertisement) -> dict[str, object]:
        changes: dict[str, object] = {}
        if old.local_name != new.local_name:
            changes["Name"] = new.local_name
            changes["Alias"] = new.local_name
        if old.service_uuids != new.service_uuids:
            changes["UUIDs"] = list(new.service_uuids)
        if old.service_data != new.service_data:
            changes["ServiceData"] = {u: Variant("ay", d) for u, d in new.service_data.items()}
        if old.manufacturer_data != new.manufacturer_data:
            changes["ManufacturerData"] = {c: Variant("ay", d) for c, d in new.manufacturer_data.items()}
        return changes

    # --- Device1 methods ---------------------------------------------------------------------------------

    def handle_connect(self) -> None:
        if self.refuse_connections:
            self.counters.refused_connects += 1
            logger.info("%s refused a connection (fault injected)", self.address)
            raise DBusError(ERROR_FAILED, CONNECT_REFUSED_TEXT)
        if self.is_connected:
            # BlueZ answers success for an LE device that is already connected.
            return
        self._generation += 1
        generation = self._generation
        self.is_connected = True
        self.counters.connects += 1
        self._interface.emit_properties_changed({"Connected": True})
        self._export_gatt()
        self.peripheral.connected(_Link(self, generation))
        logger.info("%s connected", self.address)
        # Resolved only after the Connect reply has gone out, as BlueZ does after discovering services.
        asyncio.get_running_loop().call_soon(self._resolve_services, generation)

    def handle_disconnect(self) -> None:
        if not self.is_connected:
            return
        generation = self._generation
        asyncio.get_running_loop().call_soon(
            self._teardown_if_current, generation, "disconnected by the central"
        )

    def _resolve_services(self, generation: int) -> None:
        if generation != self._generation or not self.is_connected:
            return
        self.services_resolved = True
        self._interface.emit_properties_changed({"ServicesResolved": True})

    def _teardown_if_current(self, generation: int, reason: str) -> None:
        if generation == self._generation:
            self._teardown_link(reason)

    # --- faults --------------------------------------------------------------------------------------------

    def drop_link(self, reason: str = "link dropped (fault injected)", generation: int | None = None) -> None:
        """Lose the link like a radio dropout; scheduled, so a peripheral may call it from a handler."""
        if not self.is_connected:
            return
        target = self._generation if generation is None else generation
        asyncio.get_running_loop().call_soon(self._teardown_if_current, target, reason)

    def _teardown_link(self, reason: str) -> None:
        if not self.is_connected:
            return
        self._generation += 1  # every sink handed out so far goes dead
        self._deferred_sends.clear()
        if self.services_resolved:
            self.services_resolved = False
            self._interface.emit_properties_changed({"ServicesResolved": False})
        self.is_connected = False
        self._interface.emit_properties_changed({"Connected": False})
        self._unexport_gatt()
        self.counters.disconnects += 1
        logger.info("%s disconnected: %s", self.address, reason)
        self.peripheral.disconnected()

    # --- GATT objects --------------------------------------------------------------------------------------

    def _export_gatt(self) -> None:
        handle = FIRST_HANDLE
        bus = self.adapter.bus
        for service in self.peripheral.services:
            service_path = f"{self.path}/service{handle:04x}"
            handle += 1
            service_object = GattServiceInterface(service.uuid, self.path, service.primary)
            bus.export(service_path, service_object)
            self._gatt_objects.append((service_path, service_object))
            for spec in service.characteristics:
                char_path = f"{service_path}/char{handle:04x}"
                handle += 2  # declaration + value
                characteristic = GattCharacteristicInterface(self, spec.uuid, service_path, spec.flags)
                bus.export(char_path, characteristic)
                self._gatt_objects.append((char_path, characteristic))
                self._chars_by_uuid[spec.uuid] = characteristic
                if "notify" in spec.flags or "indicate" in spec.flags:
                    descriptor_path = f"{char_path}/desc{handle:04x}"
                    handle += 1
                    descriptor = GattDescriptorInterface(CCCD_UUID, characteristic, char_path)
                    bus.export(descriptor_path, descriptor)
                    self._gatt_objects.append((descriptor_path, descriptor))

    def _unexport_gatt(self) -> None:
        bus = self.adapter.bus
        # Children first, like BlueZ removing a service tree.
        for path, interface in reversed(self._gatt_objects):
            bus.unexport(path, interface)
        self._gatt_objects.clear()
        self._chars_by_uuid.clear()

    # --- CharacteristicOwner (called by the GATT objects) ------------------------------------------------

    def read_characteristic(self, char: GattCharacteristicInterface) -> bytes:
        self.counters.reads += 1
        try:
            value = self.peripheral.read(char.char_uuid)
        except AttError as error:
            raise dbus_error_for_att(error) from error
        value = value[: self.mtu - 1]  # an ATT read response carries at most MTU-1 bytes
        char.publish_value(value)  # BlueZ signals a read's result as a Value change too
        return value

    def write_characteristic(
        self, char: GattCharacteristicInterface, value: bytes, with_response: bool
    ) -> None:
        self.counters.writes += 1
        # Anything the peripheral sends while handling the write (an indication) must reach the central
        # after the write's reply, as over the air.
        self._deferring_sends = True
        try:
            self.peripheral.write(char.char_uuid, value)
        except AttError as error:
            if with_response:
                raise dbus_error_for_att(error) from error
            logger.debug("%s: write without response to %s failed: %s", self.address, char.char_uuid, error)
        finally:
            self._deferring_sends = False
            if self._deferred_sends:
                asyncio.get_running_loop().call_soon(self._flush_deferred_sends)

    def set_notifying(self, char: GattCharacteristicInterface, enabled: bool) -> None:
        if char.notifying == enabled:
            return
        char.publish_notifying(enabled)
        self.peripheral.set_subscribed(char.char_uuid, enabled)

    # --- the peripheral's LinkSink -------------------------------------------------------------------------

    def send_from_peripheral(self, generation: int, char_uuid: str, value: bytes) -> None:
        if generation != self._generation or not self.is_connected:
            logger.debug("%s: send on a link that is gone ignored", self.address)
            return
        if self._deferring_sends:
            self._deferred_sends.append((generation, char_uuid, value))
            return
        self._deliver(char_uuid, value)

    def _flush_deferred_sends(self) -> None:
        pending, self._deferred_sends = self._deferred_sends, []
        for generation, char_uuid, value in pending:
            if generation == self._generation and self.is_connected:
                self._deliver(char_uuid, value)

    def _deliver(self, char_uuid: str, value: bytes) -> None:
        char = self._chars_by_uuid.get(char_uuid)
        if char is None:
            raise SimulatorError(f"{self.address}: the peripheral sent on unknown characteristic {char_uuid}")
        if not char.notifying:
            return  # the central did not subscribe: nothing goes over the air
        limit = self.mtu - 3
        if len(value) > limit:
            # A notification carries at most MTU-3 bytes; real stacks cut the rest off.
            logger.warning(
                "%s: %d-byte notification of %s cut to %d", self.address, len(value), char_uuid, limit
            )
            value = value[:limit]
        self.counters.notifications += 1
        self.counters.notifications_by_uuid[char_uuid] += 1
        char.publish_value(value)
