"""What a `retrowalk` command prints when it fails: one sentence that says what to do.

Errors raised on purpose (:class:`~retrowalk.errors.RetrowalkError`) already say what to do. What else
can reach the top of a command is turned into such a sentence here: a TaskGroup's ExceptionGroup (its
RetrowalkError is the news, the cancelled siblings are not), a pydantic ValidationError (field and
reason), an OSError (the file and what the system said). Anything else is a bug, and the sentence says
how to see where it happened. The traceback itself is logged only at DEBUG, where a developer asked
for it.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from pydantic import ValidationError

from retrowalk.errors import RetrowalkError
from retrowalk.validation_text import problem_message

__all__ = [
    "EXIT_FAILED",
    "failure_sentence",
    "leaf_errors",
    "report_failure",
    "root_cause",
]

log = logging.getLogger("retrowalk")

EXIT_FAILED = 2


def leaf_errors(err: BaseException) -> list[BaseException]:
    """The errors inside (nested) exception groups, without the cancellations they caused."""
    if isinstance(err, BaseExceptionGroup):
        return [leaf for inner in err.exceptions for leaf in leaf_errors(inner)]
    if isinstance(err, asyncio.CancelledError):
        return []
    return [err]


def root_cause(err: BaseException) -> BaseException:
    """The error a person should hear about: a RetrowalkError first, then anything else."""
    leaves = leaf_errors(err) or [err]
    return next((leaf for leaf in leaves if isinstance(leaf, RetrowalkError)), leaves[0])


def failure_sentence(err: BaseException, command: str = "COMMAND") -> str:
    """One sentence (no traceback) for an error that ended a command (``command``: its name, for the
    hint that reruns it with the traceback)."""
    # --log-level is an option of `retrowalk` itself: after the command's name argparse refuses it.
    rerun = f"run it again as 'retrowalk --log-level DEBUG {command} ...'"
    cause = root_cause(err)
    if isinstance(cause, RetrowalkError):
        return str(cause) or type(cause).__name__
    if isinstance(cause, ValidationError):
        problems = "; ".join(
            f"{'.'.join(map(str, problem['loc'])) or 'value'}: {problem_message(problem)}"
            for problem in cause.errors()
        )
        return f"invalid value ({problems}); correct it and try again"
    if isinstance(cause, OSError):
        what = (cause.strerror or str(cause) or type(cause).__name__).lower()
        if cause.filename:
            return f"{cause.filename}: {what}; check the path, its permissions and free disk space"
        return f"the system said: {what}; {rerun} to see where"
    return f"unexpected {type(cause).__name__}: {cause}; {rerun} to see where it happened, and report it"


def report_failure(err: BaseException, command: str) -> int:
    """Print the sentence (and, at DEBUG, the traceback) for the failed ``command``; return the exit
    status."""
    log.debug("the command failed", exc_info=err)
    print(f"retrowalk: {failure_sentence(err, command)}", file=sys.stderr)
    return EXIT_FAILED
