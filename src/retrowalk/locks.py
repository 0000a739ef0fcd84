"""One controller per storage and per treadmill: advisory ``flock`` locks taken before anything connects.

Two processes driving one treadmill take the Bluetooth link from each other, and two on one storage
share one MQTT client id and kick each other off the broker. So `retrowalk serve` and
`retrowalk session start` first lock

- the storage: ``<storage>.lock`` next to the SQLite file (also keeps one person from walking on two
  treadmills at once through two processes, since a person's history lives there), and
- every treadmill they will drive: one file per address (or name) in ``/run/lock`` (or
  ``$RETROWALK_LOCK_DIR``), the machine's lock directory that every user may write to. A per-user
  directory would let two users on one machine drive one treadmill: BlueZ shares one connection with
  every process that asks. Where this process cannot write to ``/run/lock`` (a sandbox such as systemd's
  ``ProtectSystem=strict`` without ``ReadWritePaths=/run/lock``) the files go to the runtime directory,
  ``$RUNTIME_DIRECTORY`` (systemd's ``RuntimeDirectory=``), else ``$XDG_RUNTIME_DIR/retrowalk``, else
  ``<temp dir>/retrowalk-<uid>``, which covers only the processes that share it, and a warning says so.

``flock`` locks belong to the open file and vanish when the process dies, however it dies, so a lock
left by a crashed process never blocks the next start. The holder writes its pid, start time and
command line into the file, so a refusal can name it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shlex
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from retrowalk.config import Settings, TreadmillConfig
from retrowalk.errors import RetrowalkError

__all__ = [
    "LOCK_DIR_VARIABLE",
    "MACHINE_LOCK_DIR",
    "AlreadyRunningError",
    "ControllerLocks",
    "Holder",
    "controller_locks",
    "runtime_dir",
    "this_command",
    "treadmill_lock_name",
]

log = logging.getLogger(__name__)

# The machine's directory for lock files (FHS): world-writable and sticky, so every user's retrowalk
# meets every other's there; RETROWALK_LOCK_DIR names another (tests give each run its own).
MACHINE_LOCK_DIR = Path("/run/lock")
LOCK_DIR_VARIABLE = "RETROWALK_LOCK_DIR"


class AlreadyRunningError(RetrowalkError):
    """Another process already controls this storage or treadmill; nothing was touched."""


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a lock, as the holder wrote it into the lock file."""

    pid: int
    since: str
    command: str

    def describe(self) -> str:
        return f"pid {self.pid}, '{self.command}', running since {self.since}"

    def encode(self) -> str:
        return f"{self.pid}\n{self.since}\n{self.command}\n"

    @classmethod
    def decode(cls, text: str) -> Holder | None:
        lines = text.splitlines()
        if len(lines) < 3 or not lines[0].isdigit():
            return None  # the holder is between taking the lock and writing its name
        return cls(int(lines[0]), lines[1], lines[2])


def runtime_dir() -> Path:
    """Where the per-treadmill lock files live (see the module docstring)."""
    systemd = os.environ.get("RUNTIME_DIRECTORY")
    if systemd:
        return Path(systemd.split(":")[0])
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / "retrowalk"
    return Path(tempfile.gettempdir()) / f"retrowalk-{os.getuid()}"


def treadmill_lock_dir() -> tuple[Path, bool]:
    """Where the per-treadmill lock files go, and whether every user of this machine shares it."""
    configured = os.environ.get(LOCK_DIR_VARIABLE)
    shared = Path(configured) if configured else MACHINE_LOCK_DIR
    if shared.is_dir() and os.access(shared, os.W_OK | os.X_OK):
        return shared, True
    if configured:
        raise AlreadyRunningError(
            f"{LOCK_DIR_VARIABLE}={configured} is not a directory this user may write to; create it, or "
            f"unset {LOCK_DIR_VARIABLE} to use {MACHINE_LOCK_DIR}"
        )
    return runtime_dir(), False


def treadmill_lock_name(treadmill: TreadmillConfig) -> str:
    """One file name per physical treadmill: the address in any case and separator, else its name."""
    if treadmill.address:
        return "treadmill-" + treadmill.address.lower().replace(":", "") + ".lock"
    if treadmill.name:
        return "treadmill-name-" + re.sub(r"[^A-Za-z0-9_-]", "_", treadmill.name) + ".lock"
    return "treadmill-any.lock"  # a configuration whose one treadmill is "the first one found"


def this_command() -> str:
    return shlex.join(["retrowalk", *sys.argv[1:]])


class ControllerLocks:
    """The locks of one process; released by :meth:`release` or, at the latest, by the process's end."""

    def __init__(self) -> None:
        self._files: list[IO[str]] = []

    def take(self, path: Path, what: str, holder: Holder, *, shared: bool = False) -> None:
        """Lock ``path`` or raise :class:`AlreadyRunningError` naming the process that holds it;
        ``shared``: the file is in a directory every user writes to (see :func:`_open_shared`)."""
        try:
            if shared:
                handle = _open_shared(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                # Not truncated on open: the text belongs to the holder until we have the lock.
                handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open: the lock lives with it
        except OSError as err:
            raise AlreadyRunningError(
                f"cannot create the lock file {path} for {what}: {err.strerror or err}"
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            other = Holder.decode(handle.read())
            handle.close()
            who = f"another retrowalk ({other.describe()})" if other else "another retrowalk process"
            raise AlreadyRunningError(
                f"{who} already controls {what}; stop it first, two controllers would take the "
                "treadmill and the broker connection from each other"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(holder.encode())
        handle.flush()
        self._files.append(handle)

    def release(self) -> None:
        for handle in reversed(self._files):
            with contextlib.suppress(OSError):
                handle.close()  # closing the last descriptor releases the flock
        self._files.clear()


def _open_shared(path: Path) -> IO[str]:
    """A lock file in a directory every user writes to (sticky, like /run/lock), for reading and writing.

    An existing file is opened without O_CREAT, which the kernel refuses for another user's file there
    (fs.protected_regular); a new one is made writable by everyone, whatever the umask, so the next
    holder, whoever it is, can write its name into it. Never through a symbolic link someone planted."""
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o666)
            os.fchmod(fd, 0o666)
        except FileExistsError:  # another process made it in between
            fd = os.open(path, flags)
    return os.fdopen(fd, "r+", encoding="utf-8")


def _private_dir(path: Path) -> None:
    """The runtime directory: ours alone, so nobody else can plant or remove lock files in it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise AlreadyRunningError(
            f"the lock directory {path} is not a directory owned by this user; remove it or set "
            "XDG_RUNTIME_DIR to a directory of your own"
        )


def _take_treadmill_locks(locks: ControllerLocks, treadmills: list[TreadmillConfig], holder: Holder) -> None:
    directory, shared = treadmill_lock_dir()
    if not shared:
        _private_dir(directory)
        log.warning(
            "treadmill locks are in %s: %s is not writable here, so a retrowalk of another user on this "
            "machine is not kept from these treadmills",
            directory,
            MACHINE_LOCK_DIR,
        )
    for treadmill in treadmills:
        where = treadmill.address or treadmill.name or "the first treadmill found"
        # Named for retrowalk in a directory every program on the machine shares.
        name = ("retrowalk-" if shared else "") + treadmill_lock_name(treadmill)
        locks.take(directory / name, f"treadmill {where}", holder, shared=shared)


@contextlib.contextmanager
def controller_locks(settings: Settings, treadmills: list[TreadmillConfig]) -> Iterator[ControllerLocks]:
    """Hold the storage lock and one lock per treadmill for the duration of the block."""
    holder = Holder(os.getpid(), datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"), this_command())
    locks = ControllerLocks()
    try:
        storage = settings.service.storage.absolute()
        locks.take(storage.with_name(storage.name + ".lock"), f"the storage {storage}", holder)
        if treadmills:
            _take_treadmill_locks(locks, treadmills, holder)
        yield locks
    finally:
        locks.release()
