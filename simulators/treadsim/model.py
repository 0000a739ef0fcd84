"""A deterministic treadmill: belt physics, console, safety key and a ground-truth record of the belt.

Nothing here reads a clock or sleeps: every mutation takes ``now`` (monotonic float seconds) so tests and
benchmarks step time themselves and get the same belt every run. Settings are integers in hundredths of
the machine's speed unit (``cs``) and tenths of a percent (``dp``) so range and increment checks are exact;
the belt itself moves in float km/h because acceleration is continuous.

The :class:`BeltRecord` is what the simulator *knows* the belt did, independent of anything it reported:
the safety benchmarks judge retrowalk against it ("never above X for longer than Y s").
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum, StrEnum

__all__ = [
    "KMH_PER_MPH",
    "BeltEntry",
    "BeltRecord",
    "BeltState",
    "ChangeSource",
    "ClockError",
    "ModelError",
    "OffIncrementError",
    "SafetyKeyOutError",
    "SettingOutOfRangeError",
    "SpeedUnit",
    "Totals",
    "TrainingStatus",
    "Treadmill",
    "TreadmillSpec",
]

KMH_PER_MPH = 1.609344


class ModelError(ValueError):
    """A request to the treadmill model was refused; the model is unchanged."""


class SettingOutOfRangeError(ModelError):
    """A speed or incline outside the machine's supported range."""


class OffIncrementError(ModelError):
    """A speed or incline that is not a whole number of the machine's increments."""


class SafetyKeyOutError(ModelError):
    """The belt cannot start while the safety key is out (EN 957-6: an emergency stop stays stopped)."""


class ClockError(ModelError):
    """``now`` went backwards; the model only accepts a monotonic clock."""


class BeltState(StrEnum):
    STOPPED = "stopped"
    RUNNING = "running"
    PAUSED = "paused"


class SpeedUnit(StrEnum):
    KMH = "km/h"
    MPH = "mph"


class TrainingStatus(IntEnum):
    """FTMS Training Status values (the subset a manual treadmill uses)."""

    OTHER = 0x00
    IDLE = 0x01
    WARMING_UP = 0x02
    COOL_DOWN = 0x0B
    MANUAL_MODE = 0x0D
    PRE_WORKOUT = 0x0E
    POST_WORKOUT = 0x0F


class ChangeSource(StrEnum):
    """Who caused a change of the belt, as written into the ground-truth record."""

    CLIENT = "client"
    CONSOLE = "console"
    TREADMILL = "treadmill"  # the machine itself (a quirk)
    SAFETY_KEY = "safety-key"
    POWER = "power"
    PHYSICS = "physics"  # the belt moving toward its target; no decision was taken


@dataclass(frozen=True)
class TreadmillSpec:
    """What the machine supports. Speeds in hundredths of ``unit``, inclines in tenths of a percent."""

    min_speed_cs: int = 50
    max_speed_cs: int = 1200
    speed_step_cs: int = 10
    min_incline_dp: int = 0
    max_incline_dp: int = 150
    incline_step_dp: int = 5
    acceleration_kmh_s: float = 0.5
    deceleration_kmh_s: float = 0.5
    unit: SpeedUnit = SpeedUnit.KMH
    # The target a bare Start runs at when nobody chose one (real machines start at their minimum or so).
    default_start_speed_cs: int | None = None
    body_mass_kg: float = 70.0
    resting_heart_rate: int = 70

    def __post_init__(self) -> None:
        if not 0 < self.min_speed_cs <= self.max_speed_cs or self.speed_step_cs <= 0:
            raise ModelError(f"impossible speed range {self.min_speed_cs}-{self.max_speed_cs}")
        if self.min_incline_dp > self.max_incline_dp or self.incline_step_dp <= 0:
            raise ModelError(f"impossible incline range {self.min_incline_dp}-{self.max_incline_dp}")
        if self.acceleration_kmh_s <= 0 or self.deceleration_kmh_s <= 0:
            raise ModelError("acceleration and deceleration must be positive")

    @classmethod
    def mph_walking_pad(cls) -> TreadmillSpec:
        """A pad whose firmware counts in mph: 0.5-7.5 mph in 0.1 mph steps."""
        return cls(min_speed_cs=50, max_speed_cs=750, speed_step_cs=10, unit=SpeedUnit.MPH)

    @property
    def kmh_per_unit(self) -> float:
        return KMH_PER_MPH if self.unit is SpeedUnit.MPH else 1.0

    def start_speed_cs(self) -> int:
        return self.min_speed_cs if self.default_start_speed_cs is None else self.default_start_speed_cs

    def check_speed(self, speed_cs: int) -> None:
        if not self.min_speed_cs <= speed_cs <= self.max_speed_cs:
            raise SettingOutOfRangeError(
                f"speed {speed_cs / 100:.2f} {self.unit} outside "
                f"{self.min_speed_cs / 100:.2f}-{self.max_speed_cs / 100:.2f}"
            )
        if (speed_cs - self.min_speed_cs) % self.speed_step_cs:
            raise OffIncrementError(
                f"speed {speed_cs / 100:.2f} {self.unit} is not on the "
                f"{self.speed_step_cs / 100:.2f} grid from {self.min_speed_cs / 100:.2f}"
            )

    def check_incline(self, incline_dp: int) -> None:
        if not self.min_incline_dp <= incline_dp <= self.max_incline_dp:
            raise SettingOutOfRangeError(
                f"incline {incline_dp / 10:.1f} % outside "
                f"{self.min_incline_dp / 10:.1f}-{self.max_incline_dp / 10:.1f}"
            )
        if (incline_dp - self.min_incline_dp) % self.incline_step_dp:
            raise OffIncrementError(
                f"incline {incline_dp / 10:.1f} % is not on the {self.incline_step_dp / 10:.1f} grid"
            )

    def snap_speed(self, speed_cs: int) -> int:
        """The nearest speed a console can show: on the grid and inside the range."""
        steps = round((speed_cs - self.min_speed_cs) / self.speed_step_cs)
        snapped = self.min_speed_cs + steps * self.speed_step_cs
        top = (
            self.min_speed_cs
            + (self.max_speed_cs - self.min_speed_cs) // self.speed_step_cs * self.speed_step_cs
        )
        return max(self.min_speed_cs, min(top, snapped))


def _move_toward(speed: float, goal: float, rate: float, dt: float) -> float:
    if speed < goal:
        return min(goal, speed + rate * dt)
    return max(goal, speed - rate * dt)


@dataclass(frozen=True)
class BeltEntry:
    """The belt at ``time``: from here it moves from ``speed_kmh`` toward ``target_kmh`` at ``rate_kmh_s``.

    ``target_kmh`` is where the belt is heading (0 while stopped or paused), always in true km/h.
    """

    time: float
    speed_kmh: float
    target_kmh: float
    rate_kmh_s: float
    state: BeltState
    source: ChangeSource

    def speed_at(self, t: float) -> float:
        return _move_toward(self.speed_kmh, self.target_kmh, self.rate_kmh_s, max(0.0, t - self.time))

    def time_above(self, threshold: float, t0: float, t1: float) -> float:
        """Seconds of ``[t0, t1]`` during which the belt ran above ``threshold``."""
        if t1 <= t0:
            return 0.0
        s0, s1 = self.speed_at(t0), self.speed_at(t1)
        if s0 > threshold and s1 > threshold:
            return t1 - t0
        if s0 <= threshold and s1 <= threshold:
            return 0.0
        # Monotone motion crosses the threshold once, at a known rate.
        crossing = t0 + abs(threshold - s0) / self.rate_kmh_s
        return (t1 - crossing) if s1 > threshold else (crossing - t0)


class BeltRecord:
    """Bounded history of the belt; between two entries the belt moves monotonically, so it is exact."""

    def __init__(self, maxlen: int = 200_000) -> None:
        self._entries: deque[BeltEntry] = deque(maxlen=maxlen)

    def append(self, entry: BeltEntry) -> None:
        self._entries.append(entry)

    def __iter__(self) -> Iterator[BeltEntry]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def last(self) -> BeltEntry:
        return self._entries[-1]

    def _reigns(self, t0: float, t1: float) -> Iterator[tuple[BeltEntry, float, float]]:
        """Each entry with the part of ``[t0, t1]`` during which it described the belt."""
        entries = list(self._entries)
        for i, entry in enumerate(entries):
            end = entries[i + 1].time if i + 1 < len(entries) else math.inf
            lo, hi = max(t0, entry.time), min(t1, end)
            if lo <= hi and not (lo == hi and end == entry.time):
                yield entry, lo, hi

    def speed_at(self, t: float) -> float:
        """The belt's speed at ``t`` (after every change recorded at exactly ``t``)."""
        current: BeltEntry | None = None
        for entry in self._entries:
            if entry.time > t:
                break
            current = entry
        return 0.0 if current is None else current.speed_at(t)

    def max_speed_between(self, t0: float, t1: float) -> float:
        """The highest belt speed at any instant of ``[t0, t1]`` in km/h."""
        best = self.speed_at(t0)
        for entry, lo, hi in self._reigns(t0, t1):
            best = max(best, entry.speed_at(lo), entry.speed_at(hi))
        return best

    def time_above(self, threshold_kmh: float, t0: float, t1: float) -> float:
        """Total seconds within ``[t0, t1]`` during which the belt was faster than ``threshold_kmh``."""
        return sum(entry.time_above(threshold_kmh, lo, hi) for entry, lo, hi in self._reigns(t0, t1))

    def longest_above(self, threshold_kmh: float, t0: float, t1: float) -> float:
        """The longest unbroken stretch within ``[t0, t1]`` faster than ``threshold_kmh``."""
        longest = run = 0.0
        for entry, lo, hi in self._reigns(t0, t1):
            above = entry.time_above(threshold_kmh, lo, hi)
            if above == hi - lo:
                run += above
            else:
                # The stretch either ends inside this reign or begins in it.
                starts_above = entry.speed_at(lo) > threshold_kmh
                longest = max(longest, run + (above if starts_above else 0.0))
                run = 0.0 if starts_above else above
            longest = max(longest, run)
        return longest


@dataclass(frozen=True)
class Totals:
    distance_m: float = 0.0
    elapsed_s: float = 0.0
    energy_kcal: float = 0.0


class Treadmill:
    """The machine. Create it with the clock's current time; then pass ``now`` to everything."""

    def __init__(
        self, now: float, spec: TreadmillSpec | None = None, *, record_maxlen: int = 200_000
    ) -> None:
        self.spec = spec or TreadmillSpec()
        self._now = now
        self._state = BeltState.STOPPED
        self._speed_kmh = 0.0
        self._target_cs = self.spec.start_speed_cs()
        self._incline_dp = max(self.spec.min_incline_dp, min(0, self.spec.max_incline_dp))
        self._key_in = True
        self._training = TrainingStatus.IDLE
        self._totals = Totals()
        self._started_at: float | None = None
        self.record = BeltRecord(record_maxlen)
        self._record(ChangeSource.POWER)

    # ----- reading -----
    @property
    def now(self) -> float:
        return self._now

    @property
    def state(self) -> BeltState:
        return self._state

    @property
    def speed_kmh(self) -> float:
        """The belt's true speed."""
        return self._speed_kmh

    @property
    def speed_cs(self) -> int:
        """The belt's speed in hundredths of the machine's own unit (what its display shows)."""
        return round(self._speed_kmh / self.spec.kmh_per_unit * 100)

    @property
    def target_cs(self) -> int:
        """The speed setting in hundredths of the machine's unit (used at Start when stopped)."""
        return self._target_cs

    @property
    def target_kmh(self) -> float:
        return self._target_cs / 100 * self.spec.kmh_per_unit

    @property
    def incline_dp(self) -> int:
        return self._incline_dp

    @property
    def safety_key_in(self) -> bool:
        return self._key_in

    @property
    def training_status(self) -> TrainingStatus:
        return self._training

    @property
    def totals(self) -> Totals:
        return self._totals

    @property
    def running_since(self) -> float | None:
        """When the current run started (None unless running)."""
        return self._started_at if self._state is BeltState.RUNNING else None

    def metabolic_equivalent(self) -> float:
        """ACSM walking equation: VO2 = 3.5 + 0.1*v + 1.8*v*grade (ml/kg/min, v in m/min); MET = VO2/3.5."""
        if self._speed_kmh <= 0:
            return 1.0
        v = self._speed_kmh * 1000 / 60
        grade = self._incline_dp / 1000
        return (3.5 + 0.1 * v + 1.8 * v * grade) / 3.5

    def energy_per_hour_kcal(self) -> float:
        # 1 MET = 1 kcal per kg per hour.
        return self.metabolic_equivalent() * self.spec.body_mass_kg

    def heart_rate(self) -> int:
        """A made-up but deterministic pulse: rises with speed and a little with time on the belt."""
        if self._speed_kmh <= 0:
            return self.spec.resting_heart_rate
        drift = min(10.0, self._totals.elapsed_s / 60)
        return round(self.spec.resting_heart_rate + 8 * self._speed_kmh + 2 * self._incline_dp / 10 + drift)

    def average_speed_kmh(self) -> float:
        if self._totals.elapsed_s <= 0:
            return 0.0
        return self._totals.distance_m / self._totals.elapsed_s * 3.6

    # ----- physics -----
    def _goal_kmh(self) -> float:
        return self.target_kmh if self._state is BeltState.RUNNING else 0.0

    def _rate(self) -> float:
        goal = self._goal_kmh()
        return self.spec.acceleration_kmh_s if goal > self._speed_kmh else self.spec.deceleration_kmh_s

    def _record(self, source: ChangeSource) -> None:
        self.record.append(
            BeltEntry(self._now, self._speed_kmh, self._goal_kmh(), self._rate(), self._state, source)
        )

    def advance(self, now: float) -> None:
        """Integrate the belt up to ``now``."""
        if now < self._now:
            raise ClockError(f"time went backwards: {now} < {self._now}")
        dt = now - self._now
        if dt == 0:
            return
        start, goal, rate = self._speed_kmh, self._goal_kmh(), self._rate()
        end = _move_toward(start, goal, rate, dt)
        # Exact distance: a linear ramp until the goal is reached, then constant speed.
        ramp_s = min(dt, abs(goal - start) / rate)
        distance_kmh_s = (start + end) / 2 * ramp_s + end * (dt - ramp_s)
        mean_speed = distance_kmh_s / dt
        met_mean = self.metabolic_equivalent()
        self._now = now
        self._speed_kmh = end
        elapsed = self._totals.elapsed_s + (dt if self._state is BeltState.RUNNING else 0.0)
        energy = self._totals.energy_kcal
        if mean_speed > 0:
            energy += (met_mean + self.metabolic_equivalent()) / 2 * self.spec.body_mass_kg * dt / 3600
        self._totals = Totals(self._totals.distance_m + distance_kmh_s / 3.6, elapsed, energy)
        if end != start:
            self._record(ChangeSource.PHYSICS)

    # ----- commands (client, console or the machine itself) -----
    def set_target_speed(self, now: float, speed_cs: int, source: ChangeSource) -> None:
        """Change the speed setting; refused (nothing changes) if off range or off the increment."""
        self.spec.check_speed(speed_cs)
        self.advance(now)
        self._target_cs = speed_cs
        self._record(source)

    def set_target_incline(self, now: float, incline_dp: int, source: ChangeSource) -> None:
        self.spec.check_incline(incline_dp)
        self.advance(now)
        self._incline_dp = incline_dp

    def start(self, now: float, source: ChangeSource) -> None:
        """Start, or resume after a pause, toward the speed setting."""
        if not self._key_in:
            raise SafetyKeyOutError("the safety key is out: the belt cannot start")
        self.advance(now)
        if self._state is BeltState.RUNNING:
            return
        if self._state is BeltState.STOPPED:
            self._totals = Totals()
        self._state = BeltState.RUNNING
        self._started_at = now
        self._training = TrainingStatus.MANUAL_MODE
        self._record(source)

    def stop(self, now: float, source: ChangeSource) -> None:
        """Stop: the belt decelerates to rest; totals stay readable until the next start."""
        self.advance(now)
        if self._state is BeltState.STOPPED:
            return
        self._state = BeltState.STOPPED
        self._training = TrainingStatus.POST_WORKOUT
        self._record(source)

    def pause(self, now: float, source: ChangeSource) -> None:
        self.advance(now)
        if self._state is not BeltState.RUNNING:
            return
        self._state = BeltState.PAUSED
        self._record(source)

    def reset(self, now: float, source: ChangeSource) -> None:
        """FTMS Reset: stop the belt (at the normal rate), clear totals and settings."""
        self.advance(now)
        self._state = BeltState.STOPPED
        self._target_cs = self.spec.start_speed_cs()
        self._incline_dp = max(self.spec.min_incline_dp, min(0, self.spec.max_incline_dp))
        self._totals = Totals()
        self._training = TrainingStatus.IDLE
        self._record(source)

    def pull_safety_key(self, now: float) -> None:
        """Emergency stop: power is cut, the belt rests at once and cannot start until the key is back."""
        self.advance(now)
        self._key_in = False
        self._state = BeltState.STOPPED
        self._speed_kmh = 0.0
        self._training = TrainingStatus.IDLE
        self._record(ChangeSource.SAFETY_KEY)

    def insert_safety_key(self, now: float) -> None:
        self.advance(now)
        self._key_in = True

    def power_cycle(self, now: float) -> None:
        """Power lost and back: the belt is at rest, settings and totals are gone, as after a reboot."""
        self.advance(now)
        self._state = BeltState.STOPPED
        self._speed_kmh = 0.0
        self._target_cs = self.spec.start_speed_cs()
        self._incline_dp = max(self.spec.min_incline_dp, min(0, self.spec.max_incline_dp))
        self._totals = Totals()
        self._training = TrainingStatus.IDLE
        self._record(ChangeSource.POWER)

    # ----- the console, as a person presses it -----
    def console_speed_step(self, now: float, steps: int) -> None:
        """Speed +/- ``steps`` increments, stopping at the ends of the range as a real keypad does."""
        self.console_set_speed(now, (self._target_cs + steps * self.spec.speed_step_cs) / 100)

    def console_set_speed(self, now: float, speed: float) -> None:
        """A person keys in a speed (in the machine's unit): the console shows the nearest valid one."""
        if not math.isfinite(speed):
            raise ModelError(f"not a speed: {speed}")
        self.set_target_speed(now, self.spec.snap_speed(round(speed * 100)), ChangeSource.CONSOLE)

    def console_incline_step(self, now: float, steps: int) -> None:
        spec = self.spec
        wanted = self._incline_dp + steps * spec.incline_step_dp
        top = spec.min_incline_dp + (spec.max_incline_dp - spec.min_incline_dp) // spec.incline_step_dp * (
            spec.incline_step_dp
        )
        self.set_target_incline(now, max(spec.min_incline_dp, min(top, wanted)), ChangeSource.CONSOLE)
