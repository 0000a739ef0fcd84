"""docs/schemas must match the models, and the documented examples must validate against them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from retrowalk.mqtt.schemas import render_schemas

ROOT = Path(__file__).parents[2]


def test_committed_schemas_match_the_models() -> None:
    for name, text in render_schemas().items():
        path = ROOT / "docs" / "schemas" / name
        assert path.exists(), f"{path} missing: run scripts/gen_schemas.py"
        assert path.read_text() == text, f"{path} is stale: run scripts/gen_schemas.py"


def test_the_generator_check_mode_agrees() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_schemas.py"), "--check"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_the_event_schema_lists_every_kind() -> None:
    schema = json.loads(render_schemas()["event.json"])
    kinds = set(schema["discriminator"]["mapping"])
    assert kinds == {
        "session_started", "phase_changed", "overspeed_corrected", "cap_warning", "session_ended",
        "link_lost", "safety_key", "orphaned_belt_stopped", "stop_not_confirmed",
    }  # fmt: skip
