"""`retrowalk user pain` and what the pain rule makes of the reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from retrowalk.cli import main
from retrowalk.storage import (
    KeptBeforePain,
    OpenSession,
    Store,
    StoredPainReport,
)
from tests.user_cli.records import (
    BEFORE_FITTING,
    FIRST_PLAN,
    add_session,
    run,
    screened,
    started_words,
    user_args,
)


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
