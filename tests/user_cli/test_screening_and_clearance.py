"""`retrowalk user screening` and `user clear`: screening answers and clinicians' clearances."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from retrowalk.storage import (
    OpenSession,
    Store,
    StoredClearance,
    StoredPainReport,
    StoredScreening,
)
from tests.user_cli.records import (
    BEFORE_FITTING,
    FIRST_PLAN,
    add_session,
    run,
    screened,
    user_args,
)


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
