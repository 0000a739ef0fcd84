"""The errors of treadsim's adapter, server and console (treadsim is a separate package from retrowalk)."""

from __future__ import annotations

__all__ = ["ConsoleCommandError", "SimulatorError", "UnknownTreadmillError"]


class SimulatorError(Exception):
    """Root of every error treadsim raises on purpose."""


class UnknownTreadmillError(SimulatorError):
    """A console command named a treadmill index that does not exist."""


class ConsoleCommandError(SimulatorError):
    """A console command is unknown or its argument is invalid; nothing changed."""
