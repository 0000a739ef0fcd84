"""Every screen of the treadmill page in a real chromium, fed by a scripted kiosk: what it shows, that
its controls are found by role and name, an axe-core audit, touch targets, and its picture for the docs."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from .conftest import LANDSCAPE, PORTRAIT, audited_screenshot, eventually, new_page
from .scripted_kiosk import TOKEN, ScriptedKiosk, scripted_kiosk

PLAN = {
    "start_speed_kmh": 1.0,
    "max_speed_kmh": 1.5,
    "ramp_step_kmh": 0.1,
    "ramp_interval_s": 30,
    "duration_cap_s": 300,
    "incline_pct": 0.0,
}
IDLE = {"treadmill_id": "tm1", "connected": True, "phase": "idle", "session_id": None, "user_id": None}
WALKING = {**IDLE, "phase": "ramp", "session_id": "tm1-s1", "user_id": "bo", "plan": PLAN}
MEMBER = {
    "user_id": "bo",
    "screening": {"status": "cleared", "reason": ""},
    "next_plan": PLAN,
    "history": [
        {
            "started_at": "2026-11-20T10:00:00Z",
            "walked_s": 300,
            "max_speed_kmh": 1.5,
            "end_reason": "completed",
        },
        {
            "started_at": "2026-11-23T10:00:00Z",
            "walked_s": 420,
            "max_speed_kmh": 1.6,
            "end_reason": "completed",
        },
        {
            "started_at": "2026-11-25T10:00:00Z",
            "walked_s": 540,
            "max_speed_kmh": 1.7,
            "end_reason": "kiosk_stop",
        },
    ],
}


def sample(elapsed_s: float, speed: float, allowed: float, phase: str = "ramp") -> dict[str, Any]:
    return {
        "treadmill_id": "tm1",
        "phase": phase,
        "session_id": "tm1-s1",
        "speed_kmh": speed,
        "allowed_speed_kmh": allowed,
        "elapsed_s": elapsed_s,
        "remaining_s": 300 - elapsed_s,
        "distance_m": elapsed_s * speed / 3.6,
    }


@pytest.fixture
def kiosk() -> Iterator[tuple[ScriptedKiosk, str]]:
    with scripted_kiosk({"service_online": True, "state": IDLE}) as served:
        served[0].members["bo"] = copy.deepcopy(MEMBER)
        yield served


async def open_treadmill(
    browser: Browser, url: str, errors: list[str], viewport: dict[str, int] = PORTRAIT
) -> Page:
    page = await new_page(browser, errors, viewport)
    await page.goto(f"{url}/t/tm1?token={TOKEN}")
    await expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    return page


async def test_sign_in_to_plan_and_start_sends_the_commands(
    browser: Browser, kiosk: tuple[ScriptedKiosk, str]
) -> None:
    scripted, url = kiosk
    errors: list[str] = []
    page = await open_treadmill(browser, url, errors)
    await expect(page.get_by_role("button", name="Stop")).to_be_visible()
    await audited_screenshot(page, "sign-in")

    await page.get_by_label("Member id").fill("bo")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="How much does your knee hurt right now?")).to_be_visible()
    await audited_screenshot(page, "pain-before")

    await page.get_by_role("button", name="Pain 2 of 10").click()
    await expect(page.get_by_role("button", name="Start session")).to_be_visible()
    await expect(page.get_by_text("+0.1 km/h every 30 s")).to_be_visible()
    await audited_screenshot(page, "plan")

    await page.get_by_role("button", name="Start session").click()
    await eventually(lambda: [c["type"] for c in scripted.commands] == ["pain_report", "start"])
    assert scripted.commands[0] | {"command_id": ""} == {
        "command_id": "",
        "type": "pain_report",
        "user_id": "bo",
        "when": "before",
        "pain": 2,
    }
    assert scripted.commands[1]["user_id"] == "bo"
    assert scripted.commands[0]["command_id"] != scripted.commands[1]["command_id"]
    assert errors == []


async def test_live_session_shows_numbers_chart_and_reacts_to_events(
    browser: Browser, kiosk: tuple[ScriptedKiosk, str]
) -> None:
    scripted, url = kiosk
    scripted.snapshot = {"service_online": True, "state": WALKING}
    errors: list[str] = []
    page = await open_treadmill(browser, url, errors, LANDSCAPE)
    for second in range(0, 100, 5):
        scripted.push("telemetry", sample(second, 1.0 + second / 200, 1.0 + second / 200))
    scripted.push("telemetry", sample(100, 1.3, 1.3))
    await expect(page.locator("#belt-speed")).to_have_text("1.3")
    await expect(page.locator("#allowed-speed")).to_have_text("1.3")
    await expect(page.get_by_text("Speeding up slowly")).to_be_visible()
    await expect(page.locator("#time-left")).to_have_text("3:20")
    await expect(page.get_by_role("button", name="Pause")).to_be_visible()
    await expect(page.locator("#live-chart canvas")).to_be_visible()
    await audited_screenshot(page, "live-landscape")

    scripted.push("event", {"kind": "cap_warning", "remaining_s": 60})
    await expect(page.get_by_role("alert").filter(has_text="60 seconds left")).to_be_visible()
    scripted.push(
        "event",
        {"kind": "overspeed_corrected", "measured_kmh": 2.0, "allowed_kmh": 1.3, "commanded_kmh": 1.3},
    )
    await expect(page.get_by_text("Speed corrected")).to_be_visible()
    await audited_screenshot(page, "live-cap-warning-and-correction")
    assert errors == []


async def test_live_session_at_tablet_size(browser: Browser, kiosk: tuple[ScriptedKiosk, str]) -> None:
    scripted, url = kiosk
    scripted.snapshot = {"service_online": True, "state": WALKING}
    errors: list[str] = []
    page = await open_treadmill(browser, url, errors, PORTRAIT)
    for second in range(0, 65, 5):
        scripted.push("telemetry", sample(second, 1.0, 1.0, "familiarise"))
    await expect(page.get_by_text("Getting used to the belt")).to_be_visible()
    await expect(page.locator("#belt-speed")).to_have_text("1.0")
    stop = page.get_by_role("button", name="Stop")
    box = await stop.bounding_box()
    assert box is not None
    assert box["height"] >= 96
    assert box["width"] >= 300
    await audited_screenshot(page, "live")
    assert errors == []


@pytest.mark.parametrize(
    ("event", "title"),
    [
        ({"kind": "safety_key"}, "Safety key pulled"),
        ({"kind": "link_lost", "detail": "no notification for 3 s"}, "Connection to the treadmill lost"),
        ({"kind": "stop_not_confirmed", "detail": "no reply to stop"}, "Check the belt now"),
    ],
)
async def test_alarm_covers_the_screen_until_acknowledged(
    browser: Browser, kiosk: tuple[ScriptedKiosk, str], event: dict[str, Any], title: str
) -> None:
    scripted, url = kiosk
    scripted.snapshot = {"service_online": True, "state": WALKING}
    errors: list[str] = []
    page = await open_treadmill(browser, url, errors)
    scripted.push("event", event)
    dialog = page.get_by_role("alertdialog", name=title)
    await expect(dialog).to_be_visible()
    # The Stop stays on top of the alarm: it can be pressed while the alarm is up.
    await page.get_by_role("button", name="Stop").click()
    await eventually(lambda: [c["type"] for c in scripted.commands] == ["stop"])
    await audited_screenshot(page, f"alarm-{event['kind'].replace('_', '-')}")
    await dialog.get_by_role("button", name="I understand").click()
    await expect(dialog).to_be_hidden()
    assert errors == []


async def test_service_offline_during_a_session_raises_its_alarm(
    browser: Browser, kiosk: tuple[ScriptedKiosk, str]
) -> None:
    scripted, url = kiosk
    scripted.snapshot = {"service_online": True, "state": WALKING}
    errors: list[str] = []
    page = await open_treadmill(browser, url, errors)
    scripted.push("availability", {"service_online": False})
    await expect(page.get_by_role("alertdialog", name="Service offline")).to_be_visible()
    await audited_screenshot(page, "alarm-service-offline")
    assert errors == []


async def test_losing_the_kiosk_is_said_within_three_seconds(
    browser: Browser, kiosk: tuple[ScriptedKiosk, str]
) -> None:
    scripted, url = kiosk
    scripted.snapshot = {"service_online": True, "state": WALKING}
    errors: list[str] = []
    page = await open_treadmill(browser, url, errors)
    scripted.go_silent()
    await expect(page.get_by_role("alertdialog", name="This screen lost its connection")).to_be_visible(
        timeout=3000
    )
    await expect(page.get_by_role("status").filter(has_text="Connection lost")).to_be_visible()
    await audited_screenshot(page, "alarm-kiosk-lost")
    # The kiosk comes back: a fresh snapshot, and the page says it is live again.
    scripted.alive.set()
    await expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=3000)
    assert errors == []


async def test_out_of_order_when_the_treadmill_is_offline(
    browser: Browser, kiosk: tuple[ScriptedKiosk, str]
) -> None:
    scripted, url = kiosk
    scripted.snapshot = {"service_online": True, "state": {**IDLE, "connected": False}}
    errors: list[str] = []
    page = await open_treadmill(browser, url, errors)
    await expect(page.get_by_role("heading", name="Out of order")).to_be_visible()
    await expect(page.get_by_text("not connected")).to_be_visible()
    await audited_screenshot(page, "out-of-order")
    assert errors == []


async def test_screening_then_see_a_clinician_and_staff_clearance(
    browser: Browser, kiosk: tuple[ScriptedKiosk, str]
) -> None:
    scripted, url = kiosk
    scripted.members["ana"] = {
        "user_id": "ana",
        "screening": {"status": "needed"},
        "next_plan": None,
        "history": [],
    }
    errors: list[str] = []
    page = await open_treadmill(browser, url, errors)
    await page.get_by_label("Member id").fill("ana")
    await page.get_by_role("button", name="Sign in").click()
    await expect(
        page.get_by_role("heading", name="A few questions before your first session")
    ).to_be_visible()
    await audited_screenshot(page, "screening")

    # Unanswered questions: said on screen, nothing sent.
    await page.get_by_role("button", name="Send answers").click()
    await expect(page.get_by_role("alert")).to_have_text("Please answer every question.")
    assert scripted.commands == []

    await page.get_by_label("Your age in years").fill("71")
    for question, answer in [
        ("severe knee osteoarthritis", "Yes"),
        ("knee ligament", "No"),
        ("balance problems", "No"),
        ("knee surgery", "No"),
    ]:
        await page.get_by_role("group", name=question).get_by_label(answer).check()
    scripted.members["ana"]["screening"] = {
        "status": "see_clinician",
        "reason": "screening answered yes to: severe knee osteoarthritis or a ligament injury",
    }
    await page.get_by_role("button", name="Send answers").click()
    await expect(page.get_by_role("heading", name="Please see a clinician first")).to_be_visible()
    assert scripted.commands[-1] | {"command_id": ""} == {
        "command_id": "",
        "type": "screening",
        "user_id": "ana",
        "age": 71,
        "severe_knee_oa": True,
        "ligament_injury": False,
        "balance_disorder_or_dizziness": False,
        "recent_knee_surgery": False,
    }
    await page.get_by_text("Staff: record a clinician's clearance").click()
    await audited_screenshot(page, "see-clinician")
    assert errors == []


async def test_a_refused_command_says_why(browser: Browser, kiosk: tuple[ScriptedKiosk, str]) -> None:
    scripted, url = kiosk
    reason = "plan refused: max_speed_kmh=3.0 is above the speed ceiling for user 'bo' (2.0 km/h)"
    scripted.replies["start"] = {"status": "refused", "reason": reason}
    errors: list[str] = []
    page = await open_treadmill(browser, url, errors)
    await page.get_by_label("Member id").fill("bo")
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Pain 0 of 10").click()
    await page.get_by_role("button", name="Start session").click()
    await expect(page.get_by_role("alert")).to_have_text(f"Not done: {reason}")
    await expect(page.get_by_role("button", name="Start session")).to_be_visible()
    await audited_screenshot(page, "refused")
    assert errors == []


async def test_wrong_token_is_refused_on_screen(browser: Browser, kiosk: tuple[ScriptedKiosk, str]) -> None:
    _, url = kiosk
    errors: list[str] = []
    page = await new_page(browser, errors)
    await page.goto(f"{url}/t/tm1?token=not-the-token")
    await expect(page.get_by_role("status").filter(has_text="Not allowed")).to_have_text(
        "Not allowed: wrong kiosk token"
    )
    assert errors == []


async def test_summary_and_history(browser: Browser, kiosk: tuple[ScriptedKiosk, str]) -> None:
    scripted, url = kiosk
    errors: list[str] = []
    page = await open_treadmill(browser, url, errors, LANDSCAPE)
    await page.get_by_label("Member id").fill("bo")
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Pain 1 of 10").click()
    scripted.push("state", WALKING)
    for second in range(0, 300, 5):
        scripted.push("telemetry", sample(second, min(1.5, 1.0 + second / 300), min(1.5, 1.0 + second / 300)))
    await expect(page.locator("#time-left")).to_have_text("0:05")
    scripted.push("state", {**IDLE, "phase": "finished", "session_id": "tm1-s1", "user_id": "bo"})
    scripted.push(
        "summary",
        {
            "kind": "session_summary",
            "user_id": "bo",
            "session_id": "tm1-s1",
            "end_reason": "completed",
            "walked_s": 300,
            "distance_m": 104,
            "max_speed_kmh": 1.5,
            "overspeed_corrections": 1,
        },
    )
    await expect(page.get_by_role("heading", name="Session summary")).to_be_visible()
    await expect(page.get_by_text("you walked the whole session")).to_be_visible()
    await expect(page.get_by_role("heading", name="Next session")).to_be_visible()
    await audited_screenshot(page, "summary")
    await page.get_by_role("button", name="Pain 1 of 10").click()
    await eventually(lambda: scripted.commands[-1].get("when") == "after")

    await page.get_by_role("button", name="My sessions").click()
    await expect(page.get_by_role("heading", name="My sessions")).to_be_visible()
    await expect(page.get_by_role("table", name="Past sessions").get_by_role("row")).to_have_count(4)
    await audited_screenshot(page, "history")
    assert errors == []
