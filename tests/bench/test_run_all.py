"""`bench/run_all.py --tiny` runs every bench and prints one table with a row for each (no timing judged).

The fleet bench gets its own look: its figure lines must parse, because docs/performance.md quotes them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

# run_all starts every bench: treadsim behind its dbus-daemon, mosquitto, minutes of work.
pytestmark = [pytest.mark.slow, pytest.mark.dbus, pytest.mark.mosquitto]
BENCH = Path(__file__).resolve().parents[2] / "bench"
NUMBER = r"\d+(?:\.\d+)?"


@pytest.mark.timeout(400)
def test_run_all_tiny_runs_every_bench_and_prints_one_table() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--tiny", "--timeout", "180"],
        capture_output=True,
        text=True,
        timeout=380,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, f"run_all failed ({done.returncode}):\n{out}\n{done.stderr}"
    benches = sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "run_all")
    assert "fleet" in benches
    header = re.search(r"^bench +\| status +\| +time \| figures$", out, re.MULTILINE)
    assert header, out
    table = out[header.end() :]
    for name in benches:
        assert re.search(rf"^{name} +\| ok +\| +\d+s \| \S", table, re.MULTILINE), (
            f"no ok row for {name}:\n{out}"
        )
    # One table: nothing but table rows after the header.
    rows = [line for line in table.splitlines() if line.strip()]
    assert all(" | " in line or set(line) <= set("-+") for line in rows), rows
    for kind in ("bare", "service"):
        for feed, n in (("in-process", 5), ("adapter", 2)):
            line = re.search(
                rf"fleet {feed} {kind} n={n}: delivered=({NUMBER}) p50=({NUMBER}) ms p99=({NUMBER}) ms "
                rf"cpu=({NUMBER}) % cpu_per_msg=({NUMBER}) us rss_per_treadmill=(-?{NUMBER}) MiB",
                table,
            )
            assert line, f"no {feed} {kind} figures:\n{out}"
            delivered, p50, p99 = (float(line.group(i)) for i in (1, 2, 3))
            assert 0 < delivered <= 1.0
            assert 0 < p50 <= p99
    assert re.search(r"fleet in-process: largest size run with p99 < 100 ms .*: (MET|NOT MET)$", table, re.M)
    assert re.search(r"service/bare CPU per message \d+\.\d\dx \(goal < 1.3x\): (MET|NOT MET)$", table, re.M)


def test_run_all_refuses_an_unknown_bench() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--only", "no_such_bench"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "no such bench: no_such_bench" in done.stderr
