"""docs/safety.md's generated parts stay in step with the code: the table of numbers with the safety
constants module, the state diagram with the transition table."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from retrowalk.session import safety_constants
from retrowalk.session.events import EndReason, Phase
from retrowalk.session.table import TRANSITIONS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "safety_doc.py"
DOC = ROOT / "docs" / "safety.md"


def run_check(doc: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--doc", str(doc)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_generated_parts_of_docs_safety_md_match_the_code() -> None:
    result = run_check(DOC)
    assert result.returncode == 0, result.stderr


def test_every_transition_appears_in_the_diagram() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "stateDiagram-v2" in text
    for (source, trigger), target in TRANSITIONS.items():
        arrow = f"    {source.value} --> {target.value}: "
        line = next(line for line in text.splitlines() if line.startswith(arrow))
        assert trigger.value in line.split(": ", 1)[1].split(", ")
    for phase in Phase:
        assert f" {phase.value} -->" in text or f"--> {phase.value}" in text


def test_a_stale_diagram_is_caught_and_rewritten(tmp_path: Path) -> None:
    stale = tmp_path / "safety.md"
    stale.write_text(
        DOC.read_text(encoding="utf-8").replace("paused --> armed: resume\n", ""), encoding="utf-8"
    )
    assert run_check(stale).returncode == 1
    subprocess.run([sys.executable, str(SCRIPT), "--doc", str(stale)], check=True, timeout=60)
    assert run_check(stale).returncode == 0
    assert stale.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8")


def test_every_rule_default_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for needle in [
        "1.0 km/h",
        "60 s",
        "+0.1 km/h",
        "2.0 km/h",
        "3.0 km/h",
        "3.5 km/h",
        "5 min",
        "30 min",
        "5 %",
        "0.3 km/h",
        "3 s",
        "engineering judgement",
        "Fritz",
        "Silbernagel",
        "Alghadir",
    ]:
        assert needle in text, needle


def test_every_end_reason_is_explained() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [reason.value for reason in EndReason if f"`{reason.value}`" not in text]
    assert missing == []


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("safety_doc", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("constant", "changed", "row_text"),
    [
        ("STOP_PAIN", 6, "| knee pain that ends the session | above 6/10, reported during it |"),
        ("MAX_GRACE_S", 2.0, "| overspeed grace | 3 s | <= 2 s |"),
        ("ORPHAN_WINDOW_S", 8.0, "found moving within 8 s of connecting"),
        ("CAP_WARNINGS_S", (120, 10), "| cap warnings | 120 s and 10 s before the cap |"),
    ],
)
def test_a_changed_constant_no_longer_matches_the_document(
    monkeypatch: pytest.MonkeyPatch, constant: str, changed: object, row_text: str
) -> None:
    generator = load_generator()
    committed = DOC.read_text(encoding="utf-8")
    assert generator.render(committed) == committed
    monkeypatch.setattr(safety_constants, constant, changed)
    regenerated = generator.render(committed)
    assert regenerated != committed
    assert row_text in regenerated
    assert row_text not in committed


def test_a_stale_numbers_table_is_caught_and_rewritten(tmp_path: Path) -> None:
    stale = tmp_path / "safety.md"
    committed = DOC.read_text(encoding="utf-8")
    edited = committed.replace("| overspeed grace | 3 s | <= 3 s |", "| overspeed grace | 5 s | <= 5 s |")
    assert edited != committed
    stale.write_text(edited, encoding="utf-8")
    assert run_check(stale).returncode == 1
    subprocess.run([sys.executable, str(SCRIPT), "--doc", str(stale)], check=True, timeout=60)
    assert stale.read_text(encoding="utf-8") == committed


def test_every_safety_constant_has_a_row_in_the_table() -> None:
    """Each constant of the module is named inside safety_table(), so none goes without a source."""
    tree = ast.parse(Path(safety_constants.__file__).read_text(encoding="utf-8"))
    constants = {
        node.target.id
        for node in tree.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id.isupper()
    }
    table = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "safety_table")
    used = {node.id for node in ast.walk(table) if isinstance(node, ast.Name)}
    assert len(constants) > 40
    assert sorted(constants - used) == []
