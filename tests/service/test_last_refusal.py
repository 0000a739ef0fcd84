"""Home Assistant's *Last refusal* topic is retained: every client the broker lets in reads it, and it
outlives restarts. Against the real service and a real mosquitto, refusals whose words name the person,
their pain score and their screening answers reach the sender in full, while *Last refusal* carries
only the command, the code and that code's plain sentence."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.mqtt.mqtt_broker import Mosquitto
from tests.mqtt.mqtt_helpers import collecting, send
from tests.plugins.virtual_adapter import SimulatorFactory, wait_until

from .harness import healthy_screening, running_rig

PREFIX = "retrowalk/v1/"
COMMANDS = f"{PREFIX}treadmill/tm0/command"
PAIN = 9  # at or above the referral score, so the refusal's words name it
SEE_CLINICIAN = (
    "the walker should see a clinician first (a screening answer or the pain rule); "
    "'retrowalk user show' says why"
)


async def test_last_refusal_names_no_person_no_score_and_no_screening_answer(
    simulator_factory: SimulatorFactory, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    settings = {
        "broker": {"host": "127.0.0.1", "port": mosquitto.port},
        "home_assistant": {"walkers": ["annika", "cyrus"]},
    }
    async with (
        running_rig(simulator_factory, tmp_path, settings=settings) as rig,
        collecting(mosquitto, (f"{PREFIX}#",)) as seen,
    ):

        def reply_to(command_id: str) -> dict[str, Any] | None:
            return next((r for r in seen.json_on("tm0/reply") if r["command_id"] == command_id), None)

        def kept_for(command_id: str) -> dict[str, Any] | None:
            return next((r for r in seen.json_on("tm0/last_refusal") if r["command_id"] == command_id), None)

        async def command(command_id: str, fields: dict[str, Any]) -> dict[str, Any]:
            await send(mosquitto, COMMANDS, json.dumps({"command_id": command_id, **fields}))
            await wait_until(lambda: reply_to(command_id) is not None, 10, f"the reply to {command_id}")
            reply = reply_to(command_id)
            assert reply is not None
            return reply

        async def refused(command_id: str, fields: dict[str, Any], code: str) -> tuple[str, dict[str, Any]]:
            """The reply's reason, and what *Last refusal* kept of the same refusal."""
            reply = await command(command_id, fields)
            assert (reply["status"], reply["code"]) == ("refused", code), reply
            await wait_until(lambda: kept_for(command_id) is not None, 10, f"{command_id} on last_refusal")
            kept = kept_for(command_id)
            assert kept is not None
            return reply["reason"], kept

        await rig.wait_connected("tm0")
        # The service subscribes to commands before it says it is online.
        online = f"{PREFIX}service/test/availability"
        await wait_until(
            lambda: [m.payload for m in seen.on(online)][-1:] == [b"online"], 10, "the service online"
        )
        balance = {**healthy_screening("annika"), "balance_disorder_or_dizziness": True}
        assert (await command("s-annika", balance))["status"] == "accepted"
        assert (await command("s-cyrus", healthy_screening("cyrus")))["status"] == "accepted"
        before = {"type": "pain_report", "user_id": "cyrus", "when": "before", "pain": PAIN}
        assert (await command("p-cyrus", before))["status"] == "accepted"

        cases = [
            # A select naming someone who is not a walker: the reply lists the walkers by name.
            (await refused("w-1", {"type": "select_walker", "user_id": "bodil"}, "no_walker"), "bodil"),
            # The screening's "yes": the reply names the person and the answer.
            (await refused("g-1", {"type": "start", "user_id": "annika"}, "see_clinician"), "annika"),
            # A red-flag "before" score: the reply names the person and the score.
            (await refused("g-2", {"type": "start", "user_id": "cyrus"}, "see_clinician"), "cyrus"),
            # Pain after a session the person never had, with the score in the payload.
            (await refused("p-2", {**before, "when": "after"}, "no_session"), "cyrus"),
        ]

    private = [rf"\b{name}\b" for name in ("annika", "bodil", "cyrus")]
    private += [rf"\b{PAIN}\b", r"balance|dizziness"]
    for (reason, kept), person in cases:
        # The sender's reply has the words (else this test would prove nothing) ...
        assert re.search(rf"\b{person}\b", reason), reason
        # ... and the retained topic none of them, in any field; `at` is the refusal's time.
        public = json.dumps({k: v for k, v in kept.items() if k != "at"})
        assert [p for p in private if re.search(p, public)] == [], public
    reasons = [reason for (reason, _), _ in cases]
    assert re.search(rf"\bpain {PAIN}/10\b", reasons[2]), reasons[2]
    assert "balance disorder or dizziness" in reasons[1], reasons[1]
    # What Home Assistant shows: the command and a plain reason that still says what to do.
    assert [(kept["command_type"], kept["code"], kept["reason"]) for (_, kept), _ in cases] == [
        (
            "select_walker",
            "no_walker",
            "no walker chosen, or not one of the service's walkers: choose one in Walker",
        ),
        ("start", "see_clinician", SEE_CLINICIAN),
        ("start", "see_clinician", SEE_CLINICIAN),
        ("pain_report", "no_session", "no session to record this for: nothing recorded"),
    ]
