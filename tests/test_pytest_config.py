"""The project's own pytest configuration does what it promises."""

from __future__ import annotations

from pathlib import Path

import pytest

PYPROJECT = Path(__file__).parent.parent / "pyproject.toml"


def test_an_unexpectedly_passing_xfail_fails_the_run(pytester: pytest.Pytester) -> None:
    """The project's pytest configuration makes xfail strict: a marker left on a fixed bug fails."""
    test_file = pytester.makepyfile(
        """
        import pytest

        @pytest.mark.xfail(reason="the bug this marks has since been fixed")
        def test_fixed_bug():
            pass
        """
    )
    result = pytester.runpytest(
        "-c", str(PYPROJECT), "--rootdir", str(pytester.path), "-p", "no:cacheprovider", str(test_file)
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*[[]XPASS(strict)[]]*the bug this marks has since been fixed*"])
