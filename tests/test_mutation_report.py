"""scripts/mutation_report.py turns mutmut's result list into a score per module and the survivors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "mutation_report.py"

# The shape of `mutmut results --all true`, as mutmut 3.8 prints it.
RESULTS = """
    retrowalk.link.limits.xǁDeviceRangeǁfloor__mutmut_1: killed
    retrowalk.link.limits.xǁDeviceRangeǁfloor__mutmut_2: timeout
    retrowalk.link.limits.xǁDeviceRangeǁfloor__mutmut_3: survived
    retrowalk.link.limits.xǁDeviceRangeǁfloor__mutmut_4: killed
    retrowalk.session.plan.x_to_centi__mutmut_1: killed
    retrowalk.session.plan.x_to_centi__mutmut_2: not checked
    retrowalk.session.plan.x__is_on_grid__mutmut_1: no tests
"""


def report(text: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], input=text, capture_output=True, text=True, check=False
    )


def test_scores_count_timeouts_as_killed_and_skip_unchecked_mutants() -> None:
    result = report(RESULTS, "--target", "50")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["retrowalk.link.limits", "3/4", "75.0", "%"]
    assert lines[1].split() == ["retrowalk.session.plan", "1/2", "50.0", "%"]
    assert lines[2:] == [
        "  survived   retrowalk.link.limits.xǁDeviceRangeǁfloor__mutmut_3",
        "  no tests   retrowalk.session.plan.x__is_on_grid__mutmut_1",
    ]
    assert result.returncode == 0


def test_a_module_below_the_target_fails_the_run() -> None:
    result = report(RESULTS)
    assert result.returncode == 1
    assert result.stderr == "below 95 %: retrowalk.link.limits, retrowalk.session.plan\n"


def test_no_results_is_an_error_not_a_perfect_score() -> None:
    result = report("")
    assert result.returncode == 1
    assert "no mutant results" in result.stderr
