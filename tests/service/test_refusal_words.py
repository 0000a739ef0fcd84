"""What a person reads when the service says no, against the simulated treadmill (real bleak and pyftms):
the API's field names, plain words, and the safety key named when it is the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrowalk.errors import RefusedError
from retrowalk.mqtt import payloads as p
from tests.plugins.virtual_adapter import SimulatorFactory, wait_until

from .harness import running_rig


async def test_a_plan_refusal_names_the_fields_the_kiosk_sent(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(simulator_factory, tmp_path) as rig:
        await rig.wait_connected("tm0")
        with pytest.raises(RefusedError) as caught:
            await rig.screen_and_start("tm0", plan={"start_speed_kmh": 2.0, "max_speed_kmh": 1.5})
        assert str(caught.value) == "plan refused: max_speed_kmh=1.5 is below start_speed_kmh=2.0"
        with pytest.raises(RefusedError) as caught:
            await rig.screen_and_start("tm0", plan={"max_speed_kmh": 3.4})
        assert str(caught.value) == (
            "plan refused: max_speed_kmh=3.4 is above the speed ceiling for user 'ana' (3.0 km/h)"
        )


async def test_a_start_with_the_safety_key_out_ends_saying_so(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    async with running_rig(simulator_factory, tmp_path) as rig:
        await rig.wait_connected("tm0")
        assert rig.sim.perform(0, "key", "pull")["ok"]
        await wait_until(lambda: rig.recorder.of(p.SafetyKeyPulled) != [], 5, "the safety key report")
        await rig.screen_and_start("tm0")  # accepted: FTMS cannot say the key is back in
        ended = await rig.wait_ended("tm0", within=15)
    assert ended.reason == "safety_key"
    assert ended.detail == (
        "the treadmill did not start (operation_failed) and its last report said the safety key is out: "
        "put the safety key back in, then start the session again"
    )
