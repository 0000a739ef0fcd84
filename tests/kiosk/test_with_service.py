"""A member's session through the kiosk, against the real service driving treadsim through the virtual
Bluetooth adapter, over a real mosquitto: every answer is the service's own, every speed treadsim's."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.mqtt.mqtt_broker import Mosquitto
from tests.plugins.virtual_adapter import SimulatorFactory
from tests.service.harness import healthy_screening, running_rig
from treadsim.model import BeltState

from .kiosk_rig import kiosk_settings, running_kiosk, screen, sse

FAST = 8.0


async def test_a_member_walks_and_stops_through_the_kiosk(
    simulator_factory: SimulatorFactory, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    settings = {"broker": {"host": "127.0.0.1", "port": mosquitto.port}, "default_plan": {"cool_down_s": 10}}
    async with (
        running_rig(simulator_factory, tmp_path, speedup=FAST, settings=settings) as rig,
        running_kiosk(kiosk_settings(mosquitto.port, service="test", reply_timeout_s=10.0)) as kiosk,
        screen(kiosk) as client,
        sse(client, "/t/tm0/events") as page,
    ):
        await rig.wait_connected("tm0")
        await page.until(lambda: page.last_availability().get("usable"), "the treadmill usable", 15)
        belt = rig.sim.treadmill(0).treadmill

        # Not screened: the page is told to ask the screening questions, and a start is refused with
        # the service's reason.
        await client.post("/t/tm0/sign-in", json={"user_id": "bo"})
        looked_up = await client.get("/t/tm0/member")
        assert looked_up.status == 200, await looked_up.text()
        bo = (await looked_up.json())["member"]
        assert (bo["user_id"], bo["screening"], bo["next_plan"], bo["sessions"]) == ("bo", "needed", None, [])
        refused = await client.post("/t/tm0/command", json={"command_id": "bo-start", "type": "start"})
        assert refused.status == 409
        assert "screening" in (await refused.json())["reason"]

        await client.post("/t/tm0/sign-in", json={"user_id": "ann"})
        screening = {"command_id": "ann-screen", **healthy_screening("ann")}
        answered = await client.post("/t/tm0/command", json=screening)
        assert answered.status == 200, await answered.text()
        ann = (await (await client.get("/t/tm0/member")).json())["member"]
        assert ann["screening"] == "passed"
        assert ann["next_plan"]["start_speed_kmh"] > 0
        assert ann["plan_notes"]

        # A double tap on Start: one id, two requests, one session.
        start = {"command_id": "ann-start", "type": "start", "plan": {"duration_cap_s": 120}}
        first, second = await asyncio.gather(
            client.post("/t/tm0/command", json=start), client.post("/t/tm0/command", json=start)
        )
        replies = [await first.json(), await second.json()]
        assert [r["status"] for r in replies] == ["accepted", "accepted"]
        assert sorted(r["replayed"] for r in replies) == [False, True]

        await page.until(
            lambda: any(t["speed_kmh"] > 0 and t["session_id"] for t in page.of("telemetry")),
            "the belt moving on the page",
            20,
        )
        started = [e for e in page.of("event") if e["kind"] == "session_started"]
        assert len(started) == 1
        assert started[0]["user_id"] == "ann"
        assert (page.last_state() or {}).get("phase") not in (None, "idle")

        stop = await client.post("/t/tm0/command", json={"command_id": "ann-stop", "type": "stop"})
        assert stop.status == 200
        await page.until(lambda: page.of("summary"), "the summary", 20)
        ended = [e for e in page.of("event") if e["kind"] == "session_ended"]
        assert [e["reason"] for e in ended] == ["kiosk_stop"]
        assert page.of("summary")[0]["user_id"] == "ann"
        await page.until(lambda: belt.state is BeltState.STOPPED, "treadsim's belt stopped", 10)
        # The history the page shows is the member's own, with this session in it.
        history = (await (await client.get("/t/tm0/member")).json())["member"]["sessions"]
        assert [(h["session_id"], h["end_reason"]) for h in history] == [
            (started[0]["session_id"], "kiosk_stop")
        ]
