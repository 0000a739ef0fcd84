"""The session package is sans-I/O: it imports no asyncio, Bluetooth, MQTT or clock."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import retrowalk.session

FORBIDDEN = ("asyncio", "bleak", "pyftms", "dbus_fast", "aiomqtt", "paho", "amqtt", "time", "datetime.now")
PACKAGE = Path(retrowalk.session.__file__).parent
# history.py stores wall-clock datetimes the service gives it; it never asks for the time.
ALLOWED_FROM_DATETIME = {"datetime"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_module_of_the_package_imports_io_or_a_clock() -> None:
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) >= 8
    for path in files:
        for name in imported_modules(path):
            root = name.split(".")[0]
            assert root not in FORBIDDEN, f"{path.name} imports {name}"


def test_no_clock_is_read_anywhere_in_the_package() -> None:
    for path in PACKAGE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for call in (".now(", ".utcnow(", "monotonic(", "perf_counter(", "sleep("):
            assert call not in text, f"{path.name} calls {call}"


def test_importing_the_engine_loads_no_io_module() -> None:
    # `time` is loaded by the interpreter itself at start-up; the AST scan above covers it.
    probe = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import retrowalk.session, retrowalk.session.engine, retrowalk.session.screening,"
        " retrowalk.session.progression\n"
        f"bad = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "", f"importing the engine loaded: {result.stdout.strip()}"
