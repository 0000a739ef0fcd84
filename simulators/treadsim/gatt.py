"""The contract between a simulated GATT peripheral and the virtual BlueZ adapter that serves it.

The adapter (``treadsim.bluez``) knows nothing of FTMS: it exports whatever services a
:class:`GattPeripheral` declares, forwards reads, writes and subscriptions to it, and hands it a
:class:`LinkSink` while a central is connected. The FTMS peripheral (``treadsim.peripheral``) knows
nothing of D-Bus. Keeping the two apart lets each be tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "ATT_CCCD_IMPROPERLY_CONFIGURED",
    "ATT_INVALID_ATTRIBUTE_VALUE_LENGTH",
    "ATT_PROCEDURE_ALREADY_IN_PROGRESS",
    "ATT_READ_NOT_PERMITTED",
    "ATT_REQUEST_NOT_SUPPORTED",
    "ATT_WRITE_NOT_PERMITTED",
    "BASE_UUID",
    "Advertisement",
    "AttError",
    "CharacteristicSpec",
    "GattPeripheral",
    "LinkSink",
    "ServiceSpec",
    "uuid16",
]

BASE_UUID = "0000{:04x}-0000-1000-8000-00805f9b34fb"


def uuid16(short: int) -> str:
    """The full, lower-case 128-bit UUID of a 16-bit SIG UUID (as BlueZ spells it)."""
    return BASE_UUID.format(short)


# ATT error codes a peripheral may answer with (Bluetooth Core spec Vol 3 Part F 3.4.1.1 and the
# Core Specification Supplement's common profile error codes).
ATT_INVALID_ATTRIBUTE_VALUE_LENGTH = 0x0D
ATT_REQUEST_NOT_SUPPORTED = 0x06
ATT_WRITE_NOT_PERMITTED = 0x03
ATT_READ_NOT_PERMITTED = 0x02
ATT_CCCD_IMPROPERLY_CONFIGURED = 0xFD
ATT_PROCEDURE_ALREADY_IN_PROGRESS = 0xFE


class AttError(Exception):
    """An ATT error response to a read or write; the adapter turns it into BlueZ's D-Bus error."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"ATT error 0x{code:02x}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class CharacteristicSpec:
    uuid: str
    # BlueZ flag names: "read", "write", "write-without-response", "notify", "indicate".
    flags: tuple[str, ...]


@dataclass(frozen=True)
class ServiceSpec:
    uuid: str
    characteristics: tuple[CharacteristicSpec, ...]
    primary: bool = True


@dataclass(frozen=True)
class Advertisement:
    """What a scanner sees of a peripheral while it advertises."""

    local_name: str
    service_uuids: tuple[str, ...]
    service_data: dict[str, bytes] = field(default_factory=dict)
    manufacturer_data: dict[int, bytes] = field(default_factory=dict)
    rssi: int = -60


class LinkSink(Protocol):
    """What the adapter offers a peripheral while a central is connected."""

    @property
    def mtu(self) -> int:
        """The link's ATT MTU; a notification carries at most ``mtu - 3`` bytes."""
        ...

    def send(self, char_uuid: str, value: bytes) -> None:
        """Send a notification or indication of ``char_uuid`` (only if the central subscribed)."""
        ...

    def drop(self) -> None:
        """Drop the link from the peripheral's side (a quirk or a fault)."""
        ...


class GattPeripheral(Protocol):
    """A simulated device as the adapter sees it."""

    @property
    def address(self) -> str:
        """Bluetooth address, ``AA:BB:CC:DD:EE:FF``."""
        ...

    @property
    def services(self) -> tuple[ServiceSpec, ...]: ...

    def advertisement(self) -> Advertisement: ...

    def read(self, char_uuid: str) -> bytes:
        """Answer a read; may raise :class:`AttError`."""
        ...

    def write(self, char_uuid: str, value: bytes) -> None:
        """Accept a write with response; may raise :class:`AttError`. Replies go through the sink."""
        ...

    def set_subscribed(self, char_uuid: str, enabled: bool) -> None:
        """The central enabled or disabled notifications/indications of ``char_uuid``."""
        ...

    def connected(self, sink: LinkSink) -> None: ...

    def disconnected(self) -> None: ...
