"""`retrowalk demo` as a person runs it: a real subprocess, judged by what it prints and its exit status.

The speedup is 30 (a six-minute session in about twelve seconds), as in CI: at 30x the engine's 3 s limit
for fresh treadmill data is still 100 ms of real time, enough for a machine busy with other tests.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from retrowalk.cli import main
from retrowalk.embedded_broker import HOST, embedded_broker, find_mosquitto
from retrowalk.errors import SetupError

SPEEDUP = "30"
DEMO_TIMEOUT_S = 60


def demo_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SYSTEM_BUS_ADDRESS"}
    env.update(extra)
    return env


def run_demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "retrowalk.cli", "demo", *args],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        env=env or demo_env(),
        check=False,
    )


def kiosk_counts(stdout: str) -> dict[str, int]:
    line = next(x for x in stdout.splitlines() if x.startswith("over MQTT the demo kiosk received:"))
    return {leaf: int(n) for n, leaf in re.findall(r"(\d+) (\w+)", line)}


def assert_clean_session(result: subprocess.CompletedProcess[str]) -> None:
    out = result.stdout
    assert result.returncode == 0, f"demo failed:\n{out}\n{result.stderr}"
    assert re.search(r"^summary: completed, walked 6:00 \(36\d s\)", out, re.M), out
    assert "demo finished: the session completed within its cap" in out
    # The beginner plan as the service enforced it, and the warnings before the cap.
    assert "session started for demo-walker: start 1.0 km/h" in out
    assert "warning: 60 s left before the cap" in out
    assert "warning: 10 s left before the cap" in out
    assert "phase: cool-down" in out
    assert "Hold the handrails." in out
    # The kiosk on the broker really received the session, not just the in-process view.
    counts = kiosk_counts(out)
    assert counts["summary"] == 1, counts
    assert counts["reply"] == 2, counts
    assert counts["telemetry"] > 100, counts
    assert counts["event"] >= 6, counts


@pytest.mark.timeout(90)
def test_the_demo_runs_a_clean_session_and_prints_what_a_kiosk_subscribes_to() -> None:
    result = run_demo("--speedup", SPEEDUP, "--plain")
    assert_clean_session(result)
    out = result.stdout
    port = re.search(r"MQTT broker: (mosquitto|amqtt) on 127\.0\.0\.1:(\d+)", out)
    assert port is not None, out
    for leaf in ("availability", "state", "telemetry", "event", "summary", "reply"):
        assert f"retrowalk/v1/treadmill/demo/{leaf}" in out
    assert "sends commands to retrowalk/v1/treadmill/demo/command" in out
    assert f"mosquitto_sub -h 127.0.0.1 -p {port.group(2)} -v -t 'retrowalk/v1/#'" in out
    # Nothing a person could mistake for a problem on stderr after a clean run.
    assert result.stderr.strip() == "", result.stderr


@pytest.mark.timeout(90)
def test_the_demo_runs_on_the_in_process_broker_where_mosquitto_is_missing() -> None:
    result = run_demo("--speedup", SPEEDUP, "--plain", env=demo_env(RETROWALK_DEMO_BROKER="amqtt"))
    assert "MQTT broker: amqtt on 127.0.0.1:" in result.stdout
    assert_clean_session(result)


@pytest.mark.timeout(90)
def test_a_drifting_console_is_corrected_and_the_exit_status_tells_the_end_reason() -> None:
    result = run_demo("--speedup", SPEEDUP, "--plain", "--quirk", "console-drift")
    out = result.stdout
    assert "misbehaving as: console-drift" in out
    corrections = re.findall(
        r"^ENFORCED: the belt ran (\d+\.\d) km/h, above the allowed (\d+\.\d) km/h", out, re.M
    )
    assert corrections, out
    # The drift jumps at least 0.4 km/h above the 1.0 km/h start; the first correction shows it.
    measured, allowed = (float(x) for x in corrections[0])
    assert measured >= allowed + 0.3
    summary = re.search(r"^summary: (\w+), .* (\d+) overspeed correction\(s\)$", out, re.M)
    assert summary is not None, out
    assert int(summary.group(2)) >= 1
    if summary.group(1) == "completed":
        assert result.returncode == 0, out
    else:
        assert result.returncode == 1, out
        assert f"the session did not complete: {summary.group(1)}" in out


@pytest.mark.timeout(60)
def test_ctrl_c_stops_the_belt_before_the_demo_exits() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "retrowalk.cli", "demo", "--speedup", "10", "--plain", "--no-broker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=demo_env(),
    )
    assert process.stdout is not None
    seen: list[str] = []
    try:
        for line in process.stdout:
            seen.append(line)
            if re.match(r"^  0:\d\d of 5:00 .* belt 1\.00 km/h", line):
                break  # walking at the start speed
        else:
            pytest.fail("the belt never reached its start speed:\n" + "".join(seen))
        process.send_signal(signal.SIGINT)
        rest, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, rest + err
    assert "MQTT: off (--no-broker)" in "".join(seen)
    # The simulator's own record of the belt, read after the service shut down, says it stopped.
    assert "stopped by Ctrl-C; the belt is stopped at 0.0 km/h" in rest, rest + err
    assert re.search(r"^session ended: kiosk_stop", rest, re.M), rest


def test_without_dbus_daemon_the_demo_says_what_to_install(tmp_path: Path) -> None:
    # A PATH with no dbus-daemon on it: the demo must stop before anything runs and name the package.
    result = run_demo("--speedup", SPEEDUP, "--plain", env=demo_env(PATH=str(tmp_path)))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "dbus-daemon not found" in result.stderr
    assert "apt-get install dbus" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--speedup", "0"], "--speedup must be a number above 0"),
        (["--speedup", "nan"], "--speedup must be a number above 0"),
        (["--speedup", "1000"], "at most 120"),
        (["--quirk", "sticky-belt"], "unknown quirk 'sticky-belt'; valid quirks: console-drift"),
    ],
)
def test_bad_arguments_are_refused_before_anything_starts(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--plain", *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""  # not even the simulator's first line


def test_a_bad_broker_choice_in_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RETROWALK_DEMO_BROKER", "hivemq")
    assert main(["demo", "--plain"]) == 2
    assert "RETROWALK_DEMO_BROKER='hivemq'" in capsys.readouterr().err


@pytest.mark.parametrize("prefer", ["auto", "amqtt"])
async def test_a_taken_port_is_reported_with_what_to_do(prefer: str, tmp_path: Path) -> None:
    if prefer == "auto" and find_mosquitto() is None:
        pytest.skip("mosquitto is not installed")
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(SetupError, match=rf"{HOST}:{port}.*--no-broker"):
            async with embedded_broker(tmp_path, port=port, prefer=prefer):  # type: ignore[arg-type]
                pytest.fail("a broker started on a taken port")
