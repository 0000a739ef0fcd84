"""A treadmill whose Treadmill Data carries no elapsed time, through pyftms, FtmsLink and the runner.

pyftms's own updater reported only fields that changed, so elapsed time (changing every second) was once
what told a steady belt from a silent link, and such treadmills were refused. Every record with a speed
is now a sample, and the session rules count retrowalk's own time: a steady belt keeps its session going
and silence still ends it. Judged by what the runner published.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from unittest import mock

from retrowalk.link.ftms import FtmsLink
from retrowalk.session import events as ev
from retrowalk.session.plan import SessionPlan
from tests.plugins.in_process_treadmill import HANG_S, in_process_rig, start_session
from treadsim.ftms import (
    FEATURE,
    FEATURE_ELAPSED_TIME,
    TREADMILL_DATA,
    Features,
    decode_treadmill_data,
    encode_treadmill_data,
)
from treadsim.gatt_table import FEATURES

from .test_real_behaviours import tick_until

STALE_S = 0.5
PLAN = SessionPlan(stale_telemetry_s=STALE_S)


def without_elapsed_time(char_uuid: str, value: bytes) -> list[bytes]:
    """Treadmill Data re-encoded without its elapsed time (flag bit 10 and its two bytes)."""
    if char_uuid != TREADMILL_DATA:
        return [value]
    more_data, record = decode_treadmill_data(value)
    assert not more_data, "this treadmill sends whole records"
    return encode_treadmill_data(dataclasses.replace(record, elapsed_s=None), payload_size=512)


def no_treadmill_data(char_uuid: str, value: bytes) -> list[bytes]:
    return [] if char_uuid == TREADMILL_DATA else [value]


def reading_no_elapsed_time_feature(read: Callable[[str], bytes]) -> Callable[[str], bytes]:
    """The peripheral's reads, with a Feature characteristic that does not offer elapsed time."""
    no_elapsed = Features(FEATURES.machine & ~FEATURE_ELAPSED_TIME, FEATURES.target_setting)

    def read_char(char_uuid: str) -> bytes:
        return no_elapsed.encode() if char_uuid == FEATURE else read(char_uuid)

    return read_char


async def test_a_steady_belt_without_elapsed_time_keeps_its_session_and_silence_still_ends_it() -> None:
    async with in_process_rig(link_up_stop=False) as rig:
        # In place before the link connects (the runner has not run yet): the treadmill neither offers
        # elapsed time among its features nor sends it.
        rig.tamper = without_elapsed_time
        features = reading_no_elapsed_time_feature(rig.peripheral.read)
        with mock.patch.object(rig.peripheral, "read", side_effect=features):
            await asyncio.wait_for(rig.runner.ready.wait(), HANG_S)
            link = rig.runner.link
            assert isinstance(link, FtmsLink)
            await tick_until(rig, lambda: link.info is not None, "the link to read the treadmill")
            info = link.info
            assert info is not None
            assert not info.reports_elapsed_time
            await start_session(rig, PLAN)  # once refused: "the treadmill does not report elapsed time"
            # A steady belt: records that differ in nothing (once, only one sample). Samples for several
            # times the stale-data limit, and the session runs on.
            steady_since = time.monotonic()
            before = len(rig.telemetry())
            await tick_until(
                rig,
                lambda: time.monotonic() - steady_since > 4 * STALE_S and len(rig.telemetry()) - before > 8,
                "a steady belt reported for four stale-data limits",
            )
            assert rig.ended() == []
            assert rig.engine.phase in ev.ACTIVE_PHASES
            rig.tamper = no_treadmill_data
            await tick_until(rig, lambda: bool(rig.ended()), "the session to end on silence")
            assert rig.ended()[0].reason == ev.EndReason.STALE_TELEMETRY.value
