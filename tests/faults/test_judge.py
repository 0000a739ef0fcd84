"""The judge on hand-made ground truth: each invariant fires on a record that breaks it, and stays quiet
on one that keeps it (the campaign's verdicts are only as good as this)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from .envelope import asked_plan
from .judge import Belt, Injected, Observation, judge, longest_stretch, moving_time

T0 = 1000.0
REQUEST = {"start_speed_kmh": 1.0, "max_speed_kmh": 1.2, "duration_cap_s": 60}
# What the service announces (the judge does not read it: it judges by the plan that was asked for).
PLAN = {**REQUEST, "ramp_step_kmh": 0.1}


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def entry(
    t: float, speed: float, target: float, state: str = "running", source: str = "client"
) -> dict[str, Any]:
    return {
        "time": t,
        "speed_kmh": speed,
        "target_kmh": target,
        "rate_kmh_s": 2.0,
        "state": state,
        "source": source,
    }


def stop(t: float, speed: float, source: str = "client") -> dict[str, Any]:
    return entry(t, speed, 0.0, "stopped", source)


def clean_record(end: float = T0 + 70) -> list[dict[str, Any]]:
    """Started at 1.0 km/h, stopped by the client at ``end``."""
    return [stop(T0 - 10, 0.0, "power"), entry(T0, 0.0, 1.0), stop(end, 1.0)]


def started(session: str = "s1", t: float = T0, event_id: str = "e-start") -> tuple[int, str, Any]:
    return (
        0,
        "event",
        {"event_id": event_id, "kind": "session_started", "session_id": session, "at": iso(t), "plan": PLAN},
    )


def ended(session: str = "s1", t: float = T0 + 70, event_id: str = "e-end") -> tuple[int, str, Any]:
    payload = {
        "event_id": event_id,
        "kind": "session_ended",
        "session_id": session,
        "at": iso(t),
        "reason": "completed",
    }
    return (0, "event", payload)


def summary(session: str = "s1", event_id: str = "e-sum", walked: float = 60.0) -> tuple[int, str, Any]:
    return (
        0,
        "summary",
        {"event_id": event_id, "kind": "session_summary", "session_id": session, "walked_s": walked},
    )


def observation(records: list[dict[str, Any]] | None = None, **changes: Any) -> Observation:
    values: dict[str, Any] = {
        "quirks": {},
        "records": {0: records if records is not None else clean_record()},
        "link_down": {0: [(T0 - 100, T0 - 20)]},
        "service_outages": [],
        "broker_outages": [],
        "messages": [started(), ended(), summary()],
        "injected": [],
        "history_session_ids": ["s1"],
        "wall_minus_sim": 0.0,
        "end_sim": T0 + 90,
        "plans": {0: asked_plan(REQUEST, configured={"cool_down_s": 10})},
    }
    values.update(changes)
    return Observation(**values)


def kinds(obs: Observation) -> list[str]:
    return [v.invariant for v in judge(obs)[1]]


def test_belt_moves_linearly_toward_its_target_between_entries() -> None:
    belt = Belt(clean_record())
    assert belt.speed_at(T0 - 1) == 0.0
    assert belt.speed_at(T0 + 0.25) == pytest.approx(0.5)
    assert belt.speed_at(T0 + 5) == pytest.approx(1.0)
    assert belt.speed_at(T0 + 70.25) == pytest.approx(0.5)
    assert belt.commanded_to_stop_at(T0 + 70.1)
    assert not belt.commanded_to_stop_at(T0 + 69)


def test_stretches_and_moving_time_skip_excluded_times() -> None:
    belt = Belt([entry(T0, 2.0, 2.0), stop(T0 + 10, 2.0)])
    assert longest_stretch(belt, T0, T0 + 20, lambda t: 1.3, []) == pytest.approx(10.35, abs=0.02)
    assert longest_stretch(belt, T0, T0 + 20, lambda t: 1.3, [(T0 + 4, T0 + 5)]) == pytest.approx(
        5.35, abs=0.02
    )
    assert moving_time(belt, T0, T0 + 20, [(T0, T0 + 2)]) == pytest.approx(9.0, abs=0.02)


def test_a_clean_session_has_no_violation() -> None:
    sessions, violations = judge(observation())
    assert [s.session_id for s in sessions] == ["s1"]
    assert violations == []


def test_the_service_commanding_more_than_the_start_speed_is_a_violation() -> None:
    record = [stop(T0 - 10, 0.0, "power"), entry(T0, 0.0, 1.1), stop(T0 + 70, 1.1)]
    assert kinds(observation(record)) == ["start-speed"]


def test_a_machine_that_starts_at_its_own_speed_is_judged_by_how_fast_it_was_corrected() -> None:
    record = [stop(T0 - 10, 0.0, "power"), entry(T0, 0.0, 3.0), entry(T0 + 1, 2.0, 1.0), stop(T0 + 70, 1.0)]
    assert kinds(observation(record, quirks={0: "own-start-speed"})) == []
    # Without the quirk the service itself started the belt toward 3 km/h.
    assert kinds(observation(record)) == ["start-speed"]
    # With it, a correction that never comes is still overspeed; a later set-speed is still judged.
    slow = [stop(T0 - 10, 0.0, "power"), entry(T0, 0.0, 3.0), entry(T0 + 8, 3.0, 1.0), stop(T0 + 70, 1.0)]
    assert kinds(observation(slow, quirks={0: "own-start-speed"})) == ["overspeed"]
    # Even when the session starts the moment the link is up: the start shows the service has the link,
    # so the link's set-up allowance ends there (4.7 s above the limit; 3.45 s if it did not).
    late = [stop(T0 - 10, 0.0, "power"), entry(T0, 0.0, 3.0), entry(T0 + 4.5, 3.0, 1.0), stop(T0 + 70, 1.0)]
    just_up = {0: [(T0 - 100, T0 - 0.1)]}
    assert kinds(observation(late, quirks={0: "own-start-speed"}, link_down=just_up)) == ["overspeed"]
    too_fast = [*record[:3], entry(T0 + 20, 1.0, 2.0), stop(T0 + 70, 2.0)]
    assert "start-speed" in kinds(observation(too_fast, quirks={0: "own-start-speed"}))


def test_console_overspeed_is_a_violation_only_when_it_lasts_and_the_link_is_up() -> None:
    # A console speed-up to 2.5 km/h at +20 s that nobody corrects for 10 s.
    record = [*clean_record()[:2], entry(T0 + 20, 1.0, 2.5, source="console"), entry(T0 + 30, 2.5, 1.0)]
    record.append(stop(T0 + 70, 1.0))
    assert kinds(observation(record)) == ["overspeed"]
    # The same with the link down at the time: the service could not see it.
    down = {0: [(T0 - 100, T0 - 20), (T0 + 19, T0 + 40)]}
    assert kinds(observation(record, link_down=down)) == []
    # Corrected at once: 1.0 -> 2.5 and back is under the grace period.
    quick = [*clean_record()[:2], entry(T0 + 20, 1.0, 2.5, source="console"), entry(T0 + 21, 1.4, 1.0)]
    quick.append(stop(T0 + 70, 1.0))
    assert kinds(observation(quick)) == []


def test_running_past_cap_and_cool_down_is_a_violation() -> None:
    record = clean_record(end=T0 + 100)
    assert "cap" in kinds(
        observation(record, messages=[started(), ended(t=T0 + 100), summary()], end_sim=T0 + 120)
    )


def test_a_belt_left_running_after_the_end_is_a_violation() -> None:
    record = [*clean_record()[:2], stop(T0 + 80, 1.0)]
    assert kinds(observation(record, messages=[started(), ended(t=T0 + 60), summary()])) == ["cap"]


def test_after_a_restart_a_moving_belt_must_be_stopped_within_5_s() -> None:
    outage = [(T0 + 20, T0 + 22)]
    record = [*clean_record()[:2], stop(T0 + 30, 1.0)]
    # The restarted service closes the killed session from its storage.
    closed = [started(), ended(t=T0 + 23), summary()]
    assert kinds(observation(record, service_outages=outage, messages=closed)) == ["restart"]
    record = [*clean_record()[:2], stop(T0 + 25, 1.0)]
    assert kinds(observation(record, service_outages=outage, messages=closed)) == []
    # The restarted service's own take-over blip does not excuse a belt it then leaves running...
    late = [*clean_record()[:2], stop(T0 + 30, 1.0)]
    blip = {0: [(T0 - 100, T0 - 20), (T0 + 23.0, T0 + 23.02)]}
    assert kinds(observation(late, service_outages=outage, messages=closed, link_down=blip)) == ["restart"]
    # ... a link really down for seconds does.
    down = {0: [(T0 - 100, T0 - 20), (T0 + 22.5, T0 + 25)]}
    assert kinds(observation(late, service_outages=outage, messages=closed, link_down=down)) == []


def test_a_killed_session_needs_its_summary_once_a_restarted_service_could_send_it() -> None:
    outage = [(T0 + 20, T0 + 22)]
    record = [*clean_record()[:2], stop(T0 + 25, 1.0)]
    vanished = observation(record, service_outages=outage, messages=[started()], history_session_ids=[])
    assert kinds(vanished) == ["summary"]
    # Killed with no restart before the run ended: nobody could have sent it.
    no_restart = [(T0 + 20, T0 + 85)]
    record = [*clean_record()[:2], stop(T0 + 87, 1.0)]
    unrestarted = observation(
        record, service_outages=no_restart, messages=[started()], history_session_ids=[]
    )
    assert kinds(unrestarted) == []


def test_exactly_one_summary_per_session_and_duplicates_must_match() -> None:
    assert kinds(observation(messages=[started(), ended()])) == ["summary", "event-lost"]
    assert kinds(observation(messages=[started(), ended(), summary(), summary()])) == []  # same event id
    assert kinds(observation(messages=[started(), ended(), summary(), summary(event_id="e-2")])) == [
        "summary"
    ]
    changed = [started(), ended(), summary(), summary(walked=1.0)]
    assert kinds(observation(messages=changed)) == ["event-lost"]


def test_events_without_their_session_start_and_missing_fault_events_are_lost_events() -> None:
    assert "event-lost" in kinds(observation(messages=[ended(), summary()]))
    pulled = [Injected("key-pull", 0, T0 + 30)]
    state = (0, "state", {"connected": True, "updated_at": iso(T0 - 15)})
    messages = [state, started(), ended(), summary()]
    assert kinds(observation(messages=messages, injected=pulled)) == ["event-lost"]
    # Nothing is expected when the service was not connected (a link held by a killed process).
    offline = (0, "state", {"connected": False, "updated_at": iso(T0 - 15)})
    assert kinds(observation(messages=[offline, *messages[1:]], injected=pulled)) == []
    key_event = (
        0,
        "event",
        {"event_id": "k", "kind": "safety_key", "session_id": "s1", "at": iso(T0 + 30.2)},
    )
    assert kinds(observation(messages=[*messages, key_event], injected=pulled)) == []


def test_a_belt_started_by_the_service_outside_any_session_is_flagged() -> None:
    record = [*clean_record(), entry(T0 + 80, 0.0, 1.0), stop(T0 + 85, 1.0)]
    assert kinds(observation(record)) == ["event-lost"]


def test_mph_as_kmh_is_judged_by_when_it_was_stopped_not_by_its_speed() -> None:
    # True speed 1.6 km/h for a commanded 1.0: over the limit the whole time, but that is invisible.
    record = [stop(T0 - 10, 0.0, "power"), entry(T0, 0.0, 1.609), stop(T0 + 30, 1.609)]
    fault_end = [started(), ended(t=T0 + 30), summary()]
    assert kinds(observation(record, quirks={0: "mph-as-kmh"}, messages=fault_end)) == []
    # The same record from a machine without the quirk: the service itself commanded 1.6 km/h.
    assert kinds(observation(record, messages=fault_end)) == ["start-speed", "overspeed"]
    late = [stop(T0 - 10, 0.0, "power"), entry(T0, 0.0, 1.609), stop(T0 + 65, 1.609)]
    assert kinds(
        observation(late, quirks={0: "mph-as-kmh"}, messages=[started(), ended(t=T0 + 65), summary()])
    ) == ["mph-as-kmh"]


def test_a_saved_observation_is_judged_the_same_after_loading(tmp_path: Path) -> None:
    from .campaign import load_observation

    record = [*clean_record()[:2], entry(T0 + 20, 1.0, 2.5, source="console"), entry(T0 + 30, 2.5, 1.0)]
    original = observation(
        [*record, stop(T0 + 70, 1.0)],
        injected=[Injected("key-pull", 0, T0 + 30)],
        service_outages=[(T0 + 80, T0 + 81)],
    )
    path = tmp_path / "observation.json"
    path.write_text(json.dumps(dataclasses.asdict(original)))
    loaded = load_observation(path)
    assert loaded == original
    assert judge(loaded) == judge(original)


def test_the_command_line_refuses_bad_input_and_rejudges_a_saved_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from .campaign import RunResult, main, table, write_failures
    from .scenario import draw

    for bad in (["--count", "0"], ["--max-treadmills", "0"], ["--judge", str(tmp_path / "nothing.json")]):
        with pytest.raises(SystemExit) as exited:
            main(bad)
        assert exited.value.code == 2
    record = [stop(T0 - 10, 0.0, "power"), entry(T0, 0.0, 1.1), stop(T0 + 70, 1.1)]
    saved = tmp_path / "observation.json"
    saved.write_text(json.dumps(dataclasses.asdict(observation(record))))
    assert main(["--judge", str(saved)]) == 1
    assert "VIOLATION [start-speed] tm0" in capsys.readouterr().out
    failing = RunResult(draw(5), violations=judge(observation(record))[1], faults_done=3)
    text = table([failing, RunResult(draw(6))])
    assert "runs 2, faults injected 3, violations 1, failing runs 1" in text
    write_failures(tmp_path / "failing.txt", [5])
    assert (tmp_path / "failing.txt").read_text() == "5\n"


# A longer plan, so that the ramp shows: 1.0 km/h for 60 s, then +0.1 km/h at 60, 90, 120, 150 and 180 s
# of walking up to 1.5, the cap at 300 s, 10 s of cool-down at 1.0.
RAMP_REQUEST = {"start_speed_kmh": 1.0, "max_speed_kmh": 1.5, "duration_cap_s": 300}


def ramp_observation(record: list[dict[str, Any]], **changes: Any) -> Observation:
    values: dict[str, Any] = {
        "messages": [started(), ended(t=T0 + 311), summary()],
        "end_sim": T0 + 330,
        "plans": {0: asked_plan(RAMP_REQUEST, configured={"cool_down_s": 10})},
    }
    values.update(changes)
    return observation(record, **values)


def ramp_record(upto: float = T0 + 300) -> list[dict[str, Any]]:
    """The service following the ramp half a second behind each step, up to ``upto``."""
    record = [stop(T0 - 10, 0.0, "power"), entry(T0, 0.0, 1.0)]
    for k, at in enumerate((60, 90, 120, 150, 180)):
        if T0 + at < upto:
            record.append(entry(T0 + at + 0.5, 1.0 + k / 10, round(1.1 + k / 10, 1)))
    return record


def test_a_session_that_follows_the_ramp_and_cools_down_has_no_violation() -> None:
    record = [*ramp_record(), entry(T0 + 300.2, 1.5, 1.0), stop(T0 + 310.2, 1.0)]
    assert kinds(ramp_observation(record)) == []


def test_a_belt_above_the_ramps_current_step_but_below_the_top_speed_is_overspeed() -> None:
    # 75 s in, the ramp allows 1.1 km/h (limit 1.4); a console sets 1.45, under the 1.5 top speed (limit
    # 1.8), and nobody corrects it for 10 s.
    record = [
        *ramp_record(upto=T0 + 61),
        entry(T0 + 75, 1.1, 1.45, source="console"),
        entry(T0 + 85, 1.45, 1.1),
        stop(T0 + 95, 1.1),
    ]
    observed = ramp_observation(record, messages=[started(), ended(t=T0 + 95), summary()])
    assert kinds(observed) == ["overspeed"]
    # Corrected within the grace period it is not.
    record[3] = entry(T0 + 77, 1.45, 1.1)
    assert kinds(observed) == []


def test_the_service_commanding_a_ramp_step_early_is_a_violation() -> None:
    # 65 s in the ramp allows 1.1: 1.3 is below the top speed and within the tolerance, but not the plan.
    record = [*ramp_record(upto=T0 + 61), entry(T0 + 65, 1.1, 1.3), stop(T0 + 95, 1.3)]
    assert kinds(ramp_observation(record, messages=[started(), ended(t=T0 + 95), summary()])) == [
        "start-speed"
    ]


def test_a_belt_kept_at_the_top_speed_after_the_cap_is_overspeed() -> None:
    # The cool-down is at the start speed; the limit falls to it at 0.4 km/h per second from the cap.
    record = [*ramp_record(), stop(T0 + 310.2, 1.5)]
    assert kinds(ramp_observation(record)) == ["overspeed"]


def after_a_gap(resume_at: float, resume_kmh: float) -> list[dict[str, Any]]:
    """Walking at 1.2 km/h from 90 s, stopped by the service at 100.5 s, resumed at ``resume_at``."""
    return [
        *ramp_record(upto=T0 + 91),
        stop(T0 + 100.5, 1.2),
        entry(resume_at, 0.0, resume_kmh),
        stop(T0 + 200, resume_kmh),
    ]


def test_after_a_lost_link_or_a_long_pause_the_session_starts_again_at_the_start_speed() -> None:
    messages = [started(), ended(t=T0 + 200), summary()]
    lost = {0: [(T0 - 100, T0 - 20), (T0 + 98, T0 + 100)]}
    # The link came back at 100 s: the resume must be at the start speed, with a fresh hold.
    assert kinds(ramp_observation(after_a_gap(T0 + 110, 1.2), link_down=lost, messages=messages)) == [
        "start-speed"
    ]
    assert kinds(ramp_observation(after_a_gap(T0 + 110, 1.0), link_down=lost, messages=messages)) == []
    fresh_hold = [*after_a_gap(T0 + 110, 1.0)[:-1], entry(T0 + 140, 1.0, 1.1), stop(T0 + 200, 1.1)]
    assert kinds(ramp_observation(fresh_hold, link_down=lost, messages=messages)) == ["start-speed"]
    # A short pause with the link up continues the ramp where it stopped...
    assert kinds(ramp_observation(after_a_gap(T0 + 110, 1.2), messages=messages)) == []
    # ... a pause longer than pause_restart_after_s (30 s) does not.
    assert kinds(ramp_observation(after_a_gap(T0 + 150, 1.2), messages=messages)) == ["start-speed"]
    assert kinds(ramp_observation(after_a_gap(T0 + 150, 1.0), messages=messages)) == []


def test_the_plan_asked_for_is_the_default_merged_with_the_configuration_and_the_request() -> None:
    plan = asked_plan(None)
    assert (plan.start_speed_kmh, plan.target_speed_kmh, plan.duration_cap_s) == (1.0, 1.5, 300)
    assert (plan.overspeed_tolerance_kmh, plan.overspeed_grace_s, plan.cool_down_s) == (0.3, 3.0, 60)
    configured = asked_plan({"max_speed_kmh": 1.8}, configured={"overspeed_grace_s": 2, "cool_down_s": 10})
    assert (configured.target_speed_kmh, configured.overspeed_grace_s, configured.cool_down_s) == (
        1.8,
        2.0,
        10.0,
    )
    assert asked_plan({"start_speed_kmh": 1.8}).target_speed_kmh == 1.8  # a start above the target
    with pytest.raises(ValueError, match="must refuse"):
        asked_plan({"max_speed_kmh": 2.5}, age=70)  # 2.0 km/h ceiling at 65 or older
    with pytest.raises(ValueError, match="must refuse"):
        asked_plan({"start_speed_kmh": 1.5, "max_speed_kmh": 1.2})  # a target below the start
    with pytest.raises(ValueError, match="not a field"):
        asked_plan({"target_speed_kmh": 1.2})
