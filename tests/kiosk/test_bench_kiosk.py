"""bench/kiosk.py still runs and prints its figure lines (tiny parameters; no timing is judged)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "kiosk.py"
NUMBER = r"\d+(?:\.\d+)?"


@pytest.mark.slow
@pytest.mark.dbus
@pytest.mark.mosquitto
def test_the_kiosk_bench_prints_its_figures_beside_the_bare_peer() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--pages", "3", "--seconds", "2", "--stops", "2"],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    out = done.stdout
    for label in ("bare MQTT peer", r"kiosk SSE \(3 pages\)", "bare MQTT command -> stop write",
                  "kiosk POST -> stop write"):  # fmt: skip
        assert re.search(rf"{label}: n=\d+, p50 {NUMBER} ms, p99 {NUMBER} ms", out), out
    assert re.search(rf"kiosk CPU: {NUMBER} s over the phase, \d+ µs per page message", out), out
    assert re.search(r"kiosk memory: .* KiB per open page", out), out
    assert "kiosk samples lost: 0" in out
