"""The simulator: a private bus, the virtual adapter, N simulated treadmills and the clock that drives
them, plus the tester console's one dispatch table (:meth:`Simulator.perform`).

The in-process API (tests) and the out-of-process console (``treadsim console``, over D-Bus, see
:mod:`treadsim.console`) both end up in :meth:`Simulator.perform`, so they cannot drift apart::

    async with Simulator(treadmills=2, quirks=["1:ignores-speed"]) as sim:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = sim.bus_address   # bleak/pyftms now see the treadmills
        sim.perform(0, "press", "start")
        sim.record(0)                                            # the ground-truth belt record
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from treadsim.bluez.adapter import VirtualAdapter
from treadsim.bluez.daemon import PrivateBus
from treadsim.bluez.device import DEFAULT_MTU, VirtualDevice
from treadsim.bluez.errors import SimulatorError, UnknownTreadmillError
from treadsim.console_actions import perform, record_entries, treadmill_state

if TYPE_CHECKING:
    from treadsim.console import ConsoleService
    from treadsim.model import Treadmill
    from treadsim.peripheral import FtmsPeripheral

__all__ = [
    "DEFAULT_TICK_HZ",
    "PeripheralFactory",
    "Simulator",
    "TreadmillOptions",
    "TreadmillSlot",
    "ftms_treadmill_factory",
    "parse_quirk_selection",
    "treadmill_address",
    "treadmill_name",
]

logger = logging.getLogger(__name__)

DEFAULT_TICK_HZ = 20.0


def treadmill_address(index: int) -> str:
    """Deterministic, distinct addresses: treadmill 0 is C0:7E:AD:00:00:00, 258 is C0:7E:AD:00:01:02."""
    if not 0 <= index < 1 << 24:
        raise SimulatorError(f"treadmill index {index} out of range")
    return "C0:7E:AD:" + ":".join(f"{(index >> shift) & 0xFF:02X}" for shift in (16, 8, 0))


def treadmill_name(index: int) -> str:
    return f"TreadSim {index}"


def parse_quirk_selection(specs: Sequence[str], treadmills: int) -> list[tuple[str, ...]]:
    """``NAME`` applies a quirk to every treadmill, ``I:NAME`` to treadmill I only; returns per-treadmill
    quirk names in the order given, without duplicates. Unknown names and indices are refused."""
    from treadsim.quirks import QUIRKS

    selected: list[list[str]] = [[] for _ in range(treadmills)]
    for spec in specs:
        target, sep, name = spec.partition(":")
        if not sep:
            name, indices = target, range(treadmills)
        else:
            if not target.isdigit():
                raise SimulatorError(f"quirk selection {spec!r}: expected NAME or INDEX:NAME")
            index = int(target)
            if index >= treadmills:
                raise SimulatorError(
                    f"quirk selection {spec!r}: there is no treadmill {index} (treadmills 0-{treadmills - 1})"
                )
            indices = range(index, index + 1)
        if name not in QUIRKS:
            raise SimulatorError(f"unknown quirk {name!r}; valid quirks: {', '.join(sorted(QUIRKS))}")
        for index in indices:
            if name not in selected[index]:
                selected[index].append(name)
    return [tuple(names) for names in selected]


@dataclass(frozen=True)
class TreadmillOptions:
    """Everything that goes into building one simulated treadmill."""

    index: int
    address: str
    name: str
    quirks: tuple[str, ...]
    notify_hz: float
    acceleration_kmh_s: float | None
    seed: int


PeripheralFactory = Callable[[TreadmillOptions, float, Callable[[], float]], "FtmsPeripheral"]


def ftms_treadmill_factory(
    options: TreadmillOptions, now: float, clock: Callable[[], float]
) -> FtmsPeripheral:
    """The default: treadsim's FTMS peripheral on the deterministic treadmill model, on the sim clock."""
    from treadsim.peripheral import FtmsPeripheral
    from treadsim.quirks import spec_for_quirks

    spec = spec_for_quirks(options.quirks)
    if options.acceleration_kmh_s is not None:
        spec = dataclasses.replace(
            spec, acceleration_kmh_s=options.acceleration_kmh_s, deceleration_kmh_s=options.acceleration_kmh_s
        )
    return FtmsPeripheral.create(
        now,
        address=options.address,
        quirks=options.quirks,
        spec=spec,
        name=options.name,
        notify_hz=options.notify_hz,
        seed=options.seed,
        clock=clock,
    )


@dataclass
class TreadmillSlot:
    """One simulated treadmill: its peripheral (with the model inside) and its device on the adapter."""

    index: int
    options: TreadmillOptions
    peripheral: FtmsPeripheral
    device: VirtualDevice

    @property
    def treadmill(self) -> Treadmill:
        return self.peripheral.treadmill

    @property
    def address(self) -> str:
        return self.options.address


class Simulator:
    """Bus + adapter + treadmills + clock; ``async with Simulator(...) as sim``."""

    def __init__(
        self,
        treadmills: int = 1,
        *,
        quirks: Sequence[str] = (),
        notify_hz: float = 1.0,
        acceleration_kmh_s: float | None = None,
        tick_hz: float = DEFAULT_TICK_HZ,
        speedup: float = 1.0,
        mtu: int = DEFAULT_MTU,
        seed: int = 0,
        advertise_interval: float = 0.5,
        console: bool = True,
        peripheral_factory: PeripheralFactory = ftms_treadmill_factory,
    ) -> None:
        if treadmills < 1:
            raise SimulatorError(f"need at least one treadmill, got {treadmills}")
        for label, value in (("notify rate", notify_hz), ("tick rate", tick_hz), ("speedup", speedup)):
            if not (math.isfinite(value) and value > 0):
                raise SimulatorError(f"{label} must be a positive number, got {value}")
        if acceleration_kmh_s is not None and not (
            math.isfinite(acceleration_kmh_s) and acceleration_kmh_s > 0
        ):
            raise SimulatorError(f"acceleration must be a positive number, got {acceleration_kmh_s}")
        self._quirks = parse_quirk_selection(quirks, treadmills)
        self._count = treadmills
        self._notify_hz = notify_hz
        self._acceleration = acceleration_kmh_s
        self._tick_interval = 1.0 / tick_hz
        self._speedup = speedup
        self._mtu = mtu
        self._seed = seed
        self._advertise_interval = advertise_interval
        self._with_console = console
        self._factory = peripheral_factory
        self._bus = PrivateBus()
        self._adapter: VirtualAdapter | None = None
        self._console: ConsoleService | None = None
        self._slots: list[TreadmillSlot] = []
        self._clock_task: asyncio.Task[None] | None = None
        self._real_origin = 0.0
        self._sim_origin = 0.0

    # --- life cycle ------------------------------------------------------------------------------------

    async def __aenter__(self) -> Simulator:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        address = await self._bus.start()
        self._real_origin = time.monotonic()
        self._sim_origin = self._real_origin
        self._adapter = VirtualAdapter(address, advertise_interval=self._advertise_interval)
        await self._adapter.start()
        now = self.now()
        for index in range(self._count):
            options = TreadmillOptions(
                index=index,
                address=treadmill_address(index),
                name=treadmill_name(index),
                quirks=self._quirks[index],
                notify_hz=self._notify_hz,
                acceleration_kmh_s=self._acceleration,
                seed=self._seed + index,
            )
            peripheral = self._factory(options, now, self.now)
            device = self._adapter.add_peripheral(peripheral, mtu=self._mtu)
            self._slots.append(TreadmillSlot(index, options, peripheral, device))
            logger.info("treadmill %d: %s %r quirks=%s", index, options.address, options.name, options.quirks)
        if self._with_console:
            from treadsim.console import ConsoleService

            self._console = ConsoleService(self)
            await self._console.start(self._adapter.bus)
        self._clock_task = asyncio.get_running_loop().create_task(self._run_clock(), name="treadsim-clock")

    async def close(self) -> None:
        """Stop the clock, drop every link, stop the bus. Raises SimulatorError (after cleaning up) if the
        clock had crashed, so a broken simulation never passes for a quiet one."""
        clock, self._clock_task = self._clock_task, None
        crash: BaseException | None = None
        if clock is not None:
            if clock.done() and not clock.cancelled():
                crash = clock.exception()
            clock.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await clock
        if self._adapter is not None:
            await self._adapter.close()
            self._adapter = None
        await self._bus.stop()
        self._console = None
        if crash is not None:
            raise SimulatorError(f"the simulation clock crashed: {crash!r}") from crash

    @property
    def bus_address(self) -> str:
        return self._bus.address

    @property
    def adapter(self) -> VirtualAdapter:
        if self._adapter is None:
            raise SimulatorError("the simulator is not running")
        return self._adapter

    @property
    def clock_task(self) -> asyncio.Task[None] | None:
        """The task ticking the treadmills; it only ends by cancellation or a crash (then it raises)."""
        return self._clock_task

    def now(self) -> float:
        """Simulated monotonic time: real time since start, times ``speedup``."""
        return self._sim_origin + (time.monotonic() - self._real_origin) * self._speedup

    async def _run_clock(self) -> None:
        try:
            while True:
                now = self.now()
                for slot in self._slots:
                    slot.peripheral.tick(now)
                await asyncio.sleep(self._tick_interval)
        except Exception:
            # Say so at once: a frozen model would otherwise look like a quiet treadmill until close().
            logger.exception("the simulation clock crashed; the treadmills are frozen")
            raise

    # --- treadmills ------------------------------------------------------------------------------------

    @property
    def treadmills(self) -> tuple[TreadmillSlot, ...]:
        return tuple(self._slots)

    def treadmill(self, index: int) -> TreadmillSlot:
        if not isinstance(index, int) or not 0 <= index < len(self._slots):
            raise UnknownTreadmillError(
                f"there is no treadmill {index!r}; treadmills are 0-{len(self._slots) - 1}"
            )
        return self._slots[index]

    def record(self, index: int) -> list[dict[str, Any]]:
        """The ground-truth belt record of treadmill ``index`` as plain dicts (true km/h)."""
        return record_entries(self.treadmill(index))

    def state(self, index: int) -> dict[str, Any]:
        return treadmill_state(self.treadmill(index), self.now())

    def perform(self, index: int, action: str, argument: str = "") -> dict[str, Any]:
        """Do what a tester at the console (or at the radio) would do; the result is JSON-ready.

        Raises :class:`UnknownTreadmillError` or :class:`ConsoleCommandError` (nothing changed)."""
        slot = self.treadmill(index)
        # Bring the model up to now first, so the action happens at the right moment of the belt's motion.
        now = self.now()
        slot.peripheral.tick(now)
        result = perform(slot, action, argument, now)
        logger.info("console: treadmill %d %s %s -> %s", index, action, argument, result.get("ok"))
        return result
