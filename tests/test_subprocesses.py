"""The one launcher of mosquitto and other child processes (retrowalk.subprocesses), with real processes:
a broker that accepts connections once started, a start failure that quotes mosquitto's own words, a
temporary directory that goes away, a detached broker out of our session, and a child that ignores
SIGTERM killed after the grace time."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from retrowalk.errors import SetupError
from retrowalk.subprocesses import HOST, Mosquitto, find_mosquitto, spawn_detached, stop_process

needs_mosquitto = pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto is not installed")


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


@needs_mosquitto
def test_a_started_broker_accepts_connections_until_stopped(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    assert broker.running
    assert accepts_connections(broker.port)
    assert f"listener {broker.port} {HOST}" in broker.config.read_text()
    broker.stop()
    assert not broker.running
    assert not accepts_connections(broker.port)


@needs_mosquitto
def test_a_broker_that_cannot_start_says_what_mosquitto_said(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker", settings=["no_such_option on"])
    with pytest.raises(
        SetupError, match=r"mosquitto .* on 127\.0\.0\.1:\d+ exited with status \d+: .*no_such_option"
    ):
        broker.start()
    assert not broker.running


@needs_mosquitto
async def test_without_a_directory_it_works_in_a_temporary_one_and_removes_it() -> None:
    async with Mosquitto() as broker:
        directory = broker.directory
        assert (directory / "mosquitto.conf").is_file()
        assert accepts_connections(broker.port)
    assert not directory.exists()


@needs_mosquitto
def test_a_detached_broker_runs_in_a_session_of_its_own(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker", detached=True) as broker:
        assert broker.pid is not None
        assert os.getsid(broker.pid) != os.getsid(0)


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_time() -> None:
    ignore_sigterm = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN)"
    stubborn = subprocess.Popen(
        [sys.executable, "-c", f"{ignore_sigterm}; print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert stubborn.stdout is not None
    assert stubborn.stdout.readline().strip() == "ready"  # SIGTERM is ignored from here on
    stop_process(stubborn, signal.SIGTERM, within_s=0.5)
    stubborn.stdout.close()
    assert stubborn.returncode == -signal.SIGKILL


def test_a_child_that_heeds_sigterm_exits_by_it() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop_process(child)
    assert child.returncode == -signal.SIGTERM


def test_a_detached_helper_runs_in_its_own_session_at_the_niceness_asked() -> None:
    report = "import os; print(os.nice(0), os.getsid(0) == os.getpid())"
    helper = spawn_detached([sys.executable, "-c", report], niceness=5, stdout=subprocess.PIPE, text=True)
    out, _ = helper.communicate(timeout=30)
    expected = min(19, os.nice(0) + 5)
    assert out.split() == [str(expected), "True"]
