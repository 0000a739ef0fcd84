"""Fixtures of the `retrowalk user` tests: a configuration with one treadmill and its history file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retrowalk.storage import Store

__all__ = ["config", "store"]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "home.toml"
    path.write_text(
        f'[service]\nstorage = "{tmp_path / "home.sqlite3"}"\n\n[[treadmills]]\nid = "home"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def store(config: Path) -> Iterator[Store]:
    db = Store(config.with_name("home.sqlite3"))
    yield db
    db.close()
