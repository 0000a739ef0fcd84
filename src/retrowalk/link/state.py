"""The states of a treadmill link and the moves between them (``ftms.FtmsLink._enter`` makes them).

One enum instead of flags that had to agree (connected, lost, which connection a command began on):
the link is in exactly one of these states, and only the moves in ``TRANSITIONS`` are possible.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

__all__ = ["TRANSITIONS", "LinkState", "LinkStateError", "check_transition"]


class LinkState(StrEnum):
    CLOSED = "closed"  # run() is not running: no connection, nothing reported
    SEARCHING = "searching"  # looking for the treadmill (scan, or BlueZ's list of known devices)
    CONNECTING = "connecting"  # connecting to the device found and reading what it can do
    UP = "up"  # connected: events are reported and commands go out
    LOST = "lost"  # the connection ended (the treadmill went, or the link was dropped); closing it
    WAITING = "waiting"  # backing off before the next search


_S = LinkState
TRANSITIONS: Mapping[LinkState, frozenset[LinkState]] = {
    _S.CLOSED: frozenset({_S.SEARCHING}),
    _S.SEARCHING: frozenset({_S.CONNECTING, _S.WAITING, _S.CLOSED}),
    # LOST: the treadmill disconnected (or the link was dropped) before the connection was complete.
    _S.CONNECTING: frozenset({_S.UP, _S.LOST, _S.WAITING, _S.CLOSED}),
    _S.UP: frozenset({_S.LOST, _S.CLOSED}),
    _S.LOST: frozenset({_S.WAITING, _S.CLOSED}),
    _S.WAITING: frozenset({_S.SEARCHING, _S.CLOSED}),
}


class LinkStateError(RuntimeError):
    """A move the link's state machine does not have: a bug in the link, never the treadmill's doing."""


def check_transition(treadmill_id: str, old: LinkState, new: LinkState) -> None:
    if new not in TRANSITIONS[old]:
        raise LinkStateError(f"treadmill {treadmill_id}: the link cannot go from {old} to {new}")
