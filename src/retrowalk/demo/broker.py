"""An MQTT broker for `retrowalk demo`, so that a fresh machine needs no broker of its own.

mosquitto is preferred when it is installed (it is what a gym runs, and it speaks MQTT 5); otherwise
amqtt runs inside this process (MQTT 3.1.1 only: the bridge's protocol "auto" falls back to it). Either
listens on 127.0.0.1 only, on a free port, with anonymous access: it is a demo broker, never a
production one, and must not be reachable from the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from retrowalk.errors import SetupError
from retrowalk.subprocesses import HOST, Mosquitto, find_mosquitto, free_port

__all__ = ["RunningBroker", "embedded_broker"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunningBroker:
    kind: Literal["mosquitto", "amqtt"]
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@contextlib.asynccontextmanager
async def embedded_broker(
    workdir: Path, *, port: int | None = None, prefer: Literal["auto", "amqtt"] = "auto"
) -> AsyncIterator[RunningBroker]:
    """Run a broker on ``HOST:port`` (a free port when None) until the block ends.

    Raises :class:`SetupError` with what to do when the port is taken or the broker will not start."""
    chosen = port if port is not None else free_port()
    _check_port_free(chosen)
    if prefer == "auto" and find_mosquitto() is not None:
        async with _mosquitto(workdir, chosen) as broker:
            yield broker
    else:
        async with _amqtt(chosen) as broker:
            yield broker


def _check_port_free(port: int) -> None:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError as err:
            raise SetupError(
                f"cannot run the demo broker on {HOST}:{port}: {err.strerror or err}; "
                "another program holds that port (pick another, or run the demo with --no-broker)"
            ) from None


@contextlib.asynccontextmanager
async def _mosquitto(workdir: Path, port: int) -> AsyncIterator[RunningBroker]:
    # Detached: a Ctrl-C must reach only the demo, which still needs the broker to publish the session's
    # end before it stops the broker itself; and the broker dies with the demo if that is killed outright.
    broker = Mosquitto(workdir, port=port, detached=True)
    try:
        await broker.start_async()
    except SetupError as err:
        raise SetupError(f"{err}; run the demo with --no-broker to skip MQTT") from None
    try:
        yield RunningBroker("mosquitto", HOST, port)
    finally:
        await broker.stop_async()


@contextlib.asynccontextmanager
async def _amqtt(port: int) -> AsyncIterator[RunningBroker]:
    try:
        from amqtt.broker import Broker
        from amqtt.errors import BrokerError, PluginError
    except ModuleNotFoundError as err:
        if (err.name or "").partition(".")[0] != "amqtt":
            raise
        raise SetupError(
            "the demo's in-process MQTT broker needs amqtt, which is not installed: install mosquitto "
            "(apt-get install mosquitto) or the demo extra (pip install 'retrowalk[demo]'), or run the "
            "demo with --no-broker"
        ) from None

    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"{HOST}:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    # amqtt logs every connection at INFO; that is noise in a demo's terminal.
    logging.getLogger("amqtt").setLevel(max(logging.WARNING, logging.getLogger().level))
    broker = Broker(config)
    loop = asyncio.get_running_loop()
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(_without_cancelled_stream_callbacks)
    try:
        await broker.start()  # returns once the listener is bound
    except (BrokerError, PluginError, OSError, SetupError) as err:
        raise SetupError(
            f"the embedded amqtt broker did not start on {HOST}:{port}: {err}; "
            "install mosquitto (apt-get install mosquitto) or run the demo with --no-broker"
        ) from None
    try:
        yield RunningBroker("amqtt", HOST, port)
    finally:
        try:
            await asyncio.wait_for(broker.shutdown(), 5.0)
        except (TimeoutError, BrokerError) as err:
            log.warning("the embedded amqtt broker did not shut down cleanly: %s", err)
        finally:
            # The callbacks of cancelled client tasks run on the next iterations of the loop.
            for _ in range(3):
                await asyncio.sleep(0)
            loop.set_exception_handler(previous_handler)


def _without_cancelled_stream_callbacks(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Python 3.12.1's stream server callback calls ``exception()`` on a cancelled client task, which
    amqtt's shutdown cancels; that is logged as an error though nothing is wrong. Drop exactly that."""
    if isinstance(context.get("exception"), asyncio.CancelledError) and "StreamReaderProtocol" in str(
        context.get("handle", "")
    ):
        return
    loop.default_exception_handler(context)
