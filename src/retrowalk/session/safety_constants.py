"""Every safety number retrowalk works with, in one place, each with its unit and its source.

A name ends in its unit: ``_KMH`` km/h, ``_KMH_S`` km/h per second, ``_S`` seconds, ``_PCT`` percent of
incline, ``_YEARS`` years; ``_PAIN`` is a score out of 10. Where each number comes from is written beside
it in :func:`safety_table`, which is also the table "Where the numbers come from" of docs/safety.md:
``scripts/safety_doc.py`` writes it there, a test fails when the document and this module disagree, and
another when a constant is missing from the table. "E" marks engineering judgement (a product decision,
with its reason): no knee trial of backward walking publishes a belt speed or a ramp. "refs §N" is a
section of the project's gathered references (clinical numbers in §2, FTMS in §3, real treadmills in §4).

Plain values only: the engine, plan validation, the link and the service import them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "ABSOLUTE_MAX_DURATION_S",
    "ABSOLUTE_MAX_INCLINE_PCT",
    "ABSOLUTE_MAX_SPEED_KMH",
    "ARMED_TIMEOUT_S",
    "BEGINNER_START_KMH",
    "BELT_START_TIMEOUT_S",
    "CAP_WARNINGS_S",
    "CAUTIOUS_AGE_YEARS",
    "CAUTIOUS_MAX_SPEED_KMH",
    "DEFAULT_COOL_DOWN_S",
    "DEFAULT_DURATION_CEILING_S",
    "DEFAULT_GRACE_S",
    "DEFAULT_INCLINE_PCT",
    "DEFAULT_PAUSE_RESTART_S",
    "DEFAULT_STALE_S",
    "DEFAULT_TOLERANCE_KMH",
    "ECHO_WINDOW_S",
    "FIRST_SESSION_CAP_S",
    "FIRST_SESSION_TARGET_KMH",
    "FOLLOW_TIMEOUT_S",
    "GENERAL_MAX_SPEED_KMH",
    "HOLD_PAIN",
    "MAX_COOL_DOWN_S",
    "MAX_FAMILIARISATION_S",
    "MAX_GRACE_S",
    "MAX_PAUSE_RESTART_S",
    "MAX_PAUSE_S",
    "MAX_RAMP_INTERVAL_S",
    "MAX_RAMP_STEP_KMH",
    "MAX_STALE_S",
    "MAX_TOLERANCE_KMH",
    "MIN_DURATION_CAP_S",
    "MIN_FAMILIARISATION_S",
    "MIN_RAMP_INTERVAL_S",
    "MOVING_KMH",
    "ORPHAN_WINDOW_S",
    "PLAN_SPEED_GRID_KMH",
    "PROGRESS_DURATION_S",
    "PROGRESS_SPEED_KMH",
    "REFER_AFTER_REGRESSIONS",
    "REFER_PAIN",
    "REGRESS_DURATION_FACTOR",
    "REGRESS_MORNING_RISE",
    "REGRESS_SPEED_KMH",
    "SLOWDOWN_KMH_S",
    "STOP_PAIN",
    "STOP_WATCH_S",
    "Row",
    "safety_table",
]

# --- speeds ----------------------------------------------------------------------------------------------
BEGINNER_START_KMH: Final = 1.0
FIRST_SESSION_TARGET_KMH: Final = 1.5
CAUTIOUS_MAX_SPEED_KMH: Final = 2.0  # with a balance concern, or from CAUTIOUS_AGE_YEARS on
CAUTIOUS_AGE_YEARS: Final = 65
GENERAL_MAX_SPEED_KMH: Final = 3.0
ABSOLUTE_MAX_SPEED_KMH: Final = 3.5
MAX_RAMP_STEP_KMH: Final = 0.1
# Plans are written on this grid; a treadmill with a coarser increment gets the plan fitted to its own.
PLAN_SPEED_GRID_KMH: Final = 0.1
MIN_RAMP_INTERVAL_S: Final = 30
MAX_RAMP_INTERVAL_S: Final = 600
MIN_FAMILIARISATION_S: Final = 60
MAX_FAMILIARISATION_S: Final = 600
DEFAULT_INCLINE_PCT: Final = 0.0
ABSOLUTE_MAX_INCLINE_PCT: Final = 5.0

# --- durations -------------------------------------------------------------------------------------------
FIRST_SESSION_CAP_S: Final = 5 * 60
MIN_DURATION_CAP_S: Final = 60
DEFAULT_DURATION_CEILING_S: Final = 20 * 60
ABSOLUTE_MAX_DURATION_S: Final = 30 * 60
CAP_WARNINGS_S: Final = (60, 10)
DEFAULT_COOL_DOWN_S: Final = 60
MAX_COOL_DOWN_S: Final = 300

# --- the belt against the plan ---------------------------------------------------------------------------
DEFAULT_TOLERANCE_KMH: Final = 0.3
MAX_TOLERANCE_KMH: Final = 0.5
DEFAULT_GRACE_S: Final = 3.0
MAX_GRACE_S: Final = 3.0
SLOWDOWN_KMH_S: Final = 0.4
FOLLOW_TIMEOUT_S: Final = 10.0
DEFAULT_STALE_S: Final = 3.0
MAX_STALE_S: Final = 3.0

# --- starts, pauses and ends -----------------------------------------------------------------------------
ARMED_TIMEOUT_S: Final = 10.0
BELT_START_TIMEOUT_S: Final = 10.0
DEFAULT_PAUSE_RESTART_S: Final = 30
MAX_PAUSE_RESTART_S: Final = 600
MAX_PAUSE_S: Final = 15 * 60
STOP_WATCH_S: Final = 30.0

# --- pain and progression --------------------------------------------------------------------------------
STOP_PAIN: Final = 5  # above it: the session ends, the next one regresses
HOLD_PAIN: Final = 4  # from it up to STOP_PAIN: the next session holds
REFER_PAIN: Final = 7
REGRESS_MORNING_RISE: Final = 2  # next-morning pain this much above the baseline regresses (1 holds)
REFER_AFTER_REGRESSIONS: Final = 2
PROGRESS_SPEED_KMH: Final = 0.1
PROGRESS_DURATION_S: Final = 2 * 60
REGRESS_SPEED_KMH: Final = 0.2
REGRESS_DURATION_FACTOR: Final = 0.8

# --- the service and the link around the engine ----------------------------------------------------------
ORPHAN_WINDOW_S: Final = 5.0
MOVING_KMH: Final = 0.05
ECHO_WINDOW_S: Final = 3.0


@dataclass(frozen=True, slots=True)
class Row:
    """One line of docs/safety.md's table of numbers."""

    parameter: str
    default: str
    limit: str  # what a kiosk (or the operator) cannot exceed
    source: str


def _number(value: float) -> str:
    """1.0, 0.3, 0.05: at least one decimal, no trailing zeros beyond it."""
    text = f"{value:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _kmh(value: float) -> str:
    return f"{_number(value)} km/h"


def _s(value: float) -> str:
    return f"{value:g} s"


def _min(seconds: int) -> str:
    return f"{seconds / 60:g} min"


def safety_table() -> tuple[Row, ...]:
    """Every constant above, with its source, as docs/safety.md shows them (read at call time, so that a
    changed constant changes the table)."""
    return (
        Row(
            "start speed",
            _kmh(BEGINNER_START_KMH),
            "must be >= the treadmill's minimum",
            "E; well below 2.2 km/h, the backward speed under which every older faller walked "
            "(Fritz et al. 2013, Gait Posture)",
        ),
        Row(
            "familiarisation hold at the start speed",
            _s(MIN_FAMILIARISATION_S),
            f"{MIN_FAMILIARISATION_S}-{_s(MAX_FAMILIARISATION_S)}",
            "E",
        ),
        Row(
            "ramp",
            f"+{_kmh(MAX_RAMP_STEP_KMH)} per step, one step per {_s(MIN_RAMP_INTERVAL_S)}",
            f"step <= {_kmh(MAX_RAMP_STEP_KMH)}, interval {MIN_RAMP_INTERVAL_S}-{_s(MAX_RAMP_INTERVAL_S)}",
            "E (refs allow one step per 30-60 s; no trial states one)",
        ),
        Row(
            "speed grid of a plan",
            _kmh(PLAN_SPEED_GRID_KMH),
            "a treadmill with a coarser increment gets the plan fitted to its grid, never faster: speeds "
            "rounded down, one increment per ramp step, interval and hold stretched to the plan's pace, "
            "tolerance below one increment",
            "E; recorded walking pads count in mph (UREVO E1L: 0.32 km/h steps) or in 0.5 km/h (CitySports)",
        ),
        Row(
            f"target speed, balance concern or age >= {CAUTIOUS_AGE_YEARS}",
            "-",
            _kmh(CAUTIOUS_MAX_SPEED_KMH),
            "Fritz et al. 2013",
        ),
        Row(
            "target speed, otherwise",
            "-",
            f"{_kmh(GENERAL_MAX_SPEED_KMH)} (operator ceiling, default {_number(GENERAL_MAX_SPEED_KMH)})",
            "3 km/h in PFP and healthy studies (Abdel-aziem 2019; Cha et al. 2016)",
        ),
        Row(
            "absolute speed ceiling",
            "-",
            _kmh(ABSOLUTE_MAX_SPEED_KMH),
            "4 km/h was tested only in young adults (Cipriani 1995)",
        ),
        Row(
            "first-session target speed",
            _kmh(FIRST_SESSION_TARGET_KMH),
            "the person's ceiling",
            f"E: {_kmh(FIRST_SESSION_TARGET_KMH - BEGINNER_START_KMH)} above the start; progression adds "
            f"{_kmh(PROGRESS_SPEED_KMH)} a session",
        ),
        Row(
            "duration cap, first session",
            _min(FIRST_SESSION_CAP_S),
            "-",
            'the seed ("begin with 5-10 minutes"); supervised trials used 10 min (Alghadir et al. 2019, '
            "BMC Musculoskelet Disord 20:159)",
        ),
        Row(
            "duration cap ceiling",
            f"{_min(DEFAULT_DURATION_CEILING_S)} (operator, default)",
            f"{_min(ABSOLUTE_MAX_DURATION_S)} absolute",
            "Cha 2016 (20), Hao 2011 (25), Almutairi 2023 (30)",
        ),
        Row(
            "shortest duration cap",
            "-",
            f"at least {_min(MIN_DURATION_CAP_S)} (a regression never goes below it)",
            "E: a shorter walk is not worth starting the belt for",
        ),
        Row(
            "cap warnings",
            " and ".join(_s(threshold) for threshold in CAP_WARNINGS_S) + " before the cap",
            "fixed",
            "E: time to get ready for the cool-down and the stop",
        ),
        Row(
            "per-session progression",
            f"+{_min(PROGRESS_DURATION_S)}, +{_kmh(PROGRESS_SPEED_KMH)}",
            "never beyond the ceilings",
            "E, after ACSM's 5-min steps",
        ),
        Row(
            "regression",
            f"-{_kmh(REGRESS_SPEED_KMH)} target (not below the start), "
            f"-{round((1 - REGRESS_DURATION_FACTOR) * 100)} % duration",
            "never below the shortest cap",
            "pain-monitoring model (Silbernagel et al. 2007; refs §2)",
        ),
        Row(
            "knee pain that ends the session",
            f"above {STOP_PAIN}/10, reported during it",
            "fixed",
            "pain-monitoring model (Silbernagel et al. 2007): above 5/10 regresses",
        ),
        Row(
            "pain rule for the next session",
            f"progress at <= {HOLD_PAIN - 1}/10, hold at {HOLD_PAIN}-{STOP_PAIN}/10, regress above "
            f"{STOP_PAIN}/10 or when the next morning is {REGRESS_MORNING_RISE} worse",
            "fixed",
            "pain-monitoring model (Silbernagel et al. 2007; refs §2)",
        ),
        Row(
            "referral to a clinician",
            f"{REFER_AFTER_REGRESSIONS} regressions, swelling, giving way or pain >= {REFER_PAIN}/10 "
            "since the last clearance",
            "fixed",
            "refs §2, after the pain-monitoring model",
        ),
        Row(
            "incline",
            f"{DEFAULT_INCLINE_PCT:g} %",
            f"{ABSOLUTE_MAX_INCLINE_PCT:g} %",
            "Chaloupka 1997 (5 %); Cipriani 1995 (more knee flexion with incline)",
        ),
        Row(
            "cool-down",
            f"{_s(DEFAULT_COOL_DOWN_S)} at the start speed",
            f"0-{_s(MAX_COOL_DOWN_S)}",
            "E",
        ),
        Row(
            "overspeed tolerance",
            _kmh(DEFAULT_TOLERANCE_KMH),
            f"<= {_kmh(MAX_TOLERANCE_KMH)}",
            "E: treadmills report speed in 0.01 km/h but regulate it loosely; some run at a fixed offset "
            "(refs §4)",
        ),
        Row(
            "overspeed grace",
            _s(DEFAULT_GRACE_S),
            f"<= {_s(MAX_GRACE_S)}",
            "E: the time a belt needs to follow a new target",
        ),
        Row(
            "ignored speed",
            f"belt more than the tolerance below an accepted speed for {_s(FOLLOW_TIMEOUT_S)}",
            "fixed",
            "E: a slow motor needs 5 s for 1 km/h at 0.2 km/h/s",
        ),
        Row(
            "slow-down allowance",
            f"{_number(SLOWDOWN_KMH_S)} km/h per second",
            "fixed",
            "E: treadsim and the walking pads of refs §4 slow at about 0.5 km/h/s; "
            f"{_number(SLOWDOWN_KMH_S)} leaves a margin",
        ),
        Row(
            "stale telemetry",
            _s(DEFAULT_STALE_S),
            f"<= {_s(MAX_STALE_S)}",
            "E: FTMS treadmills notify at 1-2 Hz (refs §4), so 3 s is several missed samples",
        ),
        Row(
            "pause that restarts the ramp",
            f"longer than {_s(DEFAULT_PAUSE_RESTART_S)}",
            f"0-{_s(MAX_PAUSE_RESTART_S)}",
            "E",
        ),
        Row(
            "pause that ends the session",
            f"longer than {_min(MAX_PAUSE_S)}",
            "fixed",
            "E: nobody came back (a kiosk closed, a lost link never resumed); the treadmill is freed",
        ),
        Row(
            "start confirmation",
            _s(ARMED_TIMEOUT_S),
            "-",
            "E: the slowest pad seen needs ~2.5 s after Start (refs §4)",
        ),
        Row(
            "belt must move after start",
            f"within {_s(BELT_START_TIMEOUT_S)}",
            "-",
            "E: consoles count down ~3 s before the belt moves",
        ),
        Row(
            "belt watched after the end",
            f"{_s(STOP_WATCH_S)} (stopped again if still moving)",
            "fixed",
            "E: some treadmills ignore a stop (refs §4); later, a person may be walking at the console "
            "on purpose",
        ),
        Row(
            "orphaned belt (service)",
            f"found moving within {_s(ORPHAN_WINDOW_S)} of connecting, with no session",
            "fixed",
            "E: the first samples after connecting show the belt as it was left (refs §4: some keep "
            "running after a lost link)",
        ),
        Row(
            "moving belt (service)",
            f"above {_kmh(MOVING_KMH)}",
            "fixed",
            "E: FTMS counts speed in 0.01 km/h (refs §3); a belt at rest may report a few hundredths",
        ),
        Row(
            "echo of our own command (link)",
            f"one matching notification within {_s(ECHO_WINDOW_S)}",
            "fixed",
            "E: FTMS notifies Machine Status for every change, whoever made it (refs §3); long enough for a "
            "notification queued behind the reply, short enough that a person pressing the same key "
            "later is seen",
        ),
        Row(
            "stop at once",
            "dizziness, chest pain, unusual breathlessness, near-fall, safety key",
            "-",
            "ACSM termination criteria; ISO 20957-6",
        ),
    )
