"""Real bleak characteristics for the tests that hand frames to retrowalk's guards directly.

The guards, and pyftms under them, never read the characteristic a frame arrived on, but their callbacks
are typed with bleak's class: the tests pass the FTMS characteristic the frame would come on, so that the
type checker can check the calls."""

from __future__ import annotations

from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.service import BleakGATTService

from treadsim import ftms

# Handles are what a treadmill might use; nothing looks them up.
_FTMS_SERVICE = BleakGATTService(None, 0x0010, ftms.FTMS_SERVICE)
_DEFAULT_ATT_PAYLOAD = 20  # the default ATT MTU (23) less the 3-byte header


def _characteristic(
    handle: int, uuid: str, *properties: CharacteristicPropertyName
) -> BleakGATTCharacteristic:
    return BleakGATTCharacteristic(
        None, handle, uuid, list(properties), lambda: _DEFAULT_ATT_PAYLOAD, _FTMS_SERVICE
    )


TREADMILL_DATA = _characteristic(0x0012, ftms.TREADMILL_DATA, "notify")
TRAINING_STATUS = _characteristic(0x0015, ftms.TRAINING_STATUS, "read", "notify")
CONTROL_POINT = _characteristic(0x0018, ftms.CONTROL_POINT, "write", "indicate")
MACHINE_STATUS = _characteristic(0x001B, ftms.MACHINE_STATUS, "notify")
