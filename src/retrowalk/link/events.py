"""What a treadmill link reports, in retrowalk's words rather than pyftms's.

The link knows FTMS; the session engine knows sessions. These small records are the seam: the service
turns them into engine events. Every record carries ``at``, the service's monotonic clock when it arrived.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from retrowalk.link.limits import DeviceRange
from retrowalk.session.events import MachineStatusKind, ResultCode

__all__ = [
    "EventSink",
    "LinkConnected",
    "LinkEvent",
    "LinkEvents",
    "LinkLost",
    "LinkReply",
    "Sample",
    "StatusChange",
    "TreadmillInfo",
]


@dataclass(frozen=True)
class TreadmillInfo:
    """What the link read from a treadmill when it connected."""

    address: str
    name: str
    manufacturer: str | None
    model: str | None
    speed_range: DeviceRange | None
    incline_range: DeviceRange | None
    can_set_speed: bool
    can_set_incline: bool
    # What its data carries (a description: every record with a speed is a sample, elapsed time or not).
    reports_elapsed_time: bool
    reports_distance: bool


@dataclass(frozen=True)
class LinkConnected:
    at: float
    info: TreadmillInfo


@dataclass(frozen=True)
class LinkLost:
    at: float
    reason: str


@dataclass(frozen=True)
class Sample:
    """One complete Treadmill Data record (split records already reassembled by pyftms)."""

    at: float
    speed_kmh: float
    incline_pct: float | None = None
    distance_m: float | None = None
    elapsed_s: int | None = None
    heart_rate_bpm: int | None = None
    energy_kcal: int | None = None


@dataclass(frozen=True)
class StatusChange:
    """A Machine Status notification, in the engine's vocabulary."""

    at: float
    kind: MachineStatusKind
    value: float | None = None


LinkEvent = LinkConnected | LinkLost | Sample | StatusChange


class EventSink(Protocol):
    """Where a reader wants its link's events put: its own queue (see ``LinkEvents.feed``)."""

    def put_nowait(self, item: LinkEvent, /) -> None: ...


class LinkEvents:
    """The events of one link, in the order they happened, for one reader (the runner).

    The link owns it and is the only writer (``put``, from bleak's callbacks, never blocks). The reader
    either iterates it (``async for event in link.events``) or, when it waits on other things too, has
    the events put straight on its own queue (``feed``): no task and no second queue per event, which
    matters at a thousand samples a second. Events flow from the link to the reader only: commands go
    through ``execute``, which sends at once or refuses, and are never queued, so none can cross a lost
    link.
    """

    __slots__ = ("_queue", "_sink")

    def __init__(self) -> None:
        self._queue: asyncio.Queue[LinkEvent] = asyncio.Queue()
        self._sink: EventSink = self._queue

    def put(self, event: LinkEvent) -> None:
        self._sink.put_nowait(event)

    def feed(self, sink: EventSink) -> None:
        """Put every event from now on straight on ``sink``, after those not yet read."""
        while not self._queue.empty():
            sink.put_nowait(self._queue.get_nowait())
        self._sink = sink

    def get_nowait(self) -> LinkEvent:
        """The next event if one is waiting; raises ``asyncio.QueueEmpty`` otherwise."""
        return self._queue.get_nowait()

    def __aiter__(self) -> LinkEvents:
        return self

    async def __anext__(self) -> LinkEvent:
        return await self._queue.get()


@dataclass(frozen=True)
class LinkReply:
    """How one command ended. ``result`` is SUCCESS only when the treadmill accepted it."""

    result: ResultCode
    # The value actually sent after flooring onto the device grid (None when no value was sent).
    sent_value: float | None = None
    # True when nothing was sent because the link was down (or went down while sending).
    link_down: bool = False
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.result is ResultCode.SUCCESS
