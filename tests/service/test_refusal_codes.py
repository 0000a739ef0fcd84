"""Each refusal code comes from the service where it should: the real command path (screening, the
progression, the plan, the engine's phases) against treadsim, one command per code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from retrowalk.errors import REFUSAL_CODES, RefusedError
from tests.plugins.virtual_adapter import SimulatorFactory
from treadsim.server import treadmill_address

from .harness import Rig, healthy_screening, running_rig

# A configured treadmill that is never in range: it is never connected.
ABSENT = {"id": "tm9", "address": treadmill_address(99)}


async def refusal_code(rig: Rig, treadmill_id: str, payload: dict[str, Any]) -> str:
    with pytest.raises(RefusedError) as caught:
        await rig.command(treadmill_id, payload)
    return caught.value.code


async def test_each_refusal_has_the_code_a_kiosk_acts_on(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    settings = {
        "treadmills": [
            {"id": "tm0", "address": treadmill_address(0)},
            {"id": "tm1", "address": treadmill_address(1)},
            ABSENT,
        ],
        "home_assistant": {"walkers": ["ann"]},
    }
    async with running_rig(simulator_factory, tmp_path, treadmills=2, settings=settings) as rig:
        await rig.wait_connected("tm0")
        await rig.wait_connected("tm1")
        codes: dict[str, str] = {}
        start = {"type": "start", "user_id": "ann"}

        codes["screening_needed"] = await refusal_code(rig, "tm0", start)
        # Nobody may start yet, so Home Assistant has no walker to start.
        codes["no_walker"] = await refusal_code(rig, "tm0", {"type": "start_walker"})
        await rig.command("tm0", healthy_screening("ann"))
        codes["no_session"] = await refusal_code(
            rig, "tm0", {"type": "pain_report", "user_id": "ann", "when": "after", "pain": 1}
        )
        codes["plan_refused"] = await refusal_code(rig, "tm0", {**start, "plan": {"max_speed_kmh": 3.4}})
        codes["not_connected"] = await refusal_code(rig, "tm9", start)
        codes["wrong_phase"] = await refusal_code(rig, "tm0", {"type": "pause"})
        past = (datetime.now(UTC) - timedelta(days=1)).date()
        clearance = {"type": "clearance", "user_id": "ann", "cleared_by": "Dr. Lind", "valid_until": past}
        codes["other"] = await refusal_code(rig, "tm0", clearance)
        with pytest.raises(RefusedError) as unknown:
            await rig.command("ghost", {"type": "stop"})
        codes["unknown_treadmill"] = unknown.value.code

        await rig.command("tm0", {**healthy_screening("bo"), "balance_disorder_or_dizziness": True})
        codes["see_clinician"] = await refusal_code(rig, "tm0", {**start, "user_id": "bo"})

        await rig.command("tm0", start)
        codes["already_walking"] = await refusal_code(rig, "tm1", start)
        await rig.command("tm0", {"type": "stop"})

    assert codes == {code: code for code in REFUSAL_CODES}
