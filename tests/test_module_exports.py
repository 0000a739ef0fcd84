"""Every module of retrowalk and treadsim says what it exports, in one place, and the rest of the project
keeps to it: a name that other project code imports from a module (or reads as ``module.name``) is in
that module's ``__all__``, and every name ``__all__`` lists exists. Read from the source with ``ast``,
so nothing is imported and a module that would fail to import is still checked.

``__all__`` sits right after the module's imports (after an ``if TYPE_CHECKING:`` block of imports too),
before any other statement, in every module.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# The packages whose modules must declare __all__, by their import name.
PACKAGES = {"retrowalk": ROOT / "src" / "retrowalk", "treadsim": ROOT / "simulators" / "treadsim"}
# Everywhere project code imports from those packages.
IMPORTERS = [ROOT / "src", ROOT / "simulators", ROOT / "tests", ROOT / "bench", ROOT / "scripts"]


def module_name(path: Path, package: str, package_dir: Path) -> str:
    parts = [package, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    """Dotted module name -> its file, for every module of the packages."""
    return {
        module_name(path, package, package_dir): path
        for package, package_dir in PACKAGES.items()
        for path in sorted(package_dir.rglob("*.py"))
    }


MODULES = project_modules()
MODULE_OF_FILE = {path: name for name, path in MODULES.items()}


@functools.cache
def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def is_type_checking_block(node: ast.stmt) -> bool:
    """`if TYPE_CHECKING:`: its imports exist for the type checker only, not at run time."""
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
    )


def assigned_names(target: ast.expr) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from assigned_names(element)
    elif isinstance(target, ast.Starred):
        yield from assigned_names(target.value)


def bound_at_run_time(body: list[ast.stmt]) -> set[str]:
    """The names a module's top level binds when it runs (not those imported only for type checking)."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(assigned_names(target))
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            names.update(assigned_names(node.target))
        elif isinstance(node, ast.TypeAlias):
            names.update(assigned_names(node.name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.If) and not is_type_checking_block(node):
            names |= bound_at_run_time(node.body) | bound_at_run_time(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                names |= bound_at_run_time(block)
        elif isinstance(node, ast.With):
            names |= bound_at_run_time(node.body)
    return names


def is_all_assignment(node: ast.stmt) -> bool:
    targets = (
        node.targets
        if isinstance(node, ast.Assign)
        else [node.target]
        if isinstance(node, ast.AnnAssign)
        else []
    )
    return any(isinstance(target, ast.Name) and target.id == "__all__" for target in targets)


def declared_exports(tree: ast.Module) -> list[str] | None:
    """The strings of the module's top-level `__all__` list or tuple; None when it has none."""
    for node in tree.body:
        if is_all_assignment(node):
            value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
            assert isinstance(value, ast.List | ast.Tuple), "__all__ must be a literal list"
            names = [element.value for element in value.elts if isinstance(element, ast.Constant)]
            assert len(names) == len(value.elts), "__all__ must list names as string literals"
            assert all(isinstance(name, str) for name in names), "__all__ must list names as strings"
            return [str(name) for name in names]
    return None


def is_import_block(node: ast.stmt) -> bool:
    """An import, or an `if`/`try` made of imports only (TYPE_CHECKING imports, a fallback import)."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return True
    if isinstance(node, ast.If):
        return all(is_import_block(inner) for inner in [*node.body, *node.orelse])
    if isinstance(node, ast.Try):
        blocks = [*node.body, *node.orelse, *node.finalbody, *(s for h in node.handlers for s in h.body)]
        return all(is_import_block(inner) or isinstance(inner, ast.Pass) for inner in blocks)
    return False


def placement_problem(tree: ast.Module) -> str | None:
    """Why `__all__` is not where every module puts it (right after the imports), or None."""
    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    position = next(index for index, node in enumerate(body) if is_all_assignment(node))
    before = [node for node in body[:position] if not is_import_block(node)]
    if before:
        return f"line {before[0].lineno} comes between the imports and __all__"
    after = [node for node in body[position + 1 :] if isinstance(node, ast.Import | ast.ImportFrom)]
    if after:
        return f"the import on line {after[0].lineno} comes after __all__"
    return None


@dataclass(frozen=True)
class Use:
    """Project code (`where`) uses `name` from the project module `module`."""

    module: str
    name: str
    where: str


def resolved(node: ast.ImportFrom, importer: str | None) -> str | None:
    """The absolute module name of a `from ... import`, relative imports resolved against `importer`."""
    if node.level == 0:
        return node.module
    if importer is None:
        return None
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def uses_in(path: Path) -> set[Use]:
    """Every public name the file takes from a project module: `from m import name` and `m.name`."""
    where = str(path.relative_to(ROOT))
    importer = MODULE_OF_FILE.get(path)
    tree = parse(path)
    # Local names bound to a project module, for `alias.name` below. Scopes are ignored: a module alias
    # is not reused for anything else in this project.
    module_aliases: dict[str, str] = {}
    uses: set[Use] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in MODULES:
                    module_aliases[alias.asname] = alias.name
                elif not alias.asname and alias.name.split(".")[0] in MODULES:
                    module_aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            source = resolved(node, importer)
            if source not in MODULES:
                continue
            for alias in node.names:
                if f"{source}.{alias.name}" in MODULES:
                    module_aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
                elif not alias.name.startswith("_"):
                    uses.add(Use(source, alias.name, f"{where}:{node.lineno}"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            chain: list[str] = []
            value: ast.expr = node
            while isinstance(value, ast.Attribute):
                chain.insert(0, value.attr)
                value = value.value
            if not isinstance(value, ast.Name) or value.id not in module_aliases:
                continue
            module = module_aliases[value.id]
            for attr in chain:
                if f"{module}.{attr}" not in MODULES:
                    if not attr.startswith("_"):
                        uses.add(Use(module, attr, f"{where}:{node.lineno}"))
                    break
                module = f"{module}.{attr}"
    return uses


def all_uses() -> set[Use]:
    return {use for root in IMPORTERS for path in sorted(root.rglob("*.py")) for use in uses_in(path)}


@pytest.fixture(scope="module")
def exports() -> dict[str, list[str]]:
    declared = {name: declared_exports(parse(path)) for name, path in MODULES.items()}
    return {name: names for name, names in declared.items() if names is not None}


def test_every_module_declares_all() -> None:
    without = [
        str(path.relative_to(ROOT)) for path in MODULES.values() if declared_exports(parse(path)) is None
    ]
    assert without == []


def test_all_sits_right_after_the_imports_in_every_module(exports: dict[str, list[str]]) -> None:
    misplaced = {
        name: problem for name in exports if (problem := placement_problem(parse(MODULES[name]))) is not None
    }
    assert misplaced == {}


def test_every_name_in_all_exists_once(exports: dict[str, list[str]]) -> None:
    missing = {}
    for name, names in exports.items():
        path = MODULES[name]
        available = bound_at_run_time(parse(path).body)
        if path.name == "__init__.py":
            available |= {
                module.rpartition(".")[2] for module in MODULES if module.rpartition(".")[0] == name
            }
        absent = sorted(set(names) - available)
        repeated = sorted({export for export in names if names.count(export) > 1})
        if absent or repeated:
            missing[name] = {"absent": absent, "repeated": repeated}
    assert missing == {}


def test_what_other_project_code_imports_from_a_module_is_in_its_all(exports: dict[str, list[str]]) -> None:
    undeclared = sorted(
        f"{use.where}: {use.module}.{use.name}"
        for use in all_uses()
        if use.module in exports and use.name not in exports[use.module]
    )
    assert undeclared == []


def test_the_checks_see_an_undeclared_import_an_absent_name_and_a_late_all(tmp_path: Path) -> None:
    """The checks above would pass vacuously if the parsing found nothing: show that they find each case."""
    module = tmp_path / "example.py"
    module.write_text(
        '"""Doc."""\nimport os\n\nVALUE = 1\n__all__ = ["VALUE", "gone"]\nimport sys\n', encoding="utf-8"
    )
    tree = parse(module)
    assert declared_exports(tree) == ["VALUE", "gone"]
    assert set(declared_exports(tree) or []) - bound_at_run_time(tree.body) == {"gone"}
    assert placement_problem(tree) == "line 4 comes between the imports and __all__"
    # Real project code, both ways a name is taken from a module.
    found = {
        (use.module, use.name) for use in uses_in(ROOT / "src" / "retrowalk" / "session" / "__init__.py")
    }
    assert ("retrowalk.session.engine", "SessionEngine") in found
    safety_doc = {(use.module, use.name) for use in uses_in(ROOT / "scripts" / "safety_doc.py")}
    assert any(module == "retrowalk.session.safety_constants" for module, _ in safety_doc)
