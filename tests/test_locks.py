"""The per-treadmill locks are per machine: two users (each with a runtime directory of their own) cannot
both drive one treadmill, since BlueZ shares its one connection with every process that asks."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from retrowalk import locks
from retrowalk.config import Settings
from retrowalk.locks import AlreadyRunningError, controller_locks

ADDRESS = "C0:7E:AD:00:00:01"


def settings(storage: Path) -> Settings:
    service = {"id": "test", "storage": str(storage)}
    return Settings.model_validate({"service": service, "treadmills": [{"id": "tm0", "address": ADDRESS}]})


def as_user(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """What differs between two users of one machine: their runtime directory and their history."""
    (tmp_path / name).mkdir(exist_ok=True)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / name / "run"))
    return settings(tmp_path / name / "history.sqlite3")


def test_a_second_user_cannot_lock_a_treadmill_another_user_drives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = as_user("ann", tmp_path, monkeypatch)
    with controller_locks(ann, ann.treadmills):
        bo = as_user("bo", tmp_path, monkeypatch)
        with pytest.raises(AlreadyRunningError) as refused, controller_locks(bo, bo.treadmills):
            pass
    assert str(refused.value).endswith(
        f"already controls treadmill {ADDRESS}; stop it first, two controllers would take the treadmill "
        "and the broker connection from each other"
    )
    assert f"pid {os.getpid()}" in str(refused.value)
    # Once ann's process lets go, bo may drive it.
    with controller_locks(bo, bo.treadmills):
        pass


def test_a_lock_file_is_left_writable_for_whichever_user_drives_the_treadmill_next(tmp_path: Path) -> None:
    (tmp_path / "ann").mkdir()
    own = settings(tmp_path / "ann" / "history.sqlite3")
    before = os.umask(0o077)
    try:
        with controller_locks(own, own.treadmills):
            pass
    finally:
        os.umask(before)
    (lock,) = (tmp_path / "machine-locks").iterdir()
    assert lock.name == "retrowalk-treadmill-c07ead000001.lock"
    assert stat.S_IMODE(lock.stat().st_mode) == 0o666


def test_a_symbolic_link_planted_in_the_shared_directory_is_refused_and_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "someone-elses-file"
    target.write_text("keep me\n")
    (tmp_path / "machine-locks" / "retrowalk-treadmill-c07ead000001.lock").symlink_to(target)
    own = settings(tmp_path / "history.sqlite3")
    refusal = r"cannot create the lock file .* for treadmill C0:7E"
    with pytest.raises(AlreadyRunningError, match=refusal), controller_locks(own, own.treadmills):
        pass
    assert target.read_text() == "keep me\n"


def test_without_a_writable_machine_lock_directory_the_locks_are_per_user_and_a_warning_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(locks.LOCK_DIR_VARIABLE)
    monkeypatch.setattr(locks, "MACHINE_LOCK_DIR", tmp_path / "no-run-lock")
    own = settings(tmp_path / "history.sqlite3")
    with caplog.at_level(logging.WARNING, logger="retrowalk"), controller_locks(own, own.treadmills):
        assert (tmp_path / "run" / "retrowalk" / "treadmill-c07ead000001.lock").exists()
    assert caplog.messages == [
        f"treadmill locks are in {tmp_path / 'run' / 'retrowalk'}: {tmp_path / 'no-run-lock'} is not "
        "writable here, so a retrowalk of another user on this machine is not kept from these treadmills"
    ]


def test_a_lock_directory_named_in_the_environment_must_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(locks.LOCK_DIR_VARIABLE, str(tmp_path / "missing"))
    own = settings(tmp_path / "history.sqlite3")
    refusal = r"RETROWALK_LOCK_DIR=.*missing is not a directory"
    with pytest.raises(AlreadyRunningError, match=refusal), controller_locks(own, own.treadmills):
        pass
