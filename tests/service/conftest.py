"""Fixtures of the service tests that run retrowalk and treadsim as separate processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .served import treadsim_serving


@pytest.fixture
def treadsim_bus() -> Iterator[str]:
    """`treadsim serve` with one treadmill as a process of its own; its private bus address (the marker
    plugin marks the test ``dbus``)."""
    with treadsim_serving() as bus:
        yield bus
