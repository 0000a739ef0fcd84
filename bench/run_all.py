"""Run every benchmark in bench/ with modest sizes and print one table of their figures.

Each bench runs as its own subprocess, one after the other (they measure CPU; running them side by side
would measure each other). A bench this file has no profile for still runs, with its own defaults, and
every line it prints goes into the table. ``--tiny`` uses sizes that only prove the benches still run
(the smoke test uses it); the figures it prints mean nothing.

    .venv/bin/python bench/run_all.py            # about 8-10 minutes on a 2-core machine
    .venv/bin/python bench/run_all.py --tiny     # about a minute and a half
    .venv/bin/python bench/run_all.py --only fleet --only control_path
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Profile:
    modest: tuple[str, ...]
    tiny: tuple[str, ...]
    # The lines that carry the figures (the rest is progress talk).
    figures: str


PROFILES: dict[str, Profile] = {
    "treadsim_capacity": Profile(
        ("--treadmills", "100", "--seconds", "10"),
        ("--treadmills", "3", "--seconds", "2"),
        r"^(treadmills served|notifications|arrival interval|CPU share)",
    ),
    "control_path": Profile(
        ("--samples", "2000", "--events", "50"),
        ("--samples", "20", "--events", "2"),
        r"^(in-process|virtual adapter) .*(n=|goal|missed)",
    ),
    "service_cpu": Profile(
        ("--treadmills", "20", "--seconds", "20", "--warmup", "5"),
        ("--treadmills", "2", "--seconds", "2", "--warmup", "0.5"),
        r"^(sessions|samples handled|service CPU|service memory|treadsim process CPU)",
    ),
    "mqtt_telemetry": Profile(
        ("--treadmills", "100", "--seconds", "10"),
        ("--treadmills", "3", "--seconds", "2"),
        r"(bare aiomqtt|retrowalk bridge|bridge p99|bridge/bare)",
    ),
    "kiosk": Profile(
        ("--pages", "20", "--seconds", "10", "--stops", "10"),
        ("--pages", "2", "--seconds", "1", "--stops", "2"),
        r"(bare MQTT|kiosk SSE|kiosk POST|kiosk CPU|kiosk memory|samples lost)",
    ),
    "kiosk_browser": Profile(
        ("--pages", "20", "--rate", "1", "--seconds", "30", "--stops", "10"),
        ("--pages", "2", "--rate", "2", "--seconds", "1", "--stops", "2"),
        r"(browser|pages visible|page clock|telemetry:|bare MQTT|DOM|not shown|reconnected|kiosk CPU"
        r"|kiosk memory|stop|errors in the pages|skipped)",
    ),
    "engine_turn": Profile(
        ("--samples", "2000", "--batches", "5"),
        ("--samples", "50", "--batches", "2"),
        r"^(engine handle|runner's questions|telemetry payload)",
    ),
    "fleet": Profile(
        ("--in-process", "100,300,600", "--adapter", "20,50", "--seconds", "10", "--warmup", "2"),
        ("--in-process", "5", "--adapter", "2", "--seconds", "2", "--warmup", "0.5"),
        r"^fleet ",
    ),
}


@dataclass
class Outcome:
    name: str
    exit_code: int
    seconds: float
    figures: list[str]


def benches() -> list[str]:
    return sorted(p.stem for p in BENCH.glob("*.py") if p.stem not in ("run_all", "__init__"))


def run_one(name: str, tiny: bool, timeout_s: float) -> Outcome:
    profile = PROFILES.get(name)
    args = (profile.tiny if tiny else profile.modest) if profile else ()
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(BENCH / f"{name}.py"), *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            cwd=BENCH.parent,
        )
    except subprocess.TimeoutExpired:
        return Outcome(name, -1, time.monotonic() - started, [f"timed out after {timeout_s:.0f} s"])
    elapsed = time.monotonic() - started
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    pattern = re.compile(profile.figures) if profile else None
    figures = [line for line in lines if pattern is None or pattern.search(line)]
    if done.returncode != 0:
        tail = [line for line in done.stderr.strip().splitlines() if line.strip()][-3:]
        figures += [f"stderr: {line}" for line in tail]
    return Outcome(name, done.returncode, elapsed, figures or ["(no figure lines printed)"])


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPU(s), {model}, Python {platform.python_version()}, {platform.system()}"


def print_table(outcomes: list[Outcome], tiny: bool) -> None:
    width = max(len(o.name) for o in outcomes)
    print()
    print(f"All benchmarks ({'tiny sizes: figures mean nothing' if tiny else 'modest sizes'}) on {machine()}")
    print(f"{'bench':<{width}} | {'status':<10} | {'time':>6} | figures")
    print(f"{'-' * width}-+-{'-' * 10}-+-{'-' * 6}-+-{'-' * 60}")
    for outcome in outcomes:
        status = "ok" if outcome.exit_code == 0 else f"FAILED({outcome.exit_code})"
        for number, figure in enumerate(outcome.figures):
            if number == 0:
                print(f"{outcome.name:<{width}} | {status:<10} | {outcome.seconds:5.0f}s | {figure}")
            else:
                print(f"{'':<{width}} | {'':<10} | {'':>6} | {figure}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tiny", action="store_true", help="smallest sizes: proves the benches run")
    parser.add_argument("--only", action="append", default=[], help="run only this bench (repeatable)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per bench")
    args = parser.parse_args()
    names = benches()
    unknown = [name for name in args.only if name not in names]
    if unknown:
        parser.error(f"no such bench: {', '.join(unknown)}; benches: {', '.join(names)}")
    selected = [name for name in names if not args.only or name in args.only]
    outcomes = []
    for name in selected:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        outcomes.append(run_one(name, args.tiny, args.timeout))
    print_table(outcomes, args.tiny)
    return 0 if all(o.exit_code == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
