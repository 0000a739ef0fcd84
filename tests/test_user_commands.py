"""`retrowalk user ...` through the real command line on a real configuration and storage file.

Each test runs `retrowalk.cli.main`, reads what it printed, and reads the storage to see what changed (or
that nothing did, on bad input). Sessions are put into the history with the storage API, as the service
records them at a session's end.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from retrowalk.cli import main
from retrowalk.session.grid import fit_plan_to_grid
from retrowalk.session.plan import SessionPlan, TreadmillCaps
from retrowalk.storage import (
    KeptBeforePain,
    OpenSession,
    Store,
    StoredCaps,
    StoredClearance,
    StoredPainReport,
    StoredScreening,
    StoredSession,
)

FIRST_PLAN = SessionPlan(start_speed_kmh=1.0, target_speed_kmh=1.5, duration_cap_s=300)
# What `user show` says under the next plan while the configuration's treadmill has not run a session.
BEFORE_FITTING = (
    "(as asked, before fitting to the speed steps of home: retrowalk learns them when a session starts "
    "there, and a treadmill with coarser steps runs it slower, never faster)"
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "home.toml"
    path.write_text(
        f'[service]\nstorage = "{tmp_path / "home.sqlite3"}"\n\n[[treadmills]]\nid = "home"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def store(config: Path) -> Iterator[Store]:
    db = Store(config.with_name("home.sqlite3"))
    yield db
    db.close()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["user", *args])
    out, err = capsys.readouterr()
    return code, out, err


def user_args(config: Path, action: str, *rest: str) -> list[str]:
    return [action, "--config", str(config), "--user", "me", *rest]


def add_session(
    store: Store, session_id: str = "home-1", reason: str = "completed", started: datetime | None = None
) -> StoredSession:
    started = datetime.now(UTC) - timedelta(hours=20) if started is None else started
    session = StoredSession(
        session_id=session_id, user_id="me", treadmill_id="home", started_at=started,
        ended_at=started + timedelta(minutes=6), end_reason=reason, walked_s=300.0, distance_m=110.0,
        max_speed_kmh=1.5, duration_cap_s=300, plan_json=FIRST_PLAN.model_dump_json(),
    )  # fmt: skip
    store.record_session(session)
    return session


def add_fitted_session(store: Store, asked: SessionPlan, fitted_json: str, top_kmh: float) -> None:
    """A completed session on a coarse-grid pad, started 2026-12-01 17:46 UTC, walked to its cap and
    stored with its plan as asked and as fitted (``fitted_json``, as a version of retrowalk kept it)."""
    started = datetime(2026, 12, 1, 17, 46, tzinfo=UTC)
    store.record_session(
        StoredSession(
            session_id="home-1", user_id="me", treadmill_id="home", started_at=started,
            ended_at=started + timedelta(seconds=asked.duration_cap_s + asked.cool_down_s),
            end_reason="completed", walked_s=float(asked.duration_cap_s), distance_m=100.0,
            max_speed_kmh=top_kmh, duration_cap_s=asked.duration_cap_s,
            plan_json=asked.model_dump_json(), fitted_plan_json=fitted_json,
        )
    )  # fmt: skip


def started_words(session: StoredSession) -> str:
    """How a reply names a session: its id and start, as `user show` and `user history` write them."""
    return f"for session {session.session_id} on {session.started_at.strftime('%Y-%m-%d %H:%M UTC')}"


def screened(store: Store, capsys: pytest.CaptureFixture[str], config: Path, answers: str) -> None:
    code, _, err = run(capsys, *user_args(config, "screening", "--answers", answers))
    assert (code, err) == (0, "")


def test_show_for_a_new_person_says_what_comes_first_and_creates_no_file(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *user_args(config, "show"))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "user me",
        "screening: not answered yet",
        "clearance: none recorded",
        "sessions: none yet",
        "next session: first the screening questions: 'retrowalk session start' asks them, or "
        f"retrowalk user screening --config {config} --user me --answers AGE,OA,BALANCE,SURGERY",
    ]
    assert not config.with_name("home.sqlite3").exists()


def test_a_wrong_yes_is_corrected_by_answering_again(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *user_args(config, "screening", "--answers", "52,yes,no,no"))
    assert (code, err) == (0, "")
    assert out.splitlines()[1] == (
        "no session until a clinician clears me: a clinician must clear this person first (screening "
        "answered yes to: severe knee osteoarthritis or a ligament injury); then record it with "
        f"'retrowalk user clear --config {config} --user me --by NAME'"
    )
    code, out, _ = run(capsys, *user_args(config, "show"))
    assert "next session: none yet: a clinician must clear this person first" in out

    code, out, err = run(capsys, *user_args(config, "screening", "--answers", "52,no,no,no"))
    assert (code, err) == (0, "")
    assert out.splitlines()[1] == "sessions may start"
    latest = store.latest_screening("me")
    assert latest is not None
    assert latest.answers == {
        "age": 52,
        "severe_knee_oa": False,
        "ligament_injury": False,
        "balance_disorder_or_dizziness": False,
        "recent_knee_surgery": False,
    }
    code, out, _ = run(capsys, *user_args(config, "show"))
    assert out.splitlines()[-2:] == [
        "next session: 1.0 -> 1.5 km/h, 5 min (the first session)",
        BEFORE_FITTING,
    ]


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (
            "52,maybe,no,no",
            "retrowalk: nothing recorded: 'maybe' is not yes or no; give AGE,OA,BALANCE,SURGERY, e.g. "
            "52,no,no,no",
        ),
        (
            "5,no,no,no",
            "retrowalk: nothing recorded: the age '5' is not a whole number from 10 to 120; give "
            "AGE,OA,BALANCE,SURGERY, e.g. 52,no,no,no",
        ),
    ],
)
def test_bad_screening_answers_are_refused_and_keep_the_old_ones(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str], answers: str, message: str
) -> None:
    screened(store, capsys, config, "52,yes,no,no")
    before = store.latest_screening("me")
    code, out, err = run(capsys, *user_args(config, "screening", "--answers", answers))
    assert (code, out, err) == (2, "", message + "\n")
    assert store.latest_screening("me") == before


def test_screening_without_answers_shows_them_and_changes_nothing(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    screened(store, capsys, config, "70,no,yes,no")
    before = store.latest_screening("me")
    assert before is not None
    code, out, err = run(capsys, *user_args(config, "screening"))
    answered = before.at.strftime("%Y-%m-%d %H:%M UTC")
    assert (code, err) == (0, "")
    assert out == f"screening: answered {answered}: age 70, yes to balance problems or dizziness\n"
    assert store.latest_screening("me") == before


def test_a_clearance_lets_a_screened_yes_start(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    screened(store, capsys, config, "52,no,no,yes")
    code, out, err = run(
        capsys, *user_args(config, "clear", "--by", "Dr. Lind, physiotherapist", "--until", "2027-06-30")
    )
    assert (code, err) == (0, "")
    clearance = store.latest_clearance("me")
    assert clearance is not None
    assert (clearance.cleared_by, str(clearance.valid_until)) == ("Dr. Lind, physiotherapist", "2027-06-30")
    cleared = clearance.at.strftime("%Y-%m-%d %H:%M UTC")
    assert out.splitlines() == [
        f"recorded: clearance: by Dr. Lind, physiotherapist on {cleared}, valid until 2027-06-30",
        "next session: 1.0 -> 1.5 km/h, 5 min (the first session)",
        BEFORE_FITTING,
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--by", "Dr. Lind", "--until", "2027-13-01"),
            "--until: input should be a valid date in the format yyyy-mm-dd, month value is outside "
            "expected range of 1-12",
        ),
        (("--by", ""), "--by: must name someone (it is blank)"),
        (("--by", "   "), "--by: must name someone (it is blank)"),
        (("--by", "x" * 101), "--by: string should have at most 100 characters"),
        (("--by", "Dr. Lind", "--note", "x" * 501), "--note: string should have at most 500 characters"),
    ],
)
def test_a_bad_clearance_is_refused_and_nothing_is_recorded(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = run(capsys, *user_args(config, "clear", *args))
    assert (code, out, err) == (2, "", f"retrowalk: nothing recorded: {message}\n")
    assert store.latest_clearance("me") is None


def test_pain_after_and_next_morning_belong_to_the_latest_session_and_let_the_plan_grow(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    screened(store, capsys, config, "52,no,no,no")
    add_session(store, "home-0")
    latest = add_session(store, "home-1")
    store.add_pain_report(StoredPainReport("me", "home-1", datetime.now(UTC), "before", 2))
    hint = f"retrowalk user pain --config {config} --user me"

    code, out, _ = run(capsys, *user_args(config, "show"))
    assert out.splitlines()[-5:] == [
        "next session: 1.0 -> 1.5 km/h, 5 min (held: pain reports missing for session home-1)",
        BEFORE_FITTING,
        "it waits for your after and next-morning pain: with pain of 3 or less and the next morning no "
        "worse than before, it becomes 1.0 -> 1.6 km/h, 7 min",
        f"  report it: {hint} --when after SCORE",
        f"  report it: {hint} --when next-morning SCORE",
    ]

    code, out, err = run(capsys, *user_args(config, "pain", "--when", "after", "3"))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"after pain 3/10 recorded for me, {started_words(latest)}",
        "next session: 1.0 -> 1.5 km/h, 5 min (held: pain reports missing for session home-1)",
        BEFORE_FITTING,
        "it waits for your next-morning pain: with pain of 3 or less and the next morning no worse than "
        "before, it becomes 1.0 -> 1.6 km/h, 7 min",
        f"  report it: {hint} --when next-morning SCORE",
    ]
    code, out, err = run(capsys, *user_args(config, "pain", "--when", "next-morning", "2"))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"next-morning pain 2/10 recorded for me, {started_words(latest)}",
        "next session: 1.0 -> 1.6 km/h, 7 min (progressed: pain 3/10 and the next morning not worse "
        "(home-1))",
        BEFORE_FITTING,
    ]
    reports = [(r.session_id, r.moment, r.pain) for r in store.pain_reports_for_user("me")]
    assert reports == [("home-1", "before", 2), ("home-1", "after", 3), ("home-1", "next_morning", 2)]

    code, out, _ = run(capsys, *user_args(config, "history"))
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[1].endswith(
        "home-1  completed, walked 300 s, top 1.5 km/h (plan 1.0 -> 1.5 km/h, 5 min); pain before 2, "
        "during -, after 3, next-morning 2"
    )


def test_swelling_sends_the_person_to_a_clinician(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    screened(store, capsys, config, "52,no,no,no")
    session = add_session(store)
    code, out, err = run(capsys, *user_args(config, "pain", "--when", "after", "2", "--swelling"))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"after pain 2/10 recorded for me, with swelling, {started_words(session)}",
        "next session: none until a clinician clears me: swelling reported (home-1); then "
        f"retrowalk user clear --config {config} --user me --by NAME",
    ]
    code, out, err = run(capsys, *user_args(config, "clear", "--by", "Dr. Lind"))
    assert out.splitlines()[-2:] == ["next session: 1.0 -> 1.5 km/h, 5 min (held: cleared)", BEFORE_FITTING]


def test_a_person_the_pain_rule_sent_to_a_clinician_is_refused_before_anything_connects(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the command that unblocks them, and without waiting for a treadmill: a bus that is not there
    would make any attempt to connect fail with another sentence."""
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={config.with_name('no-bus')}")
    screened(store, capsys, config, "52,no,no,no")
    add_session(store)
    run(capsys, *user_args(config, "pain", "--when", "after", "2", "--giving-way"))
    code = main(["session", "start", "--config", str(config), "--user", "me", "--pain-before", "1"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == (
        "retrowalk: session not started: user 'me' should see a clinician before the next session: "
        "knee giving way reported (home-1); once a clinician has cleared the person, record it with "
        f"'retrowalk user clear --config {config} --user me --by NAME'\n"
    )
    assert [s.session_id for s in store.sessions_for_user("me")] == ["home-1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--when", "during", "4"),
            "pain during a session is typed at the session's own prompt, where pain above 5 stops the "
            "belt; this command cannot reach a running session (press Ctrl-C there to stop it)",
        ),
        (
            ("--when", "before", "4"),
            "pain before a session is asked by 'retrowalk session start' (or give it --pain-before SCORE), "
            "so that it belongs to that session",
        ),
        (("--when", "after", "11"), "nothing recorded: SCORE: input should be less than or equal to 10"),
        (("--when", "after", "3", "--session", "home-9"), "user 'me' has no session 'home-9'"),
    ],
)
def test_pain_reports_that_cannot_count_are_refused_and_nothing_is_recorded(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    add_session(store)
    code, out, err = run(capsys, *user_args(config, "pain", *args))
    assert (code, out, err) == (2, "", f"retrowalk: {message}\n")
    assert store.pain_reports_for_user("me") == []


def test_pain_without_any_session_is_refused(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *user_args(config, "pain", "--when", "next-morning", "1"))
    assert (code, out, err) == (
        2,
        "",
        "retrowalk: user 'me' has no session yet to report next-morning pain for\n",
    )
    assert store.pain_reports_for_user("me") == []


def test_a_clearance_that_ended_already_is_refused(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    code, out, err = run(capsys, *user_args(config, "clear", "--by", "Dr. Lind", "--until", yesterday))
    assert (code, out) == (2, "")
    assert (
        err == f"retrowalk: the clearance's last valid day, {yesterday}, is already past; nothing recorded\n"
    )
    assert store.latest_clearance("me") is None


def test_an_expired_clearance_no_longer_lets_a_screened_yes_start(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    answers: dict[str, bool | int] = {
        "age": 52,
        "severe_knee_oa": True,
        "ligament_injury": False,
        "balance_disorder_or_dizziness": False,
        "recent_knee_surgery": False,
    }
    store.add_screening(StoredScreening("me", now - timedelta(days=10), answers))
    cleared_at, last_day = now - timedelta(days=9), (now - timedelta(days=2)).date()
    store.add_clearance(StoredClearance("me", cleared_at, "Dr. Lind", last_day))
    code, out, err = run(capsys, *user_args(config, "show"))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[2] == (
        f"clearance: by Dr. Lind on {cleared_at.strftime('%Y-%m-%d %H:%M UTC')}, valid until "
        f"{last_day.isoformat()} (expired: it no longer counts)"
    )
    assert lines[4] == (
        "next session: none yet: a clinician must clear this person first (screening answered yes to: "
        "severe knee osteoarthritis or a ligament injury)"
    )


class Terminal(io.StringIO):
    """Typed answers on a terminal: `input()` reads them, and the prompts know someone is there."""

    def isatty(self) -> bool:
        return True


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


PROGRESSED = (
    "next session: 1.0 -> 1.6 km/h, 7 min (progressed: pain 2/10 and the next morning not worse ({}))"
)


def earned_a_progression(
    store: Store, capsys: pytest.CaptureFixture[str], config: Path, session_id: str
) -> None:
    """Good pain reports for ``session_id`` (the latest): the next session grows."""
    store.add_pain_report(StoredPainReport("me", session_id, datetime.now(UTC), "before", 2))
    for when, score in (("after", "2"), ("next-morning", "1")):
        code, out, err = run(capsys, *user_args(config, "pain", "--when", when, score))
        assert (code, err) == (0, "")
    assert out.splitlines()[1] == PROGRESSED.format(session_id)


NOTHING_TO_CLEAR = (
    "nothing to clear for me: no screening answer is 'yes' and the pain rule has not sent them to a "
    "clinician, so this clearance changes nothing (a later 'yes' or referral needs a new one)"
)


def test_a_clearance_with_nothing_to_clear_keeps_the_earned_plan_and_says_so(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    screened(store, capsys, config, "52,no,no,no")
    add_session(store)
    earned_a_progression(store, capsys, config, "home-1")
    code, out, err = run(capsys, *user_args(config, "clear", "--by", "Dr. Lind"))
    assert (code, err) == (0, "")
    assert out.splitlines()[1:] == [
        NOTHING_TO_CLEAR,
        PROGRESSED.format("home-1"),
        BEFORE_FITTING,
    ]
    assert len(store.clearances_for_user("me")) == 1  # recorded all the same


def test_a_second_clearance_with_nothing_to_clear_keeps_counting_from_the_first(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """The swelling the first clearance cleared is not uncleared by counting only the newest one."""
    screened(store, capsys, config, "52,no,no,no")
    add_session(store)
    run(capsys, *user_args(config, "pain", "--when", "after", "2", "--swelling"))
    code, out, err = run(capsys, *user_args(config, "clear", "--by", "Dr. Lind"))
    assert (code, err) == (0, "")
    assert "nothing to clear" not in out
    assert out.splitlines()[1] == "next session: 1.0 -> 1.5 km/h, 5 min (held: cleared)"
    first = store.latest_clearance("me")
    assert first is not None
    add_session(store, "home-2", started=datetime.now(UTC))
    earned_a_progression(store, capsys, config, "home-2")
    code, out, err = run(capsys, *user_args(config, "clear", "--by", "Dr. Lind"))
    assert (code, err) == (0, "")
    assert out.splitlines()[1:3] == [
        nothing_to_clear_because(
            f"the clearance of {first.at.strftime('%Y-%m-%d %H:%M UTC')} already cleared what there was, "
            "and no screening 'yes' or referral by the pain rule has come since"
        ),
        PROGRESSED.format("home-2"),
    ]


def test_a_clearance_before_a_yes_answer_is_listed_as_not_counting_for_it(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    screened(store, capsys, config, "52,no,no,no")
    run(capsys, *user_args(config, "clear", "--by", "Dr. Lind"))
    screened(store, capsys, config, "52,yes,no,no")
    clearance, answers = store.latest_clearance("me"), store.latest_screening("me")
    assert clearance is not None
    assert answers is not None
    code, out, err = run(capsys, *user_args(config, "show"))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[2] == (
        f"clearance: by Dr. Lind on {clearance.at.strftime('%Y-%m-%d %H:%M UTC')}, before the screening "
        f"answers of {answers.at.strftime('%Y-%m-%d %H:%M UTC')}: it does not count for their 'yes' (a new "
        "clearance is needed)"
    )
    assert lines[4] == (
        "next session: none yet: a clinician must clear this person first (screening answered yes to: "
        "severe knee osteoarthritis or a ligament injury)"
    )


def test_an_expired_clearance_also_ends_the_ones_before_it(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """The clinician's latest word was time-limited: an older clearance without an end does not count."""
    now = datetime.now(UTC)
    answers: dict[str, bool | int] = {
        "age": 52,
        "severe_knee_oa": False,
        "ligament_injury": False,
        "balance_disorder_or_dizziness": False,
        "recent_knee_surgery": True,
    }
    store.add_screening(StoredScreening("me", now - timedelta(days=10), answers))
    store.add_clearance(StoredClearance("me", now - timedelta(days=9), "Dr. Lind"))
    code, out, _ = run(capsys, *user_args(config, "show"))
    assert out.splitlines()[4] == "next session: 1.0 -> 1.5 km/h, 5 min (the first session)"
    store.add_clearance(
        StoredClearance("me", now - timedelta(days=8), "Dr. Lind", (now - timedelta(days=2)).date())
    )
    code, out, err = run(capsys, *user_args(config, "show"))
    assert (code, err) == (0, "")
    assert out.splitlines()[4] == (
        "next session: none yet: a clinician must clear this person first (screening answered yes to: "
        "recent knee surgery)"
    )


@pytest.mark.parametrize("when", ["after", "next-morning"])
def test_pain_without_a_session_while_one_runs_is_refused_and_nothing_is_recorded(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str], when: str
) -> None:
    """Typed during or right after a walk, a report means that walk, not the one before it."""
    screened(store, capsys, config, "52,no,no,no")
    earlier = add_session(store, "home-6")
    started = datetime(2026, 12, 1, 17, 46, tzinfo=UTC)
    # What the service notes when a session starts, in whichever process drives the treadmill.
    store.open_session(OpenSession("home-7", "me", "home", started, FIRST_PLAN.model_dump_json()))
    code, out, err = run(capsys, *user_args(config, "pain", "--when", when, "2"))
    assert (code, out) == (2, "")
    assert err == (
        "retrowalk: nothing recorded: me's session home-7 on home, started 2026-12-01 17:46 UTC, has not "
        f"ended yet, so report the {when} pain once it has, or name an earlier session with --session ID "
        "(see 'user history')\n"
    )
    assert store.pain_reports_for_user("me") == []

    # Aimed at the earlier session on purpose, it is recorded for that one, and the reply says which.
    code, out, err = run(capsys, *user_args(config, "pain", "--when", when, "2", "--session", "home-6"))
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"{when} pain 2/10 recorded for me, {started_words(earlier)}"
    assert [(r.session_id, r.pain) for r in store.pain_reports_for_user("me")] == [("home-6", 2)]


def test_someone_else_walking_does_not_hold_up_a_report(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    screened(store, capsys, config, "52,no,no,no")
    session = add_session(store, "home-6")
    started = datetime(2026, 12, 1, 17, 46, tzinfo=UTC)
    store.open_session(OpenSession("home-7", "someone-else", "home", started, FIRST_PLAN.model_dump_json()))
    code, out, err = run(capsys, *user_args(config, "pain", "--when", "after", "1", "--swelling"))
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"after pain 1/10 recorded for me, with swelling, {started_words(session)}"


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


def test_a_clearance_for_a_yes_answered_no_since_still_counts(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """Yes, cleared, then no: the clearance cleared the "yes" when it was recorded, so the regression
    before it is behind it, and one regression since is a regression, not a referral."""
    screened(store, capsys, config, "52,no,no,no")
    add_session(store, "home-1", started=datetime.now(UTC) - timedelta(hours=20))
    store.add_pain_report(StoredPainReport("me", "home-1", datetime.now(UTC), "before", 2))
    store.add_pain_report(StoredPainReport("me", "home-1", datetime.now(UTC), "after", 6))
    screened(store, capsys, config, "52,no,no,yes")
    code, out, err = run(capsys, *user_args(config, "clear", "--by", "Dr. Lind"))
    assert (code, err) == (0, "")
    assert out.splitlines()[1] == "next session: 1.0 -> 1.5 km/h, 5 min (held: cleared)"
    add_session(store, "home-2", started=datetime.now(UTC))
    store.add_pain_report(StoredPainReport("me", "home-2", datetime.now(UTC), "after", 6))
    screened(store, capsys, config, "52,no,no,no")
    code, out, err = run(capsys, *user_args(config, "show"))
    assert (code, err) == (0, "")
    assert out.splitlines()[4] == (
        "next session: 1.0 -> 1.3 km/h, 4 min (regressed: pain 6/10 during or after session home-2)"
    )


def nothing_to_clear_because(reason: str) -> str:
    return (
        f"nothing to clear for me: {reason}, so this clearance changes nothing (a later 'yes' or referral "
        "needs a new one)"
    )


def test_a_clearance_before_any_screening_answers_says_they_are_not_answered_yet(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *user_args(config, "clear", "--by", "Dr. Lind"))
    assert (code, err) == (0, "")
    assert out.splitlines()[1] == nothing_to_clear_because(
        "the screening questions are not answered yet and the pain rule has not sent them to a clinician"
    )
    code, out, err = run(capsys, *user_args(config, "show"))
    assert (code, err) == (0, "")
    assert out.splitlines()[2].endswith(", recorded with nothing to clear: it changed nothing")


def test_a_second_clearance_for_a_cleared_yes_says_the_first_one_cleared_it(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    screened(store, capsys, config, "52,no,no,yes")
    code, out, err = run(capsys, *user_args(config, "clear", "--by", "Dr. Lind"))
    assert (code, err) == (0, "")
    assert "nothing to clear" not in out
    first = store.latest_clearance("me")
    assert first is not None
    code, out, err = run(capsys, *user_args(config, "clear", "--by", "Dr. Berg"))
    assert (code, err) == (0, "")
    assert out.splitlines()[1] == nothing_to_clear_because(
        f"the clearance of {first.at.strftime('%Y-%m-%d %H:%M UTC')} already cleared what there was, and "
        "no screening 'yes' or referral by the pain rule has come since"
    )
    code, out, err = run(capsys, *user_args(config, "show"))
    second = store.latest_clearance("me")
    assert second is not None
    assert out.splitlines()[2] == (
        f"clearance: by Dr. Berg on {second.at.strftime('%Y-%m-%d %H:%M UTC')}, recorded with nothing to "
        "clear: it changed nothing"
    )


def test_a_clearance_that_counts_is_listed_without_a_remark(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    screened(store, capsys, config, "52,no,no,yes")
    run(capsys, *user_args(config, "clear", "--by", "Dr. Lind"))
    clearance = store.latest_clearance("me")
    assert clearance is not None
    code, out, err = run(capsys, *user_args(config, "show"))
    assert (code, err) == (0, "")
    assert out.splitlines()[2] == f"clearance: by Dr. Lind on {clearance.at.strftime('%Y-%m-%d %H:%M UTC')}"


def test_a_clearance_during_a_running_session_plans_as_show_does(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """The next plan depends on the running session: `user clear` must not state one for the session
    before it while `user show` says it is planned when the running one has ended."""
    screened(store, capsys, config, "52,no,no,no")
    add_session(store, "home-1")
    store.add_pain_report(StoredPainReport("me", "home-1", datetime.now(UTC), "after", 2, swelling=True))
    started = datetime(2026, 12, 1, 17, 46, tzinfo=UTC)
    store.open_session(OpenSession("home-2", "me", "home", started, FIRST_PLAN.model_dump_json()))
    planned_later = "next session: planned when home-2 has ended, from how it went and the pain after it"
    code, out, err = run(capsys, *user_args(config, "clear", "--by", "Dr. Lind"))
    assert (code, err) == (0, "")
    assert out.splitlines()[1:] == [planned_later]
    code, out, err = run(capsys, *user_args(config, "show"))
    assert out.splitlines()[-1] == planned_later


def test_a_red_flag_in_a_kept_before_score_sends_the_person_to_a_clinician_in_show(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """A before score a kiosk or Home Assistant keeps for the person's next start is a pain report about
    that session: swelling in it refers them, as a start on any treadmill would be refused, until a
    clearance; a score older than the hour a start would take it for says nothing any more."""
    screened(store, capsys, config, "52,no,no,no")
    given = datetime.now(UTC) - timedelta(minutes=5)
    store.keep_before_pain(KeptBeforePain("gym-2", "me", given, 3, swelling=True))
    code, out, err = run(capsys, *user_args(config, "show"))
    assert (code, err) == (0, "")
    assert out.splitlines()[4] == (
        f"next session: none until a clinician clears me: swelling reported before it at "
        f"{given.strftime('%Y-%m-%d %H:%M UTC')}; then retrowalk user clear --config {config} --user me "
        "--by NAME"
    )
    code, out, err = run(capsys, *user_args(config, "clear", "--by", "Dr. Lind"))
    assert (code, err) == (0, "")
    assert out.splitlines()[1:] == [
        "next session: 1.0 -> 1.5 km/h, 5 min (the first session)",
        BEFORE_FITTING,
    ]


def test_a_kept_before_score_older_than_the_hour_refers_nobody(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    screened(store, capsys, config, "52,no,no,no")
    store.keep_before_pain(KeptBeforePain("home", "me", datetime.now(UTC) - timedelta(minutes=61), 8))
    code, out, err = run(capsys, *user_args(config, "show"))
    assert (code, err) == (0, "")
    assert out.splitlines()[4] == "next session: 1.0 -> 1.5 km/h, 5 min (the first session)"


def test_a_red_flag_after_a_clearance_refers_though_the_clock_was_set_back_between(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    screened(store, capsys, config, "52,no,no,no")
    add_session(store, "home-1")
    run(capsys, *user_args(config, "pain", "--when", "after", "2", "--swelling"))
    code, out, err = run(capsys, *user_args(config, "clear", "--by", "Dr. Lind"))
    assert out.splitlines()[1] == "next session: 1.0 -> 1.5 km/h, 5 min (held: cleared)"
    # The machine's clock set back two hours, then the knee gives way: the report's time is before the
    # clearance's, but it was recorded after it.
    store.add_pain_report(
        StoredPainReport(
            "me", "home-1", datetime.now(UTC) - timedelta(hours=2), "next_morning", 2, giving_way=True
        )
    )
    code, out, err = run(capsys, *user_args(config, "show"))
    assert (code, err) == (0, "")
    assert out.splitlines()[4] == (
        "next session: none until a clinician clears me: knee giving way reported (home-1); then retrowalk "
        f"user clear --config {config} --user me --by NAME"
    )


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
