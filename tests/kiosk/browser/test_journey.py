"""A member's whole journey in a real chromium through every real part: the page, `retrowalk kiosk`,
mosquitto, `retrowalk serve` and treadsim (pyftms and bleak over its private D-Bus). And the alarm
screens from faults injected at treadsim's console, or by killing the service."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from retrowalk.subprocesses import free_port
from tests.service.served import (
    BIN,
    Home,
    assert_belt_stopped_by_retrowalk,
    home_with_broker,
    reaped,
    retrowalk,
    treadsim,
)

from .conftest import BROWSER_LOOP, PORTRAIT, audited_screenshot, new_page
from .rig import TOKEN, kiosk_config

pytestmark = BROWSER_LOOP
# The treadmill and service names tests/service/served.py configures `serve` with.
TREADMILL = "tm0"
SERVICE = "home"
# Finding the simulated treadmill and connecting takes seconds on a busy machine.
ONLINE_WITHIN_MS = 60_000
MOVING_WITHIN_MS = 30_000


@dataclass
class Site:
    home: Home
    serve: subprocess.Popen[str]
    kiosk_url: str

    @property
    def screen_url(self) -> str:
        return f"{self.kiosk_url}/t/{TREADMILL}?token={TOKEN}"


@contextlib.contextmanager
def kiosk_process(config: Path) -> Iterator[str]:
    """`retrowalk kiosk` as its own process; yields the address it prints once it serves."""
    proc = subprocess.Popen(
        [str(BIN / "retrowalk"), "kiosk", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    with reaped(proc):
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("retrowalk kiosk: serving at "), line
        yield line.rsplit(" ", 1)[1]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with home_with_broker(tmp_path) as home:
        config = kiosk_config(
            tmp_path / "kiosk.toml",
            home.broker.port,
            free_port("127.0.0.1"),
            treadmill=TREADMILL,
            service=SERVICE,
            reply_timeout_s=10.0,
        )
        serve = retrowalk(["serve", "--config", str(home.config)], home.bus)
        with reaped(serve), kiosk_process(config) as url:
            yield Site(home, serve, url)


async def console(site: Site, *action: str) -> None:
    await asyncio.to_thread(treadsim, "console", *action, bus=site.home.bus)


async def belt_kmh(site: Site) -> float:
    state = await asyncio.to_thread(treadsim, "state", bus=site.home.bus)
    return float(state["speed_kmh"])


@contextlib.asynccontextmanager
async def screen(browser: Browser, site: Site) -> AsyncIterator[Page]:
    errors: list[str] = []
    page = await new_page(browser, errors, PORTRAIT)
    await page.goto(site.screen_url)
    await expect(page.get_by_role("heading", name="Welcome")).to_be_visible(timeout=ONLINE_WITHIN_MS)
    yield page
    assert errors == []


async def walk(page: Page, member: str) -> None:
    """Sign in, answer the screening the service asks for, give the pain, start; until the belt moves."""
    await page.get_by_label("Member id").fill(member)
    await page.get_by_role("button", name="Sign in").click()
    # Nobody screened yet: the service says so, and the page asks the questions.
    await expect(
        page.get_by_role("heading", name="A few questions before your first session")
    ).to_be_visible()
    await page.get_by_label("Your age in years").fill("50")
    for question in ["severe knee osteoarthritis", "knee ligament", "balance problems", "knee surgery"]:
        await page.get_by_role("group", name=question).get_by_label("No").check()
    await page.get_by_role("button", name="Send answers").click()
    await page.get_by_role("button", name="Pain 1 of 10").click()
    # The plan the service will enforce, before Start: a first session starts at 1.0 km/h.
    await expect(page.get_by_role("definition").filter(has_text="1.0 km/h").first).to_be_visible()
    await page.get_by_role("button", name="Start session").click()
    await expect(page.get_by_text("Getting used to the belt")).to_be_visible(timeout=MOVING_WITHIN_MS)
    await expect(page.locator("#belt-speed")).not_to_have_text("–", timeout=MOVING_WITHIN_MS)


async def test_a_member_walks_pauses_resumes_and_stops_from_the_page(browser: Browser, site: Site) -> None:
    async with screen(browser, site) as page:
        await walk(page, "bo")
        assert await belt_kmh(site) > 0
        # The numbers follow the belt: the time left counts down.
        before = await page.locator("#time-left").text_content()
        await expect(page.locator("#time-left")).not_to_have_text(before or "", timeout=5000)
        await expect(page.locator("#live-chart canvas")).to_be_visible()

        await page.get_by_role("button", name="Pause").click()
        await expect(page.get_by_text("Paused", exact=True)).to_be_visible(timeout=MOVING_WITHIN_MS)
        await page.get_by_role("button", name="Resume").click()
        await expect(page.get_by_role("button", name="Pause")).to_be_visible(timeout=MOVING_WITHIN_MS)

        await page.get_by_role("button", name="Stop").click()
        await expect(page.get_by_role("heading", name="Session summary")).to_be_visible(
            timeout=MOVING_WITHIN_MS
        )
        await expect(page.get_by_text("You stopped the session here.")).to_be_visible()
        await page.get_by_role("button", name="Pain 1 of 10").click()
        await expect(page.get_by_text("How much does your knee hurt now")).to_be_hidden()
        await audited_screenshot(page, "journey-summary")
    assert_belt_stopped_by_retrowalk(site.home.bus)


@pytest.mark.parametrize(
    ("fault", "title"),
    [
        (("key", "pull"), "Safety key pulled"),
        (("link", "drop"), "Connection to the treadmill lost"),
    ],
    ids=["safety-key", "link-drop"],
)
async def test_a_fault_at_the_treadmill_takes_the_whole_screen(
    browser: Browser, site: Site, fault: tuple[str, str], title: str
) -> None:
    async with screen(browser, site) as page:
        await walk(page, "ana")
        await console(site, *fault)
        dialog = page.get_by_role("alertdialog", name=title)
        await expect(dialog).to_be_visible(timeout=MOVING_WITHIN_MS)
        await dialog.get_by_role("button", name="I understand").click()
        await expect(dialog).to_be_hidden()


async def test_a_killed_service_is_said_on_the_screen(browser: Browser, site: Site) -> None:
    async with screen(browser, site) as page:
        await walk(page, "cy")
        site.serve.send_signal(signal.SIGKILL)
        # The broker publishes the service's last will; the page says so at once.
        await expect(page.get_by_role("alertdialog", name="Service offline")).to_be_visible(timeout=10_000)
