"""A command the kiosk got no answer to in time (504 `no_reply`) is asked again with the same
command_id, so the service answers it from its stored reply and never applies it twice: the page in a
real chromium, the real kiosk, mosquitto and the service's real MQTT bridge (its store of replies and
its one-command-at-a-time order), with a command handler that is too slow for the kiosk once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, Request, expect

from retrowalk.kiosk.app import Kiosk
from retrowalk.kiosk.settings import load_kiosk_config
from retrowalk.mqtt.bridge import MqttBridge
from retrowalk.mqtt.commands import Command
from retrowalk.storage import Store
from retrowalk.subprocesses import free_port
from tests.mqtt.mqtt_broker import Mosquitto
from tests.mqtt.mqtt_helpers import RecordingHandler, running_bridge, settings_for

from .conftest import BROWSER_LOOP, eventually, new_page
from .rig import PREFIX, SERVICE_ID, TOKEN, TREADMILL, kiosk_config
from .test_screens import IDLE, WALKING

pytestmark = BROWSER_LOOP

# The kiosk waits this long for a reply; a slow command takes longer, once.
REPLY_TIMEOUT_S = 2.0
SLOW_S = 2.5
NO_ANSWER_WITHIN_MS = REPLY_TIMEOUT_S * 1000 + 3000
ANSWER_WITHIN_MS = SLOW_S * 1000 + 3000
NO_ANSWER = "No answer from the treadmill service in time"


@dataclass
class SlowOnce(RecordingHandler):
    """The service's command handler, too slow for the kiosk for the first command of each type in
    ``slow`` (a busy service, a slow treadmill)."""

    slow: set[str] = field(default_factory=set)

    async def handle_command(self, treadmill_id: str, command: Command) -> None:
        await super().handle_command(treadmill_id, command)
        if command.type in self.slow:
            self.slow.discard(command.type)
            await asyncio.sleep(SLOW_S)

    def applied(self, kind: str) -> list[str]:
        return [command.command_id for _, command in self.calls if command.type == kind]


@dataclass
class Site:
    page: Page
    bridge: MqttBridge
    handler: SlowOnce
    posted: list[dict[str, Any]]  # every command body the page POSTed, in order

    def sent(self, kind: str) -> list[str]:
        return [body["command_id"] for body in self.posted if body.get("type") == kind]


@contextlib.asynccontextmanager
async def site_with(browser: Browser, mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Site]:
    handler = SlowOnce()
    store = Store(tmp_path / "service.sqlite3")
    http_port = free_port("127.0.0.1")
    config = kiosk_config(tmp_path / "kiosk.toml", mosquitto.port, http_port, reply_timeout_s=REPLY_TIMEOUT_S)
    settings = settings_for(mosquitto, prefix=PREFIX)
    try:
        async with (
            running_bridge(settings, store, handler, service_id=SERVICE_ID) as bridge,
            Kiosk(load_kiosk_config(config)).serving(),
        ):
            bridge.treadmill_online(TREADMILL, True)
            bridge.publish_state(TREADMILL, IDLE)
            errors: list[str] = []
            page = await new_page(browser, errors)
            posted: list[dict[str, Any]] = []

            def keep(request: Request) -> None:
                if request.method == "POST" and request.url.endswith("/command"):
                    posted.append(json.loads(request.post_data or "{}"))

            page.on("request", keep)
            await page.goto(f"http://127.0.0.1:{http_port}/t/{TREADMILL}?token={TOKEN}")
            await expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
            yield Site(page, bridge, handler, posted)
            assert errors == []
    finally:
        store.close()


async def test_start_without_an_answer_is_asked_again_with_its_id_and_starts_once(
    browser: Browser, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with site_with(browser, mosquitto, tmp_path) as site:
        site.handler.slow.add("start")
        page = site.page
        await page.get_by_label("Member id").fill("bo")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("button", name="Pain 0 of 10").click()
        await page.get_by_role("button", name="Start session").click()
        alert = page.get_by_role("alert")
        await expect(alert).to_be_visible(timeout=NO_ANSWER_WITHIN_MS)
        said = await alert.text_content() or ""

        await page.get_by_role("button", name="Start session").click()
        await eventually(lambda: len(site.sent("start")) == 2)
        first, again = site.sent("start")
        assert again == first
        # Answered from the stored reply of the first: no refusal, nothing more on screen.
        await expect(alert).to_be_hidden(timeout=ANSWER_WITHIN_MS)
        assert site.handler.applied("start") == [first]
        assert NO_ANSWER in said
        assert "Tap again" in said


async def test_pause_is_asked_again_with_its_id_a_tap_after_resume_is_new_and_every_stop_is_new(
    browser: Browser, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with site_with(browser, mosquitto, tmp_path) as site:
        page = site.page
        alert = page.get_by_role("alert")
        site.bridge.publish_state(TREADMILL, WALKING)
        site.handler.slow.add("pause")
        await page.get_by_role("button", name="Pause").click()
        await expect(alert).to_contain_text(NO_ANSWER, timeout=NO_ANSWER_WITHIN_MS)
        await page.get_by_role("button", name="Pause").click()
        await expect(alert).to_be_hidden(timeout=ANSWER_WITHIN_MS)
        first = site.sent("pause")[0]
        assert site.sent("pause") == [first, first]
        assert site.handler.applied("pause") == [first]

        # Unanswered again, but resumed since: the next Pause is a new intent, with a new id, applied.
        site.handler.slow.add("pause")
        await page.get_by_role("button", name="Pause").click()
        await expect(alert).to_contain_text(NO_ANSWER, timeout=NO_ANSWER_WITHIN_MS)
        unanswered = site.sent("pause")[2]
        site.bridge.publish_state(TREADMILL, WALKING.model_copy(update={"phase": "paused"}))
        await page.get_by_role("button", name="Resume").click()
        await eventually(lambda: len(site.handler.applied("resume")) == 1, within=SLOW_S + 5)
        site.bridge.publish_state(TREADMILL, WALKING)
        await page.get_by_role("button", name="Pause").click()
        await eventually(lambda: len(site.handler.applied("pause")) == 3)
        assert site.sent("pause")[3] not in (first, unanswered)

        # Stop is never answered from an older reply: each press is a stop of its own.
        site.handler.slow.add("stop")
        await page.get_by_role("button", name="Stop").click()
        await expect(alert).to_contain_text("press Stop again", timeout=NO_ANSWER_WITHIN_MS)
        await page.get_by_role("button", name="Stop").click()
        await eventually(lambda: len(site.handler.applied("stop")) == 2, within=SLOW_S + 5)
        assert len(set(site.sent("stop"))) == 2
