"""The fault campaign: real processes, a scenario per seed, judged by ground truth.

One run: mosquitto, `treadsim serve` (the scenario's quirks), `retrowalk serve` and a scripted kiosk on
the broker. The kiosk screens one user per treadmill and starts a session on each; the scenario's faults
strike on time (console abuse, link trouble, the broker restarted, the service killed with SIGKILL and
restarted); the kiosk resumes or stops sessions the service paused, as its scenario says. Then the
simulator's belt records, the link times and the broker's record go to :mod:`judge`.

Long run (one command; prints a table, writes the failing seeds to a file, one per line)::

    scripts/fault_campaign --count 20 --seed 1000 --failures failing-seeds.txt
    scripts/fault_campaign --replay 1003          # one seed again, keeping its logs

Runs are sequential: each holds three processes and real-time sessions of 60-90 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from treadsim.bluez.errors import SimulatorError

from .envelope import AskedPlan, asked_plan
from .judge import Injected, Observation, Session, Violation, judge
from .kiosk import KioskClient
from .procs import Broker, Service, SimClock, Treadsim, missing_requirements, treadmill_id
from .scenario import COOL_DOWN_S, Fault, Scenario, TreadmillPlan, draw

log = logging.getLogger("faults")

ACCEL_KMH_S = 2.0  # the belt's acceleration: a physical treadmill's is of this order (0.5-2 km/h/s)
CONNECT_WITHIN_S = 40.0
PAUSED_ACT_AFTER_S = 4.0  # how long the kiosk lets a paused session sit before it resumes or stops it
TAIL_S = 10.0  # after the last session ended: room for the restart and after-the-end stop checks
POLL_S = 0.25
AFTER_RESTART_S = 10.0  # how long the kiosk watches a treadmill after the service it talked to died
_EVENT_LINE = re.compile(r"^\s*(-?\d+\.\d+) (.*)$")


@dataclass
class RunResult:
    scenario: Scenario
    sessions: list[Session] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    faults_done: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.violations and not self.error


class LinkWatch:
    """The simulator's view of each link over time, from its event log (exact times) and its state."""

    def __init__(self, sim: Treadsim, clock: SimClock) -> None:
        self._sim = sim
        self._clock = clock
        self.down_since: dict[int, float | None] = dict.fromkeys(range(sim.treadmills))
        self.down: dict[int, list[tuple[float, float]]] = {i: [] for i in range(sim.treadmills)}
        self._seen: set[str] = set()
        # Down until first connected: the service cannot act before it has a link.
        for i in range(sim.treadmills):
            self.down_since[i] = -1e9

    def _went_down(self, tm: int, at: float) -> None:
        if self.down_since[tm] is None:
            self.down_since[tm] = at

    def _came_up(self, tm: int, at: float) -> None:
        since = self.down_since[tm]
        if since is not None:
            self.down[tm].append((since, at))
            self.down_since[tm] = None

    async def run(self) -> None:
        while True:
            for tm in range(self._sim.treadmills):
                with contextlib.suppress(SimulatorError):
                    self.observe(tm, await self._sim.state(tm))
            await asyncio.sleep(POLL_S)

    def observe(self, tm: int, state: dict[str, Any]) -> None:
        for line in state.get("events", []):
            if line in self._seen:
                continue
            self._seen.add(line)
            match = _EVENT_LINE.match(line)
            if not match:
                continue
            at, text = float(match.group(1)), match.group(2)
            if text.startswith("central connected"):
                self._came_up(tm, at)
            elif "disconnected" in text or text.startswith("link dropped") or "rebooted" in text:
                self._went_down(tm, at)
        # A missed line (the state shows the last ten events; a connect brings more than that) is caught
        # by the state itself, at most one poll late.
        if not state.get("connected") and self.down_since[tm] is None:
            self._went_down(tm, float(state["time"]))
        elif state.get("connected") and self.down_since[tm] is not None:
            self._came_up(tm, float(state["time"]))

    def intervals(self, end: float) -> dict[int, list[tuple[float, float]]]:
        out = {tm: list(spans) for tm, spans in self.down.items()}
        for tm, since in self.down_since.items():
            if since is not None:
                out[tm].append((since, end + 1e6))
        return out


class Run:
    def __init__(self, scenario: Scenario, workdir: Path) -> None:
        self.scenario = scenario
        self.workdir = workdir
        self.broker = Broker(workdir)
        self.sim = Treadsim(workdir, len(scenario.treadmills), scenario.quirks, scenario.seed, ACCEL_KMH_S)
        self.service: Service | None = None
        self.kiosk: KioskClient | None = None
        self.clock: SimClock | None = None
        self.injected: list[Injected] = []
        self.service_outages: list[tuple[float, float]] = []
        self.broker_outages: list[tuple[float, float]] = []
        self.notes: list[str] = []
        self.restarted_at = 0.0  # time.monotonic() of the last service restart

    def now_sim(self) -> float:
        assert self.clock is not None
        return self.clock.now()

    async def execute(self) -> RunResult:
        started = time.monotonic()
        result = RunResult(self.scenario)
        try:
            await self.broker.start_async()
            self.clock = await self.sim.start()
            self.service = Service(self.workdir, self.sim, self.broker, COOL_DOWN_S)
            self.service.start()
            self.kiosk = KioskClient(self.broker.port)
            watch = LinkWatch(self.sim, self.clock)
            async with asyncio.TaskGroup() as group:
                kiosk_task = group.create_task(self.kiosk.run(), name="fault-kiosk")
                watch_task = group.create_task(watch.run(), name="fault-link-watch")
                try:
                    await self._drive(group)
                    records = {tm: await self.sim.record(tm) for tm in range(self.sim.treadmills)}
                    end_sim = self.now_sim()
                finally:
                    kiosk_task.cancel()
                    watch_task.cancel()
            result.faults_done = len(self.injected)
            history = self._history()
            obs = Observation(
                quirks=self.scenario.quirks,
                records=records,
                link_down=watch.intervals(end_sim),
                service_outages=self.service_outages,
                broker_outages=self.broker_outages,
                messages=[
                    (int(r.treadmill[2:]), r.leaf, r.payload)
                    for r in self.kiosk.received
                    if r.treadmill is not None and r.treadmill.startswith("tm")
                ],
                injected=self.injected,
                history_session_ids=history,
                wall_minus_sim=self.clock.wall_minus_monotonic - self.clock.sim_minus_monotonic,
                end_sim=end_sim,
                plans={tm: plan_asked_of(plan) for tm, plan in enumerate(self.scenario.treadmills)},
            )
            self._save(obs)
            result.sessions, result.violations = judge(obs)
            result.notes = self.notes + obs.notes + self._timeline(obs)
        finally:
            if self.service is not None:
                self.service.stop()
            self.sim.stop()
            self.broker.stop()
            result.seconds = time.monotonic() - started
        return result

    def _save(self, obs: Observation) -> None:
        """The judge's whole input, next to the logs: a failing run's record can be read (and judged
        again) without running it again."""
        (self.workdir / "observation.json").write_text(json.dumps(dataclasses.asdict(obs), indent=1))

    def _timeline(self, obs: Observation) -> list[str]:
        """Link and process outages in simulated time, to read a failing run's record against."""
        lines = [f"kill/restart at t={lo:.2f}/{hi:.2f}" for lo, hi in obs.service_outages]
        lines += [f"broker down t={lo:.2f}..{hi:.2f}" for lo, hi in obs.broker_outages]
        for tm, spans in obs.link_down.items():
            shown = ", ".join(f"{max(lo, 0):.2f}..{min(hi, obs.end_sim):.2f}" for lo, hi in spans)
            lines.append(f"tm{tm} link down: {shown or 'never'}")
        return lines

    def _history(self) -> list[str]:
        path = self.workdir / "history.sqlite3"
        if not path.exists():
            return []
        with contextlib.closing(sqlite3.connect(path)) as db:
            return [row[0] for row in db.execute("SELECT session_id FROM sessions")]

    async def _drive(self, group: asyncio.TaskGroup) -> None:
        assert self.kiosk is not None
        await asyncio.wait_for(self.kiosk.connected.wait(), 15)
        await self._wait_connected()
        t_zero = time.monotonic()
        drivers = [
            group.create_task(self._walker(tm, plan), name=f"fault-walker-{tm}")
            for tm, plan in enumerate(self.scenario.treadmills)
        ]
        faults = [
            group.create_task(self._fault_at(t_zero, fault), name=f"fault-{fault.kind}")
            for fault in self.scenario.faults
        ]
        try:
            async with asyncio.timeout(self.scenario.longest_session_s + 90):
                await asyncio.gather(*drivers, *faults)
        except TimeoutError:
            self.notes.append("the run hit its time limit; sessions still open were left to the judge")
        finally:
            for task in (*drivers, *faults):
                task.cancel()
        if self.service is not None and not self.service.running:
            self.service.start()  # a kill whose restart was cut short: the judge needs the restart
        await asyncio.sleep(TAIL_S)

    async def _wait_connected(self) -> None:
        assert self.kiosk is not None
        deadline = time.monotonic() + CONNECT_WITHIN_S
        for tm in range(self.sim.treadmills):
            while not (self.kiosk.latest_state(treadmill_id(tm)) or {}).get("connected"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the service did not connect to tm{tm} within {CONNECT_WITHIN_S:g} s")
                await self.kiosk.changed(0.5)

    async def _walker(self, tm: int, plan: TreadmillPlan) -> None:
        """One person at one treadmill, through the kiosk."""
        assert self.kiosk is not None
        tid = treadmill_id(tm)
        user = f"walker-{self.scenario.seed}-{tm}"
        screening = {
            "command_id": f"s{tm}", "type": "screening", "user_id": user, "age": plan.age,
            "severe_knee_oa": False, "ligament_injury": False, "balance_disorder_or_dizziness": False,
            "recent_knee_surgery": False,
        }  # fmt: skip
        await self.kiosk.command(tid, screening)
        reply = await self.kiosk.command(
            tid, {"command_id": f"go{tm}", "type": "start", "user_id": user, "plan": start_request(plan)}
        )
        if reply.get("status") != "accepted":
            self.notes.append(f"tm{tm}: start {reply.get('status')}: {reply.get('reason')}")
            return
        await self._follow(tm, plan)

    async def _follow(self, tm: int, plan: TreadmillPlan) -> None:
        assert self.kiosk is not None
        tid = treadmill_id(tm)
        paused_since: float | None = None
        asked = 0
        while True:
            ended = [
                e
                for e in self.kiosk.on(tid, "event")
                if isinstance(e, dict) and e.get("kind") == "session_ended"
            ]
            if ended:
                return
            if self.service_outages and time.monotonic() > self.restarted_at + AFTER_RESTART_S:
                return  # the service was killed: the session died with it, and the restart is judged
            state = self.kiosk.latest_state(tid) or {}
            if state.get("phase") == "paused":
                paused_since = paused_since or time.monotonic()
                if time.monotonic() - paused_since > PAUSED_ACT_AFTER_S:
                    resume = plan.resume_when_paused and state.get("connected") and asked < 3
                    kind = "resume" if resume else "stop"
                    asked += 1
                    reply = await self.kiosk.command(tid, {"command_id": f"{kind}{tm}-{asked}", "type": kind})
                    self.notes.append(
                        f"tm{tm}: kiosk {kind}: {reply.get('status')} {reply.get('reason') or ''}"
                    )
                    paused_since = None
            else:
                paused_since = None
            await self.kiosk.changed(0.5)

    async def _fault_at(self, t_zero: float, fault: Fault) -> None:
        await asyncio.sleep(max(0.0, t_zero + fault.at_s - time.monotonic()))
        await self._inject(fault)

    async def _console(self, fault: Fault, action: str, argument: str = "") -> bool:
        try:
            answer = await self.sim.perform(fault.treadmill, action, argument)
        except SimulatorError as err:
            self.notes.append(f"{fault.describe()}: {action} {argument} refused: {err}")
            return False
        return bool(answer.get("ok"))

    async def _inject(self, fault: Fault) -> None:
        wall = time.time()
        ok = True
        steps: dict[str, Callable[[], Awaitable[bool]]] = {
            "speed-up": lambda: self._console(fault, "speed-up"),
            "set-speed": lambda: self._console(fault, "set-speed", fault.argument),
            "press-stop": lambda: self._console(fault, "press", "stop"),
            "press-start": lambda: self._console(fault, "press", "start"),
            "press-pause": lambda: self._console(fault, "press", "pause"),
            "link-drop": lambda: self._console(fault, "link", "drop"),
            "power-cycle": lambda: self._console(fault, "power-cycle"),
        }
        if fault.kind in steps:
            ok = await steps[fault.kind]()
        elif fault.kind == "key-pull":
            ok = await self._console(fault, "key", "pull")
            await asyncio.sleep(fault.lasts_s)
            await self._console(fault, "key", "insert")
        elif fault.kind == "link-refuse":
            await self._console(fault, "link", "refuse")
            ok = await self._console(fault, "link", "drop")
            await asyncio.sleep(fault.lasts_s)
            await self._console(fault, "link", "accept")
        elif fault.kind == "disappear":
            ok = await self._console(fault, "disappear")
            await asyncio.sleep(fault.lasts_s)
            await self._console(fault, "return")
        elif fault.kind == "broker-restart":
            down = self.now_sim()
            self.broker.stop()
            await asyncio.sleep(fault.lasts_s)
            await self.broker.start_async()
            self.broker_outages.append((down, self.now_sim()))
        elif fault.kind == "service-kill":
            assert self.service is not None
            killed = self.now_sim()
            self.service.kill()
            await asyncio.sleep(fault.lasts_s)
            restarted = self.now_sim()
            self.restarted_at = time.monotonic()
            self.service.start()
            self.service_outages.append((killed, restarted))
        self.injected.append(Injected(fault.kind, fault.treadmill, wall, ok))


async def run_scenario(scenario: Scenario, workdir: Path) -> RunResult:
    return await Run(scenario, workdir).execute()


def table(results: list[RunResult]) -> str:
    lines = [
        f"{'seed':>8}  {'tms':>3}  {'quirks':<34} {'faults':<44} {'sess':>4}  {'viol':>4}  {'s':>5}  verdict"
    ]
    for r in results:
        quirks = ",".join(q for q in r.scenario.quirks.values()) or "-"
        faults = ",".join(f.kind for f in r.scenario.faults)
        verdict = "ok" if r.ok else ("ERROR" if r.error else "VIOLATION")
        lines.append(
            f"{r.scenario.seed:>8}  {len(r.scenario.treadmills):>3}  {quirks[:34]:<34} {faults[:44]:<44} "
            f"{len(r.sessions):>4}  {len(r.violations):>4}  {r.seconds:>5.0f}  {verdict}"
        )
    injected = sum(r.faults_done for r in results)
    violations = sum(len(r.violations) for r in results)
    failing = sum(1 for r in results if not r.ok)
    lines.append(
        f"runs {len(results)}, faults injected {injected}, violations {violations}, failing runs {failing}"
    )
    return "\n".join(lines)


def _report(result: RunResult, workdir: Path) -> str:
    lines = [result.scenario.describe(), f"  logs: {workdir}"]
    lines += [
        f"  session tm{s.treadmill} {s.session_id}: {s.end_reason or ('killed' if s.killed else 'no end')}"
        for s in result.sessions
    ]
    lines += [f"  note: {note}" for note in result.notes]
    if result.error:
        lines.append(f"  ERROR: {result.error}")
    lines += [f"  VIOLATION {v.describe()}" for v in result.violations]
    return "\n".join(lines)


async def campaign(seeds: list[int], keep: Path | None, failures: Path, max_treadmills: int) -> int:
    results: list[RunResult] = []
    for seed in seeds:
        scenario = draw(seed, max_treadmills=max_treadmills)
        base = keep if keep is not None else Path(tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f"fault-{seed}-", dir=base))
        print(
            f"run seed {seed} ({len(scenario.treadmills)} treadmill(s), {len(scenario.faults)} faults) ...",
            flush=True,
        )
        try:
            result = await run_scenario(scenario, workdir)
        except Exception as err:  # noqa: BLE001 - one broken run must not end the campaign; it is reported
            result = RunResult(scenario, error=f"{type(err).__name__}: {err}")
        results.append(result)
        print(_report(result, workdir), flush=True)
        if result.ok and keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(results))
    failing = [r.scenario.seed for r in results if not r.ok]
    write_failures(failures, failing)
    print(f"failing seeds ({len(failing)}) written to {failures}; replay one with --replay SEED")
    return 1 if failing else 0


def start_request(plan: TreadmillPlan) -> dict[str, Any]:
    """The plan object of the kiosk's start command for this treadmill."""
    return {
        "start_speed_kmh": plan.start_speed_kmh,
        "max_speed_kmh": plan.max_speed_kmh,
        "duration_cap_s": plan.duration_cap_s,
    }


def plan_asked_of(plan: TreadmillPlan) -> AskedPlan:
    """What the service must run for that request, given its configuration (procs.Service writes the
    cool-down into [default_plan]; every other field is the documented default)."""
    return asked_plan(start_request(plan), configured={"cool_down_s": COOL_DOWN_S}, age=plan.age)


def load_observation(path: Path) -> Observation:
    """An observation saved by a run (JSON turns int keys into strings and tuples into lists)."""
    data = json.loads(path.read_text())
    if "plans" not in data:
        raise ValueError(f"{path} was saved before observations carried the plans asked for; run it again")
    data["plans"] = {int(k): AskedPlan(**v) for k, v in data["plans"].items()}
    data["quirks"] = {int(k): v for k, v in data["quirks"].items()}
    data["records"] = {int(k): v for k, v in data["records"].items()}
    data["link_down"] = {int(k): [tuple(span) for span in v] for k, v in data["link_down"].items()}
    data["service_outages"] = [tuple(span) for span in data["service_outages"]]
    data["broker_outages"] = [tuple(span) for span in data["broker_outages"]]
    data["messages"] = [tuple(m) for m in data["messages"]]
    data["injected"] = [Injected(**i) for i in data["injected"]]
    data["notes"] = []
    return Observation(**data)


def rejudge(path: Path) -> int:
    sessions, violations = judge(load_observation(path))
    for session in sessions:
        print(f"session tm{session.treadmill} {session.session_id}: {session.end_reason or 'no end'}")
    for violation in violations:
        print(f"VIOLATION {violation.describe()}")
    return 1 if violations else 0


def write_failures(path: Path, seeds: list[int]) -> None:
    """One seed per line: `--replay $(cat FILE)` runs them all again."""
    path.write_text("".join(f"{seed}\n" for seed in seeds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fault_campaign", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10, help="number of runs (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first run; run i uses seed+i")
    parser.add_argument("--replay", type=int, nargs="+", help="run exactly these seeds (logs are kept)")
    parser.add_argument("--failures", type=Path, default=Path("fault-campaign-failures.txt"))
    parser.add_argument("--keep", type=Path, help="keep every run's logs under this directory")
    parser.add_argument("--max-treadmills", type=int, default=3)
    parser.add_argument("--judge", type=Path, help="judge a run's saved observation.json again, run nothing")
    args = parser.parse_args(argv)
    if args.judge:
        if not args.judge.is_file():
            parser.error(f"--judge: {args.judge} is not a file")
        try:
            return rejudge(args.judge)
        except ValueError as err:
            parser.error(f"--judge: {err}")
    if args.count < 1 or args.max_treadmills < 1:
        parser.error("--count and --max-treadmills must be at least 1")
    missing = missing_requirements()
    if missing:
        print("missing: " + ", ".join(missing), file=sys.stderr)
        return 2
    seeds = list(args.replay) if args.replay else [args.seed + i for i in range(args.count)]
    keep = args.keep if args.keep else (Path("fault-campaign-runs") if args.replay else None)
    return asyncio.run(campaign(seeds, keep, args.failures, args.max_treadmills))


if __name__ == "__main__":
    sys.exit(main())
