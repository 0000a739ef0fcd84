"""A real mosquitto for a test that asks for ``mosquitto`` by name (the marker plugin marks it
``mosquitto``); the broker itself is ``tests.mqtt.mqtt_broker.Mosquitto``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mqtt.mqtt_broker import MOSQUITTO, Mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker on a free port of 127.0.0.1, anonymous access, persistence in the test's directory."""
    if not MOSQUITTO.exists():
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    broker = Mosquitto(tmp_path / "broker-dir")
    broker.start()
    yield broker
    broker.stop()
