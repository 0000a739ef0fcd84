"""Real processes: `treadsim serve` and `retrowalk serve` or `session start`, signalled for real."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from treadsim.server import treadmill_address

from .served import assert_belt_stopped_by_retrowalk, reaped, retrowalk, treadsim

BIN = Path(sys.executable).parent
# Every test here runs `treadsim serve` (a private dbus-daemon) and retrowalk as processes of their own.
pytestmark = [pytest.mark.dbus, pytest.mark.slow]


def wait_for(predicate: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within} s waiting for {what}")
        time.sleep(0.2)


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "home.toml"
    config.write_text(
        f'[service]\nstorage = "{tmp_path / "history.sqlite3"}"\n\n'
        f'[[treadmills]]\nid = "home"\naddress = "{treadmill_address(0)}"\n'
    )
    return config


def signalled(proc: subprocess.Popen[str], sig: signal.Signals) -> tuple[str, str]:
    proc.send_signal(sig)
    return proc.communicate(timeout=15)


def belt(bus: str) -> dict[str, Any]:
    state: dict[str, Any] = treadsim("state", bus=bus)  # treadsim's JSON
    return state


def test_sigterm_stops_the_belt_before_the_session_process_exits(treadsim_bus: str, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    session = ["session", "start", "--config", str(config), "--user", "ana", "--screening", "50,no,no,no"]
    with reaped(retrowalk(session, treadsim_bus)) as proc:
        wait_for(lambda: belt(treadsim_bus)["speed_kmh"] >= 0.9, 60, "the session's belt moving")
        out, err = signalled(proc, signal.SIGTERM)
    assert proc.returncode == 1, err
    assert "session started for ana" in out
    assert_belt_stopped_by_retrowalk(treadsim_bus)
    ended = (
        "session ended: stopped_at_terminal (stopped at the terminal (SIGTERM); the belt was stopped first)"
    )
    assert ended in out.splitlines(), out


def test_session_stop_ends_the_terminal_session_as_stopped_at_terminal(
    treadsim_bus: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    session = ["session", "start", "--config", str(config), "--user", "ana", "--screening", "50,no,no,no"]
    with reaped(retrowalk(session, treadsim_bus)) as proc:
        wait_for(lambda: belt(treadsim_bus)["speed_kmh"] >= 0.9, 60, "the session's belt moving")
        with reaped(retrowalk(["session", "stop", "--config", str(config)], treadsim_bus)) as stop:
            _out, err = stop.communicate(timeout=30)
        assert stop.returncode == 0, err
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert_belt_stopped_by_retrowalk(treadsim_bus)
    ended = (
        "session ended: stopped_at_terminal "
        "(stopped at the terminal (Ctrl-C or 'retrowalk session stop'); the belt was stopped first)"
    )
    assert ended in out.splitlines(), out
    # The summary was printed too: the session is in the history, not left open for a restart to close.
    assert [line for line in out.splitlines() if line.startswith("summary: walked ")] != []


def test_serve_stops_an_orphaned_belt_and_exits_cleanly_on_sigint(treadsim_bus: str, tmp_path: Path) -> None:
    treadsim("console", "press", "start", bus=treadsim_bus)
    treadsim("console", "set-speed", "3.0", bus=treadsim_bus)
    wait_for(lambda: belt(treadsim_bus)["speed_kmh"] > 1.0, 10, "a belt left running")
    with reaped(retrowalk(["serve", "--config", str(write_config(tmp_path))], treadsim_bus)) as proc:
        wait_for(lambda: belt(treadsim_bus)["belt"] != "running", 30, "the orphaned belt stopped")
        _out, err = signalled(proc, signal.SIGINT)
    assert proc.returncode == 0, err
    assert "no session: stopping it" in err
    assert "[home]" in err  # the log says which treadmill


def test_after_a_sigkill_the_restarted_service_stops_the_belt_within_5_s(
    treadsim_bus: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    session = retrowalk(
        ["session", "start", "--config", str(config), "--user", "ana", "--screening", "50,no,no,no"],
        treadsim_bus,
    )
    try:
        wait_for(lambda: belt(treadsim_bus)["speed_kmh"] >= 0.9, 60, "the session's belt moving")
    finally:
        session.kill()  # SIGKILL: no chance to stop the belt or to disconnect
        session.communicate()
    assert belt(treadsim_bus)["belt"] == "running"
    restarted_at = time.monotonic()
    with reaped(retrowalk(["serve", "--config", str(config)], treadsim_bus)) as proc:
        wait_for(
            lambda: belt(treadsim_bus)["belt"] != "running", 15, "the belt stopped by the restarted service"
        )
        started_up = time.monotonic() - restarted_at
        _out, err = signalled(proc, signal.SIGINT)
    assert "still connected from an earlier run" in err
    # Process start-up (Python, imports) included; the belt itself must be stopped within 5 s of the
    # service running, which the log's timing shows.
    assert started_up < 15


def test_after_a_sigkill_every_treadmill_held_by_the_dead_service_is_stopped(tmp_path: Path) -> None:
    proc_sim = subprocess.Popen(
        [str(BIN / "treadsim"), "serve", "--treadmills", "2", "--accel", "2.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc_sim.stdout is not None
        bus = proc_sim.stdout.readline().strip().split("=", 1)[1]
        config = tmp_path / "two.toml"
        config.write_text(
            f'[service]\nstorage = "{tmp_path / "history.sqlite3"}"\n'
            + "".join(
                f'\n[[treadmills]]\nid = "tm{i}"\naddress = "{treadmill_address(i)}"\n' for i in range(2)
            )
        )
        first = retrowalk(["serve", "--config", str(config)], bus)
        try:
            for i in range(2):
                wait_for(
                    lambda i=i: treadsim("state", "-t", str(i), bus=bus)["connected"], 60, f"tm{i} connected"
                )
            time.sleep(6)  # past the orphaned-belt window: belts started now are a person's, not orphans
            for i in range(2):
                treadsim("console", "press", "start", "-t", str(i), bus=bus)
            wait_for(
                lambda: all(treadsim("state", "-t", str(i), bus=bus)["speed_kmh"] > 0.3 for i in range(2)),
                15,
                "both belts moving",
            )
        finally:
            first.kill()
            first.communicate()
        with reaped(retrowalk(["serve", "--config", str(config)], bus)) as second:
            wait_for(
                lambda: all(treadsim("state", "-t", str(i), bus=bus)["belt"] != "running" for i in range(2)),
                30,
                "both belts stopped by the restarted service",
            )
            _out, err = signalled(second, signal.SIGINT)
        assert err.count("still connected from an earlier run") == 2, err
        assert "not found within" not in err  # both were taken over at once, neither waited for a scan
    finally:
        proc_sim.send_signal(signal.SIGTERM)
        proc_sim.wait(timeout=10)
