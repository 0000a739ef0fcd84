"""Scenarios drawn from a seed: which treadmills misbehave how, what the kiosk asks for, and which faults
strike when. The same seed gives the same scenario, so any run can be replayed by its seed alone.

Times are seconds after the kiosk sent the starts. Faults fall inside the sessions (the longest a
session can run is its cap plus the cool-down), where they can do harm.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from treadsim.quirks import DRIVABLE_QUIRKS

# Console abuse a person at the treadmill can do while someone walks backward on it.
CONSOLE_FAULTS = ("speed-up", "set-speed", "press-stop", "press-start", "press-pause", "key-pull")
# Radio trouble and power.
LINK_FAULTS = ("link-drop", "link-refuse", "disappear", "power-cycle")
# Whole processes.
PROCESS_FAULTS = ("broker-restart", "service-kill")
FAULT_KINDS = CONSOLE_FAULTS + LINK_FAULTS + PROCESS_FAULTS
COOL_DOWN_S = 10


@dataclass(frozen=True)
class Fault:
    at_s: float
    kind: str
    treadmill: int = -1  # -1: not about one treadmill (broker, service)
    argument: str = ""
    # How long the fault lasts before it is undone (key back in, link accepted, broker or service back).
    lasts_s: float = 0.0

    def describe(self) -> str:
        where = "" if self.treadmill < 0 else f" tm{self.treadmill}"
        arg = f" {self.argument}" if self.argument else ""
        lasts = f" for {self.lasts_s:.1f} s" if self.lasts_s else ""
        return f"{self.at_s:5.1f}s {self.kind}{where}{arg}{lasts}"


@dataclass(frozen=True)
class TreadmillPlan:
    quirk: str | None
    duration_cap_s: int
    start_speed_kmh: float
    max_speed_kmh: float
    age: int
    # What the kiosk does with a session the service paused: resume it once the link is back, or stop it.
    resume_when_paused: bool


@dataclass(frozen=True)
class Scenario:
    seed: int
    treadmills: tuple[TreadmillPlan, ...]
    faults: tuple[Fault, ...] = field(default=())

    @property
    def longest_session_s(self) -> float:
        return max(t.duration_cap_s for t in self.treadmills) + COOL_DOWN_S

    @property
    def quirks(self) -> dict[int, str]:
        return {i: t.quirk for i, t in enumerate(self.treadmills) if t.quirk}

    def has(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.faults)

    def describe(self) -> str:
        lines = [f"seed {self.seed}:"]
        for i, t in enumerate(self.treadmills):
            lines.append(
                f"  tm{i}: quirk {t.quirk or '-'}, cap {t.duration_cap_s} s, start {t.start_speed_kmh} km/h, "
                f"max {t.max_speed_kmh} km/h, age {t.age}, {'resumes' if t.resume_when_paused else 'stops'}"
                " when paused"
            )
        lines += [f"  {fault.describe()}" for fault in self.faults]
        return "\n".join(lines)


def _console_fault(rng: random.Random, at: float, treadmill: int) -> Fault:
    kind = rng.choice(CONSOLE_FAULTS)
    if kind == "set-speed":
        return Fault(at, kind, treadmill, f"{rng.choice((1.5, 2.5, 4.0, 6.0)):.1f}")
    if kind == "key-pull":
        return Fault(at, kind, treadmill, lasts_s=round(rng.uniform(2, 8), 1))
    return Fault(at, kind, treadmill)


def _link_fault(rng: random.Random, at: float, treadmill: int) -> Fault:
    kind = rng.choice(LINK_FAULTS)
    if kind in ("link-refuse", "disappear"):
        return Fault(at, kind, treadmill, lasts_s=round(rng.uniform(2, 12), 1))
    return Fault(at, kind, treadmill)


def draw(seed: int, *, max_treadmills: int = 3) -> Scenario:
    """The scenario of ``seed``: 1..max_treadmills treadmills, 2-6 faults, at most one broker restart
    and one service kill."""
    rng = random.Random(seed)
    count = rng.randint(1, max_treadmills)
    quirk_names = list(DRIVABLE_QUIRKS)
    treadmills = []
    for _ in range(count):
        start = rng.choice((0.5, 0.8, 1.0))
        treadmills.append(
            TreadmillPlan(
                quirk=rng.choice(quirk_names) if rng.random() < 0.6 else None,
                duration_cap_s=rng.choice((60, 60, 75, 90)),
                start_speed_kmh=start,
                max_speed_kmh=round(start + rng.choice((0.0, 0.2, 0.5)), 1),
                age=rng.choice((35, 50, 70)),
                resume_when_paused=rng.random() < 0.5,
            )
        )
    shortest = min(t.duration_cap_s for t in treadmills)
    faults: list[Fault] = []
    for _ in range(rng.randint(2, 6)):
        at = round(rng.uniform(8, shortest - 5), 1)
        roll = rng.random()
        target = rng.randrange(count)
        if roll < 0.45:
            faults.append(_console_fault(rng, at, target))
        elif roll < 0.8:
            faults.append(_link_fault(rng, at, target))
        elif roll < 0.9 and not any(f.kind == "broker-restart" for f in faults):
            faults.append(Fault(at, "broker-restart", lasts_s=round(rng.uniform(1, 8), 1)))
        elif not any(f.kind == "service-kill" for f in faults):
            faults.append(Fault(at, "service-kill", lasts_s=round(rng.uniform(0.5, 3), 1)))
    return Scenario(seed, tuple(treadmills), tuple(sorted(faults, key=lambda f: f.at_s)))
