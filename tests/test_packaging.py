"""The package's shape, read from the source and pyproject.toml: every third-party package the code imports
is declared, the simulator and the demo's own dependencies are imported by the demo alone, there is one
version. And the demo without its extra says what to install. (What every module exports is checked by
test_module_exports.py.)"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

import retrowalk
import treadsim
from retrowalk.demo.broker import embedded_broker
from retrowalk.errors import SetupError

ROOT = Path(__file__).parents[1]
PRODUCT = ROOT / "src" / "retrowalk"
SIMULATOR = ROOT / "simulators" / "treadsim"
DEMO = PRODUCT / "demo"
FIRST_PARTY = {"retrowalk", "treadsim"}
# Imported only by retrowalk.demo, and declared only in the `demo` extra.
DEMO_ONLY = {"treadsim", "amqtt", "rich"}
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def sources(*roots: Path) -> list[Path]:
    return sorted(path for root in roots for path in root.rglob("*.py"))


def imported_top_levels(path: Path) -> set[str]:
    """Top-level names of every absolute import in the file, wherever it sits (functions, TYPE_CHECKING)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(requirements: list[str]) -> set[str]:
    return {normalized(match.group()) for req in requirements if (match := re.match(r"[A-Za-z0-9._-]+", req))}


def third_party_imports(files: list[Path]) -> dict[str, set[str]]:
    """Distribution -> the files (relative) that import one of its modules directly."""
    owners = packages_distributions()
    found: dict[str, set[str]] = {}
    for path in files:
        for name in imported_top_levels(path) - FIRST_PARTY - set(sys.stdlib_module_names) - {"__future__"}:
            for distribution in owners.get(name, [f"<no installed distribution has {name!r}>"]):
                found.setdefault(normalized(distribution), set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_package_the_code_imports_is_declared_as_a_dependency() -> None:
    dependencies = declared(PYPROJECT["project"]["dependencies"])
    demo_extra = declared(PYPROJECT["project"]["optional-dependencies"]["demo"])
    outside_demo = [path for path in sources(PRODUCT, SIMULATOR) if DEMO not in path.parents]
    undeclared = {
        distribution: sorted(files)
        for distribution, files in third_party_imports(outside_demo).items()
        if distribution not in dependencies
    }
    assert undeclared == {}, "imported but not in [project] dependencies of pyproject.toml"
    undeclared_in_demo = {
        distribution: sorted(files)
        for distribution, files in third_party_imports(sources(DEMO)).items()
        if distribution not in dependencies | demo_extra
    }
    assert undeclared_in_demo == {}, "imported by the demo but neither a dependency nor in the demo extra"


def test_the_demo_extra_holds_only_what_the_demo_alone_imports() -> None:
    demo_extra = declared(PYPROJECT["project"]["optional-dependencies"]["demo"])
    assert demo_extra == {"amqtt", "rich"}
    assert demo_extra.isdisjoint(declared(PYPROJECT["project"]["dependencies"]))


def test_only_the_demo_imports_the_simulator_amqtt_or_rich() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_top_levels(path) & DEMO_ONLY)
        for path in sources(PRODUCT)
        if DEMO not in path.parents and imported_top_levels(path) & DEMO_ONLY
    }
    assert offenders == {}
    assert {"treadsim", "rich"} <= set().union(*(imported_top_levels(path) for path in sources(DEMO)))


def test_the_version_is_pyprojects_everywhere() -> None:
    version = PYPROJECT["project"]["version"]
    assert retrowalk.__version__ == version
    assert treadsim.__version__ == version
    shown = subprocess.run(
        [sys.executable, "-m", "retrowalk.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == f"retrowalk {version}"
    hard_coded = [
        str(path.relative_to(ROOT))
        for path in sources(PRODUCT, SIMULATOR)
        if re.search(r"^__version__\s*=\s*['\"]", path.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert hard_coded == []


def test_the_demo_without_its_extra_says_what_to_install() -> None:
    # `None` in sys.modules makes `import rich` fail as it does where rich is not installed.
    code = (
        "import sys; sys.modules['rich'] = None\n"
        "from retrowalk.cli import main\n"
        "sys.exit(main(['demo', '--plain', '--no-broker']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert "pip install 'retrowalk[demo]'" in done.stderr
    assert "Traceback" not in done.stderr


async def test_the_demo_broker_without_amqtt_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As where amqtt is not installed; its submodules too, which an earlier test may have imported.
    for name in ["amqtt", *(name for name in sys.modules if name.startswith("amqtt."))]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(SetupError, match=r"install mosquitto .*pip install 'retrowalk\[demo\]'"):
        async with embedded_broker(tmp_path, prefer="amqtt"):
            pass
