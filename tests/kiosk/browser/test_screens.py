"""Every screen of the treadmill page in a real chromium, through the real kiosk and a real mosquitto,
fed by a scripted service: what it shows, that its controls are found by role and name, an axe-core
audit, touch targets, and its picture for the docs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from retrowalk.kiosk import web as kiosk_web
from retrowalk.mqtt.commands import MemberInfo, MemberSession
from retrowalk.mqtt.payloads import (
    CapWarning,
    GridFitInfo,
    LinkLost,
    OverspeedCorrected,
    PlanInfo,
    SafetyKeyPulled,
    SessionStarted,
    SessionSummary,
    StopNotConfirmed,
    Telemetry,
    TreadmillState,
)
from tests.mqtt.mqtt_broker import Mosquitto

from .conftest import (
    BROWSER_LOOP,
    LANDSCAPE,
    PORTRAIT,
    audited_screenshot,
    axe_violations,
    eventually,
    layout_problems,
    new_page,
    resize,
    tappable,
)
from .rig import STAFF_PASSWORD, TREADMILL, Rig, kiosk_rig

pytestmark = BROWSER_LOOP
PLAN = PlanInfo(
    start_speed_kmh=1.0, max_speed_kmh=1.5, ramp_step_kmh=0.1, ramp_interval_s=30, duration_cap_s=300
)
SESSION = "tm1-s1"
# The live chart draws a sample within its redraw period (CHART_REDRAW_MS in the page's charts.js, 5 s)
# and the wait for an idle moment (at most 1 s), with room for a loaded machine.
CHART_DRAWN_MS = 10_000
IDLE = TreadmillState(treadmill_id=TREADMILL, connected=True, phase="idle")
WALKING = TreadmillState(
    treadmill_id=TREADMILL, connected=True, phase="ramp", session_id=SESSION, user_id="bo", plan=PLAN
)


def sample(elapsed_s: float, speed: float, allowed: float, phase: str = "ramp") -> Telemetry:
    return Telemetry(
        treadmill_id=TREADMILL,
        phase=phase,
        session_id=SESSION,
        speed_kmh=speed,
        allowed_speed_kmh=allowed,
        elapsed_s=elapsed_s,
        remaining_s=300 - elapsed_s,
        distance_m=elapsed_s * speed / 3.6,
    )


def past_session(day: int, walked_s: float, top_kmh: float, end_reason: str = "completed") -> MemberSession:
    started = datetime(2026, 11, day, 10, 0, tzinfo=UTC)
    return MemberSession(
        session_id=f"tm1-{day}",
        treadmill_id=TREADMILL,
        started_at=started,
        ended_at=started + timedelta(seconds=walked_s),
        end_reason=end_reason,
        walked_s=walked_s,
        distance_m=walked_s * top_kmh / 3.6,
        max_speed_kmh=top_kmh,
    )


# A member the service knows: screened, with a plan and three past sessions.
BO = MemberInfo(
    user_id="bo",
    screening="passed",
    next_plan=PLAN,
    plan_notes=["Two minutes more than last time: your pain stayed at 3 or below."],
    sessions=[
        past_session(20, 300, 1.5),
        past_session(23, 420, 1.6),
        past_session(25, 540, 1.7, "kiosk_stop"),
    ],
)


@pytest_asyncio.fixture(loop_scope="module")
async def rig(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Rig]:
    async with kiosk_rig(mosquitto, tmp_path) as started:
        await started.service.service_available(True)
        await started.service.publish("availability", "online", retain=True)
        await started.service.publish("state", IDLE, retain=True)
        started.service.members["bo"] = BO
        yield started


async def open_treadmill(
    browser: Browser,
    rig: Rig,
    errors: list[str],
    viewport: dict[str, int] = PORTRAIT,
    *,
    before_page_scripts: str | None = None,
) -> Page:
    """The treadmill's page, live; ``before_page_scripts`` runs in it before the page's own."""
    page = await new_page(browser, errors, viewport)
    if before_page_scripts is not None:
        await page.add_init_script(before_page_scripts)
    await page.goto(rig.screen_url)
    await expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    return page


async def walking(rig: Rig) -> None:
    await rig.service.publish("state", WALKING, retain=True)


async def sign_in(page: Page, member: str) -> None:
    await page.get_by_label("Member id").fill(member)
    await page.get_by_role("button", name="Sign in").click()


async def test_sign_in_to_plan_and_start_sends_the_commands(browser: Browser, rig: Rig) -> None:
    errors: list[str] = []
    page = await open_treadmill(browser, rig, errors)
    await expect(page.get_by_role("button", name="Stop")).to_be_visible()
    await audited_screenshot(page, "sign-in")

    await page.get_by_label("Member id").fill("bo")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="How much does your knee hurt right now?")).to_be_visible()
    await audited_screenshot(page, "pain-before")

    await page.get_by_role("button", name="Pain 2 of 10").click()
    await expect(page.get_by_role("button", name="Start session")).to_be_visible()
    await audited_screenshot(page, "plan")

    await page.get_by_role("button", name="Start session").click()
    await eventually(lambda: [c["type"] for c in rig.service.commands] == ["pain_report", "start"])
    assert rig.service.commands[0] | {"command_id": ""} == {
        "command_id": "",
        "type": "pain_report",
        "user_id": "bo",
        "when": "before",
        "pain": 2,
    }
    assert rig.service.commands[1]["user_id"] == "bo"
    assert rig.service.commands[0]["command_id"] != rig.service.commands[1]["command_id"]
    assert errors == []


async def test_live_session_shows_numbers_chart_and_reacts_to_events(browser: Browser, rig: Rig) -> None:
    await walking(rig)
    errors: list[str] = []
    page = await open_treadmill(browser, rig, errors, LANDSCAPE)
    await rig.service.publish("telemetry", sample(0, 1.0, 1.0))
    await expect(page.locator("#live-chart")).to_have_attribute("data-samples-drawn", "1")
    # The chart has just been drawn: the samples that follow come within its redraw period.
    for second in range(5, 100, 5):
        await rig.service.publish("telemetry", sample(second, 1.0 + second / 200, 1.0 + second / 200))
    await rig.service.publish("telemetry", sample(100, 1.3, 1.3))
    await expect(page.locator("#belt-speed")).to_have_text("1.3")
    await expect(page.locator("#allowed-speed")).to_have_text("1.3")
    await expect(page.get_by_text("Speeding up slowly")).to_be_visible()
    await expect(page.locator("#time-left")).to_have_text("3:20")
    await expect(page.get_by_role("button", name="Pause")).to_be_visible()
    await expect(page.locator("#live-chart canvas")).to_be_visible()
    # The chart is redrawn at most every few seconds, and then with every sample that came meanwhile.
    # The number is shown at once (above), the chart follows.
    await expect(page.locator("#live-chart")).to_have_attribute(
        "data-samples-drawn", "21", timeout=CHART_DRAWN_MS
    )
    for control in ("Pause", "Report pain", "Stop"):
        assert await tappable(page.get_by_role("button", name=control)), control
    await audited_screenshot(page, "live-landscape")

    await rig.service.publish("event", CapWarning(treadmill_id=TREADMILL, session_id=SESSION, remaining_s=60))
    await expect(page.get_by_role("alert").filter(has_text="60 seconds left")).to_be_visible()
    correction = OverspeedCorrected(
        treadmill_id=TREADMILL, session_id=SESSION, measured_kmh=2.0, allowed_kmh=1.3, commanded_kmh=1.3
    )
    await rig.service.publish("event", correction)
    await expect(page.get_by_text("Speed corrected")).to_be_visible()
    await audited_screenshot(page, "live-cap-warning-and-correction")
    assert errors == []


async def test_the_live_chart_is_drawn_in_a_browser_without_idle_callbacks(
    browser: Browser, rig: Rig
) -> None:
    """Safari (an iPad at home) has no requestIdleCallback: the chart still follows the samples."""
    await walking(rig)
    errors: list[str] = []
    no_idle_callbacks = "delete window.requestIdleCallback; delete window.cancelIdleCallback;"
    page = await open_treadmill(browser, rig, errors, before_page_scripts=no_idle_callbacks)
    assert await page.evaluate("() => typeof window.requestIdleCallback") == "undefined"
    await rig.service.publish("telemetry", sample(0, 1.0, 1.0))
    await expect(page.locator("#live-chart")).to_have_attribute("data-samples-drawn", "1")
    for second in (5, 10):
        await rig.service.publish("telemetry", sample(second, 1.1, 1.1))
    await expect(page.locator("#belt-speed")).to_have_text("1.1")
    await expect(page.locator("#live-chart")).to_have_attribute(
        "data-samples-drawn", "3", timeout=CHART_DRAWN_MS
    )
    assert errors == []


async def test_live_session_at_tablet_size(browser: Browser, rig: Rig) -> None:
    await walking(rig)
    errors: list[str] = []
    page = await open_treadmill(browser, rig, errors, PORTRAIT)
    for second in range(0, 65, 5):
        await rig.service.publish("telemetry", sample(second, 1.0, 1.0, "familiarise"))
    await expect(page.get_by_text("Getting used to the belt")).to_be_visible()
    await expect(page.locator("#belt-speed")).to_have_text("1.0")
    await expect(page.locator("#live-chart")).to_have_attribute(
        "data-samples-drawn", "13", timeout=CHART_DRAWN_MS
    )
    for control in ("Pause", "Report pain", "Stop"):
        assert await tappable(page.get_by_role("button", name=control)), control
    box = await page.get_by_role("button", name="Stop").bounding_box()
    assert box is not None
    assert box["height"] >= 96
    assert box["width"] >= 300
    await audited_screenshot(page, "live")
    assert errors == []


@pytest.mark.parametrize(
    ("event", "title"),
    [
        (SafetyKeyPulled(treadmill_id=TREADMILL, session_id=SESSION), "Safety key pulled"),
        (
            LinkLost(treadmill_id=TREADMILL, session_id=SESSION, detail="no notification for 3 s"),
            "Connection to the treadmill lost",
        ),
        (
            StopNotConfirmed(treadmill_id=TREADMILL, session_id=SESSION, detail="no reply to stop"),
            "Check the belt now",
        ),
    ],
    ids=["safety-key", "link-lost", "stop-not-confirmed"],
)
async def test_alarm_covers_the_screen_until_acknowledged(
    browser: Browser, rig: Rig, event: SafetyKeyPulled | LinkLost | StopNotConfirmed, title: str
) -> None:
    await walking(rig)
    errors: list[str] = []
    page = await open_treadmill(browser, rig, errors)
    await rig.service.publish("event", event)
    dialog = page.get_by_role("alertdialog", name=title)
    await expect(dialog).to_be_visible()
    # The Stop stays on top of the alarm: it can be pressed while the alarm is up.
    await page.get_by_role("button", name="Stop").click()
    await eventually(lambda: rig.service.types() == ["stop"])
    await audited_screenshot(page, f"alarm-{event.kind.replace('_', '-')}")
    await dialog.get_by_role("button", name="I understand").click()
    await expect(dialog).to_be_hidden()
    assert errors == []


async def test_service_offline_during_a_session_raises_its_alarm(browser: Browser, rig: Rig) -> None:
    await walking(rig)
    errors: list[str] = []
    page = await open_treadmill(browser, rig, errors)
    await rig.service.service_available(False)
    await expect(page.get_by_role("alertdialog", name="Service offline")).to_be_visible()
    await audited_screenshot(page, "alarm-service-offline")
    assert errors == []


async def test_losing_the_kiosk_is_said_within_three_seconds_and_a_restart_shows_the_truth(
    browser: Browser, rig: Rig
) -> None:
    await walking(rig)
    errors: list[str] = []
    page = await open_treadmill(browser, rig, errors)
    await expect(page.get_by_text("Speeding up slowly")).to_be_visible()
    await rig.stop_kiosk()
    await expect(page.get_by_role("alertdialog", name="This screen lost its connection")).to_be_visible(
        timeout=3000
    )
    await expect(page.get_by_role("status").filter(has_text="Connection lost")).to_be_visible()
    await audited_screenshot(page, "alarm-kiosk-lost")
    # While the kiosk was away the session ended: after its restart the page shows that within 3 s,
    # never the stale "running".
    await rig.service.publish("state", IDLE, retain=True)
    await rig.start_kiosk()
    await expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=3000)
    await expect(page.get_by_role("heading", name="Welcome")).to_be_visible(timeout=3000)
    assert errors == []


# Before the page's scripts: when each stream was opened and when each message came, on the page's clock.
STREAM_TIMES = """
window.rwStreamsOpened = [];
window.rwHeard = [];
window.EventSource = class extends EventSource {
  constructor(...args) {
    super(...args);
    window.rwStreamsOpened.push(performance.now());
    for (const kind of ["snapshot", "state", "availability", "telemetry", "event", "heartbeat"]) {
      this.addEventListener(kind, () => window.rwHeard.push(performance.now()));
    }
  }
};"""


async def test_a_stream_gone_silent_is_given_up_for_a_new_one_within_three_seconds(
    browser: Browser, rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kiosk hung, its stream still open: only the page's own watchdog can tell. It opens a new
    stream once it heard nothing for its silence limit (2 s, SILENCE_LIMIT_MS in api.js), not before."""
    await walking(rig)
    errors: list[str] = []
    page = await open_treadmill(browser, rig, errors, before_page_scripts=STREAM_TIMES)
    # From now on the kiosk sends nothing (the service sends no telemetry here) but keeps the stream
    # open; the heartbeat already due still comes.
    monkeypatch.setattr(kiosk_web, "HEARTBEAT_S", 600.0)
    await page.wait_for_function("() => window.rwStreamsOpened.length >= 2", timeout=5000)
    opened: list[float] = await page.evaluate("() => window.rwStreamsOpened")
    heard: list[float] = await page.evaluate("() => window.rwHeard")
    silent_ms = opened[1] - max(at for at in heard if at < opened[1])
    assert 1950 <= silent_ms <= 3000, silent_ms
    assert errors == []
    # The kiosk's streams wait for a message or a heartbeat due in 600 s. A stream learns that its page
    # has gone at its next write, and the page's closing may reach the kiosk after a message sent at
    # once would (CI saw it): send messages until the kiosk serves no stream.
    monkeypatch.undo()
    await page.context.close()
    deadline = time.monotonic() + 10.0
    while rig.open_streams() > 0:
        assert time.monotonic() < deadline, f"{rig.open_streams()} stream(s) still open after the page closed"
        await rig.service.publish("state", WALKING, retain=True)
        await asyncio.sleep(0.2)


async def test_out_of_order_when_the_treadmill_is_offline(browser: Browser, rig: Rig) -> None:
    await rig.service.publish("availability", "offline", retain=True)
    errors: list[str] = []
    page = await open_treadmill(browser, rig, errors)
    await expect(page.get_by_role("heading", name="Out of order")).to_be_visible()
    await expect(page.get_by_text("not connected")).to_be_visible()
    await audited_screenshot(page, "out-of-order")
    # It comes back: the page follows without a reload.
    await rig.service.publish("availability", "online", retain=True)
    await expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    assert errors == []


async def test_without_member_details_a_refused_start_leads_to_screening_clinician_and_clearance(
    browser: Browser, rig: Rig
) -> None:
    # The service cannot look 'ana' up (an error reply): the page still finds its way from the codes of
    # the service's refusals, whatever their words.
    rig.service.replies["start"] = {
        "status": "refused",
        "reason": "user 'ana' cannot start a session: some health questions come first",
        "code": "screening_needed",
    }
    errors: list[str] = []
    page = await open_treadmill(browser, rig, errors)
    await sign_in(page, "ana")
    await page.get_by_role("button", name="Pain 0 of 10").click()
    await page.get_by_role("button", name="Start session").click()
    await expect(
        page.get_by_role("heading", name="A few questions before your first session")
    ).to_be_visible()
    await audited_screenshot(page, "screening")

    # Unanswered questions: said on screen, nothing sent.
    await page.get_by_role("button", name="Send answers").click()
    await expect(page.get_by_role("alert")).to_have_text("Please answer every question.")
    assert rig.service.types() == ["pain_report", "start"]

    await page.get_by_label("Your age in years").fill("71")
    for question, answer in [
        ("severe knee osteoarthritis", "Yes"),
        ("knee ligament", "No"),
        ("balance problems", "No"),
        ("knee surgery", "No"),
    ]:
        await page.get_by_role("group", name=question).get_by_label(answer).check()
    await page.get_by_role("button", name="Send answers").click()
    await eventually(lambda: rig.service.types()[-1:] == ["screening"])
    assert rig.service.commands[-1] | {"command_id": ""} == {
        "command_id": "",
        "type": "screening",
        "user_id": "ana",
        "age": 71,
        "severe_knee_oa": True,
        "ligament_injury": False,
        "balance_disorder_or_dizziness": False,
        "recent_knee_surgery": False,
    }
    clinician = (
        "user 'ana' cannot start a session: a clinician must clear this person first (screening "
        "answered yes to: severe knee osteoarthritis or a ligament injury)"
    )
    rig.service.replies["start"] = {"status": "refused", "reason": clinician, "code": "see_clinician"}
    await page.get_by_role("button", name="Pain 0 of 10").click()
    await page.get_by_role("button", name="Start session").click()
    await expect(page.get_by_role("heading", name="Please see a clinician first")).to_be_visible()
    await expect(page.get_by_text("severe knee osteoarthritis or a ligament injury")).to_be_visible()

    await page.get_by_text("Staff: record a clinician's clearance").click()
    await page.get_by_label("Cleared by").fill("Dr. Lind, physiotherapist")
    await page.get_by_label("Valid until").fill((datetime.now(UTC) + timedelta(days=90)).date().isoformat())
    await page.get_by_label("Staff password").fill("not the password")
    await audited_screenshot(page, "see-clinician")
    await page.get_by_role("button", name="Record clearance").click()
    await expect(page.get_by_role("alert")).to_have_text("Not recorded: wrong password")
    assert "clearance" not in rig.service.types()

    await page.get_by_label("Staff password").fill(STAFF_PASSWORD)
    await page.get_by_role("button", name="Record clearance").click()
    await expect(page.get_by_role("heading", name="How much does your knee hurt right now?")).to_be_visible()
    assert rig.service.commands[-1]["type"] == "clearance"
    assert rig.service.commands[-1]["cleared_by"] == "Dr. Lind, physiotherapist"
    assert errors == []


async def test_a_refused_command_says_why(browser: Browser, rig: Rig) -> None:
    reason = "plan refused: max_speed_kmh=3.0 is above the speed ceiling for user 'bo' (2.0 km/h)"
    rig.service.replies["start"] = {"status": "refused", "reason": reason, "code": "plan_refused"}
    errors: list[str] = []
    page = await open_treadmill(browser, rig, errors)
    await sign_in(page, "bo")
    await page.get_by_role("button", name="Pain 0 of 10").click()
    await page.get_by_role("button", name="Start session").click()
    await expect(page.get_by_role("alert")).to_have_text(f"Not done: {reason}")
    await expect(page.get_by_role("button", name="Start session")).to_be_visible()
    await audited_screenshot(page, "refused")
    assert errors == []


async def test_wrong_token_is_refused_and_sets_nothing_up(browser: Browser, rig: Rig) -> None:
    errors: list[str] = []
    page = await new_page(browser, errors)
    response = await page.goto(f"{rig.kiosk_url}/t/{TREADMILL}?token=not-the-token")
    assert response is not None
    assert response.status == 401
    await expect(page.get_by_text("wrong token for treadmill")).to_be_visible()
    # No cookie was set: the page without a token is refused as well.
    response = await page.goto(f"{rig.kiosk_url}/t/{TREADMILL}")
    assert response is not None
    assert response.status == 401
    assert errors == []


async def test_summary_after_a_session(browser: Browser, rig: Rig) -> None:
    errors: list[str] = []
    page = await open_treadmill(browser, rig, errors, LANDSCAPE)
    await sign_in(page, "bo")
    await page.get_by_role("button", name="Pain 1 of 10").click()
    started = datetime.now(UTC)
    await rig.service.publish(
        "event", SessionStarted(treadmill_id=TREADMILL, session_id=SESSION, user_id="bo", plan=PLAN)
    )
    await walking(rig)
    for second in range(0, 300, 5):
        speed = min(1.5, 1.0 + second / 300)
        await rig.service.publish("telemetry", sample(second, speed, speed))
    await expect(page.locator("#time-left")).to_have_text("0:05")
    finished = TreadmillState(treadmill_id=TREADMILL, connected=True, phase="finished", session_id=SESSION)
    await rig.service.publish("state", finished, retain=True)
    summary = SessionSummary(
        treadmill_id=TREADMILL,
        session_id=SESSION,
        user_id="bo",
        started_at=started,
        ended_at=started + timedelta(seconds=300),
        end_reason="completed",
        walked_s=300,
        distance_m=104,
        max_speed_kmh=1.5,
        overspeed_corrections=1,
    )
    await rig.service.publish("summary", summary)
    await expect(page.get_by_role("heading", name="Session summary")).to_be_visible()
    await expect(page.get_by_text("you walked the whole session")).to_be_visible()
    await expect(page.locator("#summary-chart canvas")).to_be_visible()
    # The summary's chart is the live one's, every sample of the session, drawn at once.
    await expect(page.locator("#summary-chart")).to_have_attribute("data-samples-drawn", "60", timeout=1000)
    # Everything the person still has to tap fits on the screen, above the Stop: no scrolling, on the
    # landscape screen and on the portrait tablet.
    for size in (LANDSCAPE, PORTRAIT):
        await resize(page, size)
        for control in ("Pain 10 of 10", "Done"):
            assert await tappable(page.get_by_role("button", name=control)), (control, size)
    await resize(page, LANDSCAPE)
    await audited_screenshot(page, "summary")
    await page.get_by_role("button", name="Pain 1 of 10").click()
    await eventually(lambda: rig.service.commands[-1].get("when") == "after")
    await expect(page.get_by_text("How much does your knee hurt now")).to_be_hidden()
    assert errors == []


async def test_staff_overview_needs_the_password_and_follows_the_fleet_live(
    browser: Browser, rig: Rig
) -> None:
    errors: list[str] = []
    page = await new_page(browser, errors, LANDSCAPE)
    await page.goto(f"{rig.kiosk_url}/staff")
    await page.get_by_label("Staff password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Not signed in: wrong password")
    await expect(page.get_by_role("list")).to_be_hidden()

    await page.get_by_label("Staff password").fill(STAFF_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    card = page.get_by_role("listitem").filter(has_text="Treadmill 1, by the window")
    await expect(card).to_contain_text("Ready")
    await walking(rig)
    await rig.service.publish("telemetry", sample(40, 1.2, 1.2))
    await expect(card).to_contain_text("1.2 of 1.2 km/h")
    await expect(card).to_contain_text("Walking: bo")
    await rig.service.publish("event", SafetyKeyPulled(treadmill_id=TREADMILL, session_id=SESSION))
    await expect(card).to_contain_text("Safety key pulled")
    await audited_screenshot(page, "staff-overview")
    assert errors == []


async def test_plan_preview_and_history_from_the_service(browser: Browser, rig: Rig) -> None:
    errors: list[str] = []
    page = await open_treadmill(browser, rig, errors, LANDSCAPE)
    await sign_in(page, "bo")
    await page.get_by_role("button", name="Pain 2 of 10").click()
    await expect(page.get_by_text("+0.1 km/h every 30 s")).to_be_visible()
    await expect(page.get_by_text("5:00")).to_be_visible()
    await expect(page.get_by_text("Two minutes more than last time")).to_be_visible()
    await audited_screenshot(page, "plan-preview")

    await page.get_by_role("button", name="My sessions").click()
    await expect(page.get_by_role("heading", name="My sessions")).to_be_visible()
    await expect(page.get_by_role("table", name="Past sessions").get_by_role("row")).to_have_count(4)
    await expect(page.get_by_role("cell", name="9:00")).to_be_visible()
    await expect(page.locator("#history-chart canvas")).to_be_visible()
    await audited_screenshot(page, "history")
    await page.get_by_role("button", name="Back").click()
    await expect(page.get_by_role("button", name="Start session")).to_be_visible()
    assert errors == []


async def test_a_plan_fitted_to_a_coarse_speed_grid_shows_its_real_speeds_and_why(
    browser: Browser, rig: Rig
) -> None:
    # A UREVO-like walking pad with 0.32 km/h steps: 0.96 km/h must not read "1.0" (faster than enforced).
    fitted = PlanInfo(
        start_speed_kmh=0.96,
        max_speed_kmh=1.28,
        ramp_step_kmh=0.32,
        ramp_interval_s=96,
        duration_cap_s=300,
        fitted_to_grid=GridFitInfo(
            speed_step_kmh=0.32,
            asked_start_speed_kmh=1.0,
            asked_max_speed_kmh=1.5,
            changes=["start speed 1.0 km/h became 0.96 km/h, the grid speed below it."],
        ),
    )
    rig.service.members["eve"] = BO.model_copy(update={"user_id": "eve", "next_plan": fitted})
    errors: list[str] = []
    page = await open_treadmill(browser, rig, errors, LANDSCAPE)
    await sign_in(page, "eve")
    await page.get_by_role("button", name="Pain 2 of 10").click()
    await expect(page.get_by_text("0.96 km/h", exact=True)).to_be_visible()
    await expect(page.get_by_text("+0.32 km/h every 96 s")).to_be_visible()
    await expect(page.get_by_text("Fitted to this treadmill's 0.32 km/h steps")).to_be_visible()
    await expect(page.get_by_text("start speed 1.0 km/h became 0.96 km/h")).to_be_visible()
    assert errors == []


async def test_the_service_says_screening_is_needed_before_start(browser: Browser, rig: Rig) -> None:
    rig.service.members["dee"] = MemberInfo(
        user_id="dee", screening="needed", next_plan=None, plan_notes=[], sessions=[]
    )
    errors: list[str] = []
    page = await open_treadmill(browser, rig, errors)
    await sign_in(page, "dee")
    await expect(
        page.get_by_role("heading", name="A few questions before your first session")
    ).to_be_visible()
    assert "start" not in rig.service.types()
    assert errors == []


async def test_a_double_tap_on_start_sends_one_start_and_pain_during_is_reported(
    browser: Browser, rig: Rig
) -> None:
    errors: list[str] = []
    page = await open_treadmill(browser, rig, errors)
    await sign_in(page, "bo")
    await page.get_by_role("button", name="Pain 0 of 10").click()
    await page.get_by_role("button", name="Start session").dblclick()
    await eventually(lambda: "start" in rig.service.types())
    await walking(rig)
    await expect(page.get_by_role("button", name="Report pain")).to_be_visible()
    assert rig.service.types().count("start") == 1

    await page.get_by_role("button", name="Report pain").click()
    await (
        page.get_by_role("group", name="Pain right now (0-10)?")
        .get_by_role("button", name="Pain 7 of 10")
        .click()
    )
    await eventually(lambda: rig.service.commands[-1].get("when") == "during")
    assert rig.service.commands[-1]["pain"] == 7
    await expect(page.get_by_role("group", name="Pain right now (0-10)?")).to_be_hidden()
    # The scale opens below the live numbers: none of its buttons may end up under the Stop.
    await page.get_by_role("button", name="Report pain").click()
    await expect(page.get_by_role("group", name="Pain right now (0-10)?")).to_be_visible()
    assert await layout_problems(page) == []
    await page.get_by_role("button", name="Report pain").click()

    await page.get_by_role("button", name="Pause").click()
    await eventually(lambda: rig.service.types()[-1:] == ["pause"])
    await rig.service.publish("state", WALKING.model_copy(update={"phase": "paused"}), retain=True)
    await page.get_by_role("button", name="Resume").click()
    await eventually(lambda: rig.service.types()[-1:] == ["resume"])
    assert errors == []


async def test_a_broker_restart_during_a_session_is_said_then_the_truth_is_back(
    browser: Browser, rig: Rig, mosquitto: Mosquitto
) -> None:
    await walking(rig)
    errors: list[str] = []
    page = await open_treadmill(browser, rig, errors)
    await expect(page.get_by_text("Speeding up slowly")).to_be_visible()
    await mosquitto.stop_async()
    await expect(
        page.get_by_role("alertdialog", name="Lost contact with the treadmill service")
    ).to_be_visible(timeout=3000)
    await mosquitto.start_async()
    # The broker keeps the service's retained state: once the kiosk is back on it, so is the page.
    await expect(
        page.get_by_role("alertdialog", name="Lost contact with the treadmill service")
    ).to_be_hidden(timeout=10_000)
    await expect(page.get_by_text("Speeding up slowly")).to_be_visible()
    assert errors == []


async def test_the_staff_sign_in_screen_passes_the_audit(browser: Browser, rig: Rig) -> None:
    errors: list[str] = []
    page = await new_page(browser, errors, PORTRAIT)
    await page.goto(f"{rig.kiosk_url}/staff")
    await expect(page.get_by_role("heading", name="Staff sign in")).to_be_visible()
    assert await axe_violations(page) == []
    assert await layout_problems(page) == []
    assert errors == []
