"""Every quirk profile on the in-process treadmill (the ``treadmill`` fixture, real pyftms, FtmsLink and
runner): a session starts, walks for a few seconds of its familiarisation hold, and is stopped from the
kiosk. Judged by treadsim's ground-truth belt record against the plan this test sent (its envelope, from
tests.faults.envelope), never by what the service says about itself.

The long behaviours of the slower quirks (a link drop 10-60 s after connect, a power blip 20-90 s after a
start, a full session to its cap) need the virtual adapter and minutes: test_quirks_service.py runs them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from retrowalk.session import events as ev
from retrowalk.session.plan import SessionPlan
from tests.faults.envelope import Envelope, asked_plan, scaled
from tests.faults.judge import Belt, longest_stretch
from tests.plugins.in_process_treadmill import HANG_S, TreadmillRig, client_starts
from treadsim.model import BeltState

# The plan of a first session (docs/configuration.md's defaults), sent field by field so the judge and the
# service see the same request.
ASKED = asked_plan(None)
PLAN = SessionPlan(
    **{
        name: int(value) if SessionPlan.model_fields[name].annotation is int else value
        for name, value in dataclasses.asdict(ASKED).items()
    }
)
# How long the test walks before the kiosk stop: past own-start-speed's correction (grace 3 s) and
# slow-start-accept's 2.5 s of refused speed commands.
WALK_S = 5.0
# Between the belt crossing a limit and the engine seeing it lies up to one Treadmill Data period.
DETECTION_S = 1.0
# mph-as-kmh runs every speed 1.609 times too fast until retrowalk has seen enough travel to be sure;
# within these few seconds it is judged against the plan in the machine's own unit.
MPH = 1.609344
TICK_S = 0.01


async def walk(rig: TreadmillRig, seconds: float) -> None:
    """Let the treadmill run for ``seconds``, sending its records as it goes (as the real one does)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        rig.tick()
        await asyncio.sleep(TICK_S)


async def stop_and_wait_for_the_belt(rig: TreadmillRig) -> None:
    await asyncio.wait_for(rig.runner.submit(ev.Stop()), HANG_S)
    until = time.monotonic() + 5.0
    while rig.peripheral.treadmill.state is not BeltState.STOPPED and time.monotonic() < until:
        rig.tick()
        await asyncio.sleep(TICK_S)


@pytest.mark.slow
async def test_a_session_on_every_profile_stays_within_the_plan(
    treadmill: TreadmillRig, treadmill_profile: str
) -> None:
    rig = treadmill
    since = rig.belt_record()[-1].time if rig.belt_record() else 0.0
    await rig.runner.submit(ev.Start("walker", PLAN))
    await walk(rig, WALK_S)
    ended_early = rig.ended()
    await stop_and_wait_for_the_belt(rig)
    end_time = time.monotonic()

    assert rig.peripheral.treadmill.state is BeltState.STOPPED, (
        f"{treadmill_profile}: belt still {rig.peripheral.treadmill.state} 5 s after the kiosk stop"
    )
    starts = client_starts(rig.belt_record(), since)
    assert starts, f"{treadmill_profile}: the session never started the belt; ended {rig.ended()}"
    if ended_early:
        # A treadmill the service gave up on: stopped with a reason a person can act on.
        assert ended_early[0].reason != "kiosk_stop", ended_early
        assert ended_early[0].detail, f"{treadmill_profile}: ended with {ended_early[0].reason}, no detail"
    plan = scaled(ASKED, MPH) if treadmill_profile == "mph-as-kmh" else ASKED
    entries = [
        {**dataclasses.asdict(entry), "state": str(entry.state), "source": str(entry.source)}
        for entry in rig.belt_record()
    ]
    t0 = starts[0].time
    envelope = Envelope(plan, entries, t0, end_time)
    over = longest_stretch(Belt(entries), t0, end_time, envelope.limit_at, [])
    assert over <= plan.overspeed_grace_s + DETECTION_S, (
        f"{treadmill_profile}: {over:.2f} s above the plan's allowed speed + {plan.overspeed_tolerance_kmh} "
        f"km/h; record {rig.belt_record()[-6:]}"
    )
    # One summary of the session, however it ended.
    assert len(rig.ended()) == 1, rig.ended()
