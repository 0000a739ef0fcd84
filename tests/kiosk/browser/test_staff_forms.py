"""The forms a treadmill page asks staff and new members to fill in, in a real chromium through the real
kiosk and a real mosquitto (scripted service): the clearance (a blank name, a staff session kept, the
field the API refuses, the note of one with nothing to clear), the screening's age and its Sign out, and
refusals that never hide a heading."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest_asyncio
from playwright.async_api import Browser, Locator, Page, expect

from retrowalk.mqtt.commands import MemberInfo
from retrowalk.mqtt.payloads import TreadmillState
from retrowalk.service.member_messages import nothing_to_clear
from tests.mqtt.mqtt_broker import Mosquitto

from .conftest import BROWSER_LOOP, LANDSCAPE, PORTRAIT, new_page
from .rig import STAFF_PASSWORD, TREADMILL, Rig, kiosk_rig

pytestmark = BROWSER_LOOP
NEEDS_CLINICIAN = MemberInfo(
    user_id="cy",
    screening="see_clinician",
    next_plan=None,
    plan_notes=["A clinician must clear you first: you said yes to recent knee surgery."],
    sessions=[],
)
CLEARED = NEEDS_CLINICIAN.model_copy(update={"screening": "passed", "plan_notes": []})
NEW_MEMBER = MemberInfo(user_id="di", screening="needed", next_plan=None, plan_notes=[], sessions=[])


@pytest_asyncio.fixture(loop_scope="module")
async def rig(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Rig]:
    async with kiosk_rig(mosquitto, tmp_path) as started:
        await started.service.service_available(True)
        await started.service.publish("availability", "online", retain=True)
        await started.service.publish(
            "state", TreadmillState(treadmill_id=TREADMILL, connected=True, phase="idle"), retain=True
        )
        started.service.members.update({"cy": NEEDS_CLINICIAN, "di": NEW_MEMBER})
        yield started


async def signed_in(page: Page, rig: Rig, member: str) -> None:
    rig.service.members["cy"] = NEEDS_CLINICIAN
    await page.goto(rig.screen_url)
    await expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    await page.get_by_label("Member id").fill(member)
    await page.get_by_role("button", name="Sign in").click()


async def clearance_form(page: Page, cleared_by: str, password: str = STAFF_PASSWORD) -> None:
    await expect(page.get_by_role("heading", name="Please see a clinician first")).to_be_visible()
    if not await page.get_by_label("Cleared by").is_visible():
        await page.get_by_text("Staff: record a clinician's clearance").click()
    await page.get_by_label("Cleared by").fill(cleared_by)
    await page.get_by_label("Valid until").fill((datetime.now(UTC) + timedelta(days=30)).date().isoformat())
    await page.get_by_label("Staff password").fill(password)


async def record_clearance(page: Page, rig: Rig) -> None:
    """Press Record clearance; the service's look-ups say cy is cleared from then on."""
    rig.service.members["cy"] = CLEARED
    await page.get_by_role("button", name="Record clearance").click()
    await expect(page.get_by_role("heading", name="How much does your knee hurt right now?")).to_be_visible()
    assert rig.service.types()[-1] == "clearance"


async def clear_cy(page: Page, rig: Rig) -> None:
    """On a new page: cy signs in, and staff record their clearance with the password."""
    await signed_in(page, rig, "cy")
    await clearance_form(page, "Dr. Lind, physiotherapist")
    await record_clearance(page, rig)


async def staff_stream_status(page: Page) -> int:
    """The HTTP status the staff overview's stream opens with, in this browser (its cookies)."""
    status: int = await page.evaluate(
        """async () => {
            const controller = new AbortController();
            const options = {credentials: 'same-origin', signal: controller.signal};
            const response = await fetch('/staff/events', options);
            controller.abort();
            return response.status;
        }"""
    )
    return status


async def not_covered(page: Page, heading: Locator) -> None:
    """The refusal is on screen and the heading is whole: neither box overlaps the other."""
    alert = await page.get_by_role("alert").bounding_box()
    title = await heading.bounding_box()
    assert alert is not None
    assert title is not None
    apart = alert["y"] + alert["height"] <= title["y"] or title["y"] + title["height"] <= alert["y"]
    assert apart, (alert, title)


async def test_a_blank_cleared_by_is_refused_on_the_page_and_a_padded_one_is_sent_trimmed(
    browser: Browser, rig: Rig
) -> None:
    errors: list[str] = []
    page = await new_page(browser, errors, PORTRAIT)
    await signed_in(page, rig, "cy")
    await clearance_form(page, "   ")
    await page.get_by_role("button", name="Record clearance").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "Please fill in who cleared this person, until when, and the staff password."
    )
    await not_covered(page, page.get_by_role("heading", name="Please see a clinician first"))
    assert "clearance" not in rig.service.types()

    await clearance_form(page, "  Dr. Lind, physiotherapist  ")
    await record_clearance(page, rig)
    assert rig.service.commands[-1]["cleared_by"] == "Dr. Lind, physiotherapist"
    assert errors == []


async def test_a_clearance_keeps_the_staff_session_the_browser_had(browser: Browser, rig: Rig) -> None:
    errors: list[str] = []
    overview = await new_page(browser, errors, LANDSCAPE)
    await overview.goto(f"{rig.kiosk_url}/staff")
    await overview.get_by_label("Staff password").fill(STAFF_PASSWORD)
    await overview.get_by_role("button", name="Sign in").click()
    await expect(overview.get_by_role("status")).to_have_text("Live")

    await clear_cy(await overview.context.new_page(), rig)
    # Still signed in: the overview's session goes on, and a new stream is let in.
    assert await staff_stream_status(overview) == 200
    await expect(overview.get_by_role("status")).to_have_text("Live")
    assert errors == []


async def test_a_clearance_the_form_signed_in_for_signs_out_after_it(browser: Browser, rig: Rig) -> None:
    errors: list[str] = []
    page = await new_page(browser, errors, PORTRAIT)
    await clear_cy(page, rig)
    assert await staff_stream_status(page) == 401
    assert errors == []


async def test_a_clearance_with_nothing_to_clear_shows_the_services_note(browser: Browser, rig: Rig) -> None:
    # Another desk cleared cy while this page still showed the form: the service keeps this one too, but
    # its accepted reply says it changed nothing, and staff must read that on the page.
    note = nothing_to_clear("cy")
    rig.service.replies["clearance"] = {"status": "accepted", "note": note}
    errors: list[str] = []
    page = await new_page(browser, errors, PORTRAIT)
    await signed_in(page, rig, "cy")
    await clearance_form(page, "Dr. Lind, physiotherapist")
    await record_clearance(page, rig)
    await expect(page.get_by_role("alert")).to_have_text(f"Clearance recorded, but {note}")
    assert errors == []


async def test_a_field_the_api_refuses_is_named_on_the_page(browser: Browser, rig: Rig) -> None:
    errors: list[str] = []
    page = await new_page(browser, errors, PORTRAIT)
    await signed_in(page, rig, "cy")
    await clearance_form(page, "x")
    # What the input's maxlength (the API's) stops a person typing, sent all the same: the API refuses it.
    await page.get_by_label("Cleared by").evaluate("(input) => input.removeAttribute('maxlength')")
    await page.get_by_label("Cleared by").fill("D" * 110)
    await page.get_by_role("button", name="Record clearance").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "Not recorded: cleared_by: String should have at most 100 characters "
        "(the command does not fit the API (docs/mqtt.md#commands))"
    )
    assert "clearance" not in rig.service.types()
    assert errors == []


async def test_an_age_out_of_range_says_the_ages_taken_and_the_screening_has_a_sign_out(
    browser: Browser, rig: Rig
) -> None:
    errors: list[str] = []
    page = await new_page(browser, errors, PORTRAIT)
    await signed_in(page, rig, "di")
    heading = page.get_by_role("heading", name="A few questions before your first session")
    await expect(heading).to_be_visible()
    for question in ["severe knee osteoarthritis", "knee ligament", "balance problems", "knee surgery"]:
        await page.get_by_role("group", name=question).get_by_label("No").check()
    for age in ["200", "-3", "9"]:
        await page.get_by_label("Your age in years").fill(age)
        await page.get_by_role("button", name="Send answers").click()
        await expect(page.get_by_role("alert")).to_have_text("Please give an age from 10 to 120.")
    assert "screening" not in rig.service.types()

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    assert errors == []


async def test_a_refusal_on_the_staff_sign_in_leaves_its_heading_whole(browser: Browser, rig: Rig) -> None:
    errors: list[str] = []
    page = await new_page(browser, errors, PORTRAIT)
    await page.goto(f"{rig.kiosk_url}/staff")
    await page.get_by_label("Staff password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Not signed in: wrong password")
    await not_covered(page, page.get_by_role("heading", name="Staff sign in"))
    assert errors == []
