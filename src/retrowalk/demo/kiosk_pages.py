"""The demo's kiosk: `retrowalk kiosk` on the demo's broker, so the session can be followed (and stopped)
in a browser at the address the demo prints."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator

from retrowalk.demo.broker import RunningBroker
from retrowalk.kiosk.app import Kiosk
from retrowalk.kiosk.settings import KioskSettings

__all__ = ["demo_kiosk"]


@contextlib.asynccontextmanager
async def demo_kiosk(broker: RunningBroker, *, service_id: str, treadmill_id: str) -> AsyncIterator[Kiosk]:
    """A kiosk on localhost (a free port), for the demo's one treadmill, with a fresh token per run.
    Built from values, not a file or the environment: the demo must not pick up a real kiosk's set-up."""
    settings = KioskSettings.model_validate(
        {
            "http": {"host": "127.0.0.1", "port": 0},
            # amqtt speaks only 3.1.1 (see demo_settings); mosquitto takes either.
            "broker": {
                "host": broker.host,
                "port": broker.port,
                "protocol": "3.1.1" if broker.kind == "amqtt" else "auto",
            },
            "treadmills": [
                {
                    "id": treadmill_id,
                    "service": service_id,
                    "token": secrets.token_urlsafe(24),
                    "label": "simulated treadmill (treadsim)",
                }
            ],
        }
    )
    kiosk = Kiosk(settings)
    async with kiosk.serving():
        yield kiosk
