"""An MQTT broker for `retrowalk demo`, so that a fresh machine needs no broker of its own.

mosquitto is preferred when it is installed (it is what a gym runs, and it speaks MQTT 5); otherwise
amqtt runs inside this process (MQTT 3.1.1 only: the bridge's protocol "auto" falls back to it). Either
listens on 127.0.0.1 only, on a free port, with anonymous access: it is a demo broker, never a
production one, and must not be reachable from the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import pwd
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from retrowalk.errors import SetupError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
_START_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class RunningBroker:
    kind: Literal["mosquitto", "amqtt"]
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def find_mosquitto() -> str | None:
    """mosquitto lives in /usr/sbin on Debian, which is not on an ordinary user's PATH."""
    found = shutil.which("mosquitto")
    if found is not None:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


def free_port(host: str = HOST) -> int:
    """A port nobody listens on right now (the broker binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def embedded_broker(
    workdir: Path, *, port: int | None = None, prefer: Literal["auto", "amqtt"] = "auto"
) -> AsyncIterator[RunningBroker]:
    """Run a broker on ``HOST:port`` (a free port when None) until the block ends.

    Raises :class:`SetupError` with what to do when the port is taken or the broker will not start."""
    chosen = port if port is not None else free_port()
    _check_port_free(chosen)
    mosquitto = find_mosquitto() if prefer == "auto" else None
    if mosquitto is not None:
        async with _mosquitto(mosquitto, workdir, chosen) as broker:
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


def _die_with_parent() -> None:
    """In the child before exec: if the demo is killed outright, the kernel stops the broker too."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.asynccontextmanager
async def _mosquitto(executable: str, workdir: Path, port: int) -> AsyncIterator[RunningBroker]:
    lines = [
        f"listener {port} {HOST}",
        "allow_anonymous true",
        "persistence false",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
    ]
    if os.geteuid() == 0:
        # As root mosquitto would switch to the 'mosquitto' user, who may not read our temp dir.
        lines.append(f"user {pwd.getpwuid(os.geteuid()).pw_name}")
    config = workdir / "mosquitto.conf"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        executable,
        "-c",
        str(config),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        # Out of the terminal's process group: a Ctrl-C must reach only the demo, which still needs the
        # broker to publish the session's end before it stops the broker itself.
        start_new_session=True,
    )
    try:
        await _wait_listening(port, lambda: process.returncode is not None)
    except SetupError:
        await _stop_process(process)
        err = (await process.stderr.read()).decode(errors="replace").strip() if process.stderr else ""
        raise SetupError(
            f"mosquitto ({executable}) did not start on {HOST}:{port}: {err or 'no output'}; "
            "run the demo with --no-broker to skip MQTT"
        ) from None
    try:
        yield RunningBroker("mosquitto", HOST, port)
    finally:
        await _stop_process(process)


async def _stop_process(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5.0)
        except TimeoutError:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def _amqtt(port: int) -> AsyncIterator[RunningBroker]:
    from amqtt.broker import Broker
    from amqtt.errors import BrokerError, PluginError

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


async def _wait_listening(port: int, exited: Callable[[], bool]) -> None:
    deadline = asyncio.get_running_loop().time() + _START_TIMEOUT_S
    while asyncio.get_running_loop().time() < deadline:
        if exited():
            break
        try:
            _reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise SetupError(f"no broker listening on {HOST}:{port}")
