"""Argument types for the `retrowalk` command line: a bad value is refused by argparse, with a sentence
that names the option and the values it takes, before anything connects or moves."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "MAX_AGE",
    "MAX_USER_CHARS",
    "MIN_AGE",
    "SCREENING_FORMAT",
    "ScreeningAnswers",
    "number_between",
    "screening_answers",
    "user_id",
]

# The screening command's bounds (retrowalk.mqtt.commands.ScreeningCommand); kept here so that the
# command line does not import the service to check an argument.
MIN_AGE = 10
MAX_AGE = 120
SCREENING_FORMAT = "AGE,OA,BALANCE,SURGERY, e.g. 52,no,no,no"
# A user id's bounds (retrowalk.mqtt.payloads.UserId).
MAX_USER_CHARS = 64


def number_between(low: float, high: float, unit: str) -> Callable[[str], float]:
    """An argparse type: a finite number from ``low`` to ``high`` (inclusive)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{text!r} is not a number from {low:g} to {high:g} {unit}")
        return value

    return parse


def user_id(text: str) -> str:
    """An argparse type for ``--user``: the name history and progression are kept under."""
    if not 1 <= len(text) <= MAX_USER_CHARS or not text.isprintable() or text != text.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a user name: use 1 to {MAX_USER_CHARS} printable characters, not blank and "
            "not beginning or ending with a space"
        )
    return text


@dataclass(frozen=True)
class ScreeningAnswers:
    """The four answers of ``--screening AGE,OA,BALANCE,SURGERY``."""

    age: int
    severe_knee_oa_or_ligament_injury: bool
    balance_disorder_or_dizziness: bool
    recent_knee_surgery: bool


def screening_answers(text: str) -> ScreeningAnswers:
    """An argparse type for ``--screening``; the refusal says what is wrong with ``text``."""
    parts = [part.strip().lower() for part in text.split(",")]
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(
            f"{text!r} has {len(parts)} answer(s); give four, {SCREENING_FORMAT}"
        )
    age, *answers = parts
    if not age.isdigit() or not MIN_AGE <= int(age) <= MAX_AGE:
        raise argparse.ArgumentTypeError(
            f"the age {age!r} is not a whole number from {MIN_AGE} to {MAX_AGE}; give {SCREENING_FORMAT}"
        )
    wrong = [answer for answer in answers if answer not in ("yes", "no")]
    if wrong:
        raise argparse.ArgumentTypeError(f"{wrong[0]!r} is not yes or no; give {SCREENING_FORMAT}")
    oa, balance, surgery = (answer == "yes" for answer in answers)
    return ScreeningAnswers(int(age), oa, balance, surgery)
