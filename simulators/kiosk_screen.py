"""A kiosk's screen without its tablet: Debian's chromium, headless, driven by Playwright; never a browser
build Playwright would download. The kiosk's browser tests (tests/kiosk/browser) and the browser bench
(bench/kiosk_browser.py) both open their pages this way, so the figures are taken on the browser the tests
check.

It sits beside treadsim, the stand-in for the treadmill, because both need it and neither may import the
other: the editable install (scripts/dev setup) puts this folder on the path of the tests and the benches
alike. It is not part of the wheel, which ships only the treadsim package from here.
"""

from __future__ import annotations

import shutil

from playwright.async_api import Browser, Page

__all__ = ["CHROMIUM_ARGS", "CHROMIUM_MISSING", "LANDSCAPE", "PORTRAIT", "new_page", "system_chromium"]

# The two screens the issue names: a portrait tablet and a landscape screen.
PORTRAIT = {"width": 800, "height": 1280}
LANDSCAPE = {"width": 1920, "height": 1080}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CHROMIUM_MISSING = "Debian's chromium is not installed (scripts/dev test installs it)"


def system_chromium() -> str | None:
    """The path of Debian's chromium, or None where it is not installed (say :data:`CHROMIUM_MISSING`)."""
    return shutil.which("chromium")


async def new_page(browser: Browser, errors: list[str], viewport: dict[str, int] = PORTRAIT) -> Page:
    """A page in a fresh context; the page's own uncaught errors go to ``errors`` (a test asserts that
    list is empty: an exception in the page is a screen that stopped updating)."""
    context = await browser.new_context(viewport={"width": viewport["width"], "height": viewport["height"]})
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page
