"""The kiosk guide shows every screen the browser tests photograph, and no picture that they no longer
take (a stale picture would show a screen that is not there any more)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
GUIDE = ROOT / "docs" / "getting-started-kiosk.md"
PICTURES = ROOT / "docs" / "images" / "kiosk"
TESTS = Path(__file__).parent / "browser"


def test_the_guide_shows_exactly_the_pictures_the_tests_take() -> None:
    shown = set(re.findall(r"\]\(images/kiosk/([\w-]+)\.png\)", GUIDE.read_text()))
    taken = {
        name
        for test in TESTS.glob("test_*.py")
        for name in re.findall(r'audited_screenshot\(page, f?"([\w-]+)"\)', test.read_text())
    }
    # The alarm screens are named from their event's kind in one parametrised test.
    taken |= {f"alarm-{kind}" for kind in ("safety-key", "link-lost", "stop-not-confirmed")}
    on_disk = {picture.stem for picture in PICTURES.glob("*.png")}
    assert shown == taken
    assert on_disk == taken
