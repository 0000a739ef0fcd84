"""docs/safety.md's state diagram is generated from the transition table and must stay in step with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from retrowalk.session.events import EndReason, Phase
from retrowalk.session.table import TRANSITIONS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "state_diagram.py"
DOC = ROOT / "docs" / "safety.md"


def run_check(doc: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--doc", str(doc)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_diagram_in_docs_safety_md_matches_the_table() -> None:
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
