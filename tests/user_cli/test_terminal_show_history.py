"""`retrowalk user show` and `user history`, and the terminal's questions around a session."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from retrowalk.cli import main
from retrowalk.session.grid import fit_plan_to_grid
from retrowalk.session.plan import SessionPlan, TreadmillCaps
from retrowalk.storage import (
    OpenSession,
    Store,
    StoredCaps,
    StoredPainReport,
    StoredSession,
)
from tests.user_cli.records import (
    BEFORE_FITTING,
    FIRST_PLAN,
    Terminal,
    add_fitted_session,
    add_session,
    run,
    screened,
    started_words,
    user_args,
)


def test_at_a_terminal_screening_offers_to_ask_again_and_records_the_new_answers(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    screened(store, capsys, config, "52,yes,no,no")
    monkeypatch.setattr("sys.stdin", Terminal("yes\n52\nno\nno\nno\n"))
    code, out, err = run(capsys, *user_args(config, "screening"))
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "sessions may start"
    latest = store.latest_screening("me")
    assert latest is not None
    assert not any(value for key, value in latest.answers.items() if key != "age")


def test_after_a_session_the_terminal_asks_for_pain_and_says_what_the_next_session_waits_for(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrowalk.cli.pain_prompt import after_session
    from retrowalk.config import load_config

    screened(store, capsys, config, "52,no,no,no")
    session = add_session(store, "home-1")
    store.add_pain_report(StoredPainReport("me", "home-1", datetime.now(UTC), "before", 2))
    monkeypatch.setattr("sys.stdin", Terminal("eleven\n3\n"))
    after_session(load_config(config), config, "me", "home-1")
    out = capsys.readouterr().out
    question = "Knee pain now, after the session, 0-10 (Enter to skip): "  # the answer is echoed by the tty
    assert out.splitlines() == [
        question + "  a whole number from 0 (no pain) to 10 (worst imaginable), or Enter to skip",
        question + f"after pain 3/10 recorded for me, {started_words(session)}",
        "next session: 1.0 -> 1.5 km/h, 5 min (held: pain reports missing for session home-1)",
        BEFORE_FITTING,
        "it waits for your next-morning pain: with pain of 3 or less and the next morning no worse than "
        "before, it becomes 1.0 -> 1.6 km/h, 7 min",
        f"  report it: retrowalk user pain --config {config} --user me --when next-morning SCORE",
    ]
    reports = [(r.session_id, r.moment, r.pain) for r in store.pain_reports_for_user("me")]
    assert reports == [("home-1", "before", 2), ("home-1", "after", 3)]


def ctrl_c(_prompt: object = "") -> str:
    """The person presses Ctrl-C at a question instead of answering."""
    raise KeyboardInterrupt


def test_ctrl_c_at_the_after_pain_question_says_how_to_give_it_later(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrowalk.cli.pain_prompt import after_session
    from retrowalk.config import load_config

    screened(store, capsys, config, "52,no,no,no")
    add_session(store, "home-1")
    monkeypatch.setattr("sys.stdin", Terminal(""))
    monkeypatch.setattr("builtins.input", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        after_session(load_config(config), config, "me", "home-1")
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == (
        f"after pain not recorded: give it later with retrowalk user pain --config {config} --user me "
        "--when after SCORE"
    )
    assert store.pain_reports_for_user("me") == []


def test_ctrl_d_at_the_after_pain_question_skips_it(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrowalk.cli.pain_prompt import after_session
    from retrowalk.config import load_config

    screened(store, capsys, config, "52,no,no,no")
    add_session(store, "home-1")
    monkeypatch.setattr("sys.stdin", Terminal(""))  # nothing typed, then the end of input (Ctrl-D)
    after_session(load_config(config), config, "me", "home-1")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Knee pain now, after the session, 0-10 (Enter to skip): "
    assert out[1].startswith("next session: "), out
    assert store.pain_reports_for_user("me") == []


def test_a_pain_score_before_the_session_out_of_range_refuses_the_start_before_anything_connects(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["session", "start", "--config", str(config), "--user", "me", "--pain-before", "12"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == "retrowalk: session not started: --pain-before: input should be less than or equal to 10\n"
    assert not config.with_name("home.sqlite3").exists()


@pytest.mark.parametrize("action", ["show", "history", "screening"])
@pytest.mark.parametrize("name", ["tab\there", "", "x" * 65, "   ", " ann", "ann "])
def test_a_name_no_record_could_carry_is_refused(
    config: Path, capsys: pytest.CaptureFixture[str], action: str, name: str
) -> None:
    code = main(["user", action, "--config", str(config), "--user", name])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == (
        "retrowalk: --user takes a name of 1 to 64 characters without control characters (tabs, newlines), "
        "not blank and not beginning or ending with a space\n"
    )


def reported(store: Store, low: float, high: float, step: float) -> None:
    """The speed range a session start on "home" recorded (as the service does when one starts there)."""
    caps = TreadmillCaps(min_speed_kmh=low, max_speed_kmh=high, speed_step_kmh=step)
    store.record_treadmill_caps(StoredCaps("home", caps.model_dump_json(), datetime.now(UTC)))


def test_show_fits_the_next_plan_to_the_speed_steps_the_treadmill_reported(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    screened(store, capsys, config, "52,no,no,no")
    # A pad that counts in mph: 0.96 + n x 0.32 km/h. Rounded down, 1.0 is 0.96 and 1.5 is 1.28.
    reported(store, 0.96, 6.43, 0.32)
    code, out, err = run(capsys, *user_args(config, "show"))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[3:6] == [
        "sessions: none yet",
        "next session: 1.0 -> 1.5 km/h, 5 min (the first session)",
        "on home it runs as 'session start' will show it: 0.96 -> 1.28 km/h, 5 min",
    ]
    assert lines[6] == "  the plan was fitted to the treadmill's 0.32 km/h speed steps:"
    assert any(line.startswith("    start speed 1.0 -> 0.96 km/h") for line in lines[7:]), lines
    assert BEFORE_FITTING not in lines

    # A treadmill with 0.1 km/h steps runs the plan as written: nothing to add, nothing before fitting.
    reported(store, 0.5, 6.0, 0.1)
    code, out, err = run(capsys, *user_args(config, "show"))
    assert out.splitlines()[3:] == [
        "sessions: none yet",
        "next session: 1.0 -> 1.5 km/h, 5 min (the first session)",
    ]

    # One whose lowest speed is above the plan's start cannot run it at all, and says why.
    reported(store, 1.2, 6.0, 0.1)
    code, out, err = run(capsys, *user_args(config, "show"))
    assert (code, err) == (0, "")
    refused = out.splitlines()[5]
    assert refused.startswith("on home a start would be refused: plan refused: "), refused
    assert "below the treadmill's minimum speed (1.2 km/h)" in refused


def test_pain_and_clearance_show_the_next_plan_fitted_as_show_does(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """The plan a report or a clearance prints is the one the treadmill will run, never the faster one as
    asked: on a pad counting in mph (0.96 + n x 0.32 km/h) the start 1.0 runs as 0.96."""
    screened(store, capsys, config, "52,no,no,no")
    add_session(store, "home-0")
    add_session(store, "home-1")
    store.add_pain_report(StoredPainReport("me", "home-1", datetime.now(UTC), "before", 2))
    reported(store, 0.96, 6.43, 0.32)
    for when, score in (("after", "3"), ("next-morning", "2")):
        code, out, err = run(capsys, *user_args(config, "pain", "--when", when, score))
        assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[1].startswith("next session: 1.0 -> 1.6 km/h, 7 min (progressed: "), lines
    # 1.6 is on the grid (0.96 + 2 x 0.32); the start rounds down to the step below it.
    assert lines[2] == "on home it runs as 'session start' will show it: 0.96 -> 1.6 km/h, 7 min"
    assert BEFORE_FITTING not in lines

    # Swelling reported since: the clearance has something to clear.
    store.add_pain_report(
        StoredPainReport("me", "home-1", datetime.now(UTC), "next_morning", 2, swelling=True)
    )
    code, out, err = run(capsys, *user_args(config, "clear", "--by", "Dr. Lind"))
    assert (code, err) == (0, "")
    # A clearance holds the plan (held: cleared), and its top speed 1.5 runs as 1.28 there.
    assert out.splitlines()[1:3] == [
        "next session: 1.0 -> 1.5 km/h, 5 min (held: cleared)",
        "on home it runs as 'session start' will show it: 0.96 -> 1.28 km/h, 5 min",
    ]


def test_show_says_a_session_is_running_instead_of_none_yet(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    screened(store, capsys, config, "52,no,no,no")
    started = datetime(2026, 12, 1, 17, 46, tzinfo=UTC)
    # What the service notes when a session starts; the history gets it only when it ends.
    store.open_session(OpenSession("home-7", "me", "home", started, FIRST_PLAN.model_dump_json()))
    store.open_session(OpenSession("home-8", "someone-else", "home", started, FIRST_PLAN.model_dump_json()))
    code, out, err = run(capsys, *user_args(config, "show"))
    assert (code, err) == (0, "")
    assert out.splitlines()[3:] == [
        "sessions: none finished yet",
        "session running: home-7 on home since 2026-12-01 17:46 UTC (if no retrowalk is running now, it "
        "stopped during this session and closes it when it starts again)",
        "next session: planned when home-7 has ended, from how it went and the pain after it",
    ]

    # Once it has ended it is the latest session, and nothing is running any more.
    add_session(store, "home-7")
    code, out, err = run(capsys, *user_args(config, "show"))
    lines = out.splitlines()
    assert lines[3].startswith("sessions: 1; the latest home-7 on ")
    assert not [line for line in lines if "running" in line]
    assert lines[4].startswith("next session: 1.0 -> 1.5 km/h, 5 min (held: pain reports missing")


def test_show_and_history_say_a_top_speed_on_a_coarse_grid_as_it_was_and_the_plan_as_it_ran(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a pad counting in mph (0.96 + n x 0.32 km/h) the plan 1.0 -> 1.5 ran as 0.96 -> 1.28: its top
    speed 1.28 is not shown as 1.3, faster than the plan allowed."""
    screened(store, capsys, config, "52,no,no,no")
    caps = TreadmillCaps(min_speed_kmh=0.96, max_speed_kmh=6.43, speed_step_kmh=0.32)
    add_fitted_session(store, FIRST_PLAN, fit_plan_to_grid(FIRST_PLAN, caps).model_dump_json(), 1.28)
    code, out, err = run(capsys, *user_args(config, "show"))
    assert (code, err) == (0, "")
    assert out.splitlines()[3] == (
        "sessions: 1; the latest home-1 on 2026-12-01 17:46 UTC: completed, walked 300 s, top 1.28 km/h, "
        "pain before -, during -, after -, next-morning -"
    )
    code, out, err = run(capsys, *user_args(config, "history"))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "2026-12-01 17:46 UTC  home-1  completed, walked 300 s, top 1.28 km/h (plan 1.0 -> 1.5 km/h, 5 min "
        "as asked; ran as 0.96 -> 1.28 km/h, 5 min, fitted to the treadmill's 0.32 km/h speed steps); pain "
        "before -, during -, after -, next-morning -"
    ]


def test_history_does_not_repeat_a_top_an_earlier_version_announced_past_the_cap(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 2-minute session on the same pad never left 0.96 km/h (the first step comes at 120 s, its cap);
    an earlier version kept its fitted plan as 0.96 -> 1.28. History then says only the plan as asked."""
    screened(store, capsys, config, "52,no,no,no")
    caps = TreadmillCaps(min_speed_kmh=0.96, max_speed_kmh=6.43, speed_step_kmh=0.32)
    asked = SessionPlan(duration_cap_s=120)
    as_kept = fit_plan_to_grid(asked, caps).model_dump(mode="json") | {
        "target_speed_kmh": 1.28,
        "familiarisation_s": 120,
    }
    add_fitted_session(store, asked, json.dumps(as_kept), 0.96)
    code, out, err = run(capsys, *user_args(config, "history"))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "2026-12-01 17:46 UTC  home-1  completed, walked 120 s, top 0.96 km/h (plan 1.0 -> 1.2 km/h, 2 min "
        "as asked); pain before -, during -, after -, next-morning -"
    ]


def test_show_and_history_say_the_top_a_short_plan_reaches_not_its_target(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two minutes of the default ramp (60 s hold, +0.1 km/h every 30 s) reach 1.2 km/h: 1.3 would come at
    120 s, the cap. The plan's target, 1.5 km/h, is never walked, so neither command says it."""
    short = config.with_name("short.toml")
    short.write_text(config.read_text(encoding="utf-8") + "\n[default_plan]\nduration_cap_s = 120\n")
    screened(store, capsys, short, "52,no,no,no")
    code, out, err = run(capsys, *user_args(short, "show"))
    assert (code, err) == (0, "")
    assert "next session: 1.0 -> 1.2 km/h, 2 min (the first session)" in out.splitlines()
    started = datetime(2026, 12, 1, 17, 46, tzinfo=UTC)
    store.record_session(
        StoredSession(
            session_id="home-1", user_id="me", treadmill_id="home", started_at=started,
            ended_at=started + timedelta(minutes=3), end_reason="completed", walked_s=120.0,
            distance_m=38.0, max_speed_kmh=1.2, duration_cap_s=120,
            plan_json=SessionPlan(duration_cap_s=120).model_dump_json(),
        )
    )  # fmt: skip
    code, out, err = run(capsys, *user_args(short, "history"))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "2026-12-01 17:46 UTC  home-1  completed, walked 120 s, top 1.2 km/h (plan 1.0 -> 1.2 km/h, 2 min); "
        "pain before -, during -, after -, next-morning -"
    ]
