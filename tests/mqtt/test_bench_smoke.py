"""bench/mqtt_telemetry.py still runs end to end (tiny parameters; no figure is judged here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# The bench starts a mosquitto of its own and runs for seconds.
pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]
BENCH = Path(__file__).parents[2] / "bench" / "mqtt_telemetry.py"


def test_the_telemetry_bench_runs_and_prints_its_figures() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--treadmills", "3", "--seconds", "2"],
        check=False,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    assert "bare aiomqtt: sent 6, received 6" in result.stdout
    assert "retrowalk bridge: sent 6, received 6" in result.stdout
    assert "bridge/bare CPU per message" in result.stdout
