"""Telemetry handed straight to the connection (`mqtt/telemetry_out.py`), against a real mosquitto: it
arrives, retained, written at once; against a broker that stops reading (SIGSTOP), what the connection
has not written is bounded and written when the broker reads again, and samples beyond the bound, or with
no connection, are dropped and counted, never queued for later."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from retrowalk.mqtt.aiomqtt_private import AckCheckingClient
from retrowalk.mqtt.connection import ProtocolChoice, open_client
from retrowalk.mqtt.telemetry_out import TelemetryOut

from .mqtt_broker import Mosquitto
from .mqtt_helpers import PREFIX, collecting, settings_for, wait_until

TOPIC = f"{PREFIX}tm1/telemetry"
# Enough 1 MiB samples to fill the loopback socket's buffers (a few MiB each way) several times over.
SENT = 40
PADDING = 1 << 20


def connection(broker: Mosquitto) -> contextlib.AbstractAsyncContextManager[AckCheckingClient]:
    settings = settings_for(broker)
    return open_client(settings, client_id="telemetry-out", will=None, protocols=ProtocolChoice("auto"))


def sample(n: int, padding: int = 0) -> bytes:
    return f'{{"n":{n},"padding":"{"x" * padding}"}}'.encode()


async def test_samples_over_the_unwritten_limit_are_dropped_the_rest_arrive(mosquitto: Mosquitto) -> None:
    out = TelemetryOut(unwritten_limit=3)
    out.send(TOPIC, sample(0))  # no connection yet: dropped, not kept for later
    assert out.dropped == 1
    assert mosquitto.pid is not None
    async with collecting(mosquitto) as seen, connection(mosquitto) as client:
        out.attach(client)
        out.send(TOPIC, sample(1))  # written at once: nothing was waiting
        assert out.unwritten == 0
        await seen.wait_json("tm1/telemetry")
        # A broker that stops reading: the socket's buffers fill, then samples wait unwritten, and past
        # three of them they are dropped.
        os.kill(mosquitto.pid, signal.SIGSTOP)
        try:
            for n in range(2, 2 + SENT):
                out.send(TOPIC, sample(n, padding=PADDING))
            assert out.unwritten == 3
            dropped = out.dropped - 1
            assert 0 < dropped < SENT - 3
        finally:
            os.kill(mosquitto.pid, signal.SIGCONT)
        # What was handed over arrives, in order, once the broker reads again (the loop writes the rest).
        kept = SENT - dropped
        got = await seen.wait_json("tm1/telemetry", 1 + kept, within_s=20)
        assert [m["n"] for m in got] == list(range(1, 2 + kept))
        await wait_until(lambda: out.unwritten == 0, "the waiting samples to be written")
        out.send(TOPIC, sample(100))
        assert (await seen.wait_json("tm1/telemetry", 2 + kept))[-1]["n"] == 100
        out.detach()
        out.send(TOPIC, sample(101))
        assert out.dropped == 1 + dropped + 1
        await asyncio.sleep(0.2)
        assert seen.json_on("tm1/telemetry")[-1]["n"] == 100


async def test_samples_are_retained(mosquitto: Mosquitto) -> None:
    out = TelemetryOut()
    async with connection(mosquitto) as client:
        out.attach(client)
        out.send(TOPIC, sample(1))
        await wait_until(lambda: out.unwritten == 0, "the sample to be written")
    # A subscriber that comes later still gets it: it was published retained.
    async with collecting(mosquitto, client_id="late-subscriber") as seen:
        assert [m["n"] for m in await seen.wait_json("tm1/telemetry")] == [1]
        assert seen.on("tm1/telemetry")[0].retain
    assert out.dropped == 0
