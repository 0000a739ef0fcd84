"""`retrowalk session start` and `scan` against the simulated treadmill (real processes, real bleak and
pyftms): every refusal is one sentence with what to do, and no traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from treadsim.server import treadmill_address

from .served import reaped, retrowalk
from .test_processes import BIN, treadsim_bus, write_config

__all__ = ["treadsim_bus"]  # the fixture, used by name

BLUEZ_VERSION_WARNING = "Could not determine BlueZ version"


def finished(proc: subprocess.Popen[str], within: float = 90) -> tuple[str, str]:
    with reaped(proc):
        return proc.communicate(timeout=within)


def start(bus: str, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = retrowalk(["session", "start", "--config", str(config), *args], bus)
    out, err = finished(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def refused_with(result: subprocess.CompletedProcess[str], sentence: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"retrowalk: {sentence}"


def test_a_screening_yes_is_refused_with_the_reason(treadsim_bus: str, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = start(treadsim_bus, config, "--user", "bob", "--screening", "70,yes,no,no")
    refused_with(
        result,
        "session not started: user 'bob' cannot start a session: a clinician must clear this person first "
        "(screening answered yes to: severe knee osteoarthritis or a ligament injury); if a screening answer "
        f"was wrong, correct it with 'retrowalk user screening --config {config} --user bob --answers "
        "AGE,OA,BALANCE,SURGERY', and once a clinician has cleared the person, record it with 'retrowalk "
        f"user clear --config {config} --user bob --by NAME'",
    )
    # Refused before connecting: the treadmill was never asked for.
    assert "connecting to treadmill" not in result.stdout


@pytest.mark.slow
def test_a_speed_above_the_ceiling_is_refused_in_the_api_names(treadsim_bus: str, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    ann = ("--user", "ann", "--screening", "50,no,no,no")
    refused_with(
        start(treadsim_bus, config, *ann, "--max-speed", "3.4"),
        "session not started: plan refused: max_speed_kmh=3.4 is above the speed ceiling for user 'ann' "
        "(3.0 km/h)",
    )
    refused_with(
        start(treadsim_bus, config, *ann, "--max-speed", "1.25"),
        "session not started: plan refused: max_speed_kmh=1.25 is not a multiple of 0.1 km/h",
    )


@pytest.mark.slow
def test_a_treadmill_that_is_not_there_is_reported_with_what_to_check(
    treadsim_bus: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    absent = treadmill_address(7)  # treadsim serves only treadmill 0
    config.write_text(
        config.read_text().replace(treadmill_address(0), absent)
        + "\n[link]\nscan_timeout_s = 1\nconnect_timeout_s = 1\nbackoff_initial_s = 0.5\n"
    )
    refused_with(
        start(treadsim_bus, config, "--user", "ann", "--screening", "50,no,no,no"),
        f"treadmill home ({absent}) was not found or did not connect within 4 s: check that it is switched "
        "on, in range and not connected to another app (a phone's fitness app holds the only connection on "
        "most treadmills), and that the address in the configuration is one 'retrowalk scan' lists",
    )


def scan(bus: str, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": bus}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [str(BIN / "retrowalk"), "scan", "--seconds", "2", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def speed_control_column(stdout: str) -> list[str]:
    header, *rows = stdout.splitlines()
    column = header.index("speed control")
    return [row[column:].split()[0] for row in rows]


@pytest.mark.slow
def test_scan_says_speed_control_is_unknown_when_it_did_not_ask(treadsim_bus: str) -> None:
    listed = scan(treadsim_bus, "--no-connect")
    assert listed.returncode == 0, listed.stderr
    assert speed_control_column(listed.stdout) == ["?"]
    asked = scan(treadsim_bus)
    assert asked.returncode == 0, asked.stderr
    assert speed_control_column(asked.stdout) == ["yes"]


@pytest.mark.slow
def test_no_bluez_version_warning_without_bluetoothctl(treadsim_bus: str, tmp_path: Path) -> None:
    if shutil.which("bluetoothctl", path="/usr/bin:/bin"):
        pytest.skip("bluetoothctl is installed here")
    quiet = scan(treadsim_bus, path=f"{BIN}:/usr/bin:/bin")
    assert quiet.returncode == 0, quiet.stderr
    assert "speed control" in quiet.stdout  # it did connect, which is when bleak asks for the version
    assert BLUEZ_VERSION_WARNING not in quiet.stderr
    # An installed bluetoothctl that gives no version is worth the warning: that one stays.
    broken = tmp_path / "bin"
    broken.mkdir()
    (broken / "bluetoothctl").write_text("#!/bin/sh\nexit 1\n")
    (broken / "bluetoothctl").chmod(0o755)
    warned = scan(treadsim_bus, path=f"{broken}:{BIN}:/usr/bin:/bin")
    assert warned.returncode == 0, warned.stderr
    assert BLUEZ_VERSION_WARNING in warned.stderr
