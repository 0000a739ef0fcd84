"""`retrowalk user ...`: a person's screening, clearance, pain reports, history and next plan, at a terminal.

These commands work on the storage file named in the configuration; they need no treadmill and no broker.
Every record goes through the MQTT API's own validation (the payload is checked exactly as a kiosk's would
be) and the service's own :class:`CommandRouter` (the same rows, the same rules), and every plan shown is
the one a start would get. Each write is one SQLite transaction (WAL mode), so they are safe beside a
running `retrowalk serve` or `session start` on the same storage: the running process sees the new row at
the next start.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from retrowalk.config import Settings, load_config
from retrowalk.errors import PlanError, RefusedError
from retrowalk.mqtt import commands as mc
from retrowalk.mqtt.payloads import UserId, kmh_text
from retrowalk.service.commands import CommandRouter, RecordCommand
from retrowalk.service.member_messages import running_refusal, utc_minute
from retrowalk.service.publish import plan_info
from retrowalk.service.records import clearance_expired, counted_clearances, screening_record
from retrowalk.session.grid import FittedPlan
from retrowalk.session.history import PainReport, PainTiming
from retrowalk.session.plan import SessionPlan, TreadmillCaps, reachable_top_kmh
from retrowalk.session.progression import Decision
from retrowalk.session.screening import ScreeningDecision, screening_decision
from retrowalk.storage import Store, StoredPainReport, StoredScreening, StoredSession

__all__ = [
    "DECISION_WORDS",
    "SCREENING_QUESTIONS",
    "TERMINAL_COMMAND_ID",
    "USER_EPILOG",
    "WHEN_WORDS",
    "add_parser",
    "clearance_line",
    "describe_history",
    "describe_user",
    "next_plan_lines",
    "next_session_lines",
    "open_store",
    "plan_words",
    "record_clearance",
    "recorded_for",
    "report_pain",
    "review_screening",
    "run",
    "screening_line",
    "screening_status",
    "validated",
]

# What a terminal says for the API's `when` values, and back.
WHEN_WORDS = {"before": "before", "during": "during", "after": "after", "next-morning": "next_morning"}
# The screening questions as the terminal asks them (`session start`, `user screening`).
SCREENING_QUESTIONS = (
    ("severe_knee_oa_or_ligament_injury", "severe knee osteoarthritis or a ligament injury"),
    ("balance_disorder_or_dizziness", "balance problems or dizziness"),
    ("recent_knee_surgery", "recent knee surgery"),
)
DECISION_WORDS = {
    Decision.FIRST: "the first session",
    Decision.PROGRESS: "progressed",
    Decision.HOLD: "held",
    Decision.REGRESS: "regressed",
}
# A terminal's command id: the router does not look at it, the API's validation needs one.
TERMINAL_COMMAND_ID = "terminal"

USER_EPILOG = """\
examples:
  retrowalk user show --config home.toml --user me       screening, clearance, history, next plan
  retrowalk user pain --config home.toml --user me --when next-morning 2
  retrowalk user screening --config home.toml --user me --answers 52,no,no,no
  retrowalk user clear --config home.toml --user me --by "Dr. Lind, physiotherapist"
  retrowalk user history --config home.toml --user me

These commands read and write the storage file of the configuration (no treadmill, no broker). Each
write is one SQLite transaction, safe beside a running 'retrowalk serve' or 'session start'.
"""


def add_parser(sub: Any) -> None:
    """Add `retrowalk user` and its actions to the top-level subparsers."""
    user = sub.add_parser(
        "user",
        help="a person's screening, clearance, pain reports, history and next plan",
        description="Review and correct what retrowalk keeps about a person, report pain, and see the "
        "next session's plan and what it waits for. Works on the configuration's storage file.",
        epilog=USER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")

    def action(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text, description=description)
        parser.add_argument("--config", "-c", type=Path, required=True, help="TOML configuration file")
        parser.add_argument("--user", required=True, help="who (the name given to 'session start --user')")
        return parser

    action(
        "show",
        "screening, clearance, last session, next plan and what it waits for",
        "Show the person's screening answers, clearance, sessions so far (and one that is running), and "
        "the next session's plan: held, progressed or regressed by the pain rule, which pain reports it "
        "still waits for, and how it is fitted to the speed steps of the configuration's treadmills "
        "(known once a session has started on them).",
    )
    action(
        "history",
        "every session with its pain reports",
        "List the person's sessions, oldest first, with the plan as asked (and, where a treadmill's "
        "speed steps changed it, as it ran) and the pain reported before, during, after and the next "
        "morning (- where none was reported).",
    )
    pain = action(
        "pain",
        "report knee pain after a session or the next morning",
        "Report knee pain, 0 (none) to 10 (worst imaginable), for the person's latest session (or "
        "--session); the reply names the session. While a session of the person is running, a report "
        "without --session is refused: the pain after it is reported once it has ended. Each later "
        "session grows only when the pain after it stays at 3 or less and the next morning is no worse "
        "than before it; a session waits for both reports. Pain before a "
        "session is asked by 'session start'; pain during one is typed at the session's prompt. Swelling, a "
        "knee giving way or pain of 7 or more mean no further session until a clinician clears the person.",
    )
    pain.add_argument(
        "--when",
        required=True,
        choices=sorted(WHEN_WORDS),
        metavar="{after,next-morning}",
        help="after: the day of the session; next-morning: the morning after it",
    )
    pain.add_argument("score", metavar="SCORE", type=int, help="0 (no pain) to 10 (worst imaginable)")
    pain.add_argument("--swelling", action="store_true", help="the knee is swollen")
    pain.add_argument("--giving-way", action="store_true", help="the knee gave way")
    pain.add_argument("--session", help="the session id (default: the latest; see 'user history')")
    screening = action(
        "screening",
        "review or correct the screening answers",
        "Without --answers: show the answers on record and, at a terminal, offer to answer again. With "
        "--answers: record new answers (the newest answers count; earlier ones stay in the history). "
        "A 'yes' means a clinician must clear the person before the next session ('user clear').",
    )
    screening.add_argument(
        "--answers",
        metavar="AGE,OA,BALANCE,SURGERY",
        help="e.g. '52,no,no,no': age; severe knee osteoarthritis or a ligament injury; balance "
        "problems or dizziness; recent knee surgery",
    )
    clear = action(
        "clear",
        "record a clinician's clearance",
        "Record that a clinician cleared the person after a 'yes' in the screening or after the pain "
        "rule asked them to see one. Record only what a clinician actually said: the clearance lets "
        "sessions start again. One recorded with nothing to clear (no 'yes' and no referral that an "
        "earlier clearance has not cleared) is kept but changes nothing, and the command says why; a "
        "later 'yes' or referral needs a new one. Anyone "
        "who can write the storage file can record one, as anyone the "
        "broker lets publish on a treadmill's command/staff topic can over MQTT.",
    )
    clear.add_argument("--by", required=True, metavar="NAME", help="who cleared the person, and their role")
    clear.add_argument(
        "--until",
        metavar="YYYY-MM-DD",
        help="the last day (UTC) the clearance counts; after it, sessions wait for a new one",
    )
    clear.add_argument("--note", help="what the clinician said, in a sentence")


_USER_ID: TypeAdapter[str] = TypeAdapter(UserId)


def run(args: argparse.Namespace) -> int:
    try:
        # The API's rule for a person's name, for reading as for writing: no name is looked up that no
        # record could carry.
        _USER_ID.validate_python(args.user)
    except ValidationError:
        raise RefusedError(
            "--user takes a name of 1 to 64 characters without control characters (tabs, newlines), not "
            "blank and not beginning or ending with a space"
        ) from None
    settings = load_config(args.config)
    writes = args.user_command in ("pain", "screening", "clear")
    store = open_store(settings, create=writes)
    try:
        router = CommandRouter(store, settings.ceilings, settings.default_plan)
        user = args.user
        treadmills = [t.id for t in settings.treadmills]
        match args.user_command:
            case "show":
                print("\n".join(describe_user(router, user, args.config, treadmills)))
            case "history":
                print("\n".join(describe_history(store, user)))
            case "pain":
                report_pain(router, args)
                print("\n".join(next_plan_lines(router, user, args.config, treadmills)))
            case "screening":
                review_screening(router, args)
            case "clear":
                record_clearance(router, args)
                print("\n".join(next_plan_lines(router, user, args.config, treadmills)))
    finally:
        store.close()
    return 0


def open_store(settings: Settings, *, create: bool) -> Store:
    """The configuration's storage; an empty one in memory when reading a file that does not exist yet
    (looking must not create files)."""
    path = settings.service.storage
    if not create and not path.exists():
        return Store(":memory:")
    return Store(path)


def validated(
    document: dict[str, Any], options: dict[str, str], refusal: str = "nothing recorded"
) -> RecordCommand:
    """Check a record exactly as the MQTT API checks a kiosk's payload; refuse with the option's name."""
    raw = json.dumps({"command_id": TERMINAL_COMMAND_ID, **document}).encode()
    try:
        command = mc.parse_command("terminal", raw, max_bytes=len(raw))
    except mc.InvalidCommandError as err:
        # The first part of a location is the command type (the discriminator): not the person's concern.
        fields = [issue.loc.partition(".")[2] or issue.loc for issue in err.reply.errors]
        problems = "; ".join(
            f"{options.get(field, field)}: {issue.msg.lower()}"
            for field, issue in zip(fields, err.reply.errors, strict=True)
        )
        raise RefusedError(f"{refusal}: {problems}") from None
    assert isinstance(command, mc.PainReportCommand | mc.ScreeningCommand | mc.ClearanceCommand)
    return command


def report_pain(router: CommandRouter, args: argparse.Namespace) -> None:
    when = WHEN_WORDS[args.when]
    if when == "during":
        raise RefusedError(
            "pain during a session is typed at the session's own prompt, where pain above 5 stops the "
            "belt; this command cannot reach a running session (press Ctrl-C there to stop it)"
        )
    if when == "before":
        raise RefusedError(
            "pain before a session is asked by 'retrowalk session start' (or give it --pain-before "
            "SCORE), so that it belongs to that session"
        )
    document: dict[str, Any] = {
        "type": "pain_report",
        "user_id": args.user,
        "when": when,
        "pain": args.score,
        "swelling": args.swelling,
        "giving_way": args.giving_way,
    }
    if args.session is not None:
        document["session_id"] = args.session
    command = validated(document, {"pain": "SCORE", "user_id": "--user", "session_id": "--session"})
    running = router.running_session(args.user) if args.session is None else None
    if running is not None:
        raise RefusedError(running_refusal(running, when, "--session ID (see 'user history')"))
    session_id = router.record(command)
    session = recorded_for(router.store, args.user, session_id)
    print(f"{args.when} pain {args.score}/10 recorded for {args.user}{_flags(args)}, {session}")


def recorded_for(store: Store, user: str, session_id: str | None) -> str:
    """The session a report went to, named as `user show` and `user history` name it (for a reply)."""
    started = {s.session_id: s.started_at for s in store.sessions_for_user(user, limit=10_000)}
    if session_id in started:
        return f"for session {session_id} on {utc_minute(started[session_id])}"
    return f"for session {session_id}"


def _flags(args: argparse.Namespace) -> str:
    flags = [name for name, on in (("swelling", args.swelling), ("knee giving way", args.giving_way)) if on]
    return f", with {' and '.join(flags)}" if flags else ""


def review_screening(router: CommandRouter, args: argparse.Namespace) -> None:
    from retrowalk.cli.local_session import ask_screening, parse_screening

    user = args.user
    stored = router.store.latest_screening(user)
    if args.answers is None:
        print(screening_line(stored))
        if not sys.stdin.isatty():
            return
        question = "Answer the questions now?" if stored is None else "Answer the questions again?"
        if input(f"{question} [yes/no] ").strip().lower() != "yes":
            return
    try:
        command = ask_screening(user) if args.answers is None else parse_screening(args.answers, user)
    except RefusedError as err:
        raise RefusedError(f"nothing recorded: {err}") from None
    except ValidationError as err:
        names = {"age": "AGE", "user_id": "--user"}
        problems = "; ".join(
            f"{names.get(str(e['loc'][0]), e['loc'][0])}: {e['msg'].lower()}" for e in err.errors()
        )
        raise RefusedError(f"nothing recorded: {problems}") from None
    # Through the API's validation as well: parse_screening builds the command, this checks its values.
    checked = validated(command.model_dump(exclude={"command_id"}), {"age": "AGE", "user_id": "--user"})
    router.record(checked)
    print(f"recorded for {user}: {screening_line(router.store.latest_screening(user))}")
    decision = screening_status(router.store, user)
    if decision.allowed:
        print("sessions may start")
    else:
        print(
            f"no session until a clinician clears {user}: {decision.reason}; then record it with "
            f"'retrowalk user clear --config {args.config} --user {user} --by NAME'"
        )


def record_clearance(router: CommandRouter, args: argparse.Namespace) -> None:
    document: dict[str, Any] = {"type": "clearance", "user_id": args.user, "cleared_by": args.by}
    if args.until is not None:
        document["valid_until"] = args.until
    if args.note is not None:
        document["note"] = args.note
    command = validated(
        document, {"cleared_by": "--by", "valid_until": "--until", "note": "--note", "user_id": "--user"}
    )
    router.record(command)
    # Whether it changed anything is the note's to say, in full.
    print(f"recorded: {clearance_line(router, args.user, say_idle=False)}")
    note = router.clearance_note(args.user)
    if note is not None:
        print(note)


def screening_status(store: Store, user: str) -> ScreeningDecision:
    """The screening's decision, as a start makes it: what the next-session line and the clearance
    listing both say, so that they cannot disagree."""
    stored = store.latest_screening(user)
    return screening_decision(
        user, [screening_record(stored)] if stored else [], counted_clearances(store, user)
    )


def screening_line(stored: StoredScreening | None) -> str:
    if stored is None:
        return "screening: not answered yet"
    record = screening_record(stored)
    yes = [label for field, label in SCREENING_QUESTIONS if getattr(record, field)]
    said = f"yes to {'; '.join(yes)}" if yes else "no to every question"
    return f"screening: answered {utc_minute(stored.at)}: age {stored.answers.get('age')}, {said}"


def clearance_line(router: CommandRouter, user: str, *, say_idle: bool = True) -> str:
    """The person's newest clearance, and why it does not count when it does not (``say_idle``: also
    when it was recorded with nothing to clear)."""
    store = router.store
    clearance = store.latest_clearance(user)
    if clearance is None:
        return "clearance: none recorded"
    until = f", valid until {clearance.valid_until.isoformat()}" if clearance.valid_until else ""
    if clearance_expired(clearance):
        until += " (expired: it no longer counts)"
    note = f" ({clearance.note})" if clearance.note else ""
    predates = screening_status(store, user).clearance_predates
    if predates is not None:
        note += (
            f", before the screening answers of {utc_minute(predates)}: it does not count for their 'yes' "
            "(a new clearance is needed)"
        )
    elif say_idle and not clearance_expired(clearance) and router.clearance_note(user) is not None:
        note += ", recorded with nothing to clear: it changed nothing"
    return f"clearance: by {clearance.cleared_by} on {utc_minute(clearance.at)}{until}{note}"


def plan_words(plan: SessionPlan) -> str:
    """A plan in a few words, "1.0 -> 1.5 km/h, 5 min": the start speed, the top its ramp reaches before
    the cap (2 minutes of the same ramp say 1.2, where the session ends, not a target it never gets to)
    and the cap."""
    minutes, seconds = divmod(plan.duration_cap_s, 60)
    duration = f"{minutes} min" + (f" {seconds} s" if seconds else "")
    # A fitted plan's speeds are off the 0.1 km/h grid (0.96): shown as they are, never rounded up.
    return f"{kmh_text(plan.start_speed_kmh)} -> {kmh_text(reachable_top_kmh(plan))} km/h, {duration}"


def describe_user(
    router: CommandRouter, user: str, config: Path, treadmill_ids: Sequence[str] = ()
) -> list[str]:
    """Everything `user show` says; the next plan also as a start on each of ``treadmill_ids`` (the
    configuration's) would fit it to that treadmill's speed steps."""
    store = router.store
    lines = [f"user {user}", screening_line(store.latest_screening(user)), clearance_line(router, user)]
    sessions = store.sessions_for_user(user)
    running = [s for s in store.open_sessions() if s.user_id == user]
    if sessions:
        last = sessions[-1]
        lines.append(
            f"sessions: {len(sessions)}; the latest {last.session_id} on {utc_minute(last.started_at)}: "
            f"{last.end_reason}, walked {last.walked_s:.0f} s, top {kmh_text(last.max_speed_kmh)} km/h, "
            f"pain {_pain_cells(store, last)}"
        )
    else:
        lines.append("sessions: none finished yet" if running else "sessions: none yet")
    for session in running:
        lines.append(
            f"session running: {session.session_id} on {session.treadmill_id} since "
            f"{utc_minute(session.started_at)} (if no retrowalk is running now, it stopped during this "
            "session and closes it when it starts again)"
        )
    return lines + next_plan_lines(router, user, config, treadmill_ids)


def next_plan_lines(
    router: CommandRouter, user: str, config: Path, treadmill_ids: Sequence[str]
) -> list[str]:
    """The next session's plan as `next_session_lines` says it, and under its own line how a start on
    each of ``treadmill_ids`` would fit it: what `user show`, `user pain` and `user clear` print, so
    that no command shows a plan faster than the one the treadmill will run."""
    running = [s.session_id for s in router.store.open_sessions() if s.user_id == user]
    if running:
        # The history gets a session when it ends; until then the next plan cannot be known, and one
        # stated from the session before it would be the wrong one.
        ids = ", ".join(running)
        return [f"next session: planned when {ids} has ended, from how it went and the pain after it"]
    upcoming = next_session_lines(router, user, config)
    # Right under the plan's own line, before what it waits for.
    upcoming[1:1] = _fitted_lines(router, user, treadmill_ids)
    return upcoming


def _fitted_lines(router: CommandRouter, user: str, treadmill_ids: Sequence[str]) -> list[str]:
    """The next plan as a start fits it to each treadmill's speed grid, as `session start` shows it; for
    treadmills whose grid is not known yet, that the plan shown is the one before fitting."""
    try:
        progression, profile = router.progression_for(user)
    except PlanError:
        return []
    if progression.plan is None:
        return []
    plan = _with_overrides(router, progression.plan)
    unknown: list[str] = []
    alike: dict[str, list[str]] = {}  # treadmills with the same caps say it once
    for treadmill_id in treadmill_ids:
        stored = router.store.treadmill_caps(treadmill_id)
        if stored is None:
            unknown.append(treadmill_id)
        else:
            alike.setdefault(stored.caps_json, []).append(treadmill_id)
    lines: list[str] = []
    for caps_json, ids in alike.items():
        where = "on " + ", ".join(ids)
        try:
            fitted = router.fit_to_treadmill(plan, TreadmillCaps.model_validate_json(caps_json), profile)
        except ValidationError:
            unknown.extend(ids)  # kept by another version of retrowalk: known again after the next start
            continue
        except PlanError as err:
            lines.append(f"{where} a start would be refused: {err}")
            continue
        fit = plan_info(fitted).fitted_to_grid
        if fit is not None:
            lines.append(f"{where} it runs as 'session start' will show it: {plan_words(fitted)}")
            lines.extend(f"  {line}" for line in fit.lines())
    if unknown:
        lines.append(
            f"(as asked, before fitting to the speed steps of {', '.join(unknown)}: retrowalk learns them "
            "when a session starts there, and a treadmill with coarser steps runs it slower, never faster)"
        )
    return lines


def _with_overrides(router: CommandRouter, plan: SessionPlan) -> SessionPlan:
    """A plan of the progression with the configuration's [default_plan] applied, as a start plans it."""
    return SessionPlan.model_validate({**plan.model_dump(), **router.plan_overrides})


def next_session_lines(router: CommandRouter, user: str, config: Path) -> list[str]:
    """The next session's plan, why, and what the person can do about it (shown after every session)."""
    hint = f"retrowalk user {{}} --config {config} --user {user}"
    try:
        progression, _ = router.progression_for(user)
    except PlanError:
        if router.store.latest_screening(user) is None:
            return [
                "next session: first the screening questions: 'retrowalk session start' asks them, or "
                + hint.format("screening")
                + " --answers AGE,OA,BALANCE,SURGERY"
            ]
        return [
            f"next session: none yet: {screening_status(router.store, user).reason}",
            "  once a clinician has: " + hint.format("clear") + " --by NAME",
            "  to correct a wrong answer: " + hint.format("screening") + " --answers AGE,OA,BALANCE,SURGERY",
        ]
    if progression.plan is None:
        return [
            f"next session: none until a clinician clears {user}: {'; '.join(progression.reasons)}; "
            "then " + hint.format("clear") + " --by NAME"
        ]
    plan = _with_overrides(router, progression.plan)
    why = DECISION_WORDS[progression.decision]
    if progression.decision is not Decision.FIRST:
        why += ": " + "; ".join(progression.reasons)
    lines = [f"next session: {plan_words(plan)} ({why})"]
    missing = _missing_reports(router.store, user)
    if progression.decision is not Decision.HOLD or not missing:
        return lines
    # What the reports could change, by the rule itself: the plan if they came in low. When that plan
    # would not grow either (a session before a clearance, no baseline to compare with), they are not
    # what the plan waits for, and saying so would send the person after the wrong thing.
    if_low, _ = router.progression_for(user, [_assumed(user, session, when) for session, when in missing])
    if if_low.decision is not Decision.PROGRESS or if_low.plan is None:
        return lines
    grown = _with_overrides(router, if_low.plan)
    words = " and ".join(_dashed(when) for _, when in missing)
    lines.append(
        f"it waits for your {words} pain: with pain of 3 or less and the next morning no worse than "
        f"before, it becomes {plan_words(grown)}"
    )
    lines.extend(f"  report it: {hint.format('pain')} --when {_dashed(when)} SCORE" for _, when in missing)
    return lines


def _dashed(when: PainTiming) -> str:
    return when.value.replace("_", "-")


def _missing_reports(store: Store, user: str) -> list[tuple[str, PainTiming]]:
    """The after and next-morning reports the latest session still lacks (the ones a person can still
    give; a score from before a session can only be given before it)."""
    sessions = store.sessions_for_user(user, limit=1)
    if not sessions:
        return []
    latest = sessions[-1].session_id
    given = {r.moment for r in store.pain_reports_for_user(user) if r.session_id == latest}
    missing = []
    if not given & {"during", "after"}:
        missing.append((latest, PainTiming.AFTER))
    if "next_morning" not in given:
        missing.append((latest, PainTiming.NEXT_MORNING))
    return missing


def _assumed(user: str, session_id: str, when: PainTiming) -> PainReport:
    # "Low" as the rule reads it: no pain after the session, and a morning equal to no pain at all.
    return PainReport(user_id=user, session_id=session_id, when=when, score=0, at=datetime.now(UTC))


def _pain_cells(store: Store, session: StoredSession) -> str:
    reports: dict[str, list[StoredPainReport]] = {}
    for report in store.pain_reports_for_user(session.user_id, limit=10_000):
        if report.session_id == session.session_id:
            reports.setdefault(report.moment, []).append(report)
    cells = []
    for moment in ("before", "during", "after", "next_morning"):
        scores = [r.pain for r in reports.get(moment, [])]
        cells.append(f"{moment.replace('_', '-')} {max(scores) if scores else '-'}")
    return ", ".join(cells)


def describe_history(store: Store, user: str) -> list[str]:
    sessions = store.sessions_for_user(user, limit=10_000)
    if not sessions:
        return [f"no sessions on record for {user}"]
    lines = []
    for session in sessions:
        top = kmh_text(session.max_speed_kmh)
        lines.append(
            f"{utc_minute(session.started_at)}  {session.session_id}  {session.end_reason}, walked "
            f"{session.walked_s:.0f} s, top {top} km/h ({_history_plan(session)}); "
            f"pain {_pain_cells(store, session)}"
        )
    return lines


def _history_plan(session: StoredSession) -> str:
    """The session's plan as asked and, when the treadmill's speed steps changed it, as it ran."""
    if session.plan_json is None:
        return "plan unknown"
    asked = plan_words(SessionPlan.model_validate_json(session.plan_json))
    if session.fitted_plan_json is None:
        return f"plan {asked}"
    try:
        fitted = FittedPlan.model_validate_json(session.fitted_plan_json)
    except ValidationError:  # kept by another version of retrowalk: the plan as asked is still true
        return f"plan {asked} as asked"
    return (
        f"plan {asked} as asked; ran as {plan_words(fitted)}, fitted to the treadmill's "
        f"{kmh_text(fitted.fit.speed_step_kmh)} km/h speed steps"
    )
