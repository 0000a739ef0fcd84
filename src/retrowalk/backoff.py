"""The delays between attempts to reconnect or restart: one rule for the treadmill link, the MQTT bridge
and the service's supervisor.

The first wait is short (a dropped connection often comes back at once), each failure in a row doubles
it, and it never exceeds a cap (a treadmill switched off for the night is looked for every `max_s`, not
every few milliseconds, nor once an hour). A success starts the sequence again.
"""

from __future__ import annotations

__all__ = ["Backoff"]


class Backoff:
    """Exponential delays with a cap: `initial_s`, twice that, ... up to `max_s`. `reset()` after a
    success."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        if not 0 < initial_s <= max_s:
            raise ValueError(f"a backoff needs 0 < initial_s <= max_s (got {initial_s} and {max_s})")
        self.initial_s = initial_s
        self.max_s = max_s
        self._next_s = initial_s

    def next_delay(self) -> float:
        """The delay to wait now; the one after it is twice as long, up to the cap."""
        delay = self._next_s
        self._next_s = min(delay * 2, self.max_s)
        return delay

    def reset(self) -> None:
        """The last attempt succeeded: the next failure waits `initial_s` again."""
        self._next_s = self.initial_s
