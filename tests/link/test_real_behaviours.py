"""What real treadmills do that the FTMS text does not say (the shared recordings' README), each on the
treadsim quirk that reproduces it, through unmodified pyftms, FtmsLink and the runner (the in-process
rig). Judged by what reached the simulated treadmill (its belt record, the writes it received) and by
what the link reported, never by what the link says about itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from unittest import mock

import pytest

from retrowalk.link.echo import WindDownFilter
from retrowalk.link.events import LinkEvents, Sample, StatusChange
from retrowalk.link.ftms import FtmsLink, LinkSettings
from retrowalk.mqtt import payloads as p
from retrowalk.session import events as ev
from retrowalk.session.events import MachineStatusKind, PauseBelt, SetTargetSpeed, StartBelt, StopBelt
from retrowalk.session.safety_constants import ORPHAN_WINDOW_S
from tests.plugins.in_process_treadmill import HANG_S, TreadmillRig, in_process_rig, start_session
from treadsim.ftms import MACHINE_STATUS, TREADMILL_DATA, ControlOp, MachineStatusCode
from treadsim.model import BeltState, ChangeSource, TreadmillSpec
from treadsim.quirks import spec_for_quirks

TICK_S = 0.01


async def tick_until(rig: TreadmillRig, done: Callable[[], bool], what: str, within: float = HANG_S) -> None:
    """Let the treadmill run (its records, its quirks) until ``done`` holds; fail after ``within`` s."""
    deadline = time.monotonic() + within
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within} s waiting for {what}")
        rig.tick()
        await asyncio.sleep(TICK_S)


def link_reports() -> mock._patch[mock.MagicMock]:
    """Records every event a link puts on its stream on the way to the runner (``call_args_list``)."""
    return mock.patch.object(LinkEvents, "put", autospec=True, side_effect=LinkEvents.put)


# ------------------------------------------------------------------------------ all-zero incline range


async def test_an_all_zero_inclination_range_means_no_incline_whatever_the_command_answers() -> None:
    async with in_process_rig(quirks=("zero-incline-range",)) as rig:
        link = rig.runner.link
        assert isinstance(link, FtmsLink)
        info = link.info
        assert info is not None
        assert info.incline_range is None
        assert not info.can_set_incline
        since = len(rig.delivery.writes)
        await start_session(rig)
        written = [frame for _allowed, frame in rig.delivery.writes[since:]]
        assert any(frame[0] == ControlOp.START_RESUME for frame in written)  # the session did start
        assert not [frame for frame in written if frame[0] == ControlOp.SET_TARGET_INCLINATION]


# ------------------------------------------------------------------------------ wind-down status spam

# A belt that winds down from 3 km/h in 3 s, long enough for about nine reports at three a second.
SLOW_DOWN = dataclasses.replace(TreadmillSpec(), acceleration_kmh_s=500.0, deceleration_kmh_s=1.0)


def counting_target_reports(sent: list[bytes]) -> Callable[[str, bytes], list[bytes]]:
    """A tamper hook that passes everything on and keeps the "target speed changed" reports in ``sent``."""

    def count(char_uuid: str, value: bytes) -> list[bytes]:
        if char_uuid == MACHINE_STATUS and value[0] == MachineStatusCode.TARGET_SPEED_CHANGED:
            sent.append(value)
        return [value]

    return count


def console_speed_reports(put: mock.MagicMock) -> list[StatusChange]:
    """The "target speed changed" reports the link passed on as a person's (to the runner)."""
    events = [call.args[1] for call in put.call_args_list]
    return [
        e for e in events if isinstance(e, StatusChange) and e.kind is MachineStatusKind.TARGET_SPEED_CHANGED
    ]


async def test_target_speed_reports_of_a_belt_winding_down_by_itself_are_not_a_person_at_the_console() -> (
    None
):
    async with in_process_rig(quirks=("wind-down-status",), spec=SLOW_DOWN) as rig:
        # A belt set moving within the orphan window after connecting, with no session, is stopped as an
        # orphan (belt_watch) before it reaches 3 km/h: start it at the console once the window is over.
        connected = time.monotonic()
        await tick_until(
            rig, lambda: time.monotonic() > connected + ORPHAN_WINDOW_S, "the orphan window to pass"
        )
        now = time.monotonic()
        rig.peripheral.press_start(now)
        rig.peripheral.console_set_speed(now, 3.0)
        await tick_until(rig, lambda: rig.peripheral.treadmill.speed_kmh == 3.0, "the belt at 3 km/h")
        sent: list[bytes] = []
        rig.tamper = counting_target_reports(sent)
        with link_reports() as put:
            rig.peripheral.press_stop(time.monotonic())
            await tick_until(rig, lambda: rig.peripheral.treadmill.speed_kmh == 0.0, "the belt to stop")
            await rig.settle()
        assert len(sent) >= 6, f"the quirk sent only {len(sent)} reports"
        # The first report of the burst too: the belt is coming to a halt (stopped at the console, or by
        # retrowalk as a belt found moving with no session) and the report is no faster than it was.
        assert console_speed_reports(put) == []


# The UREVO E1L as treadsim models it, winding down at 0.5 km/h per second: about six reports from 0.96.
UREVO_WINDING_DOWN = dataclasses.replace(
    spec_for_quirks(("urevo-e1l",)), acceleration_kmh_s=500.0, deceleration_kmh_s=0.5
)


async def test_on_the_urevo_the_wind_down_after_retrowalks_stop_is_no_console_change() -> None:
    async with in_process_rig(quirks=("urevo-e1l",), spec=UREVO_WINDING_DOWN) as rig:
        sent: list[bytes] = []
        await start_session(rig)
        await tick_until(rig, lambda: rig.peripheral.treadmill.speed_kmh == 0.96, "the belt at 0.96 km/h")
        rig.tamper = counting_target_reports(sent)
        with link_reports() as put:
            await rig.runner.submit(ev.Stop())
            await tick_until(rig, lambda: rig.peripheral.treadmill.speed_kmh == 0.0, "the belt to stop")
            await rig.settle()
        assert len(sent) >= 3, f"the quirk sent only {len(sent)} reports"
        assert console_speed_reports(put) == []


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reports(filter_: WindDownFilter, clock: Clock, values: list[tuple[float, float]]) -> list[float]:
    """The target speeds (reported after the given seconds) that get through as a person's."""
    through = []
    for after_s, value in values:
        clock.now += after_s
        if not filter_.is_wind_down(MachineStatusKind.TARGET_SPEED_CHANGED, value):
            through.append(value)
    return through


def test_a_speed_up_at_the_console_is_never_taken_for_a_wind_down() -> None:
    clock = Clock()
    burst = [(0.0, 2.09), (0.3, 1.93), (0.3, 2.5), (0.3, 2.2), (0.3, 3.0)]
    assert reports(WindDownFilter(clock), clock, burst) == [2.09, 2.5, 3.0]


def test_reports_a_second_or_more_apart_are_a_person_at_the_console() -> None:
    clock = Clock()
    presses = [(0.0, 2.0), (1.0, 1.9), (1.5, 1.8)]
    assert reports(WindDownFilter(clock), clock, presses) == [2.0, 1.9, 1.8]


def stopped_by_retrowalk_at(belt_kmh: float, set_kmh: float, clock: Clock) -> WindDownFilter:
    """A filter that saw retrowalk set ``set_kmh``, start the belt, measure it at ``belt_kmh`` and stop it."""
    filter_ = WindDownFilter(clock)
    filter_.sent(SetTargetSpeed(set_kmh), set_kmh)
    filter_.sent(StartBelt(), None)
    filter_.measured(belt_kmh)
    filter_.sent(StopBelt(), None)
    return filter_


def test_the_first_report_after_retrowalks_stop_no_faster_than_the_belt_is_the_wind_down() -> None:
    clock = Clock()
    # The recording's stop: the belt at 2.25 km/h, then d1 00 (2.09), c1 00 (1.93) ... every 0.3 s.
    assert reports(stopped_by_retrowalk_at(2.25, 2.25, clock), clock, [(0.2, 2.09), (0.3, 1.93)]) == []
    assert reports(stopped_by_retrowalk_at(2.25, 2.25, clock), clock, [(0.2, 2.25)]) == []


def test_after_retrowalks_stop_a_speed_up_at_the_console_still_counts() -> None:
    clock = Clock()
    # Faster than the belt was measured, or than retrowalk set (the belt running faster than told).
    assert reports(stopped_by_retrowalk_at(1.28, 1.28, clock), clock, [(0.2, 1.6)]) == [1.6]
    assert reports(stopped_by_retrowalk_at(1.6, 0.96, clock), clock, [(0.2, 1.28)]) == [1.28]


def test_a_person_slowing_a_running_belt_still_counts() -> None:
    clock = Clock()
    filter_ = stopped_by_retrowalk_at(1.6, 1.6, clock)
    filter_.sent(StartBelt(), None)
    assert reports(filter_, clock, [(5.0, 1.28)]) == [1.28]


def test_a_stop_or_pause_reported_or_sent_means_the_belt_comes_to_a_halt() -> None:
    clock = Clock()
    filter_ = WindDownFilter(clock)
    filter_.sent(StartBelt(), None)
    filter_.measured(2.0)
    assert not filter_.is_wind_down(MachineStatusKind.USER_PAUSE, None)
    assert reports(filter_, clock, [(0.2, 1.8)]) == []
    assert not filter_.is_wind_down(MachineStatusKind.USER_START, None)  # started at the console again
    assert reports(filter_, clock, [(2.0, 1.5)]) == [1.5]
    filter_.sent(PauseBelt(), None)
    assert reports(filter_, clock, [(2.0, 1.5)]) == []


def test_just_connected_a_report_counts_until_the_belt_was_measured() -> None:
    clock = Clock()
    filter_ = WindDownFilter(clock)
    assert reports(filter_, clock, [(0.0, 2.09)]) == [2.09]  # nothing to compare it with
    filter_.clear()
    filter_.measured(2.25)
    assert reports(filter_, clock, [(2.0, 2.09)]) == []  # the recording: connected to a belt winding down


def test_other_statuses_are_not_wind_down_and_clear_forgets_the_last_report() -> None:
    clock = Clock()
    filter_ = WindDownFilter(clock)
    assert reports(filter_, clock, [(0.0, 2.0)]) == [2.0]
    assert not filter_.is_wind_down(MachineStatusKind.USER_STOP, None)
    filter_.clear()
    assert reports(filter_, clock, [(0.1, 1.9)]) == [1.9]


# ------------------------------------------------------------------------------ no data at all

QUICK = LinkSettings(command_timeout_s=0.5, backoff_initial_s=0.01, backoff_max_s=0.05, no_data_timeout_s=0.5)


async def test_a_treadmill_that_connects_but_sends_nothing_is_dropped_with_a_reason_that_says_so() -> None:
    async with in_process_rig(quirks=("needs-unlock",), timing=QUICK, link_up_stop=False) as rig:
        deadline = time.monotonic() + HANG_S
        while not any(isinstance(item, p.LinkLost) for item in rig.published):
            assert time.monotonic() < deadline, f"no link-lost event, only {rig.published}"
            rig.tick()
            await asyncio.sleep(TICK_S)
        lost = next(item for item in rig.published if isinstance(item, p.LinkLost))
        assert lost.detail is not None
        assert "sent no data" in lost.detail
        assert "unlocked" in lost.detail
        assert rig.peripheral.treadmill.state is BeltState.STOPPED


PATIENT = dataclasses.replace(QUICK, no_data_timeout_s=1.0)


async def test_a_treadmill_whose_frames_pyftms_drops_is_not_taken_for_a_silent_one() -> None:
    # pyftms drops all-zero Treadmill Data frames ("null packets"), which some treadmills send while
    # their belt stands still: no update reaches the link, yet the treadmill is anything but silent.
    frames: list[float] = []

    def all_zeros(char_uuid: str, value: bytes) -> list[bytes]:
        if char_uuid == TREADMILL_DATA:
            frames.append(time.monotonic())
            return [bytes(4)]  # flags 0 (the speed follows), speed 0
        return [value]

    async with in_process_rig(timing=PATIENT) as rig:
        rig.tamper = all_zeros
        await tick_until(
            rig,
            lambda: len(frames) > 1 and frames[-1] - frames[0] > 3 * PATIENT.no_data_timeout_s,
            "3 s of frames",
        )
        await rig.settle()
        assert not [item for item in rig.published if isinstance(item, p.LinkLost)]
        assert rig.runner.link.connected


# ------------------------------------------------------------------------------ which machine data


async def test_a_device_without_treadmill_data_is_not_driven_and_the_log_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="retrowalk")
    async with in_process_rig(quirks=("cross-trainer-only",), timing=QUICK, link_up_stop=False) as rig:
        deadline = time.monotonic() + HANG_S
        while not any("offers no Treadmill Data" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "no refusal in the log"
            await asyncio.sleep(TICK_S)
        assert not rig.runner.link.connected
        assert rig.delivery.writes == []  # not a single command reached it
        assert p.Availability("online") not in rig.published


async def test_a_device_with_cross_trainer_data_too_is_driven_by_its_treadmill_data() -> None:
    async with in_process_rig(quirks=("cross-trainer-data",)) as rig:
        with link_reports() as put:
            await start_session(rig)

            def speeds() -> list[float]:
                return [c.args[1].speed_kmh for c in put.call_args_list if isinstance(c.args[1], Sample)]

            await tick_until(rig, lambda: any(speed > 0 for speed in speeds()), "a moving belt reported")
        # Treadmill Data speaks for the belt; the cross-trainer records went unread (no one subscribed).
        # (to the 0.01 km/h resolution of the frame; the belt may still be accelerating)
        belt = rig.peripheral.treadmill.speed_kmh
        assert any(abs(speed - belt) <= 0.011 for speed in speeds() if speed > 0), (belt, speeds())


# ------------------------------------------------------------------------------ Request Control starts


async def test_a_belt_started_by_request_control_is_stopped_before_anything_else() -> None:
    async with in_process_rig(quirks=("request-control-starts",)) as rig:
        # The rig is handed over after the link-up stop was answered: the quirk ran the belt before it.
        record = rig.belt_record()
        runs = [e for e in record if e.state is BeltState.RUNNING and e.source is ChangeSource.CLIENT]
        assert runs, "Request Control did not start the belt: the quirk is not under test"
        assert rig.peripheral.treadmill.state is BeltState.STOPPED
        assert record[-1].time - runs[0].time < 1.0
