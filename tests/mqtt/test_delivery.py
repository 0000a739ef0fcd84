"""Nothing lost: events and summaries survive broker outages and service restarts (at least once, same
event_id); telemetry is dropped while the broker is away; retained state and availability come back."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import socket
from datetime import UTC, datetime, timedelta

import pytest

from retrowalk.mqtt.aiomqtt_private import paho_client
from retrowalk.mqtt.payloads import (
    CapWarning,
    EventPayload,
    LinkLost,
    OverspeedCorrected,
    PhaseChanged,
    PlanInfo,
    SessionEnded,
    SessionStarted,
    SessionSummary,
    Telemetry,
    TreadmillState,
)
from retrowalk.mqtt.telemetry_wire import TelemetryFrame
from retrowalk.storage import Store

from .mqtt_broker import Mosquitto
from .mqtt_helpers import PREFIX, RecordingHandler, collecting, running_bridge, settings_for, wait_until

PLAN = PlanInfo(
    start_speed_kmh=1.0, max_speed_kmh=2.0, ramp_step_kmh=0.1, ramp_interval_s=45, duration_cap_s=300
)


def telemetry(speed: float, elapsed: float) -> Telemetry:
    return Telemetry(
        treadmill_id="tm1", phase="walking", speed_kmh=speed, allowed_speed_kmh=1.2, elapsed_s=elapsed
    )


def summary(session_id: str) -> SessionSummary:
    start = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    return SessionSummary(
        treadmill_id="tm1", session_id=session_id, user_id="ann", started_at=start,
        ended_at=start + timedelta(minutes=5), end_reason="cap_reached", walked_s=300, distance_m=120,
        max_speed_kmh=1.4,
    )  # fmt: skip


async def test_broker_outage_mid_session_loses_no_event_and_no_summary(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    settings = settings_for(mosquitto)
    async with collecting(mosquitto) as seen, running_bridge(settings, store, handler) as bridge:
        bridge.treadmill_online("tm1", True)
        await asyncio.wait_for(bridge.connected.wait(), 5)
        before = SessionStarted(treadmill_id="tm1", session_id="s1", user_id="ann", plan=PLAN)
        bridge.publish_event("tm1", before)
        bridge.publish_telemetry("tm1", telemetry(1.0, 10))
        await seen.wait_json("tm1/event")
        await seen.wait_json("tm1/telemetry")

        mosquitto.stop()
        await wait_until(lambda: not bridge.status.connected, "the bridge to notice the outage")
        during: list[EventPayload] = [
            PhaseChanged(treadmill_id="tm1", session_id="s1", from_phase="familiarisation", to_phase="ramp"),
            OverspeedCorrected(treadmill_id="tm1", session_id="s1", measured_kmh=1.6, allowed_kmh=1.2,
                               commanded_kmh=1.2),
            CapWarning(treadmill_id="tm1", session_id="s1", remaining_s=60),
            SessionEnded(treadmill_id="tm1", session_id="s1", reason="cap_reached"),
        ]  # fmt: skip
        for event in during:
            bridge.publish_event("tm1", event)
        dropped_before = bridge.status.telemetry_dropped
        bridge.publish_telemetry("tm1", telemetry(1.9, 20))  # dropped: the broker is away
        bridge.publish_summary("tm1", summary("s1"))
        assert store.outbox_count() == 5
        assert bridge.status.telemetry_dropped == dropped_before + 1
        await asyncio.sleep(0.5)  # a few reconnect attempts fail meanwhile

        mosquitto.start()
        events = await seen.wait_json("tm1/event", 5, within_s=10)
        summaries = await seen.wait_json("tm1/summary", 1, within_s=10)
        await wait_until(lambda: store.outbox_count() == 0, "the outbox to empty")

    sent_ids = {str(e.event_id) for e in [before, *during]}
    got_ids = {e["event_id"] for e in events}
    assert got_ids == sent_ids
    assert [e["kind"] for e in events if e["event_id"] != str(before.event_id)] == [
        "phase_changed", "overspeed_corrected", "cap_warning", "session_ended"
    ]  # fmt: skip
    assert summaries[0]["session_id"] == "s1"
    assert summaries[0]["end_reason"] == "cap_reached"
    # The sample sent during the outage never arrived; the one from before did (and the broker hands its
    # retained copy to the subscriber again after the restart).
    live = [
        json.loads(m.payload)
        for m in seen.on("tm1/telemetry")
        if not m.retain and isinstance(m.payload, bytes)
    ]
    assert [t["speed_kmh"] for t in live] == [1.0]
    assert {
        json.loads(m.payload)["at"] for m in seen.on("tm1/telemetry") if isinstance(m.payload, bytes)
    } == {live[0]["at"]}


async def test_a_service_restart_delivers_what_was_left_in_the_outbox(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    settings = settings_for(mosquitto)
    mosquitto.stop()
    pending: list[EventPayload] = [
        LinkLost(treadmill_id="tm1", session_id="s2", detail="no data for 3 s"),
        SessionEnded(treadmill_id="tm1", session_id="s2", reason="link_lost"),
    ]
    async with running_bridge(settings, store, handler) as bridge:
        for event in pending:
            bridge.publish_event("tm1", event)
        bridge.publish_summary("tm1", summary("s2"))
        # It tried the broker and failed before it was stopped: nothing could have been delivered.
        await wait_until(lambda: bridge.status.last_error is not None, "a failed connection attempt")
    # The service stopped with three messages undelivered; it starts again on the same database.
    store.close()
    reopened = Store(store.path)
    try:
        assert reopened.outbox_count() == 3
        mosquitto.start()
        async with collecting(mosquitto) as seen, running_bridge(settings, reopened, handler):
            events = await seen.wait_json("tm1/event", 2, within_s=10)
            summaries = await seen.wait_json("tm1/summary", 1, within_s=10)
            await wait_until(lambda: reopened.outbox_count() == 0, "the outbox to empty")
        assert [e["event_id"] for e in events] == [str(e.event_id) for e in pending]
        assert summaries[0]["session_id"] == "s2"
    finally:
        reopened.close()
        store.__init__(store.path)  # type: ignore[misc]  # the fixture closes it


async def test_retained_state_and_availability_reach_late_subscribers_and_survive_an_outage(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    settings = settings_for(mosquitto)
    state = TreadmillState(
        treadmill_id="tm1", connected=True, phase="walking", session_id="s3", user_id="ann", plan=PLAN
    )
    async with running_bridge(settings, store, handler) as bridge:
        bridge.treadmill_online("tm1", True)
        bridge.publish_state("tm1", state)
        await asyncio.wait_for(bridge.connected.wait(), 5)
        await wait_until(lambda: bridge.status.retained_pending == 0, "retained messages sent")
        async with collecting(mosquitto, client_id="late-1") as late:
            await late.wait_json("tm1/state")
            await wait_until(lambda: bool(late.on("service/svc1/availability")), "service availability")
            await wait_until(lambda: bool(late.on("tm1/availability")), "treadmill availability")
        assert late.json_on("tm1/state")[0]["phase"] == "walking"
        assert late.on("service/svc1/availability")[-1].payload == b"online"
        assert late.on("tm1/availability")[-1].payload == b"online"
        assert all(m.retain for m in late.messages)

        # A broker restart without persistence of retained messages would lose them: the bridge
        # re-publishes its retained truth on every connect. Wipe the broker's store to prove it.
        mosquitto.stop()
        for db in mosquitto.directory.glob("*.db"):
            db.unlink()
        bridge.publish_state("tm1", state.model_copy(update={"phase": "paused"}))
        mosquitto.start()
        await asyncio.wait_for(bridge.connected.wait(), 5)
        async with collecting(mosquitto, client_id="late-2") as late2:
            await late2.wait_json("tm1/state")
            await wait_until(lambda: bool(late2.on("tm1/availability")), "treadmill availability")
        assert late2.json_on("tm1/state")[-1]["phase"] == "paused"

    # An orderly shutdown says offline itself (the last will covers crashes).
    async with collecting(mosquitto, client_id="late-3") as late3:
        await wait_until(lambda: bool(late3.on("service/svc1/availability")), "service availability")
    assert late3.on("service/svc1/availability")[-1].payload == b"offline"


async def test_the_last_will_marks_the_service_offline_when_it_vanishes(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler
) -> None:
    settings = settings_for(mosquitto, keepalive=5)
    service_topics = (f"{PREFIX}service/#",)
    async with (
        collecting(mosquitto, service_topics) as seen,
        running_bridge(settings, store, handler) as bridge,
    ):
        await asyncio.wait_for(bridge.connected.wait(), 5)
        await wait_until(lambda: seen.on("availability") != [], "online")
        # Cut the connection without a DISCONNECT packet, as a crash or a pulled cable would.
        client = bridge._client  # noqa: SLF001 the test cuts the bridge's own live connection
        assert client is not None
        sock = paho_client(client).socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        await wait_until(
            lambda: any(m.payload == b"offline" for m in seen.on("availability")), "the will", 10
        )


async def test_telemetry_for_another_treadmill_is_dropped_counted_and_logged_once(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(mosquitto)
    async with collecting(mosquitto) as seen, running_bridge(settings, store, handler) as bridge:
        await asyncio.wait_for(bridge.connected.wait(), 5)
        dropped_before = bridge.status.telemetry_dropped
        with caplog.at_level(logging.ERROR, logger="retrowalk.mqtt.bridge"):
            bridge.publish_telemetry("tm2", telemetry(1.0, 10))  # a payload of tm1's, as tm2
        bridge.publish_telemetry("tm1", telemetry(1.1, 11))
        await seen.wait_json("tm1/telemetry")
        assert bridge.status.telemetry_dropped == dropped_before + 1
        refusals = [r for r in caplog.records if "published as treadmill" in r.getMessage()]
        assert [r.getMessage() for r in refusals] == [
            "mqtt: payload for 'tm1' published as treadmill 'tm2'; dropped"
        ]
        # tm1's sample was queued after it, to the same sender: tm2's would have arrived first.
        assert seen.on("tm2/telemetry") == []


async def test_a_sample_the_schema_refuses_is_dropped_counted_and_logged_not_sent_as_null(
    mosquitto: Mosquitto, store: Store, handler: RecordingHandler, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(mosquitto)
    at = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    endless = TelemetryFrame("tm1", at, "ramp", "s1", 1.0, 1.2, None, None, math.inf, None, None)
    good = TelemetryFrame("tm1", at, "ramp", "s1", 1.1, 1.2, None, None, 12.0, None, None)
    async with collecting(mosquitto) as seen, running_bridge(settings, store, handler) as bridge:
        await asyncio.wait_for(bridge.connected.wait(), 5)
        dropped_before = bridge.status.telemetry_dropped
        with caplog.at_level(logging.ERROR, logger="retrowalk.mqtt.bridge"):
            bridge.publish_telemetry("tm1", endless)
        bridge.publish_telemetry("tm1", good)
        # The good sample was queued after the refused one, to the same sender: it would have come second.
        received = await seen.wait_json("tm1/telemetry")
        assert [sample["elapsed_s"] for sample in received] == [12.0]
        assert bridge.status.telemetry_dropped == dropped_before + 1
        assert [r.getMessage() for r in caplog.records if "not published" in r.getMessage()] == [
            "[tm1] telemetry sample not published: telemetry elapsed_s must be a finite number, got inf"
        ]
