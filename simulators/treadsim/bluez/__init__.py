"""A virtual Bluetooth adapter: BlueZ's D-Bus API played on a private bus, serving simulated peripherals.

Unmodified BLE clients (bleak, and pyftms on top of it) reach it by setting ``DBUS_SYSTEM_BUS_ADDRESS`` to
the private bus's address. See ``docs/simulator.md``.
"""

from treadsim.bluez.adapter import VirtualAdapter
from treadsim.bluez.daemon import PrivateBus
from treadsim.bluez.device import VirtualDevice
from treadsim.bluez.errors import ConsoleCommandError, SimulatorError, UnknownTreadmillError

__all__ = [
    "ConsoleCommandError",
    "PrivateBus",
    "SimulatorError",
    "UnknownTreadmillError",
    "VirtualAdapter",
    "VirtualDevice",
]
