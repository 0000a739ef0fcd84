"""`retrowalk scan`: which FTMS treadmills are in range, and what each can do."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from bleak.exc import BleakError
from pyftms import MachineType, discover_ftms_devices, get_client

from retrowalk.errors import LinkError
from retrowalk.link.diagnose import describe_bluetooth_error

__all__ = [
    "HEADERS",
    "ScanResult",
    "scan",
]


@dataclass(frozen=True)
class ScanResult:
    address: str
    name: str
    manufacturer: str | None = None
    model: str | None = None
    speed_range: str = "?"
    incline_range: str = "?"
    # None: not known, because the treadmill was not asked (--no-connect) or could not be reached.
    speed_control: bool | None = None
    problem: str = ""

    def row(self) -> list[str]:
        maker = " ".join(x for x in (self.manufacturer, self.model) if x) or "-"
        control = "?" if self.speed_control is None else "yes" if self.speed_control else "no"
        return [self.address, self.name, maker, self.speed_range, self.incline_range, control, self.problem]


HEADERS = ["address", "name", "maker/model", "speed km/h", "incline %", "speed control", "note"]


async def scan(seconds: float, *, connect: bool = True) -> list[ScanResult]:
    """Discover FTMS treadmills for ``seconds``; connect to each briefly to read its ranges."""
    found = []
    try:
        async for device, machine_type in discover_ftms_devices(seconds):
            if MachineType.TREADMILL in machine_type:
                found.append(device)
    except (BleakError, OSError) as err:
        raise LinkError(f"cannot scan for Bluetooth devices: {describe_bluetooth_error(err)}") from err
    results = []
    for device in found:
        name = device.name or "(no name)"
        if not connect:
            results.append(ScanResult(device.address, name))
            continue
        client = get_client(device, MachineType.TREADMILL)
        try:
            async with asyncio.timeout(20):
                await client.connect()
            speed = client.supported_ranges.get("target_speed")
            incline = client.supported_ranges.get("target_inclination")
            info = client.device_info
            results.append(
                ScanResult(
                    device.address,
                    name,
                    info.get("manufacturer"),
                    info.get("model"),
                    f"{speed.min_value:g}-{speed.max_value:g} step {speed.step:g}" if speed else "-",
                    f"{incline.min_value:g}-{incline.max_value:g} step {incline.step:g}" if incline else "-",
                    "target_speed" in client.supported_settings,
                    "" if speed else "no speed control: retrowalk cannot drive it",
                )
            )
        except (BleakError, TimeoutError, OSError) as err:
            results.append(ScanResult(device.address, name, problem=f"could not connect: {err or 'timeout'}"))
        finally:
            with contextlib.suppress(BleakError, TimeoutError, OSError):
                await client.disconnect()
    return results
