"""Commands by POST: sent on the MQTT API, answered with the service's reply; every bad request refused
with a clear JSON error and nothing sent (a real kiosk, real HTTP, a real mosquitto, a scripted service
peer that records every command reaching the broker)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.mqtt.mqtt_broker import Mosquitto
from tests.plugins.virtual_adapter import wait_until

from .kiosk_rig import (
    PREFIX,
    STAFF_PASSWORD,
    TOKENS,
    kiosk_settings,
    running_kiosk,
    screen,
    service_peer,
    sse,
    state,
)


def refuse_starts_for_bo(command: dict[str, Any]) -> dict[str, Any]:
    if command["type"] == "start" and command["user_id"] == "bo":
        return {"status": "refused", "reason": "user 'bo' cannot start a session: see a clinician first"}
    return {"status": "accepted"}


async def test_a_command_gets_the_services_reply_and_a_refusal_its_reason(mosquitto: Mosquitto) -> None:
    async with (
        service_peer(mosquitto.port, refuse_starts_for_bo) as peer,
        running_kiosk(kiosk_settings(mosquitto.port)) as kiosk,
        screen(kiosk) as client,
    ):
        signed = await client.post("/t/tm0/sign-in", json={"user_id": "ann"})
        assert signed.status == 200
        assert await signed.json() == {"user_id": "ann"}

        answer = await client.post("/t/tm0/command", json={"command_id": "p-1", "type": "start"})
        assert answer.status == 200, await answer.text()
        reply = await answer.json()
        assert (reply["command_id"], reply["treadmill_id"], reply["status"]) == ("p-1", "tm0", "accepted")
        # The kiosk filled in the signed-in member and published the command as the API defines it.
        assert peer.commands == [
            (f"{PREFIX}treadmill/tm0/command", {"command_id": "p-1", "type": "start", "user_id": "ann"})
        ]

        await client.post("/t/tm0/sign-in", json={"user_id": "bo"})
        refused = await client.post("/t/tm0/command", json={"command_id": "p-2", "type": "start"})
        assert refused.status == 409
        body = await refused.json()
        assert body["status"] == "refused"
        assert body["reason"] == "user 'bo' cannot start a session: see a clinician first"

        # The page learns who is signed in from its snapshot.
        async with sse(client, "/t/tm0/events") as page:
            await page.until(lambda: page.of("snapshot"), "the snapshot")
            assert page.of("snapshot")[0]["member"] == "bo"


async def test_a_service_that_does_not_answer_gets_a_clear_timeout(mosquitto: Mosquitto) -> None:
    # No service peer at all: the command reaches the broker, nobody answers.
    async with (
        running_kiosk(kiosk_settings(mosquitto.port, reply_timeout_s=0.5)) as kiosk,
        screen(kiosk) as c,
    ):
        answer = await c.post("/t/tm0/command", json={"command_id": "p-9", "type": "stop"})
        assert answer.status == 504
        body = await answer.json()
        assert body["error"] == "no_reply"
        assert "same command_id" in body["message"]


async def test_without_the_broker_a_command_is_refused_and_not_sent(mosquitto: Mosquitto) -> None:
    async with running_kiosk(kiosk_settings(mosquitto.port)) as kiosk, screen(kiosk) as client:
        await mosquitto.stop_async()
        await wait_until(lambda: not kiosk.broker.connected.is_set(), 5, "the kiosk to notice")
        answer = await client.post("/t/tm0/command", json={"command_id": "p-1", "type": "stop"})
        assert answer.status == 503
        assert (await answer.json())["error"] == "broker_unavailable"
        health = await client.get("/healthz")
        assert health.status == 503


STOP = {"command_id": "x", "type": "stop"}
COMMAND = "/t/tm0/command"


def bearer(token: str) -> dict[str, dict[str, str]]:
    return {"headers": {"Authorization": f"Bearer {token}"}}


# (path, request options, status, error), by what is wrong with the request.
REFUSED_REQUESTS: dict[str, tuple[str, dict[str, Any], int, str]] = {
    "unknown treadmill": ("/t/tm9/command", {"json": STOP}, 404, "unknown_treadmill"),
    "no token": (COMMAND, {"json": STOP, "headers": {"Authorization": ""}}, 401, "unauthorized"),
    "wrong token": (COMMAND, {"json": STOP, **bearer("nope-nope-nope-nope")}, 401, "unauthorized"),
    "another screen's token": (COMMAND, {"json": STOP, **bearer(TOKENS["tm1"])}, 401, "unauthorized"),
    "not JSON": (
        COMMAND,
        {"data": b"{stop", "headers": {"Content-Type": "application/json"}},
        400,
        "malformed",
    ),
    "not an object": (COMMAND, {"json": ["stop"]}, 400, "malformed"),
    "unknown type": (COMMAND, {"json": {**STOP, "type": "faster"}}, 400, "malformed"),
    "unknown field": (COMMAND, {"json": {**STOP, "speed": 9}}, 400, "malformed"),
    "bad command id": (COMMAND, {"json": {**STOP, "command_id": "a b"}}, 400, "malformed"),
    "a form post": (COMMAND, {"data": STOP}, 415, "unsupported_media_type"),
    "another site": (
        COMMAND,
        {"json": STOP, "headers": {"Origin": "https://evil.example"}},
        403,
        "forbidden",
    ),
    "too large": (COMMAND, {"json": {**STOP, "pad": "x" * 20000}}, 413, "too_large"),
    "clearance on a screen": (
        COMMAND,
        {"json": {**STOP, "type": "clearance", "user_id": "ann", "cleared_by": "me"}},
        403,
        "forbidden",
    ),
    "start before sign-in": (COMMAND, {"json": {**STOP, "type": "start"}}, 409, "not_signed_in"),
    "sign-in with a control character": ("/t/tm0/sign-in", {"json": {"user_id": "ann\n"}}, 400, "malformed"),
    "sign-in with a number": ("/t/tm0/sign-in", {"json": {"user_id": 7}}, 400, "malformed"),
    "sign-in with a blank name": ("/t/tm0/sign-in", {"json": {"user_id": "  "}}, 400, "malformed"),
    "staff command without login": ("/staff/t/tm0/command", {"json": STOP}, 401, "unauthorized"),
    "wrong staff password": ("/staff/login", {"json": {"password": "not it at all"}}, 401, "unauthorized"),
}


@pytest.mark.parametrize("wrong", list(REFUSED_REQUESTS))
async def test_a_bad_request_is_refused_clearly_and_sends_nothing(mosquitto: Mosquitto, wrong: str) -> None:
    path, options, status, error = REFUSED_REQUESTS[wrong]
    async with (
        service_peer(mosquitto.port) as peer,
        running_kiosk(kiosk_settings(mosquitto.port)) as kiosk,
        screen(kiosk) as client,
    ):
        answer = await client.post(path, **options)
        assert answer.status == status, await answer.text()
        assert answer.content_type == "application/json"
        body = await answer.json()
        assert body["error"] == error
        assert body["message"]  # a sentence for a person
        # Nothing reached the service: the next good command is the first it sees.
        good = await client.post("/t/tm0/command", json={"command_id": "after", "type": "stop"})
        assert good.status == 200
        assert [command["command_id"] for _topic, command in peer.commands] == ["after"]


async def test_a_member_cannot_act_for_another(mosquitto: Mosquitto) -> None:
    async with (
        service_peer(mosquitto.port) as peer,
        running_kiosk(kiosk_settings(mosquitto.port)) as kiosk,
        screen(kiosk) as client,
    ):
        await client.post("/t/tm0/sign-in", json={"user_id": "ann"})
        report = {"command_id": "x", "type": "pain_report", "user_id": "bo", "when": "before", "pain": 2}
        answer = await client.post("/t/tm0/command", json=report)
        assert answer.status == 403
        # Nor read another member's data through the command endpoint.
        look_up = await client.post(
            "/t/tm0/command", json={"command_id": "y", "type": "member", "user_id": "bo"}
        )
        assert look_up.status == 403
        # Signed out: member commands need a sign-in again.
        await client.post("/t/tm0/sign-out", json={})
        answer = await client.post("/t/tm0/command", json={**report, "user_id": "ann"})
        assert answer.status == 409
        good = await client.post("/t/tm0/command", json={"command_id": "after", "type": "stop"})
        assert good.status == 200
        assert [command["command_id"] for _topic, command in peer.commands] == ["after"]


async def test_a_double_tap_sends_one_id_twice_and_each_request_gets_a_reply(mosquitto: Mosquitto) -> None:
    seen: set[str] = set()

    def replaying(command: dict[str, Any]) -> dict[str, Any]:
        replayed = command["command_id"] in seen
        seen.add(command["command_id"])
        return {"status": "accepted", "replayed": replayed}

    async with (
        service_peer(mosquitto.port, replaying) as peer,
        running_kiosk(kiosk_settings(mosquitto.port)) as kiosk,
        screen(kiosk) as client,
    ):
        tap = {"command_id": "p-tap", "type": "pause"}
        first, second = await asyncio.gather(
            client.post("/t/tm0/command", json=tap), client.post("/t/tm0/command", json=tap)
        )
        replies = sorted([await first.json(), await second.json()], key=lambda r: r["replayed"])
        assert [r["replayed"] for r in replies] == [False, True]
        assert [c["command_id"] for _t, c in peer.commands] == ["p-tap", "p-tap"]


async def test_staff_log_in_see_every_treadmill_and_record_a_clearance(mosquitto: Mosquitto) -> None:
    async with (
        service_peer(mosquitto.port) as peer,
        running_kiosk(kiosk_settings(mosquitto.port)) as kiosk,
        aiohttp.ClientSession(base_url=kiosk.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as staff,
    ):
        assert (await staff.get("/staff/events")).status == 401
        login = await staff.post("/staff/login", json={"password": STAFF_PASSWORD})
        assert login.status == 200
        cookie = login.cookies["rw_staff"]
        assert cookie["httponly"]
        assert cookie["samesite"] == "Strict"
        assert (await login.json())["signed_in_before"] is False
        # Signing in again (a form that signs in for one action): the session is kept, not replaced, so
        # the form's sign-out after its action ends nothing it did not start.
        again = await staff.post("/staff/login", json={"password": STAFF_PASSWORD})
        assert (again.status, await again.json()) == (200, {"staff": True, "signed_in_before": True})
        assert "rw_staff" not in again.cookies
        async with sse(staff, "/staff/events") as overview:
            await overview.until(lambda: overview.of("snapshot"), "the staff snapshot")
            ids = [t["treadmill_id"] for t in overview.of("snapshot")[0]["treadmills"]]
            assert ids == ["tm0", "tm1"]
            await peer.publish("state", state("idle", "tm1"), treadmill_id="tm1")
            await overview.until(lambda: overview.of("state"), "tm1's state")
            assert overview.of("state")[0]["treadmill_id"] == "tm1"
            assert overview.of("state")[0]["data"]["phase"] == "idle"
        clearance = {"command_id": "s-1", "type": "clearance", "user_id": "bo", "cleared_by": "Dr Lee"}
        answer = await staff.post("/staff/t/tm0/command", json=clearance)
        assert answer.status == 200, await answer.text()
        assert peer.commands == [(f"{PREFIX}treadmill/tm0/command/staff", clearance)]
        # Logged out, the same cookie no longer works.
        await staff.post("/staff/logout", json={})
        staff.cookie_jar.update_cookies({"rw_staff": cookie.value})
        assert (
            await staff.post("/staff/t/tm0/command", json={**clearance, "command_id": "s-2"})
        ).status == 401


async def test_a_screen_is_set_up_once_by_its_token_address(mosquitto: Mosquitto) -> None:
    async with (
        running_kiosk(kiosk_settings(mosquitto.port)) as kiosk,
        aiohttp.ClientSession(base_url=kiosk.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser,
    ):
        wrong = await browser.get("/t/tm0?token=guess-guess-guess-guess", allow_redirects=False)
        assert wrong.status == 401
        assert (await browser.get("/t/tm0/events")).status == 401
        setup = await browser.get(f"/t/tm0?token={TOKENS['tm0']}", allow_redirects=False)
        assert setup.status == 303
        assert setup.headers["Location"] == "/t/tm0"  # the token leaves the address bar
        cookie = setup.cookies["rw_kiosk_tm0"]
        assert cookie["httponly"]
        assert (cookie["samesite"], cookie["path"]) == ("Strict", "/t/tm0")
        async with sse(browser, "/t/tm0/events") as page:
            await page.until(lambda: page.of("snapshot"), "the snapshot with the cookie alone")
        # The cookie of tm0 opens nothing of tm1.
        assert (await browser.get("/t/tm1/events")).status == 401


async def test_a_member_look_up_asks_the_service_about_the_signed_in_member_only(
    mosquitto: Mosquitto,
) -> None:
    member = {
        "user_id": "ann",
        "screening": "passed",
        "next_plan": None,
        "plan_notes": ["why"],
        "sessions": [],
    }

    def answer(command: dict[str, Any]) -> dict[str, Any]:
        return {"status": "accepted", "member": {**member, "user_id": command["user_id"]}}

    async with (
        service_peer(mosquitto.port, answer) as peer,
        running_kiosk(kiosk_settings(mosquitto.port)) as kiosk,
        screen(kiosk) as client,
    ):
        refused = await client.get("/t/tm0/member")
        assert refused.status == 409
        assert (await refused.json())["error"] == "not_signed_in"
        await client.post("/t/tm0/sign-in", json={"user_id": "ann"})
        first = await client.get("/t/tm0/member")
        second = await client.get("/t/tm0/member")
        assert first.status == second.status == 200
        assert (await first.json())["member"]["plan_notes"] == ["why"]
        looked_up = [c for _t, c in peer.commands]
        assert [(c["type"], c["user_id"]) for c in looked_up] == [("member", "ann"), ("member", "ann")]
        # Each look-up has its own id: the service's stored replies would otherwise answer with old data.
        assert looked_up[0]["command_id"] != looked_up[1]["command_id"]
