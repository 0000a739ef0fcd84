"""The project's own pytest configuration does what it promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plugins.in_process_treadmill import profiles
from treadsim.quirks import DRIVABLE_QUIRKS

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


def collected(pytester: pytest.Pytester, *args: str) -> list[str]:
    """The test ids a run with the project's configuration would select (collection only)."""
    result = pytester.runpytest(
        "-c",
        str(PYPROJECT),
        "--rootdir",
        str(pytester.path),
        "-p",
        "no:cacheprovider",
        "--collect-only",
        "-q",
        *args,
    )
    return sorted(line.split("::", 1)[1] for line in result.outlines if "::" in line)


def test_the_fixtures_that_start_processes_mark_their_tests(pytester: pytest.Pytester) -> None:
    """A test is marked by the process fixtures it uses, directly or through another fixture, so that
    `-m "not slow"`, `-m "not dbus"` and `-m "not mosquitto"` leave it out without a marker by hand."""
    pytester.makeconftest(
        """
        import pytest

        pytest_plugins = ["tests.plugins.markers"]

        @pytest.fixture
        def simulator_factory():  # stands in for the plugin's: only the name counts
            return None

        @pytest.fixture
        def mosquitto():
            return None

        @pytest.fixture
        def kiosk_over_the_adapter(simulator_factory):
            return simulator_factory
        """
    )
    pytester.makepyfile(
        test_marked="""
        def test_plain():
            pass

        def test_with_a_broker(mosquitto):
            pass

        def test_through_another_fixture(kiosk_over_the_adapter):
            pass
        """
    )
    assert collected(pytester, "-m", "not slow") == ["test_plain", "test_with_a_broker"]
    assert collected(pytester, "-m", "dbus") == ["test_through_another_fixture"]
    assert collected(pytester, "-m", "mosquitto") == ["test_with_a_broker"]


def test_the_in_process_treadmill_runs_on_every_quirk_profile_unless_narrowed(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest('pytest_plugins = ["tests.plugins.in_process_treadmill"]')
    pytester.makepyfile(
        test_profiles="""
        from tests.plugins.in_process_treadmill import profiles

        def test_every(treadmill_factory):
            pass

        @profiles("well-behaved", "ignores-speed")
        def test_two(treadmill_factory):
            pass
        """
    )
    ids = collected(pytester)
    assert [i for i in ids if i.startswith("test_every")] == sorted(
        f"test_every[{name}]" for name in ["well-behaved", *DRIVABLE_QUIRKS]
    )
    assert [i for i in ids if i.startswith("test_two")] == [
        "test_two[ignores-speed]",
        "test_two[well-behaved]",
    ]


def test_an_unknown_profile_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"no-such-quirk.*choose from well-behaved, console-drift"):
        profiles("no-such-quirk")
