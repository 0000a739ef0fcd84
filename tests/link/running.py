"""A link running in the background while a test looks at it: ``run()`` and a reader of its events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from retrowalk.link.events import LinkEvent
from retrowalk.link.ftms import FtmsLink


async def _collect(link: FtmsLink, into: list[LinkEvent]) -> None:
    async for event in link.events:
        into.append(event)


@contextlib.asynccontextmanager
async def link_running(link: FtmsLink, events: list[LinkEvent]) -> AsyncIterator[FtmsLink]:
    """Run ``link`` until the block ends; what it reports is appended to ``events``."""
    tasks = [
        asyncio.create_task(link.run(), name="link-under-test"),
        asyncio.create_task(_collect(link, events), name="link-events-under-test"),
    ]
    try:
        yield link
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
