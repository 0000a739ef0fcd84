"""Command-line output into a pipe whose reader left early (``treadsim record | head``).

A C tool writing to such a pipe is ended by SIGPIPE without a word. Python ignores SIGPIPE (so that a
closed socket is an exception, not a dead process), which turns the same event into a BrokenPipeError
traceback, and into one more "Exception ignored" when the interpreter flushes stdout at exit. Restoring
SIGPIPE's default would make the long-running commands (``serve``) die on any closed socket, so instead
the command's entry point is wrapped: when stdout's reader is gone, stdout is pointed at /dev/null (the
recipe of the Python documentation's "Note on SIGPIPE") and the command exits with the status a shell
shows for a tool SIGPIPE ended. Both ``retrowalk`` and ``treadsim`` use it. It lives in retrowalk
because product code outside the demo must not import the simulator; treadsim ships in the same
distribution and imports this one stdlib-only module of retrowalk's.
"""

from __future__ import annotations

import functools
import os
import select
import signal
import sys
from collections.abc import Callable

__all__ = [
    "EXIT_READER_GONE",
    "quiet_when_reader_leaves",
    "stdout_reader_gone",
]

EXIT_READER_GONE = 128 + signal.SIGPIPE  # 141: what a shell reports for a tool that SIGPIPE ended


def quiet_when_reader_leaves[**P](main: Callable[P, int]) -> Callable[P, int]:
    """Wrap a command's ``main``: a closed stdout pipe ends it quietly with status 141."""

    @functools.wraps(main)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> int:
        try:
            try:
                return main(*args, **kwargs)
            finally:
                # Output to a pipe is block-buffered: short output (argparse's --help too, which exits
                # with SystemExit) reaches the pipe only here, so a reader that left shows here.
                sys.stdout.flush()
        except BrokenPipeError:
            if not stdout_reader_gone():
                raise  # a broken pipe of something else (a socket) is a real error, not the reader leaving
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_READER_GONE

    return wrapper


def stdout_reader_gone() -> bool:
    """True when stdout is a pipe (or socket) whose reading end is closed: poll reports an error on it."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    poller = select.poll()
    poller.register(fd, 0)  # POLLERR and POLLHUP are reported whatever the mask
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
