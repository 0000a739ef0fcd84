"""The demo's kiosk: `retrowalk kiosk` as its own process on the demo's broker, so the session can be
followed (and stopped) in a browser at the address the demo prints.

A process of its own, as in a gym: the service the demo runs in this process stays free of HTTP, and a
busy page cannot delay the service's turns (at a high --speedup the engine's limit for fresh treadmill
data is a few hundred milliseconds of real time).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from retrowalk.demo.broker import RunningBroker
from retrowalk.errors import SetupError
from retrowalk.kiosk.settings import ENV_PREFIX
from retrowalk.subprocesses import START_TIMEOUT_S, spawn_detached, stop_process

__all__ = ["demo_kiosk"]


@contextlib.asynccontextmanager
async def demo_kiosk(
    workdir: Path, broker: RunningBroker, *, service_id: str, treadmill_id: str
) -> AsyncIterator[str]:
    """Start the kiosk on localhost (a free port) for the demo's one treadmill, with a fresh token per run;
    yields the address that opens its page."""
    token = secrets.token_urlsafe(24)
    config = workdir / "kiosk.toml"
    # amqtt speaks only 3.1.1 (see demo_settings); mosquitto takes either.
    protocol = "3.1.1" if broker.kind == "amqtt" else "auto"
    config.write_text(
        f'[http]\nhost = "127.0.0.1"\nport = 0\n\n'
        f'[broker]\nhost = "{broker.host}"\nport = {broker.port}\nprotocol = "{protocol}"\n\n'
        f'[[treadmills]]\nid = "{treadmill_id}"\nservice = "{service_id}"\ntoken = "{token}"\n'
        'label = "simulated treadmill (treadsim)"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    # A real kiosk's settings in the environment must not reach the demo's.
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(ENV_PREFIX)}
    log_path = workdir / "kiosk.log"
    kiosk = ["kiosk", "--config", str(config)]
    command = [sys.executable, "-m", "retrowalk.cli", "--log-level", "WARNING", *kiosk]
    with log_path.open("ab") as log:
        process = spawn_detached(
            command,
            # The pages are never more urgent than the belt: on a busy machine the service goes first.
            niceness=10,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
    try:
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), START_TIMEOUT_S)
        except TimeoutError:
            line = ""
        if "serving at " not in line:
            said = log_path.read_text(errors="replace").strip() or "no output"
            raise SetupError(f"the demo's kiosk did not start: {said}")
        base = line.split("serving at ", 1)[1].strip()
        yield f"{base}/t/{treadmill_id}?token={token}"
    finally:
        await asyncio.to_thread(stop_process, process)
        if process.stdout is not None:
            process.stdout.close()
