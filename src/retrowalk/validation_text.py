"""pydantic's validation messages in words for a person.

A model validator that raises ``ValueError("x is below y")`` reaches pydantic's error list as
"Value error, x is below y": the prefix names a Python exception class, which tells a person nothing.
"""

from __future__ import annotations

from pydantic_core import ErrorDetails

__all__ = ["problem_message"]

_PREFIXES = ("Value error, ", "Assertion failed, ")


def problem_message(problem: ErrorDetails) -> str:
    """The message of one pydantic error, without the exception-class prefix."""
    message = problem["msg"]
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message
