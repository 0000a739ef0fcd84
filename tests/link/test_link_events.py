"""The link's event stream: one reader, every event once, in the order the link put them."""

from __future__ import annotations

import asyncio

from retrowalk.link.events import LinkEvent, LinkEvents, LinkLost, Sample


def sample(at: float) -> Sample:
    return Sample(at=at, speed_kmh=1.0)


async def test_a_reader_iterating_the_stream_gets_every_event_in_order() -> None:
    events = LinkEvents()
    put: list[LinkEvent] = [sample(1.0), LinkLost(at=2.0, reason="the treadmill disconnected"), sample(3.0)]
    for event in put:
        events.put(event)
    read = [await anext(events) for _ in put]
    assert read == put


async def test_a_reader_fed_on_its_own_queue_gets_what_was_waiting_first_then_the_rest() -> None:
    events = LinkEvents()
    events.put(sample(1.0))
    events.put(sample(2.0))
    own: asyncio.Queue[LinkEvent | str] = asyncio.Queue()
    own.put_nowait("a request of the reader's own")
    events.feed(own)
    events.put(sample(3.0))
    read = [own.get_nowait() for _ in range(own.qsize())]
    assert read == ["a request of the reader's own", sample(1.0), sample(2.0), sample(3.0)]
    # Nothing is left behind in the stream itself.
    assert events._queue.empty()  # noqa: SLF001 the stream has no public size, and nothing left in it is the point
