"""Fixtures for the MQTT tests: TLS material, a store in a temp dir and a recording command handler (the
broker is the ``mosquitto`` fixture of tests.plugins.mosquitto)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retrowalk.storage import Store

from .mqtt_broker import MOSQUITTO, TlsFiles, make_certificates
from .mqtt_helpers import RecordingHandler

if not MOSQUITTO.exists():
    pytest.skip("mosquitto is not installed (apt-get install mosquitto)", allow_module_level=True)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store(tmp_path / "retrowalk.sqlite")
    yield db
    db.close()


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()
