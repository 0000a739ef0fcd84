"""A kiosk drives the real service over a real mosquitto; the service drives treadsim through the adapter.

This is the gym flow end to end: screening, start, live telemetry, events, the summary, replies to every
command, a bad payload refused without anything moving, and Home Assistant discovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import aiomqtt

from tests.mqtt.mqtt_broker import Mosquitto
from tests.plugins.virtual_adapter import SimulatorFactory, wait_until
from treadsim.model import BeltState

from .harness import running_rig
from .served import decoded

FAST = 8.0
PREFIX = "retrowalk/v1/"


class Kiosk:
    """A scripted kiosk: keeps every message it receives, by topic."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.messages: list[tuple[str, Any]] = []

    async def listen(self) -> None:
        async for message in self.client.messages:
            self.messages.append((str(message.topic), decoded(message)))

    def on(self, leaf: str) -> list[Any]:
        return [v for t, v in self.messages if t.endswith(leaf)]

    def reply(self, command_id: str) -> dict[str, Any] | None:
        return next((r for r in self.on("/tm0/reply") if r.get("command_id") == command_id), None)

    async def send(self, payload: dict[str, Any] | str) -> None:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        await self.client.publish(f"{PREFIX}treadmill/tm0/command", body, qos=1)


async def test_a_kiosk_runs_a_session_over_mqtt(
    simulator_factory: SimulatorFactory, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    broker = mosquitto
    settings = {
        "broker": {"host": "127.0.0.1", "port": broker.port},
        "default_plan": {"cool_down_s": 10},
    }
    async with (
        running_rig(simulator_factory, tmp_path, speedup=FAST, settings=settings) as rig,
        aiomqtt.Client("127.0.0.1", broker.port, identifier="kiosk-test") as client,
    ):
        kiosk = Kiosk(client)
        await client.subscribe(f"{PREFIX}#", qos=1)
        await client.subscribe("homeassistant/#", qos=1)
        listener = asyncio.create_task(kiosk.listen(), name="kiosk-listener")
        try:
            await rig.wait_connected("tm0")
            treadmill = rig.sim.treadmill(0).treadmill

            await kiosk.send("this is not json")
            await kiosk.send({"command_id": "bad-1", "type": "start", "user_id": "ana", "speed": 9})
            await kiosk.send(
                {
                    "command_id": "s-1",
                    "type": "screening",
                    "user_id": "ana",
                    "age": 58,
                    "severe_knee_oa": False,
                    "ligament_injury": False,
                    "balance_disorder_or_dizziness": False,
                    "recent_knee_surgery": False,
                }
            )
            await wait_until(lambda: kiosk.reply("s-1") is not None, 10, "screening reply")
            assert kiosk.reply("s-1")["status"] == "accepted"  # type: ignore[index]
            bad = kiosk.reply("bad-1")
            assert bad is not None
            assert bad["status"] == "invalid"
            assert any("speed" in e["loc"] for e in bad["errors"]), bad
            assert all(e.state is not BeltState.RUNNING for e in treadmill.record)

            start = {
                "command_id": "go-1",
                "type": "start",
                "user_id": "ana",
                "plan": {"duration_cap_s": 60},
            }
            await kiosk.send(start)
            await wait_until(lambda: kiosk.reply("go-1") is not None, 10, "start reply")
            assert kiosk.reply("go-1")["status"] == "accepted"  # type: ignore[index]
            # The same command again is answered again and not applied twice.
            await kiosk.send(start)
            await wait_until(
                lambda: sum(1 for r in kiosk.on("/tm0/reply") if r.get("command_id") == "go-1") >= 2,
                10,
                "repeated reply",
            )
            # The pain after a session, sent while it still runs, is refused and names the session.
            pain = {"type": "pain_report", "user_id": "ana", "when": "after", "pain": 2}
            await kiosk.send({"command_id": "pa-0", **pain})
            await wait_until(lambda: kiosk.reply("pa-0") is not None, 10, "refused pain reply")
            early = kiosk.reply("pa-0")
            assert early is not None
            assert (early["status"], early["code"], early["session_id"]) == (
                "refused",
                "already_walking",
                None,
            )
            running = rig.service.runners["tm0"].engine
            assert running is not None
            assert early["reason"].startswith(f"nothing recorded: ana's session {running.session_id} on tm0")
            await wait_until(
                lambda: bool(kiosk.on("/tm0/summary")), (60 + 60 + 10 + 30) / FAST + 15, "summary"
            )
            # Once it has ended, the same report is taken, and the reply names the session it went to.
            await kiosk.send({"command_id": "pa-1", **pain})
            await wait_until(lambda: kiosk.reply("pa-1") is not None, 10, "pain reply")
            after = kiosk.reply("pa-1")
            assert after is not None
            assert (after["status"], after["session_id"]) == (
                "accepted",
                kiosk.on("/tm0/summary")[0]["session_id"],
            )

            events = kiosk.on("/tm0/event")
            kinds = [e["kind"] for e in events]
            assert kinds.count("session_started") == 1
            assert kinds.count("session_ended") == 1
            assert "phase_changed" in kinds
            ended = next(e for e in events if e["kind"] == "session_ended")
            assert ended["reason"] == "completed"
            summary = kiosk.on("/tm0/summary")[0]
            assert summary["user_id"] == "ana"
            assert summary["walked_s"] >= 60
            telemetry = kiosk.on("/tm0/telemetry")
            assert telemetry
            assert all(t["speed_kmh"] <= t["allowed_speed_kmh"] + 0.3 for t in telemetry if t["session_id"])
            states = kiosk.on("/tm0/state")
            assert states[-1]["connected"] is True
            assert kiosk.on("/tm0/availability")[-1] == "online"
            discovery = [v for t, v in kiosk.messages if t.startswith("homeassistant/device/")]
            assert discovery
            assert "cmps" in discovery[-1]
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
