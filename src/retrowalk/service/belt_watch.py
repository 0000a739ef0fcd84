"""What the service watches on a treadmill besides the session rules: an orphaned belt, and speeds that
are not km/h.

- An orphaned belt: a belt found moving right after connecting, with no session, is stopped. A belt a
  session owns (paused by the lost link, or started since the connection) is not an orphan, even while
  it runs down after retrowalk's own stop.
- mph reported as km/h: caught from the distance counter (``link.units``) during a session, and ended
  as a treadmill fault.

Pure, like the engine: link changes and samples go in with the time they happened, findings come out,
and the runner acts on them. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from retrowalk.link.units import UnitCheck
from retrowalk.session.safety_constants import MOVING_KMH, ORPHAN_WINDOW_S

__all__ = ["BeltWatch", "Finding", "OrphanedBelt", "WrongUnits"]


@dataclass(frozen=True, slots=True)
class OrphanedBelt:
    """A belt found moving at ``speed_kmh`` right after connecting, with no session: stop it."""

    speed_kmh: float


@dataclass(frozen=True, slots=True)
class WrongUnits:
    """The session's belt does not run at the speeds it reports: end the session as a treadmill fault."""

    reason: str


Finding = OrphanedBelt | WrongUnits


class BeltWatch:
    """One treadmill's watch; told about link changes and samples, in the order they happened."""

    def __init__(self) -> None:
        self._units = UnitCheck()
        self._orphan_watch_until = -math.inf
        self._session_id: str | None = None

    def link_up(self, at: float, *, session_owns_belt: bool) -> None:
        """Connected at ``at``. A session still open (paused by the lost link) owns its belt: a belt
        moving now is that session's, running down or not, and never an orphan."""
        self._units.restart()
        self._orphan_watch_until = -math.inf if session_owns_belt else at + ORPHAN_WINDOW_S

    def link_down(self) -> None:
        """The distance counter's history is gone with the link (a reconnected treadmill may reset it)."""
        self._units.restart()

    def session_owns_belt(self) -> None:
        """A session started within the orphan window: the belt is its own, and its run-down after the
        session's end is watched by the engine, not taken for an orphan."""
        self._orphan_watch_until = -math.inf

    def sample(
        self, at: float, speed_kmh: float, distance_m: float | None, *, session_id: str | None
    ) -> Finding | None:
        """One sample, judged after the engine has seen it; ``session_id`` is the session open then
        (None without one)."""
        if session_id is None:
            if speed_kmh > MOVING_KMH and at <= self._orphan_watch_until:
                self._orphan_watch_until = -math.inf  # once per connection
                return OrphanedBelt(speed_kmh)
            return None
        self.session_owns_belt()
        if session_id != self._session_id:
            # Each session's belt is judged afresh: the counter may have been zeroed at its start.
            self._session_id = session_id
            self._units.restart()
        mismatch = self._units.observe(at, speed_kmh, distance_m)
        if mismatch is None:
            return None
        self._units.restart()
        return WrongUnits(mismatch.reason)
