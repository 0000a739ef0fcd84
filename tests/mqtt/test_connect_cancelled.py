"""A connect cancelled before the broker's CONNACK (the service or the kiosk stopping while a broker is slow
to answer) leaves nothing behind: aiomqtt 2.5 keeps the socket open and its reading task running when
its `__aenter__` is cancelled at that point, so the broker would hold a half-open client for ever."""

from __future__ import annotations

import asyncio
import contextlib

from retrowalk.mqtt.connection import ProtocolChoice, open_client
from retrowalk.mqtt.settings import BrokerSettings


async def test_a_connect_cancelled_before_the_connack_closes_its_socket() -> None:
    connect_received = asyncio.Event()
    hung_up = asyncio.Event()

    async def never_answering_broker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # the first byte of CONNECT: a client is waiting for its CONNACK now
        connect_received.set()
        while await reader.read(1024):  # read until the client hangs up
            pass
        hung_up.set()
        writer.close()

    server = await asyncio.start_server(never_answering_broker, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = BrokerSettings(host="127.0.0.1", port=port, prefix="retrowalk/v1/")

    async def connect() -> None:
        async with open_client(settings, client_id="cancelled", will=None, protocols=ProtocolChoice("5")):
            raise AssertionError("this broker never answers: the connect cannot succeed")

    async with server:
        connecting = asyncio.create_task(connect(), name="connect-to-a-silent-broker")
        await asyncio.wait_for(connect_received.wait(), 10)
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await connecting
        # The client's side of the connection is closed, not left to the broker's keepalive.
        await asyncio.wait_for(hung_up.wait(), 5)
