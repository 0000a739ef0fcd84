"""Marks every test by what its fixtures start, so that nobody has to remember the markers by hand.

``pytest -m "not slow"`` is the fast loop; ``-m "not dbus"`` or ``-m "not mosquitto"`` leave out the tests
that need a dbus-daemon or a mosquitto (both Debian packages) on a machine without them. A test that starts
such a process without one of these fixtures (a subprocess of its own) carries the marker in its module.
"""

from __future__ import annotations

import pytest

# fixture name -> the markers a test that uses it gets (directly or through another fixture).
MARKERS_BY_FIXTURE: dict[str, tuple[str, ...]] = {
    # tests.plugins.mosquitto: a real broker process.
    "mosquitto": ("mosquitto",),
    # tests.plugins.virtual_adapter and tests/service/conftest.py: a private dbus-daemon with treadsim
    # behind it; every connection through it costs seconds, so these are the end-to-end, slow subset.
    "private_bus": ("dbus", "slow"),
    "simulator_factory": ("dbus", "slow"),
    "treadsim_bus": ("dbus", "slow"),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, markers in MARKERS_BY_FIXTURE.items():
            if fixture in used:
                for marker in markers:
                    item.add_marker(marker)
