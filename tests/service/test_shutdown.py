"""An orderly stop of a real `retrowalk serve` (SIGTERM, what systemd sends): the belt stops, the session
ends as `service_stopped`, and the broker hears the end, the summary, the final state and "offline"
before the process exits; with the broker gone, the outbox keeps them for the next start."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from retrowalk.storage import Store
from tests.mqtt.mqtt_broker import MOSQUITTO

from .served import (
    PREFIX,
    SERVICE_ID,
    assert_belt_stopped_by_retrowalk,
    decoded,
    finished,
    home_with_broker,
    kiosk_on,
    reaped,
    retrowalk,
)

# treadsim serve (a private dbus-daemon), a mosquitto and retrowalk, each a process of its own.
pytestmark = [pytest.mark.slow, pytest.mark.dbus, pytest.mark.mosquitto]

if not MOSQUITTO.exists():
    pytest.skip("mosquitto is not installed (apt-get install mosquitto)", allow_module_level=True)

ENDED_DETAIL = "the service was stopped (SIGTERM); the belt was stopped first"


async def retained(port: int) -> dict[str, Any]:
    """What a kiosk connecting now finds retained on the broker, by topic below the prefix."""
    found: dict[str, Any] = {}
    async with aiomqtt.Client("127.0.0.1", port, identifier="late-kiosk") as client:
        # The broker sends the retained messages right after SUBACK; the last one we expect is the
        # service's availability, so wait for it rather than for a quiet spell.
        await client.subscribe(f"{PREFIX}#", qos=1)
        async for message in client.messages:
            found[str(message.topic).removeprefix(PREFIX)] = decoded(message)
            if {
                f"service/{SERVICE_ID}/availability",
                "treadmill/tm0/state",
                "treadmill/tm0/availability",
            } <= set(found):
                break
    return found


async def test_sigterm_ends_the_session_as_service_stopped_and_the_broker_hears_it_all(
    tmp_path: Path,
) -> None:
    with home_with_broker(tmp_path) as home:
        bus, broker, storage = home.bus, home.broker, home.storage
        async with kiosk_on(broker.port) as kiosk:
            with reaped(retrowalk(["serve", "--config", str(home.config)], bus)) as serve:
                session_id = await kiosk.walking("ana", bus)
                serve.send_signal(signal.SIGTERM)
                _out, err = await finished(serve, within=30)
            assert serve.returncode == 0, err
            assert_belt_stopped_by_retrowalk(bus)

            ended = kiosk.events("session_ended")
            assert [(e["session_id"], e["reason"], e["detail"]) for e in ended] == [
                (session_id, "service_stopped", ENDED_DETAIL)
            ]
            summaries = kiosk.on("/tm0/summary")
            assert [(s["session_id"], s["end_reason"]) for s in summaries] == [
                (session_id, "service_stopped")
            ]
            last_state = kiosk.on("/tm0/state")[-1]
            assert (last_state["phase"], last_state["connected"], last_state["session_id"]) == (
                "idle",
                False,
                None,
            )
        # What a kiosk that connects later finds: nothing running, nothing connected, nobody online.
        found = await retained(broker.port)
        assert found[f"service/{SERVICE_ID}/availability"] == "offline"
        assert found["treadmill/tm0/availability"] == "offline"
        assert (found["treadmill/tm0/state"]["phase"], found["treadmill/tm0/state"]["connected"]) == (
            "idle",
            False,
        )
        assert "everything delivered before exit" in err
    store = Store(storage)
    try:
        assert store.outbox_count() == 0
        (session,) = store.sessions_for_user("ana")
        assert session.end_reason == "service_stopped"
    finally:
        store.close()


async def test_with_the_broker_down_at_shutdown_the_outbox_keeps_the_end_for_the_next_start(
    tmp_path: Path,
) -> None:
    with home_with_broker(tmp_path) as home:
        bus, broker, storage = home.bus, home.broker, home.storage
        serve_args = ["serve", "--config", str(home.config)]
        with reaped(retrowalk(serve_args, bus)) as serve:
            async with kiosk_on(broker.port) as kiosk:
                session_id = await kiosk.walking("ana", bus)
            broker.stop()
            serve.send_signal(signal.SIGTERM)
            _out, err = await finished(serve, within=30)
        assert serve.returncode == 0, err
        assert_belt_stopped_by_retrowalk(bus)
        assert "kept in the outbox for the next start" in err, err

        store = Store(storage)
        try:
            kept = [json.loads(row.payload) for row in store.outbox_pending(limit=1000)]
        finally:
            store.close()
        assert [e["reason"] for e in kept if e["kind"] == "session_ended"] == ["service_stopped"]
        assert [e["end_reason"] for e in kept if e["kind"] == "session_summary"] == ["service_stopped"]

        broker.start()
        async with kiosk_on(broker.port, client_id="kiosk-after-restart") as kiosk:
            with reaped(retrowalk(serve_args, bus)) as again:
                await kiosk.until(lambda: kiosk.on("/tm0/summary"), 30, "the summary kept in the outbox")
                again.send_signal(signal.SIGTERM)
                _out, err = await finished(again, within=30)
            assert again.returncode == 0, err
            ended = kiosk.events("session_ended")
            assert [(e["session_id"], e["reason"], e["detail"]) for e in ended] == [
                (session_id, "service_stopped", ENDED_DETAIL)
            ]
            assert [s["end_reason"] for s in kiosk.on("/tm0/summary")] == ["service_stopped"]
