"""Telemetry handed straight to the connection (`mqtt/telemetry_out.py`), against a real mosquitto: it
arrives, retained; what the connection has not written yet is bounded, and samples beyond the bound, or
with no connection, are dropped and counted, never queued for later."""

from __future__ import annotations

import asyncio
import contextlib

from retrowalk.mqtt.aiomqtt_private import AckCheckingClient
from retrowalk.mqtt.connection import ProtocolChoice, open_client
from retrowalk.mqtt.telemetry_out import TelemetryOut

from .mqtt_broker import Mosquitto
from .mqtt_helpers import PREFIX, collecting, settings_for, wait_until

TOPIC = f"{PREFIX}tm1/telemetry"


def connection(broker: Mosquitto) -> contextlib.AbstractAsyncContextManager[AckCheckingClient]:
    settings = settings_for(broker)
    return open_client(settings, client_id="telemetry-out", will=None, protocols=ProtocolChoice("auto"))


def sample(n: int) -> bytes:
    return f'{{"n":{n}}}'.encode()


async def test_samples_over_the_unwritten_limit_are_dropped_the_rest_arrive(mosquitto: Mosquitto) -> None:
    out = TelemetryOut(unwritten_limit=3)
    out.send(TOPIC, sample(0))  # no connection yet: dropped, not kept for later
    assert out.dropped == 1
    async with (
        collecting(mosquitto) as seen,
        connection(mosquitto) as client,
    ):
        out.attach(client)
        # Handed over without the event loop turning in between, so none of them is written yet: the
        # first three are kept, the other two dropped.
        for n in range(1, 6):
            out.send(TOPIC, sample(n))
        assert out.dropped == 3
        got = await seen.wait_json("tm1/telemetry", 3)
        assert [m["n"] for m in got] == [1, 2, 3]
        # Once written (the subscriber has them), they no longer count against the limit.
        out.send(TOPIC, sample(6))
        assert out.dropped == 3
        assert [m["n"] for m in await seen.wait_json("tm1/telemetry", 4)] == [1, 2, 3, 6]
        out.detach()
        out.send(TOPIC, sample(7))
        assert out.dropped == 4
        await asyncio.sleep(0.2)
        assert [m["n"] for m in seen.json_on("tm1/telemetry")] == [1, 2, 3, 6]


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
