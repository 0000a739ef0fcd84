"""Running the kiosk: the broker connection and the web server in one task group, until cancelled."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from retrowalk.kiosk.broker_link import KioskBroker
from retrowalk.kiosk.mirror import Mirror
from retrowalk.kiosk.settings import KioskSettings
from retrowalk.kiosk.web import KioskWeb

__all__ = ["Kiosk"]

log = logging.getLogger(__name__)

# How long open pages get to be closed at shutdown before aiohttp cancels them.
_SHUTDOWN_S = 2.0


class Kiosk:
    """One kiosk process: `serving()` yields once the pages can be opened; `url` is where."""

    def __init__(self, settings: KioskSettings) -> None:
        self.settings = settings
        self.mirror = Mirror(settings)
        self.broker = KioskBroker(settings, self.mirror)
        self.web = KioskWeb(settings, self.mirror, self.broker)
        self.port: int | None = None

    @property
    def url(self) -> str:
        http = self.settings.http
        scheme = "https" if http.tls_cert_file else "http"
        host = f"[{http.host}]" if ":" in http.host else http.host
        return f"{scheme}://{host}:{self.port or http.port}"

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[Kiosk]:
        runner = web.AppRunner(self.web.app(), shutdown_timeout=_SHUTDOWN_S, access_log=None)
        await runner.setup()
        try:
            http = self.settings.http
            site = web.TCPSite(runner, http.host, http.port, ssl_context=self._tls(), reuse_address=True)
            await site.start()
            self.port = _bound_port(runner, http.port)
            async with asyncio.TaskGroup() as tasks:
                broker_task = tasks.create_task(self.broker.run(), name="kiosk-broker")
                log.info("kiosk: serving %d treadmill page(s) at %s", len(self.settings.treadmills), self.url)
                try:
                    yield self
                finally:
                    broker_task.cancel()
        finally:
            await runner.cleanup()

    async def run_forever(self) -> None:
        async with self.serving():
            await asyncio.Event().wait()

    def _tls(self) -> ssl.SSLContext | None:
        http = self.settings.http
        if http.tls_cert_file is None or http.tls_key_file is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(http.tls_cert_file, http.tls_key_file)
        return context


def _bound_port(runner: web.AppRunner, configured: int) -> int:
    # Port 0 in tests and the demo: the system picks a free one; read it back from the socket.
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return configured
