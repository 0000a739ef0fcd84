"""A page's live data: the snapshot on every (re)connect, then each MQTT message as it arrives, and the
page told within 3 s when the broker or the service goes away (a real kiosk over real HTTP, a real
mosquitto, a scripted service peer on the MQTT API)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from retrowalk.kiosk import web as kiosk_web
from retrowalk.kiosk.app import Kiosk
from retrowalk.subprocesses import free_port, stop_process
from tests.mqtt.mqtt_broker import Mosquitto
from tests.plugins.virtual_adapter import wait_until

from .kiosk_rig import (
    kiosk_settings,
    running_kiosk,
    screen,
    service_peer,
    service_with_a_will,
    sse,
    state,
    telemetry,
)

EVENT = {
    "event_id": "5b0c3a0e-8f61-4c55-9a7e-2f4f0c1d2e3f",
    "treadmill_id": "tm0",
    "session_id": "s-1",
    "at": "2026-11-24T09:03:12Z",
    "kind": "cap_warning",
    "remaining_s": 60.0,
}


async def test_a_page_gets_the_retained_truth_first_then_every_message(mosquitto: Mosquitto) -> None:
    async with service_peer(mosquitto.port) as peer:
        await peer.publish("state", state("ramp"), retain=True)
        # The kiosk starts after the service said all this: the broker's retained messages are its source.
        async with running_kiosk(kiosk_settings(mosquitto.port)) as kiosk, screen(kiosk) as client:
            await asyncio.sleep(0)
            async with sse(client, "/t/tm0/events") as page:
                await page.until(lambda: page.of("snapshot"), "the snapshot")
                snapshot = page.of("snapshot")[0]
                if snapshot["state"] is None:  # the retained state may reach the kiosk just after the page
                    await page.until(lambda: page.of("state"), "the retained state")
                    assert page.of("state")[0]["phase"] == "ramp"
                else:
                    assert snapshot["state"]["phase"] == "ramp"
                assert snapshot["treadmill_id"] == "tm0"
                assert snapshot["label"] == "Treadmill tm0"
                assert snapshot["member"] is None

                await page.until(lambda: page.last_availability().get("usable"), "treadmill usable")
                await peer.publish("telemetry", telemetry(1.23))
                await page.until(lambda: page.of("telemetry"), "telemetry")
                assert page.of("telemetry")[0]["speed_kmh"] == 1.23

                # The outbox delivers at least once: the same event twice reaches the page once.
                await peer.publish("event", EVENT)
                await peer.publish("event", EVENT)
                await peer.publish(
                    "event",
                    {**EVENT, "event_id": "9d4f2b7a-3c1e-4f6a-8b5d-1e2f3a4b5c6d", "remaining_s": 30.0},
                )
                await page.until(lambda: len(page.of("event")) >= 2, "both distinct events")
                assert [e["remaining_s"] for e in page.of("event")] == [60.0, 30.0]
                await page.until(lambda: page.of("heartbeat"), "a heartbeat", within=3)

                # A payload that does not fit the API is never shown.
                await peer.publish("state", {"phase": "flying"}, retain=True)
                await peer.publish("state", state("steady"), retain=True)
                await page.until(
                    lambda: len(page.of("state")) >= 1 and page.of("state")[-1]["phase"] == "steady",
                    "the good state",
                )
                assert all(s is None or s["phase"] != "flying" for s in page.of("state"))

            # A page that reconnects gets everything again in one snapshot: events, latest telemetry.
            async with sse(client, "/t/tm0/events") as again:
                await again.until(lambda: again.of("snapshot"), "the second snapshot")
                second = again.of("snapshot")[0]
                assert second["state"]["phase"] == "steady"
                assert second["telemetry"]["speed_kmh"] == 1.23
                assert [e["event_id"] for e in second["events"]] == [
                    EVENT["event_id"],
                    "9d4f2b7a-3c1e-4f6a-8b5d-1e2f3a4b5c6d",
                ]
                assert second["availability"] == {
                    "service": "online",
                    "treadmill": "online",
                    "broker": "connected",
                    "usable": True,
                }


async def test_a_broker_restart_shows_unknown_then_the_true_state_within_3_s(mosquitto: Mosquitto) -> None:
    async with (
        service_peer(mosquitto.port) as peer,
        running_kiosk(kiosk_settings(mosquitto.port)) as kiosk,
        screen(kiosk) as client,
    ):
        await peer.publish("state", state("ramp"), retain=True)
        async with sse(client, "/t/tm0/events") as page:
            await page.until(lambda: page.last_availability().get("usable"), "treadmill usable")
            await page.until(lambda: (page.last_state() or {}).get("phase") == "ramp", "the running state")
            await mosquitto.stop_async()
            await page.until(lambda: page.last_availability().get("broker") == "disconnected", "broker lost")
            assert page.last_availability().get("usable") is False
            assert page.last_state() is None  # the last "ramp" is no longer shown as live

            # A page opened during the outage never sees a stale "running".
            async with sse(client, "/t/tm0/events") as during:
                await during.until(lambda: during.of("snapshot"), "the outage snapshot")
                assert during.of("snapshot")[0]["state"] is None
                assert during.of("snapshot")[0]["availability"]["usable"] is False

            await mosquitto.start_async()
            back = time.monotonic()
            await page.until(lambda: page.last_availability().get("usable"), "usable again", within=3)
            await page.until(lambda: page.last_state() is not None, "state again", within=3)
            assert time.monotonic() - back < 3
            state_now = page.last_state()
            assert state_now is not None
            assert state_now["phase"] == "ramp"


async def test_a_killed_service_shows_offline_within_3_s(mosquitto: Mosquitto) -> None:
    service = service_with_a_will(mosquitto.port)
    try:
        assert service.stdout is not None
        assert await asyncio.to_thread(service.stdout.readline) == "up\n"
        async with (
            running_kiosk(kiosk_settings(mosquitto.port)) as kiosk,
            screen(kiosk) as client,
            sse(client, "/t/tm0/events") as page,
        ):
            await page.until(lambda: page.last_availability().get("service") == "online", "service online")
            service.kill()
            killed = time.monotonic()
            await page.until(
                lambda: page.last_availability().get("service") == "offline", "service offline", 3
            )
            assert time.monotonic() - killed < 3
            assert page.last_availability().get("usable") is False
    finally:
        with contextlib.suppress(ProcessLookupError):
            stop_process(service)


async def test_after_a_kiosk_restart_a_page_gets_the_true_state_within_3_s(mosquitto: Mosquitto) -> None:
    port = free_port()
    async with service_peer(mosquitto.port) as peer:
        await peer.publish("state", state("steady"), retain=True)
        async with (
            running_kiosk(kiosk_settings(mosquitto.port, port=port)) as kiosk,
            screen(kiosk) as client,
            sse(client, "/t/tm0/events") as page,
        ):
            await page.until(lambda: (page.last_state() or {}).get("phase") == "steady", "the state")
        # The kiosk is gone; the session ended meanwhile. A restarted kiosk on the same address (what the
        # page's EventSource reconnects to) knows only what the broker says now.
        await peer.publish("state", state("idle"), retain=True)
        restarted = time.monotonic()
        async with (
            running_kiosk(kiosk_settings(mosquitto.port, port=port), wait_broker=False) as kiosk,
            screen(kiosk) as client,
            sse(client, "/t/tm0/events") as page,
        ):
            await page.until(lambda: (page.last_state() or {}).get("phase") == "idle", "the true state", 3)
            await page.until(lambda: page.last_availability().get("usable"), "usable", 3)
            assert time.monotonic() - restarted < 3


async def test_a_stopping_kiosk_ends_its_pages_streams_at_once(
    mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stream waits for a message or its next heartbeat; with the heartbeat far away, only the kiosk's
    # shutdown can end it. Ended by the kiosk, the stream is finished properly and the page reads its
    # end; left to the web server's shutdown timeout, it is cut off mid-response (a payload error).
    monkeypatch.setattr(kiosk_web, "HEARTBEAT_S", 600.0)
    kiosk = Kiosk(kiosk_settings(mosquitto.port))
    served = asyncio.Event()

    async def serve() -> None:
        async with kiosk.serving():
            served.set()
            await asyncio.Event().wait()

    serving = asyncio.create_task(serve(), name="kiosk-to-stop")
    try:
        await asyncio.wait_for(served.wait(), 10)
        # Connected first: aiomqtt 2.5 leaves its socket and a task behind when it is cancelled while
        # still connecting, and this test is about the pages' streams.
        await asyncio.wait_for(kiosk.broker.connected.wait(), 10)
        async with screen(kiosk) as client:
            response = await client.get("/t/tm0/events")
            assert response.status == 200
            await wait_until(lambda: kiosk.mirror.listener_count == 1, 5, "the stream to be served")
            serving.cancel()
            stream = await asyncio.wait_for(response.content.read(), 30)
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
    assert b"event: snapshot" in stream
    assert kiosk.mirror.listener_count == 0
