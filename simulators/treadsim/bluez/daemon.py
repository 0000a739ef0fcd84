"""A private D-Bus *system-type* bus: a ``dbus-daemon`` of our own on a unix socket in a temp dir.

Clients (bleak, via ``DBUS_SYSTEM_BUS_ADDRESS``) talk to it exactly as they would to the machine's system
bus, but nothing here touches the real one: no root, no real BlueZ, and every test gets its own bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from treadsim.bluez.errors import SimulatorError

__all__ = ["DBUS_DAEMON", "PrivateBus"]

logger = logging.getLogger(__name__)

# The daemon's own limits are sized for a desk machine; a capacity run opens one D-Bus connection per
# simulated client (bleak opens a connection per BLE link), so raise them well above a few hundred.
_CONFIG_TEMPLATE = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow send_destination="*"/>
  </policy>
  <limit name="max_completed_connections">4096</limit>
  <limit name="max_incomplete_connections">256</limit>
  <limit name="max_connections_per_user">4096</limit>
  <limit name="max_match_rules_per_connection">4096</limit>
  <limit name="max_replies_per_connection">4096</limit>
  <limit name="max_names_per_connection">64</limit>
</busconfig>
"""

DBUS_DAEMON = "dbus-daemon"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: if the simulator dies (even by SIGKILL), the kernel sends the bus
    SIGTERM, so no orphaned daemon outlives a crashed test run."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_START_TIMEOUT_S = 10.0


class PrivateBus:
    """Starts and stops one private ``dbus-daemon``; ``address`` is valid between start and stop."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._tmpdir: Path | None = None
        self._address: str | None = None

    @property
    def address(self) -> str:
        if self._address is None:
            raise SimulatorError("the private bus is not running")
        return self._address

    @property
    def socket_path(self) -> Path:
        if self._tmpdir is None:
            raise SimulatorError("the private bus is not running")
        return self._tmpdir / "system_bus_socket"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> str:
        if self._process is not None:
            raise SimulatorError("the private bus is already running")
        executable = shutil.which(DBUS_DAEMON)
        if executable is None:
            raise SimulatorError(
                "dbus-daemon not found: install the 'dbus' package (Debian/Ubuntu: apt-get install dbus)"
            )
        # A short prefix keeps the socket path well under the 108-byte unix socket limit.
        self._tmpdir = Path(tempfile.mkdtemp(prefix="treadsim-"))
        config = self._tmpdir / "bus.conf"
        config.write_text(_CONFIG_TEMPLATE.format(socket=escape(str(self.socket_path))))
        self._process = await asyncio.create_subprocess_exec(
            executable,
            f"--config-file={config}",
            "--print-address",
            "--nofork",
            "--nopidfile",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            # Its own session: a Ctrl-C at the terminal goes to the whole foreground process group, and
            # the bus must outlive it until the simulator's owner has stopped the belt over it and
            # closes the bus itself (stop()).
            start_new_session=True,
        )
        assert self._process.stdout is not None
        try:
            line = await asyncio.wait_for(self._process.stdout.readline(), _START_TIMEOUT_S)
        except TimeoutError:
            await self.stop()
            raise SimulatorError("dbus-daemon did not print its address in time") from None
        address = line.decode().strip()
        if not address:
            stderr = b""
            if self._process.stderr is not None:
                with contextlib.suppress(TimeoutError):
                    stderr = await asyncio.wait_for(self._process.stderr.read(), 2.0)
            await self.stop()
            raise SimulatorError(f"dbus-daemon failed to start: {stderr.decode(errors='replace').strip()}")
        self._address = address
        logger.info("private system bus at %s (dbus-daemon pid %d)", address, self._process.pid)
        return address

    async def stop(self) -> None:
        """Terminate the daemon (every client sees its connection close) and remove the temp dir."""
        process, self._process = self._process, None
        self._address = None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 5.0)
            except TimeoutError:
                process.kill()
                await process.wait()
        if process is not None:
            # Reap the pipes so no transport is left for the garbage collector to warn about.
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    with contextlib.suppress(Exception):
                        await stream.read()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
