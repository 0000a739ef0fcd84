"""Running the real service against treadsim in one process, on a shared (optionally fast) clock.

The service code is unmodified: the only things chosen here are its clock (the simulator's, so a
five-minute session can run in well under a minute) and a publisher that records what it says.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrowalk.config import Settings
from retrowalk.link.events import TreadmillInfo
from retrowalk.link.limits import DeviceRange
from retrowalk.mqtt import commands as mc
from retrowalk.mqtt import payloads as p
from retrowalk.service.app import Clock, Service
from retrowalk.service.publish import CallbackPublisher
from tests.plugins.virtual_adapter import SimulatorFactory, wait_until
from treadsim.server import Simulator, treadmill_address

# What a link stand-in reports on connecting: a plain treadmill with speed control and elapsed time.
STAND_IN_INFO = TreadmillInfo(
    address="C0:7E:AD:00:00:01",
    name="stand-in",
    manufacturer=None,
    model=None,
    speed_range=DeviceRange(0.5, 12.0, 0.1),
    incline_range=None,
    can_set_speed=True,
    can_set_incline=False,
    reports_elapsed_time=True,
    reports_distance=True,
)


@dataclass
class Recorder:
    """Keeps everything the service published, so tests can read what a kiosk would have seen."""

    items: list[tuple[str, object]] = field(default_factory=list)

    def __call__(self, treadmill_id: str, item: object) -> None:
        self.items.append((treadmill_id, item))

    def of[T](self, kind: type[T], treadmill_id: str | None = None) -> list[T]:
        return [i for t, i in self.items if isinstance(i, kind) and treadmill_id in (None, t)]

    def ended(self, treadmill_id: str | None = None) -> list[p.SessionEnded]:
        return self.of(p.SessionEnded, treadmill_id)


@dataclass
class Rig:
    sim: Simulator
    service: Service
    recorder: Recorder
    ids: list[str]

    async def wait_connected(self, treadmill_id: str, within: float = 15.0) -> None:
        runner = self.service.runners
        await wait_until(
            lambda: runner[treadmill_id].engine is not None and runner[treadmill_id].link.connected,
            within,
            f"{treadmill_id} connected",
        )

    async def command(self, treadmill_id: str, payload: dict[str, Any]) -> None:
        command = mc.COMMAND_ADAPTER.validate_python(
            {"command_id": f"c{len(self.recorder.items)}", **payload}
        )
        await self.service.router.handle_command(treadmill_id, command)

    async def screen_and_start(
        self, treadmill_id: str, user: str = "ana", plan: dict[str, Any] | None = None
    ) -> None:
        await self.command(treadmill_id, healthy_screening(user))
        start: dict[str, Any] = {"type": "start", "user_id": user}
        if plan is not None:
            start["plan"] = plan
        await self.command(treadmill_id, start)

    async def wait_ended(self, treadmill_id: str, within: float) -> p.SessionEnded:
        await wait_until(
            lambda: self.recorder.ended(treadmill_id) != [], within, f"session end on {treadmill_id}"
        )
        return self.recorder.ended(treadmill_id)[0]


def healthy_screening(user: str) -> dict[str, Any]:
    """A screening command for a healthy 50-year-old: nothing that needs a clinician first."""
    return {
        "type": "screening",
        "user_id": user,
        "age": 50,
        "severe_knee_oa": False,
        "ligament_injury": False,
        "balance_disorder_or_dizziness": False,
        "recent_knee_surgery": False,
    }


@contextlib.asynccontextmanager
async def running_rig(
    simulator_factory: SimulatorFactory,
    tmp_path: Path,
    *,
    treadmills: int = 1,
    quirks: tuple[str, ...] = (),
    speedup: float = 1.0,
    settings: dict[str, Any] | None = None,
    prepare: Callable[[Simulator], Awaitable[None]] | None = None,
    **sim_options: Any,
) -> AsyncIterator[Rig]:
    sim = await simulator_factory(treadmills=treadmills, quirks=list(quirks), speedup=speedup, **sim_options)
    if prepare is not None:
        await prepare(sim)
    ids = [f"tm{i}" for i in range(treadmills)]
    config: dict[str, Any] = {
        "service": {"id": "test", "storage": str(tmp_path / "history.sqlite3"), "tick_hz": 10.0},
        "treadmills": [{"id": ids[i], "address": treadmill_address(i)} for i in range(treadmills)],
        "link": {"scan_timeout_s": 5.0, "backoff_initial_s": 0.2, "backoff_max_s": 1.0},
    }
    config.update(settings or {})
    recorder = Recorder()
    service = Service(
        Settings(**config), clock=Clock(now=sim.now, speedup=speedup), observer=CallbackPublisher(recorder)
    )
    task = asyncio.create_task(service.run(), name="service-under-test")
    try:
        yield Rig(sim, service, recorder, ids)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
