"""Quirk profiles: selectable misbehaviours that real FTMS treadmills show (see docs/quirks.md).

A profile is data: it switches on one behaviour in :class:`QuirkSettings`, which the peripheral
consults. Profiles combine freely (``combine_quirks(["ignores-speed", "flaky-link"])``); the random
ones draw from the peripheral's seeded generator, so a seed replays the same misbehaviour.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .model import TreadmillSpec

__all__ = [
    "DRIVABLE_QUIRKS",
    "QUIRKS",
    "QuirkProfile",
    "QuirkSettings",
    "UnknownQuirkError",
    "combine_quirks",
    "spec_for_quirks",
]


class UnknownQuirkError(ValueError):
    """A quirk name that is not in :data:`QUIRKS`."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown quirk {name!r}; valid quirks: {', '.join(sorted(QUIRKS))}")
        self.name = name


@dataclass(frozen=True)
class QuirkSettings:
    """Every quirk switch with its parameters; the defaults are a well-behaved treadmill."""

    # split-records: at most this many field groups per Treadmill Data notification, whatever the MTU.
    max_groups_per_part: int | None = None
    # own-start-speed: Start runs the belt at this speed (0.01 km/h) whatever the target.
    own_start_speed_cs: int | None = None
    ignores_speed: bool = False
    # console-drift: once per start, this many seconds after it (uniform, seeded) the target jumps up by a
    # seeded amount in this range (km/h).
    console_drift_after_s: tuple[float, float] | None = None
    console_drift_jump_kmh: tuple[float, float] = (0.4, 2.0)
    # flaky-link: the link drops after a seeded delay in this range (s) after every connect.
    flaky_link_after_s: tuple[float, float] | None = None
    # power-blip: the belt restarts at its previous speed after a reboot; with a range, the machine also
    # blips by itself that many seconds (seeded) after a start.
    restart_after_reboot: bool = False
    power_blip_after_s: tuple[float, float] | None = None
    mph_as_kmh: bool = False
    # slow-start-accept: Set Target Speed earlier than this after Start answers "operation failed".
    speed_accept_delay_s: float = 0.0
    pause_revokes_control: bool = False
    no_final_zero: bool = False
    notify_hz: float | None = None
    # zero-incline-range: Supported Inclination Range reads 0, 0, 0 while the features still claim a
    # target incline; Set Target Inclination answers success and changes nothing.
    zero_incline_range: bool = False
    # wind-down-status: while the belt slows by itself (after a stop or pause), Machine Status "target
    # speed changed" carrying the belt's current speed, this often (s).
    wind_down_status_every_s: float | None = None
    # control-point replies go out as notifications (the characteristic offers notify, not indicate).
    notify_replies: bool = False
    # one-reply-for-two: a write that arrives while a procedure still runs is carried out but never
    # answered (instead of the ATT error "procedure already in progress").
    silent_second_write: bool = False
    # request-control-starts: Request Control starts a stopped belt at this speed (0.01 km/h).
    request_control_starts_cs: int | None = None
    # needs-unlock: nothing is notified and no control-point write is answered (a vendor's unlock missing).
    silent_until_unlocked: bool = False
    # cross-trainer-data: the device also offers (and notifies) Cross Trainer Data.
    cross_trainer_data: bool = False
    # cross-trainer-only: no Treadmill Data characteristic at all (with cross_trainer_data: a cross trainer).
    no_treadmill_data: bool = False
    # A machine's own Supported Speed Range (min, max, step in 0.01 km/h) instead of treadsim's default.
    speed_range_cs: tuple[int, int, int] | None = None
    # Treadmill Data with reserved flag bit 13: a step count and a pad byte after the other fields.
    step_count_bit13: bool = False


@dataclass(frozen=True)
class QuirkProfile:
    name: str
    simulates: str  # what the simulator does
    real_world: str  # the behaviour of real machines it reproduces (references §4)
    client_advice: str  # what a careful client does about it
    apply: Callable[[QuirkSettings], QuirkSettings]
    # False for a machine retrowalk must refuse to drive (it says why instead): the test fixtures that
    # run sessions on every profile leave such a profile out.
    drivable: bool = True


def _set(**changes: object) -> Callable[[QuirkSettings], QuirkSettings]:
    def apply(settings: QuirkSettings) -> QuirkSettings:
        return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]

    return apply


_PROFILES = (
    QuirkProfile(
        "split-records",
        "Sends every Treadmill Data record in parts of two field groups (More Data bit set on all but the "
        "last), even when the MTU would fit the whole record.",
        "FTMS lets a record span notifications; many machines split even when they need not.",
        "Reassemble parts until a part with bit 0 clear; take the speed from that last part only.",
        _set(max_groups_per_part=2),
    ),
    QuirkProfile(
        "own-start-speed",
        "Start runs the belt at the machine's own default of 3.0 km/h, whatever target was set before.",
        "Some treadmills start the belt at their own default speed.",
        "After Start, set the target speed again and watch the reported speed; stop if it exceeds the plan.",
        _set(own_start_speed_cs=300),
    ),
    QuirkProfile(
        "ignores-speed",
        "Answers success to Set Target Speed and leaves the belt as it was.",
        "Some machines accept Set Target Speed with success and ignore it.",
        "Verify every speed change against Treadmill Data; an ignored command is a fault: stop.",
        _set(ignores_speed=True),
    ),
    QuirkProfile(
        "console-drift",
        "5-15 s (seeded) after each start the target jumps up by 0.4-2.0 km/h by itself, announced by a "
        "Target Speed Changed status.",
        "App-set speeds have been seen to jump by themselves (to 1.4 km/h, once to 22 km/h).",
        "Watch Machine Status and the reported speed; above the plan, slow down at once or stop.",
        _set(console_drift_after_s=(5.0, 15.0)),
    ),
    QuirkProfile(
        "flaky-link",
        "Drops the link 10-60 s (seeded) after every connect; the belt keeps running.",
        "On link loss some treadmills keep the belt running.",
        "Treat the belt state after a loss as unknown; never queue commands across the loss; reconnect, "
        "then read the state before commanding.",
        _set(flaky_link_after_s=(10.0, 60.0)),
    ),
    QuirkProfile(
        "power-blip",
        "A power cycle (from the console, or by itself 20-90 s (seeded) after a start) reboots the machine: "
        "link and control lost, and the belt restarts at its previous speed.",
        "One treadmill restarted its belt after rebooting mid-walk.",
        "After a reconnect, read the speed before anything else; stop a belt the plan did not start.",
        _set(restart_after_reboot=True, power_blip_after_s=(20.0, 90.0)),
    ),
    QuirkProfile(
        "mph-as-kmh",
        "Ranges and speeds are mph numbers while claiming km/h: Set Target Speed 1.00 runs the belt at "
        "1.609 km/h and Treadmill Data reports 1.00; the distance counter is true metres.",
        "One module advertises its range in km/h while the numbers are mph.",
        "Compare the distance travelled with the integral of the reported speed; a 1.6 ratio is mph: refuse.",
        _set(mph_as_kmh=True),
    ),
    QuirkProfile(
        "slow-start-accept",
        "For 2.5 s after Start, Set Target Speed answers operation failed (04).",
        "Some walking pads need about 2.5 s after Start before they accept a speed.",
        "Retry a failed speed command after a short wait, a bounded number of times, then stop.",
        _set(speed_accept_delay_s=2.5),
    ),
    QuirkProfile(
        "pause-revokes-control",
        "After a pause it notifies Control Permission Lost (0xFF) and answers 05 until control is requested "
        "again.",
        "Some walking pads drop control after a pause.",
        "On 0xFF or a 05 answer, request control again before the next command.",
        _set(pause_revokes_control=True),
    ),
    QuirkProfile(
        "no-final-zero",
        "After a console stop, Treadmill Data stops at once: the last packet still shows the belt moving.",
        "One model sends no final zero-speed packet after a console stop.",
        "Silence is not a stopped belt: treat stale data as unknown, and rely on Machine Status.",
        _set(no_final_zero=True),
    ),
    QuirkProfile(
        "fast-notify",
        "Notifies Treadmill Data at 2 Hz instead of 1 Hz.",
        "Real machines notify at 1-2 Hz.",
        "Do not assume a fixed data rate; judge staleness by time, not by packet count.",
        _set(notify_hz=2.0),
    ),
    QuirkProfile(
        "zero-incline-range",
        "Supported Inclination Range reads 0, 0, 0 (step 0) while the features claim a target incline; Set "
        "Target Inclination answers success and changes nothing.",
        "UREVO E1L: an all-zero inclination range next to inclination commands that answer success.",
        "Treat an all-zero range as no incline: send no incline commands, refuse plans with an incline.",
        _set(zero_incline_range=True),
    ),
    QuirkProfile(
        "wind-down-status",
        "While the belt slows by itself after a stop or pause, notifies Target Speed Changed with the "
        "belt's current speed three times a second.",
        "UREVO E1L: Machine Status 05 about three times a second while the belt decelerates by itself, "
        "after a stop and on connect.",
        "A burst of ever lower Target Speed Changed is the machine's wind-down, not a person at the console.",
        _set(wind_down_status_every_s=0.33),
    ),
    QuirkProfile(
        "notify-replies",
        "The control point offers notify instead of indicate and its replies are notifications; a write "
        "that arrives while a procedure runs is carried out and never answered.",
        "UREVO E1L: control-point responses as notifications, and one response for two back-to-back "
        "commands.",
        "Accept a reply from a notification; keep one command in flight, wait for each reply a bounded "
        "time, and fail closed when none comes.",
        _set(notify_replies=True, silent_second_write=True),
    ),
    QuirkProfile(
        "request-control-starts",
        "Request Control starts a stopped belt at the machine's own 2.5 km/h (no Machine Status).",
        "A vendor documents Request Control as its Start.",
        "Stop a belt nobody asked to run, and hold a session to its start speed whatever the belt did.",
        _set(request_control_starts_cs=250),
    ),
    QuirkProfile(
        "needs-unlock",
        "Connects, then sends no notification at all and answers no control-point write.",
        "Some treadmills need their vendor's unlock write before any notification or control-point answer.",
        "Say that the treadmill sends no data (and may need its vendor's app) instead of timing out "
        "silently; drive nothing.",
        _set(silent_until_unlocked=True),
        drivable=False,
    ),
    QuirkProfile(
        "cross-trainer-data",
        "Also offers Cross Trainer Data and advertises itself as a treadmill and a cross trainer.",
        "Some devices offer more than one machine-data characteristic (treadmill plus bike or cross "
        "trainer data).",
        "Drive it as a treadmill only when it offers Treadmill Data, and read the speed from that.",
        _set(cross_trainer_data=True),
    ),
    QuirkProfile(
        "cross-trainer-only",
        "Offers Cross Trainer Data and no Treadmill Data, though its control point takes treadmill commands.",
        "A fitness machine with machine data other than a treadmill's (a cross trainer or bike).",
        "Drive nothing that offers no Treadmill Data, and say why.",
        _set(cross_trainer_data=True, no_treadmill_data=True),
        drivable=False,
    ),
)

# Real machines recorded byte for byte (docs/quirks.md): a profile per model, with as much of its behaviour
# as treadsim reproduces.
_MODEL_PROFILES = (
    QuirkProfile(
        "urevo-e1l",
        "A UREVO E1L walking pad: Supported Speed Range 0.96-6.43 km/h in 0.32 km/h steps (0.6-4.0 mph in "
        "0.2 mph, converted to km/h), as read in the recording; a speed off that grid answers invalid "
        "parameter (03). Treadmill Data sets reserved flag bit 13 and ends in a step count and a pad byte. "
        "Also as recorded: an all-zero inclination range, Target Speed Changed bursts while the belt winds "
        "down, control-point replies as notifications and one reply for two back-to-back writes. A model "
        "profile: it combines with the others.",
        "Walking pads that count in mph advertise km/h ranges converted from mph (the recorded UREVO E1L "
        "session).",
        "Fit the plan to the treadmill's grid, never faster: round speeds down, one increment per ramp "
        "step, stretch the interval to the plan's pace (docs/safety.md).",
        _set(
            speed_range_cs=(96, 643, 32),
            step_count_bit13=True,
            zero_incline_range=True,
            wind_down_status_every_s=0.33,
            notify_replies=True,
            silent_second_write=True,
        ),
    ),
)

QUIRKS: dict[str, QuirkProfile] = {profile.name: profile for profile in (*_PROFILES, *_MODEL_PROFILES)}
# The profiles of machines retrowalk drives (the others it refuses, saying why).
DRIVABLE_QUIRKS: tuple[str, ...] = tuple(sorted(name for name, profile in QUIRKS.items() if profile.drivable))


def combine_quirks(names: Iterable[str]) -> QuirkSettings:
    """The settings of a machine with every named quirk; raises :class:`UnknownQuirkError` on a bad name."""
    profiles = []
    for name in names:
        if name not in QUIRKS:
            raise UnknownQuirkError(name)
        profiles.append(QUIRKS[name])
    settings = QuirkSettings()
    for profile in profiles:
        settings = profile.apply(settings)
    return settings


def spec_for_quirks(names: Iterable[str]) -> TreadmillSpec:
    """The machine these quirks describe: an mph walking pad for mph-as-kmh, a model's own speed range for
    a model profile, treadsim's default treadmill otherwise."""
    settings = combine_quirks(names)
    spec = TreadmillSpec.mph_walking_pad() if settings.mph_as_kmh else TreadmillSpec()
    if settings.speed_range_cs is not None:
        low, high, step = settings.speed_range_cs
        spec = dataclasses.replace(spec, min_speed_cs=low, max_speed_cs=high, speed_step_cs=step)
    return spec
