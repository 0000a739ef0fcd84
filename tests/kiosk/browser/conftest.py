"""A real browser for the kiosk's pages: Debian's chromium (scripts/dev installs it) driven by Playwright,
never a browser build Playwright would download. Every test here is marked ``browser`` and ``slow``.

One Playwright driver and one chromium serve a whole module (starting them took 4-11 s a test on a
loaded 2-core machine); each test gets its pages in fresh browser contexts (own cookies, storage and
viewport), closed after it. Playwright's objects belong to the event loop that started them, so the
modules here run their tests, their async fixtures and the leak guard on one loop per module
(``pytestmark = BROWSER_LOOP`` in each module, ``loop_scope="module"`` on each async fixture)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Locator, Page, ViewportSize, async_playwright, expect

# chromium is launched as the browser bench launches it (the screens, the flags, a page with its errors).
from kiosk_screen import CHROMIUM_ARGS, CHROMIUM_MISSING, LANDSCAPE, PORTRAIT, new_page, system_chromium
from tests.plugins.leak_guard import no_leaked_tasks_or_timers

__all__ = [
    "BROWSER_LOOP",
    "LANDSCAPE",
    "PORTRAIT",
    "audited_screenshot",
    "axe_violations",
    "covered_controls",
    "eventually",
    "layout_problems",
    "new_page",
    "resize",
    "small_touch_targets",
    "tappable",
]

VENDOR = Path(__file__).parent / "vendor"
# How long an `expect` without a timeout of its own waits for the page (Playwright's default is 5 s). Such
# a wait is never what a test is about (a promised time is passed as `timeout=`), and what it waits for
# often crosses the broker, the kiosk and chromium on a loaded 2-core CI machine.
EXPECT_TIMEOUT_MS = 15_000
expect.set_options(timeout=EXPECT_TIMEOUT_MS)
SCREENSHOTS = Path(__file__).parents[3] / "docs" / "images" / "kiosk"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker("browser")
            item.add_marker("slow")


def chromium_or_skip() -> str:
    found = system_chromium()
    if found is None:
        pytest.skip(CHROMIUM_MISSING)
    return found


# Every test module here starts with `pytestmark = BROWSER_LOOP`.
BROWSER_LOOP = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", autouse=True)
async def fail_on_leaked_tasks_and_timers() -> AsyncIterator[None]:
    """The suite's leak guard (tests/plugins/leak_guard.py), on the module's loop the tests run on."""
    async with no_leaked_tasks_or_timers():
        yield


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_or_skip(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def browser(module_browser: Browser) -> AsyncIterator[Browser]:
    """The module's chromium; the contexts (and so the pages) a test opens are closed after it, so the
    next test starts with none."""
    assert module_browser.contexts == [], "a test before this one left pages open"
    yield module_browser
    for context in module_browser.contexts:
        await context.close()


async def eventually(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until what the kiosk received (a command, say) matches; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not true within {within} s")
        await asyncio.sleep(0.05)


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run the vendored axe-core inside the page: the WCAG A/AA rules it checks, as violations."""
    await page.add_script_tag(content=(VENDOR / "axe.min.js").read_text())
    result: dict[str, Any] = await page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}})"
    )
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
    ]


async def small_touch_targets(page: Page) -> list[str]:
    """Visible buttons, inputs and summaries smaller than 48 x 48 CSS pixels (radio buttons are checked
    with their label, which is the target)."""
    found: list[str] = await page.evaluate(
        """() => [...document.querySelectorAll(
                'button, input:not([type=radio]), summary, label:has(input[type=radio])')]
            .filter((e) => e.offsetParent !== null)
            .filter((e) => { const r = e.getBoundingClientRect(); return r.width < 48 || r.height < 48; })
            .map((e) => `${e.tagName} ${e.id || e.textContent.trim().slice(0, 30)}`)"""
    )
    return found


async def tappable(control: Locator) -> bool:
    """The control is on screen and nothing (the Stop bar, an overlay) covers its centre or its top and
    bottom edges: a finger on it hits it, without scrolling first."""
    hit: bool = await control.evaluate(
        """(e) => { const r = e.getBoundingClientRect();
                    return [r.top + 2, r.top + r.height / 2, r.bottom - 2].every((y) => {
                      const hit = document.elementFromPoint(r.x + r.width / 2, y);
                      return hit !== null && (hit === e || e.contains(hit)); }); }"""
    )
    return hit


async def covered_controls(page: Page) -> list[str]:
    """Visible controls that something else (the fixed Stop bar, a message, another control) covers at
    their centre, each scrolled as far into view as the page lets it: a finger aimed at one would hit
    the other. While an alarm is up it covers the screen on purpose: then only its own controls and
    the Stop count. The scroll position is restored."""
    found: list[str] = await page.evaluate(
        """() => {
            const alarm = document.querySelector('[role=alertdialog]:not([hidden])');
            const scope = alarm ? [alarm, document.getElementById('stop-area')] : [document.body];
            const controls = scope.flatMap((root) => [...root.querySelectorAll(
                'button, input:not([type=radio]), select, summary, label:has(input[type=radio])')])
              .filter((e) => e.offsetParent !== null);
            const [x, y] = [window.scrollX, window.scrollY];
            const named = (e) => `${e.tagName} ${e.id || e.className || e.textContent.trim().slice(0, 30)}`;
            const covered = [];
            for (const e of controls) {
              e.scrollIntoView({block: 'center', inline: 'center'});
              const r = e.getBoundingClientRect();
              const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
              if (hit === null || !(hit === e || e.contains(hit))) {
                covered.push(`${named(e)} under ${hit ? named(hit) : 'nothing: off screen'}`);
              }
            }
            window.scrollTo(x, y);
            return covered;
        }"""
    )
    return found


async def resize(page: Page, size: dict[str, int]) -> None:
    await page.set_viewport_size(ViewportSize(width=size["width"], height=size["height"]))


async def layout_problems(page: Page) -> list[str]:
    """At both screen sizes: touch targets under 48 px and covered controls, each with the size; the
    page is left at the size it had."""
    chosen = page.viewport_size
    assert chosen is not None
    problems = []
    for size in (PORTRAIT, LANDSCAPE):
        await resize(page, size)
        at = f"at {size['width']}x{size['height']}"
        problems += [f"too small {at}: {e}" for e in await small_touch_targets(page)]
        problems += [f"covered {at}: {e}" for e in await covered_controls(page)]
    await page.set_viewport_size(chosen)
    return problems


async def audited_screenshot(page: Page, name: str) -> None:
    """Check the visible screen (axe-core; at both screen sizes, touch targets and that no control is
    covered) and write its picture for the docs, at the size the test chose."""
    assert await axe_violations(page) == [], name
    assert await layout_problems(page) == [], name
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
