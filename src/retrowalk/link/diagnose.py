"""Bluetooth failures in words a person can act on.

bleak and dbus-fast report what went wrong in their own terms ("The name org.bluez was not provided by
any .service files", a FileNotFoundError for a socket). Whoever reads retrowalk's output needs to know
what to install, start or plug in.
"""

from __future__ import annotations

from bleak.exc import BleakError

__all__ = ["describe_bluetooth_error"]


def describe_bluetooth_error(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, BleakError) and err.args else str(err)
    lowered = text.lower()
    if isinstance(err, FileNotFoundError | ConnectionRefusedError) or "dbus_system_bus" in lowered:
        return (
            "the system D-Bus is not reachable (is dbus running? install the 'dbus' package and start it; "
            "in a container, mount the host's /run/dbus)"
        )
    if "org.bluez" in lowered and ("not provided" in lowered or "serviceunknown" in lowered):
        return "BlueZ is not running: install the 'bluez' package and start the 'bluetooth' service"
    if "no powered bluetooth adapters" in lowered:
        return (
            "the Bluetooth adapter is switched off: 'bluetoothctl power on' "
            "(if it is blocked: 'rfkill unblock bluetooth')"
        )
    if "no bluetooth adapters" in lowered:
        return "no Bluetooth adapter found: plug one in ('bluetoothctl list' should show it)"
    return text or type(err).__name__
