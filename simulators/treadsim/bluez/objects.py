"""The org.bluez D-Bus interfaces, as thin dbus-fast objects that delegate to their owner.

Only what bleak 3.x, bleak-retry-connector and pyftms use is implemented, with BlueZ's names, signatures,
object path format and error names (BlueZ ``doc/org.bluez.*.rst``; error mapping after BlueZ's
``create_gatt_dbus_error`` as parsed by bleak's ``assert_gatt_reply``). dbus-fast calls handlers
synchronously, so every handler answers at once; anything that BlueZ would do "later" (resolving
services, a disconnect) is scheduled on the event loop by the owner.
"""

# No "from __future__ import annotations": dbus-fast reads these annotations at runtime, and a deferred
# "-> None" would reach it as the literal None.
from typing import TYPE_CHECKING, Annotated, Protocol

from dbus_fast import DBusError, Variant
from dbus_fast.annotations import (
    DBusBool,
    DBusBytes,
    DBusDict,
    DBusInt16,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
    DBusUInt16,
    DBusUInt32,
)
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

from treadsim.gatt import (
    ATT_CCCD_IMPROPERLY_CONFIGURED,
    ATT_INVALID_ATTRIBUTE_VALUE_LENGTH,
    ATT_READ_NOT_PERMITTED,
    ATT_REQUEST_NOT_SUPPORTED,
    ATT_WRITE_NOT_PERMITTED,
    AttError,
)

if TYPE_CHECKING:
    from treadsim.bluez.adapter import VirtualAdapter
    from treadsim.bluez.device import VirtualDevice

__all__ = [
    "ADAPTER_INTERFACE",
    "ATT_INSUFFICIENT_AUTHORIZATION",
    "ATT_INVALID_OFFSET",
    "DEVICE_INTERFACE",
    "ERROR_DOES_NOT_EXIST",
    "ERROR_FAILED",
    "ERROR_IMPROPERLY_CONFIGURED",
    "ERROR_INVALID_ARGUMENTS",
    "ERROR_NOT_AUTHORIZED",
    "ERROR_NOT_PERMITTED",
    "ERROR_NOT_SUPPORTED",
    "GATT_CHARACTERISTIC_INTERFACE",
    "GATT_DESCRIPTOR_INTERFACE",
    "GATT_SERVICE_INTERFACE",
    "AdapterInterface",
    "CharacteristicOwner",
    "DBusManufacturerData",
    "DBusPathList",
    "DBusStrList",
    "DeviceInterface",
    "GattCharacteristicInterface",
    "GattDescriptorInterface",
    "GattServiceInterface",
    "dbus_error_for_att",
]

DBusStrList = Annotated[list[str], DBusSignature("as")]
DBusPathList = Annotated[list[str], DBusSignature("ao")]
DBusManufacturerData = Annotated[dict[int, Variant], DBusSignature("a{qv}")]

ADAPTER_INTERFACE = "org.bluez.Adapter1"
DEVICE_INTERFACE = "org.bluez.Device1"
GATT_SERVICE_INTERFACE = "org.bluez.GattService1"
GATT_CHARACTERISTIC_INTERFACE = "org.bluez.GattCharacteristic1"
GATT_DESCRIPTOR_INTERFACE = "org.bluez.GattDescriptor1"

ERROR_FAILED = "org.bluez.Error.Failed"
ERROR_NOT_PERMITTED = "org.bluez.Error.NotPermitted"
ERROR_NOT_SUPPORTED = "org.bluez.Error.NotSupported"
ERROR_NOT_AUTHORIZED = "org.bluez.Error.NotAuthorized"
ERROR_INVALID_ARGUMENTS = "org.bluez.Error.InvalidArguments"
ERROR_IMPROPERLY_CONFIGURED = "org.bluez.Error.ImproperlyConfigured"
ERROR_DOES_NOT_EXIST = "org.bluez.Error.DoesNotExist"

ATT_INVALID_OFFSET = 0x07
ATT_INSUFFICIENT_AUTHORIZATION = 0x08
# ATT codes BlueZ reports with their own error name and text (the texts bleak matches on).
_ATT_TO_BLUEZ: dict[int, tuple[str, str]] = {
    ATT_READ_NOT_PERMITTED: (ERROR_NOT_PERMITTED, "Read not permitted"),
    ATT_WRITE_NOT_PERMITTED: (ERROR_NOT_PERMITTED, "Write not permitted"),
    ATT_REQUEST_NOT_SUPPORTED: (ERROR_NOT_SUPPORTED, "Operation is not supported"),
    ATT_INVALID_OFFSET: (ERROR_INVALID_ARGUMENTS, "Invalid offset"),
    ATT_INSUFFICIENT_AUTHORIZATION: (ERROR_NOT_AUTHORIZED, "Operation Not Authorized"),
    ATT_INVALID_ATTRIBUTE_VALUE_LENGTH: (ERROR_INVALID_ARGUMENTS, "Invalid Length"),
    ATT_CCCD_IMPROPERLY_CONFIGURED: (ERROR_IMPROPERLY_CONFIGURED, "CCC Improperly Configured"),
}


def dbus_error_for_att(error: AttError) -> DBusError:
    """The D-Bus error BlueZ answers for an ATT error response, so a client recovers the same code.

    BlueZ gives a few codes their own error names and texts and sends every other code as
    ``org.bluez.Error.Failed`` "Operation failed with ATT error: 0x..", which bleak parses back into
    ``BleakGATTProtocolError(code)``. 0xFE (procedure already in progress) deliberately goes the generic
    way: mapping it to ``org.bluez.Error.InProgress`` would make bleak retry the write in a loop.
    """
    special = _ATT_TO_BLUEZ.get(error.code)
    if special is not None:
        return DBusError(*special)
    return DBusError(ERROR_FAILED, f"Operation failed with ATT error: 0x{error.code:02x}")


class AdapterInterface(ServiceInterface):
    """org.bluez.Adapter1 at /org/bluez/hci0."""

    def __init__(self, owner: "VirtualAdapter") -> None:
        super().__init__(ADAPTER_INTERFACE)
        self._owner = owner

    @dbus_method(name="SetDiscoveryFilter")
    def set_discovery_filter(self, properties: DBusDict) -> None:
        self._owner.set_discovery_filter(properties)

    @dbus_method(name="StartDiscovery")
    def start_discovery(self) -> None:
        self._owner.start_discovery()

    @dbus_method(name="StopDiscovery")
    def stop_discovery(self) -> None:
        self._owner.stop_discovery()

    @dbus_method(name="RemoveDevice")
    def remove_device(self, device: DBusObjectPath) -> None:
        self._owner.remove_device_object(device)

    @dbus_method(name="GetDiscoveryFilters")
    def get_discovery_filters(self) -> DBusStrList:
        return ["UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable", "Pattern"]

    @dbus_property(access=PropertyAccess.READ, name="Address")
    def address(self) -> DBusStr:
        return self._owner.address

    @dbus_property(access=PropertyAccess.READ, name="AddressType")
    def address_type(self) -> DBusStr:
        return "public"

    # Not "name": that is ServiceInterface's own attribute (the interface name) and must not be shadowed.
    @dbus_property(access=PropertyAccess.READ, name="Name")
    def name_property(self) -> DBusStr:
        return self._owner.name

    @dbus_property(access=PropertyAccess.READ, name="Alias")
    def alias(self) -> DBusStr:
        return self._owner.name

    @dbus_property(access=PropertyAccess.READ, name="Class")
    def device_class(self) -> DBusUInt32:
        return 0

    @dbus_property(access=PropertyAccess.READ, name="Powered")
    def powered(self) -> DBusBool:
        return True

    @dbus_property(access=PropertyAccess.READ, name="Discoverable")
    def discoverable(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ, name="Pairable")
    def pairable(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ, name="Discovering")
    def discovering(self) -> DBusBool:
        return self._owner.discovering

    @dbus_property(access=PropertyAccess.READ, name="UUIDs")
    def uuids(self) -> DBusStrList:
        return []

    @dbus_property(access=PropertyAccess.READ, name="Roles")
    def roles(self) -> DBusStrList:
        # bleak refuses an adapter without the "central" role.
        return ["central", "peripheral"]

    @dbus_property(access=PropertyAccess.READ, name="Modalias")
    def modalias(self) -> DBusStr:
        return "usb:v1D6Bp0246d0541"


class DeviceInterface(ServiceInterface):
    """org.bluez.Device1 at /org/bluez/hci0/dev_AA_BB_CC_DD_EE_FF."""

    def __init__(self, owner: "VirtualDevice") -> None:
        super().__init__(DEVICE_INTERFACE)
        self._owner = owner

    @dbus_method(name="Connect")
    def connect(self) -> None:
        self._owner.handle_connect()

    @dbus_method(name="Disconnect")
    def disconnect(self) -> None:
        self._owner.handle_disconnect()

    @dbus_method(name="Pair")
    def pair(self) -> None:
        # FTMS treadmills use no pairing; BlueZ answers like this for a device that does not support it.
        raise DBusError(ERROR_NOT_SUPPORTED, "Pairing is not supported by this device")

    @dbus_method(name="CancelPairing")
    def cancel_pairing(self) -> None:
        raise DBusError(ERROR_DOES_NOT_EXIST, "Does Not Exist")

    @dbus_property(access=PropertyAccess.READ, name="Address")
    def address(self) -> DBusStr:
        return self._owner.address

    @dbus_property(access=PropertyAccess.READ, name="AddressType")
    def address_type(self) -> DBusStr:
        return "public"

    # Not "name": that is ServiceInterface's own attribute (the interface name) and must not be shadowed.
    @dbus_property(access=PropertyAccess.READ, name="Name")
    def name_property(self) -> DBusStr:
        return self._owner.advertised_name

    @dbus_property(access=PropertyAccess.READ, name="Alias")
    def alias(self) -> DBusStr:
        return self._owner.advertised_name

    @dbus_property(access=PropertyAccess.READ, name="Adapter")
    def adapter(self) -> DBusObjectPath:
        return self._owner.adapter_path

    @dbus_property(access=PropertyAccess.READ, name="UUIDs")
    def uuids(self) -> DBusStrList:
        return self._owner.advertised_uuids

    @dbus_property(access=PropertyAccess.READ, name="ServiceData")
    def service_data(self) -> DBusDict:
        return self._owner.advertised_service_data

    @dbus_property(access=PropertyAccess.READ, name="ManufacturerData")
    def manufacturer_data(self) -> DBusManufacturerData:
        return self._owner.advertised_manufacturer_data

    @dbus_property(access=PropertyAccess.READ, name="RSSI")
    def rssi(self) -> DBusInt16:
        return self._owner.rssi

    @dbus_property(access=PropertyAccess.READ, name="Connected")
    def connected(self) -> DBusBool:
        return self._owner.is_connected

    @dbus_property(access=PropertyAccess.READ, name="ServicesResolved")
    def services_resolved(self) -> DBusBool:
        return self._owner.services_resolved

    @dbus_property(access=PropertyAccess.READ, name="Paired")
    def paired(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ, name="Bonded")
    def bonded(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ, name="Trusted")
    def trusted(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ, name="Blocked")
    def blocked(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ, name="LegacyPairing")
    def legacy_pairing(self) -> DBusBool:
        return False


class GattServiceInterface(ServiceInterface):
    """org.bluez.GattService1 at .../dev_XX/serviceNNNN."""

    def __init__(self, uuid: str, device_path: str, primary: bool) -> None:
        super().__init__(GATT_SERVICE_INTERFACE)
        self._uuid = uuid
        self._device_path = device_path
        self._primary = primary

    @dbus_property(access=PropertyAccess.READ, name="UUID")
    def uuid(self) -> DBusStr:
        return self._uuid

    @dbus_property(access=PropertyAccess.READ, name="Device")
    def device(self) -> DBusObjectPath:
        return self._device_path

    @dbus_property(access=PropertyAccess.READ, name="Primary")
    def primary(self) -> DBusBool:
        return self._primary

    @dbus_property(access=PropertyAccess.READ, name="Includes")
    def includes(self) -> DBusPathList:
        return []


class CharacteristicOwner(Protocol):
    """What a characteristic object needs from its device."""

    @property
    def mtu(self) -> int: ...

    def read_characteristic(self, char: "GattCharacteristicInterface") -> bytes: ...

    def write_characteristic(
        self, char: "GattCharacteristicInterface", value: bytes, with_response: bool
    ) -> None: ...

    def set_notifying(self, char: "GattCharacteristicInterface", enabled: bool) -> None: ...


def _option_str(options: dict[str, Variant], key: str, default: str) -> str:
    variant = options.get(key)
    if variant is None:
        return default
    if variant.signature != "s" or not isinstance(variant.value, str):
        raise DBusError(ERROR_INVALID_ARGUMENTS, f"option {key!r} must be a string")
    return variant.value


def _option_offset(options: dict[str, Variant]) -> int:
    variant = options.get("offset")
    if variant is None:
        return 0
    if variant.signature != "q" or not isinstance(variant.value, int):
        raise DBusError(ERROR_INVALID_ARGUMENTS, "option 'offset' must be a uint16")
    return variant.value


class GattCharacteristicInterface(ServiceInterface):
    """org.bluez.GattCharacteristic1 at .../serviceNNNN/charNNNN."""

    def __init__(
        self, owner: CharacteristicOwner, uuid: str, service_path: str, flags: tuple[str, ...]
    ) -> None:
        super().__init__(GATT_CHARACTERISTIC_INTERFACE)
        self._owner = owner
        self.char_uuid = uuid
        self._service_path = service_path
        self.flags = flags
        self.value = b""
        self.notifying = False

    def publish_value(self, value: bytes) -> None:
        """Store a new Value and signal it: this is how BlueZ delivers notifications and read results."""
        self.value = value
        self.emit_properties_changed({"Value": value})

    def publish_notifying(self, notifying: bool) -> None:
        self.notifying = notifying
        self.emit_properties_changed({"Notifying": notifying})

    @dbus_method(name="ReadValue")
    def read_value(self, options: DBusDict) -> DBusBytes:
        offset = _option_offset(options)
        if "read" not in self.flags:
            raise DBusError(ERROR_NOT_PERMITTED, "Read not permitted")
        value = self._owner.read_characteristic(self)
        if offset > len(value):
            raise dbus_error_for_att(AttError(ATT_INVALID_OFFSET, "offset beyond the value"))
        return value[offset:]

    @dbus_method(name="WriteValue")
    def write_value(self, value: DBusBytes, options: DBusDict) -> None:
        write_type = _option_str(options, "type", "request")
        if _option_offset(options) != 0:
            # Long (prepared) writes are not part of FTMS; the simulated peripherals do not offer them.
            raise dbus_error_for_att(AttError(ATT_INVALID_OFFSET, "offset writes are not supported"))
        if write_type == "command":
            if "write-without-response" not in self.flags:
                raise DBusError(ERROR_NOT_SUPPORTED, "Operation is not supported")
            self._owner.write_characteristic(self, bytes(value), with_response=False)
            return
        if write_type not in ("request", "reliable"):
            raise DBusError(ERROR_INVALID_ARGUMENTS, f"unknown write type {write_type!r}")
        if "write" not in self.flags:
            raise DBusError(ERROR_NOT_PERMITTED, "Write not permitted")
        self._owner.write_characteristic(self, bytes(value), with_response=True)

    @dbus_method(name="StartNotify")
    def start_notify(self) -> None:
        if "notify" not in self.flags and "indicate" not in self.flags:
            raise DBusError(ERROR_NOT_SUPPORTED, "Operation is not supported")
        self._owner.set_notifying(self, True)

    @dbus_method(name="StopNotify")
    def stop_notify(self) -> None:
        if not self.notifying:
            raise DBusError(ERROR_FAILED, "No notify session started")
        self._owner.set_notifying(self, False)

    @dbus_property(access=PropertyAccess.READ, name="UUID")
    def uuid(self) -> DBusStr:
        return self.char_uuid

    @dbus_property(access=PropertyAccess.READ, name="Service")
    def service(self) -> DBusObjectPath:
        return self._service_path

    @dbus_property(access=PropertyAccess.READ, name="Value")
    def value_property(self) -> DBusBytes:
        return self.value

    @dbus_property(access=PropertyAccess.READ, name="Notifying")
    def notifying_property(self) -> DBusBool:
        return self.notifying

    @dbus_property(access=PropertyAccess.READ, name="Flags")
    def flags_property(self) -> DBusStrList:
        return list(self.flags)

    @dbus_property(access=PropertyAccess.READ, name="MTU")
    def mtu(self) -> DBusUInt16:
        return self._owner.mtu


class GattDescriptorInterface(ServiceInterface):
    """org.bluez.GattDescriptor1 for a characteristic's CCCD (0x2902)."""

    def __init__(self, uuid: str, characteristic: GattCharacteristicInterface, char_path: str) -> None:
        super().__init__(GATT_DESCRIPTOR_INTERFACE)
        self._uuid = uuid
        self._characteristic = characteristic
        self._char_path = char_path

    def _cccd_value(self) -> bytes:
        if not self._characteristic.notifying:
            return b"\x00\x00"
        # Bit 0 notifications, bit 1 indications (Core spec Vol 3 Part G 3.3.3.3).
        return b"\x01\x00" if "notify" in self._characteristic.flags else b"\x02\x00"

    @dbus_method(name="ReadValue")
    def read_value(self, options: DBusDict) -> DBusBytes:
        return self._cccd_value()[_option_offset(options) :]

    @dbus_method(name="WriteValue")
    def write_value(self, value: DBusBytes, options: DBusDict) -> None:
        # BlueZ owns the CCCD and refuses direct writes: clients use StartNotify/StopNotify.
        raise DBusError(ERROR_NOT_PERMITTED, "Write not permitted")

    @dbus_property(access=PropertyAccess.READ, name="UUID")
    def uuid(self) -> DBusStr:
        return self._uuid

    @dbus_property(access=PropertyAccess.READ, name="Characteristic")
    def characteristic(self) -> DBusObjectPath:
        return self._char_path

    @dbus_property(access=PropertyAccess.READ, name="Value")
    def value_property(self) -> DBusBytes:
        return self._cccd_value()

    @dbus_property(access=PropertyAccess.READ, name="Flags")
    def flags_property(self) -> DBusStrList:
        return ["read"]
