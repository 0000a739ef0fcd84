"""Child processes started and stopped one way: mosquitto for the demo, the tests and the benches, and
the other programs the tests and benches run.

A broker gets its configuration file in a directory of its own (a temporary one unless given), a free
port on 127.0.0.1, and counts as started only once it accepts a connection. It is stopped with SIGTERM
(mosquitto then writes its persistence file) and killed when it does not exit in time. Its output and
log stay in that directory, and a broker that does not start raises an error quoting them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from retrowalk.errors import SetupError

__all__ = [
    "HOST",
    "START_TIMEOUT_S",
    "STOP_TIMEOUT_S",
    "Mosquitto",
    "find_mosquitto",
    "free_port",
    "spawn_detached",
    "stop_process",
]

HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
_POLL_S = 0.02
_PR_SET_PDEATHSIG = 1
# mosquitto lives in /usr/sbin on Debian, which is not on an ordinary user's PATH.
_DEBIAN_MOSQUITTO = "/usr/sbin/mosquitto"


def find_mosquitto() -> str | None:
    """The mosquitto executable: on PATH, else Debian's /usr/sbin/mosquitto; None when not installed."""
    found = shutil.which("mosquitto")
    if found is not None:
        return found
    return _DEBIAN_MOSQUITTO if os.access(_DEBIAN_MOSQUITTO, os.X_OK) else None


def free_port(host: str = HOST) -> int:
    """A port nobody listens on right now (the caller binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def stop_process(
    process: subprocess.Popen[Any], sig: signal.Signals = signal.SIGTERM, within_s: float = STOP_TIMEOUT_S
) -> None:
    """Ask a child to exit with ``sig``; kill it when it has not exited ``within_s`` seconds later."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=within_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def spawn_detached(args: Sequence[str], *, niceness: int = 0, **popen: Any) -> subprocess.Popen[Any]:
    """Start a helper child in a session of its own, so a Ctrl-C reaches only its parent (which may still
    need the child while it stops a belt), and have the kernel stop it when its parent dies (Linux; the
    parent's starting thread must live as long as the child, as the main thread does). ``niceness`` > 0
    lets the parent have the CPU first when both want it."""

    def prepare() -> None:
        if sys.platform == "linux":
            _die_with_parent()
        if niceness:
            os.nice(niceness)

    return subprocess.Popen(
        args,
        preexec_fn=prepare,  # noqa: PLW1509 - only prctl and nice, no locks
        start_new_session=True,
        **popen,
    )


def _die_with_parent() -> None:
    """In the child before exec: if its parent is killed outright, the kernel stops the child too."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Mosquitto:
    """One mosquitto listening on ``host:port``; stoppable and restartable on the same port (and with
    the same persistence file when ``persistent``) to play broker outages.

    ``settings`` are further lines of mosquitto.conf (password file, ACL, TLS). ``anonymous=False``
    refuses clients without a login. ``detached`` runs it in a session of its own, out of the
    terminal's process group (a Ctrl-C reaches only its parent, which may still need the broker), and
    has the kernel stop it when its parent dies (only for a parent whose starting thread lives as long
    as the broker, such as the main thread)."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        port: int | None = None,
        host: str = HOST,
        anonymous: bool = True,
        persistent: bool = False,
        log_types: Sequence[str] = ("error", "warning", "notice"),
        settings: Sequence[str] = (),
        detached: bool = False,
    ) -> None:
        executable = find_mosquitto()
        if executable is None:
            raise SetupError("mosquitto is not installed (Debian/Ubuntu: sudo apt-get install mosquitto)")
        self.executable = executable
        self._own_directory = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="mosquitto-")) if directory is None else directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = free_port(host) if port is None else port
        self.detached = detached
        lines = [
            f"listener {self.port} {host}",
            f"allow_anonymous {'true' if anonymous else 'false'}",
            *(
                ["persistence true", f"persistence_location {self.directory}/", "autosave_interval 0"]
                if persistent
                else ["persistence false"]
            ),
            f"log_dest file {self.log_path}",
            *(f"log_type {log_type}" for log_type in log_types),
            *settings,
        ]
        if os.geteuid() == 0:
            # As root mosquitto would switch to the 'mosquitto' user, who may not read this directory.
            lines.append(f"user {pwd.getpwuid(os.geteuid()).pw_name}")
        self.config = self.directory / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self._deadline = 0.0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "mosquitto.log"

    @property
    def output_path(self) -> Path:
        """stdout and stderr: what mosquitto says before its log file is open (a bad configuration)."""
        return self.directory / "mosquitto.out"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log(self) -> str:
        """What mosquitto wrote: its output, then its log file."""
        return "".join(
            path.read_text(errors="replace") for path in (self.output_path, self.log_path) if path.exists()
        )

    def start(self) -> None:
        """Start it and return once it accepts connections; :class:`SetupError` (quoting its output) when
        it exits or does not listen within ``START_TIMEOUT_S``."""
        self._spawn()
        while not self._accepting():
            time.sleep(_POLL_S)

    async def start_async(self) -> None:
        """:meth:`start` for a running event loop: the waiting does not block the loop."""
        self._spawn()
        # Polling: a child process that starts listening sets no event this loop could wait for.
        while not self._accepting():  # noqa: ASYNC110
            await asyncio.sleep(_POLL_S)

    def stop(self) -> None:
        """SIGTERM (mosquitto saves its persistence file and exits), SIGKILL after ``STOP_TIMEOUT_S``."""
        if self._process is not None:
            stop_process(self._process)
            self._process = None
        if self._output is not None:
            self._output.close()
            self._output = None

    async def stop_async(self) -> None:
        await asyncio.to_thread(self.stop)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop it and remove its directory if this object made it."""
        self.stop()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        await self.start_async()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.close)

    def _spawn(self) -> None:
        if self._process is not None:
            raise RuntimeError(f"mosquitto on {self.address} is already started")
        self._output = self.output_path.open("ab")
        detach = self.detached and sys.platform == "linux"
        self._process = subprocess.Popen(
            [self.executable, "-c", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if detach else None,  # noqa: PLW1509 - only prctl, no locks
            start_new_session=self.detached,
        )
        self._deadline = time.monotonic() + START_TIMEOUT_S

    def _accepting(self) -> bool:
        """True once it accepts a connection; stops it and raises once it exited or the time is up."""
        assert self._process is not None
        if self._process.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 0.2):
                return True
            if time.monotonic() < self._deadline:
                return False
            problem = f"did not accept connections within {START_TIMEOUT_S:g} s"
        else:
            problem = f"exited with status {self._process.returncode}"
        self.stop()
        said = self.log().strip() or "no output"
        raise SetupError(f"mosquitto ({self.executable}) on {self.address} {problem}: {said}")
