"""When Home Assistant's "Check the belt" problem sensor goes on and off (retrowalk.mqtt.attention)."""

from __future__ import annotations

import json
import logging

import pytest

from retrowalk.mqtt import attention
from retrowalk.mqtt import payloads as p
from retrowalk.mqtt.home_assistant import HomeAssistantView
from retrowalk.mqtt.topics import Topics

TM = "tm1"


def sample(speed_kmh: float) -> p.Telemetry:
    return p.Telemetry(
        treadmill_id=TM, phase="idle", speed_kmh=speed_kmh, allowed_speed_kmh=0.0, elapsed_s=0.0
    )


def started() -> p.SessionStarted:
    plan = p.PlanInfo(
        start_speed_kmh=1.0, max_speed_kmh=1.5, ramp_step_kmh=0.1, ramp_interval_s=30, duration_cap_s=300
    )
    return p.SessionStarted(treadmill_id=TM, session_id="s2", user_id="me", plan=plan)


def test_a_stop_not_confirmed_asks_for_a_check_until_the_belt_is_seen_standing() -> None:
    clear = attention.all_clear(TM)
    alert = attention.after_event(
        clear, p.StopNotConfirmed(treadmill_id=TM, session_id="s1", detail="check now")
    )
    assert alert.check_belt
    assert alert.detail == "check now"
    assert alert.since is not None
    # Still running: still on, since unchanged.
    assert attention.after_telemetry(alert, sample(1.2)) is alert
    # Another alert keeps the first moment.
    again = attention.after_event(alert, p.LinkLost(treadmill_id=TM, session_id="s1", detail="gone"))
    assert again.since == alert.since
    assert "link was lost" in (again.detail or "")
    assert not attention.after_telemetry(again, sample(0.0)).check_belt


def test_a_link_lost_in_a_session_asks_for_a_check_outside_one_it_does_not() -> None:
    clear = attention.all_clear(TM)
    assert attention.after_event(clear, p.LinkLost(treadmill_id=TM, session_id=None, detail="x")) is clear
    alert = attention.after_event(clear, p.LinkLost(treadmill_id=TM, session_id="s1", detail="out of range"))
    assert alert.check_belt
    assert "out of range" in (alert.detail or "")
    # A new session started on purpose: somebody is at the belt.
    assert not attention.after_event(alert, started()).check_belt


def test_ordinary_events_and_a_standing_belt_leave_a_clear_state_alone() -> None:
    clear = attention.all_clear(TM)
    assert attention.after_event(clear, started()) is clear
    assert attention.after_telemetry(clear, sample(0.0)) is clear
    ended = p.SessionEnded(treadmill_id=TM, session_id="s1", reason="completed")
    assert attention.after_event(clear, ended) is clear


def test_the_belt_check_is_logged_in_the_treadmills_log_context(caplog: pytest.LogCaptureFixture) -> None:
    # The service's log lines read `[tm1] ...` from the record's `treadmill` field, as the runner's do; a
    # treadmill named inside the message would read `[-] [tm1] ...`.
    retained: dict[str, bytes] = {}
    view = HomeAssistantView(
        Topics("retrowalk/", "homeassistant", "svc"), retained.__setitem__, discovery=True
    )
    view.first_seen(TM)
    caplog.set_level(logging.INFO, logger="retrowalk.mqtt.home_assistant")
    view.event(TM, p.StopNotConfirmed(treadmill_id=TM, session_id="s1", detail="check now"))
    view.telemetry(TM, sample(0.0))
    lines = [(r.levelname, getattr(r, "treadmill", "-"), r.getMessage()) for r in caplog.records]
    assert lines == [
        ("WARNING", TM, "a person must check the belt: check now"),
        ("INFO", TM, "belt check over: the belt stands, or a new session started"),
    ]
    assert json.loads(retained[f"retrowalk/treadmill/{TM}/attention"])["check_belt"] is False
