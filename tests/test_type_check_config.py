"""The project's mypy configuration checks the tests, the benches and the developer scripts as strictly as
the code they drive.

`scripts/dev test` runs `mypy` with no arguments, so what it checks is what pyproject.toml names: a
folder left out of `files` would pass unseen, whatever its types.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from mypy.config_parser import parse_config_file
from mypy.find_sources import create_source_list
from mypy.options import Options

ROOT = Path(__file__).resolve().parent.parent
CHECKED_FOLDERS = ("src", "simulators", "tests", "bench", "scripts")


@pytest.fixture
def options(monkeypatch: pytest.MonkeyPatch) -> tuple[Options, list[str]]:
    """mypy's options as `mypy` reads them from pyproject.toml in the repository, and whether the
    configuration asked for strict mode (mypy applies that through a callback, not a flag)."""
    monkeypatch.chdir(ROOT)
    options, strict = Options(), []
    errors = io.StringIO()
    parse_config_file(options, lambda: strict.append("strict"), "pyproject.toml", io.StringIO(), errors)
    assert errors.getvalue() == ""
    return options, strict


def test_mypy_is_strict_over_every_module_of_the_code_the_tests_the_benches_and_the_scripts(
    options: tuple[Options, list[str]],
) -> None:
    mypy_options, strict = options
    assert strict == ["strict"]
    sources = create_source_list(mypy_options.files or [], mypy_options)
    checked = {Path(source.path) for source in sources if source.path is not None}
    on_disk = {
        path.relative_to(ROOT)
        for folder in CHECKED_FOLDERS
        for path in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert {path.parts[0] for path in on_disk} == set(CHECKED_FOLDERS)  # the walk found each folder
    assert sorted(map(str, on_disk - checked)) == []
