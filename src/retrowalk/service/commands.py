"""The command path: kiosk commands (from MQTT or the terminal) to the right treadmill's engine.

Screening, clearances and pain reports are records; a start is checked against them and against the
user's history before a plan reaches the engine, which checks it once more against the operator's
ceilings and the treadmill. Nothing here talks to a treadmill: only the engine's actions do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from retrowalk.errors import PlanError, RefusedError
from retrowalk.mqtt import commands as mc
from retrowalk.mqtt import payloads as p
from retrowalk.service.member_messages import nothing_to_clear, running_refusal
from retrowalk.service.publish import plan_info
from retrowalk.service.records import (
    counted_clearances,
    kept_before_report,
    pain_report,
    screening_record,
    session_record,
)
from retrowalk.service.walkers import HomeAssistantWalkers
from retrowalk.session import events as ev
from retrowalk.session.grid import FittedPlan, asked_plan, fit_plan_to_grid
from retrowalk.session.history import PainReport
from retrowalk.session.plan import OperatorCeilings, SessionPlan, TreadmillCaps, UserProfile, validate_plan
from retrowalk.session.progression import Progression, next_plan, red_flag_words
from retrowalk.session.screening import require_screening_passed, user_profile
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
from retrowalk.validation_text import problem_message

if TYPE_CHECKING:
    from retrowalk.service.runner import TreadmillRunner
    from retrowalk.session.engine import SessionEngine

__all__ = ["CommandRouter", "RecordCommand", "in_api_names"]

log = logging.getLogger(__name__)

# The commands that only add a row to the history (no treadmill involved).
RecordCommand = mc.PainReportCommand | mc.ScreeningCommand | mc.ClearanceCommand


# The engine's plan calls the top speed target_speed_kmh (the ramp's target); the start command and the
# plan a kiosk is shown call it max_speed_kmh. A refusal must name the field the kiosk sent.
_API_NAMES = {"target_speed_kmh": "max_speed_kmh"}


# How long a "before" pain score given while no session of the person runs waits for their Start on that
# treadmill. It is the baseline the next morning's pain is compared with, so it must describe the knee as
# the session starts: an hour covers answering the kiosk's or Home Assistant's question and getting onto
# the belt, while a score from the morning no longer says how the knee is for an evening session.
BEFORE_PAIN_KEPT_FOR = timedelta(hours=1)


def in_api_names(reason: str) -> str:
    """A plan refusal with the engine's field names replaced by the MQTT API's."""
    for internal, api in _API_NAMES.items():
        reason = re.sub(rf"\b{internal}\b", api, reason)
    return reason


class CommandRouter:
    """Implements the MQTT bridge's CommandHandler; the terminal session uses it too."""

    def __init__(
        self,
        store: Store,
        ceilings: OperatorCeilings,
        plan_overrides: Mapping[str, Any] | None = None,
        *,
        walkers: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.ceilings = ceilings
        self.plan_overrides = dict(plan_overrides or {})
        self.runners: Mapping[str, TreadmillRunner] = {}
        self._starting: dict[str, str] = {}  # user id -> treadmill id, while a start is being decided
        self.walkers = HomeAssistantWalkers(self, walkers)

    def _runner(self, treadmill_id: str) -> TreadmillRunner:
        runner = self.runners.get(treadmill_id)
        if runner is None:
            known = ", ".join(sorted(self.runners)) or "none"
            raise RefusedError(
                f"unknown treadmill {treadmill_id!r} (this service drives: {known})", code="unknown_treadmill"
            )
        return runner

    async def handle_command(self, treadmill_id: str, command: mc.Command) -> mc.Answer | None:
        runner = self._runner(treadmill_id)
        match command:
            case mc.StartCommand():
                await self.start(runner, command)
            case mc.StopCommand():
                await runner.submit(ev.Stop())
            case mc.PauseCommand():
                await runner.submit(ev.Pause())
            case mc.ResumeCommand():
                await runner.submit(ev.Resume())
            case mc.PainReportCommand():
                if command.when == "during" and runner.engine is not None:
                    # The engine decides whether it ends the session (its session, its user, the threshold),
                    # and hears it before the storage is written: a storage that fails must not keep a
                    # belt running under a person in pain.
                    await runner.submit(ev.PainReported(command.user_id, command.pain))
                return self.pain_report(runner, command)
            case mc.ScreeningCommand():
                self.record(command)
            case mc.ClearanceCommand():
                return self._clearance(treadmill_id, command)
            case mc.MemberCommand():
                return self.member_info(command.user_id, runner)
            case mc.SelectWalkerCommand():
                self.walkers.choose(treadmill_id, command.user_id)
            case mc.StartWalkerCommand():
                await self.walkers.start(runner, command.command_id)
            case mc.WalkerPainCommand():
                return self.walkers.pain_report(runner, command)

        return None

    def _clearance(self, treadmill_id: str, command: mc.ClearanceCommand) -> mc.ClearanceRecorded:
        self.record(command)
        note = self.clearance_note(command.user_id)
        log.info(
            "[%s] clearance for %s by %s recorded%s",
            treadmill_id,
            command.user_id,
            command.cleared_by,
            f"; {note}" if note else "",
        )
        return mc.ClearanceRecorded(note=note)

    def clearance_note(self, user_id: str) -> str | None:
        """Why the person's newest clearance changes nothing (None when it counts): kept all the same (a
        clinician may clear ahead of time), but it must not look as if it did something."""
        latest = self.store.latest_clearance(user_id)
        if latest is None:
            return None
        if self.store.latest_screening(user_id) is None:
            return nothing_to_clear(user_id, answered=False)
        try:
            progression, _ = self.progression_for(user_id)
        except PlanError:
            # The screening blocks: the clearance predates a "yes", which the screening's words say.
            return None
        counted = progression.cleared
        if counted is not None and (counted.seq, counted.cleared_at) == (latest.seq, latest.at):
            return None
        return nothing_to_clear(user_id, cleared_before=progression.cleared_at)

    def member_info(self, user_id: str, runner: TreadmillRunner) -> mc.MemberInfo:
        """What a kiosk shows a signed-in person: whether screening lets them walk, the plan a start
        would get now on this treadmill (or why none), and their past sessions."""
        sessions = [
            mc.MemberSession(
                session_id=s.session_id,
                treadmill_id=s.treadmill_id,
                started_at=s.started_at,
                ended_at=s.ended_at,
                end_reason=s.end_reason,
                walked_s=round(s.walked_s, 1),
                distance_m=round(s.distance_m),
                max_speed_kmh=round(s.max_speed_kmh, 2),
                pain_during=s.pain_during,
            )
            for s in self.store.sessions_for_user(user_id, limit=50)
        ]

        def info(screening: str, plan: SessionPlan | None, notes: Sequence[str]) -> mc.MemberInfo:
            return mc.MemberInfo.model_validate(
                {
                    "user_id": user_id,
                    "screening": screening,
                    "next_plan": plan_info(plan) if plan is not None else None,
                    "plan_notes": list(notes),
                    "sessions": sessions,
                }
            )

        if self.store.latest_screening(user_id) is None:
            return info("needed", None, ["the screening questions must be answered before the first session"])
        try:
            progression, _profile = self.progression_for(user_id)
        except PlanError as err:
            return info("see_clinician", None, [str(err)])
        try:
            plan = self.plan_for(user_id, None, runner)
        except PlanError as err:
            screening = "see_clinician" if progression.plan is None else "passed"
            return info(screening, None, [str(err)])
        except RefusedError as err:
            return info("passed", None, [str(err)])
        return info("passed", plan, progression.reasons)

    def recent_kept_before(self, user_id: str) -> list[KeptBeforePain]:
        """The person's kept "before" scores a Start would still take (given within
        `BEFORE_PAIN_KEPT_FOR`), one per treadmill: what their next session is reported to start from."""
        since = datetime.now(UTC) - BEFORE_PAIN_KEPT_FOR
        return [kept for kept in self.store.kept_before_pains(user_id) if kept.given_at >= since]

    def pain_report(self, runner: TreadmillRunner, report: mc.PainReportCommand) -> mc.PainRecorded:
        """Record a pain report, or keep a "before" score until the person's Start on this treadmill;
        the session it was recorded for (none while a "before" score is kept)."""
        engine = runner.engine
        user = report.user_id
        walking = engine is not None and engine.phase in ev.SESSION_PHASES and engine.user_id == user
        if report.when == "before" and report.session_id is None and walking:
            # The baseline the next morning is compared with is the knee as the session started: a score
            # given during the walk would move it after the fact.
            assert engine is not None
            raise RefusedError(
                f"nothing recorded: {user}'s session {engine.session_id} is running; pain before a session "
                "is given before its start (pain now is 'during')",
                code="already_walking",
            )
        if report.when == "before" and report.session_id is None:
            # Kept until Start: a report tied to no session would count for nothing. A newer score
            # replaces an older one: the latest says best how the knee is as the session starts. In the
            # history file, so that a restart before the Start does not lose the baseline.
            kept = KeptBeforePain(
                runner.treadmill_id, user, datetime.now(UTC), report.pain, report.swelling, report.giving_way
            )
            kept = self.store.keep_before_pain(kept)
            log.info(
                "[%s] before-session pain %d/10 for %s kept for their start within %d min",
                runner.treadmill_id,
                report.pain,
                report.user_id,
                BEFORE_PAIN_KEPT_FOR // timedelta(minutes=1),
            )
            return mc.PainRecorded(session_id=self._record_red_flag_now(kept))
        session_id = self.record(report, engine)
        log.info(
            "[%s] %s pain %d/10 for %s recorded for session %s",
            runner.treadmill_id,
            report.when,
            report.pain,
            user,
            session_id or "(none)",
        )
        return mc.PainRecorded(session_id=session_id)

    def _record_red_flag_now(self, kept: KeptBeforePain) -> str | None:
        """A kept "before" score with a red flag is also recorded at once for the person's latest session,
        if they have one: kept, it refers them only while a Start would take it (the hour), and the pain
        rule must go on referring on it whether or not they start. Recorded with the moment it was given,
        which tells the progression it is the kept score, not another report. The session it was recorded
        for, if any."""
        if not red_flag_words(kept.pain, swelling=kept.swelling, giving_way=kept.giving_way):
            return None
        latest = self.store.sessions_for_user(kept.user_id, limit=1)
        if not latest:
            return None  # a first session: the kept score refers them while a Start would take it
        session_id = latest[-1].session_id
        self.store.add_pain_report(
            StoredPainReport(
                kept.user_id,
                session_id,
                kept.given_at,
                "before",
                kept.pain,
                kept.swelling,
                kept.giving_way,
                kept.seq,
            )
        )
        log.warning(
            "[%s] pain %d/10%s before a session for %s: recorded for their latest session %s, which refers "
            "them",
            kept.treadmill_id,
            kept.pain,
            " with swelling" if kept.swelling else "",
            kept.user_id,
            session_id,
        )
        return session_id

    def _record_kept_before_pain(self, runner: TreadmillRunner, user_id: str) -> None:
        """Tie the person's kept "before" score to the session that just started on this treadmill."""
        engine = runner.engine
        current = engine.session_id if engine is not None and engine.user_id == user_id else ""
        session_id = current or None  # as `record` ties a "before" score: to the person's session here
        # The baseline the next morning is compared with: taken once, and recorded only when it is recent.
        taken = self.store.take_before_pain(
            runner.treadmill_id,
            user_id,
            session_id=session_id,
            given_since=datetime.now(UTC) - BEFORE_PAIN_KEPT_FOR,
        )
        if taken is None:
            return
        kept, recorded = taken
        if recorded:
            log.info(
                "[%s] before-session pain %d/10 for %s recorded for session %s",
                runner.treadmill_id,
                kept.pain,
                user_id,
                session_id or "(none)",
            )
            return
        log.info(
            "[%s] before-session pain %d/10 for %s from %s is too old for this session; not recorded",
            runner.treadmill_id,
            kept.pain,
            user_id,
            kept.given_at.isoformat(timespec="seconds"),
        )

    def record(self, command: RecordCommand, engine: SessionEngine | None = None) -> str | None:
        """Keep a screening, a clearance or a pain report in the history the next plan is made from;
        for a pain report, the session it was recorded for (None: tied to no session).

        The `retrowalk user` terminal commands call this too, with no engine: they run beside (not in)
        the process that drives the treadmill, so they write the same rows through the same checks."""
        now = datetime.now(UTC)
        match command:
            case mc.PainReportCommand():
                session_id = self._session_for_report(command, engine)
                self.store.add_pain_report(
                    StoredPainReport(
                        user_id=command.user_id,
                        session_id=session_id,
                        at=now,
                        moment=command.when,
                        pain=command.pain,
                        swelling=command.swelling,
                        giving_way=command.giving_way,
                    )
                )
                return session_id
            case mc.ScreeningCommand():
                answers = command.model_dump(exclude={"command_id", "type", "user_id"})
                self.store.add_screening(StoredScreening(command.user_id, now, answers))
            case mc.ClearanceCommand():
                if command.valid_until is not None and command.valid_until < now.date():
                    raise RefusedError(
                        f"the clearance's last valid day, {command.valid_until.isoformat()}, is already "
                        "past; nothing recorded"
                    )
                clearance = StoredClearance(
                    command.user_id, now, command.cleared_by, command.valid_until, command.note
                )
                self.store.add_clearance(clearance)
        return None

    async def start(self, runner: TreadmillRunner, command: mc.StartCommand) -> None:
        """Start a session, unless this person is already walking (or being started) on another belt.

        The person is marked as starting for as long as the engine is deciding, so two starts for one
        person on two treadmills, handled side by side, cannot both pass the check.
        """
        user_id = command.user_id
        elsewhere = self._walking_on(user_id)
        if elsewhere is not None:
            raise RefusedError(
                f"{user_id!r} is already in a session on treadmill {elsewhere}; "
                "one person walks on one treadmill at a time: stop that session first",
                code="already_walking",
            )
        self._starting[user_id] = runner.treadmill_id
        try:
            plan = self.plan_for(user_id, command.plan, runner)
            await runner.submit(ev.Start(user_id, plan))
        finally:
            del self._starting[user_id]
        self._record_kept_before_pain(runner, user_id)

    def _walking_on(self, user_id: str) -> str | None:
        """The treadmill on which this person has a session (or a start in progress), if any."""
        if user_id in self._starting:
            return self._starting[user_id]
        for treadmill_id, runner in self.runners.items():
            engine = runner.engine
            if engine is not None and engine.phase in ev.SESSION_PHASES and engine.user_id == user_id:
                return treadmill_id
        return None

    def plan_for(self, user_id: str, request: mc.PlanRequest | None, runner: TreadmillRunner) -> SessionPlan:
        """The plan for this user's next session, or PlanError saying exactly why there is none."""
        progression, profile = self.progression_for(user_id)
        if progression.plan is None:
            raise PlanError(
                f"user {user_id!r} should see a clinician before the next session: "
                + "; ".join(progression.reasons),
                code="see_clinician",
            )
        log.info("plan for %s: %s (%s)", user_id, progression.decision.value, "; ".join(progression.reasons))
        base = progression.plan.model_dump()
        base.update(self.plan_overrides)
        if request is not None:
            asked = request.model_dump(exclude_none=True)
            if "max_speed_kmh" in asked:
                asked["target_speed_kmh"] = asked.pop("max_speed_kmh")
            base.update(asked)
            if "start_speed_kmh" in asked and "target_speed_kmh" not in asked:
                base["target_speed_kmh"] = max(base["target_speed_kmh"], asked["start_speed_kmh"])
        try:
            plan = SessionPlan.model_validate(base)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {problem_message(e)}" if e["loc"] else problem_message(e)
                for e in err.errors()
            )
            raise PlanError(in_api_names(f"plan refused: {problems}")) from None
        caps = runner.caps
        if caps is None:
            raise RefusedError(
                f"treadmill {runner.treadmill_id} has not been connected yet", code="not_connected"
            )
        return self.fit_to_treadmill(plan, caps, profile)

    def fit_to_treadmill(self, plan: SessionPlan, caps: TreadmillCaps, profile: UserProfile) -> SessionPlan:
        """``plan`` as a start on a treadmill with ``caps`` runs it (fitted to its speed grid), or
        PlanError saying why that treadmill cannot honour it."""
        try:
            return validate_plan(fit_plan_to_grid(plan, caps), self.ceilings, caps, profile)
        except PlanError as err:
            raise PlanError(in_api_names(str(err)), code=err.code) from None

    def progression_for(
        self, user_id: str, assumed: Sequence[PainReport] = ()
    ) -> tuple[Progression, UserProfile]:
        """The progression rule over the stored history, once screening lets the person walk: what a
        start plans from, and what `retrowalk user show` tells the person (with `assumed` reports added:
        "what if the missing reports came in low"). PlanError when screening does not let them start."""
        stored = self.store.latest_screening(user_id)
        # Every set of answers, not only the newest: a clearance given for a "yes" answered "no" since
        # still cleared it, and the rule must see that "yes" to count it.
        answers = [screening_record(row) for row in self.store.screenings_for_user(user_id)]
        clearances = counted_clearances(self.store, user_id)
        require_screening_passed(user_id, answers, clearances)
        age = stored.answers.get("age") if stored else None
        profile = user_profile(user_id, age if isinstance(age, int) else None, answers)
        history = [r for r in map(session_record, self.store.sessions_for_user(user_id)) if r is not None]
        stored_pain = self.store.pain_reports_for_user(user_id)
        pain = [r for r in map(pain_report, stored_pain) if r is not None]
        # A kept "before" score is a report about the next session: a red flag in it refers the person
        # (a Start is refused, `user show` says why) by the pain rule itself. One recorded at once for
        # their latest session (a red flag, see `_record_red_flag_now`) is among the reports already, in
        # the same place in the order of records.
        recorded = {r.seq for r in stored_pain if r.moment == "before"}
        pain.extend(
            kept_before_report(kept) for kept in self.recent_kept_before(user_id) if kept.seq not in recorded
        )
        pain.extend(assumed)
        return next_plan(profile, self.ceilings, history, pain, clearances, answers=answers), profile

    def running_session(self, user_id: str) -> OpenSession | None:
        """The person's session that has started and not ended, in any process on this storage.

        The storage's open sessions are the source that is true across processes: every process that
        drives a treadmill (`serve`, `session start`) notes a session there as it starts and removes it in
        the same transaction that records its end, while an engine's state is known only to its own
        process and the storage lock says only that some process runs, not who walks. A row left by a
        crash counts as running until the next start closes it: failing closed, a report then waits."""
        noted = next((s for s in self.store.open_sessions() if s.user_id == user_id), None)
        if noted is not None:
            return noted
        # A session this process has just started is noted in the storage once the commands of its first
        # turn have gone to the treadmill: until then its engine is the only one that knows.
        for treadmill_id, runner in self.runners.items():
            engine = runner.engine
            if engine is not None and engine.phase in ev.SESSION_PHASES and engine.user_id == user_id:
                return OpenSession(engine.session_id, user_id, treadmill_id, datetime.now(UTC), plan_json="")
        return None

    def _session_for_report(self, command: mc.PainReportCommand, engine: SessionEngine | None) -> str | None:
        """The session a pain report is about; the progression rule ignores reports tied to none."""
        user = command.user_id
        current = engine.session_id if engine is not None and engine.user_id == user else ""
        if command.session_id is not None:
            known = {s.session_id for s in self.store.sessions_for_user(user, limit=10_000)} | {current}
            if command.session_id not in known:
                raise RefusedError(f"user {user!r} has no session {command.session_id!r}", code="no_session")
            return command.session_id
        if command.when in ("after", "next_morning"):
            running = self.running_session(user)
            if running is not None:
                # Someone reporting during or right after a walk means that walk, not the one before it:
                # recording it for the latest finished session would judge the wrong session.
                raise RefusedError(running_refusal(running, command.when), code="already_walking")
        if current:
            return current
        if command.when == "during":
            # Pain during a walk reaches only the engine of the treadmill it is reported at: for a person
            # not walking there it would stop no belt and, tied to no session, count for nothing.
            running = self.running_session(user)
            elsewhere = (
                f" (they walk on {running.treadmill_id}, session {running.session_id}: report it there)"
                if running is not None
                else ""
            )
            raise RefusedError(
                f"nothing recorded: {user} is not walking on this treadmill; pain during a session is "
                f"reported at the treadmill they walk on{elsewhere}",
                code="no_session",
            )
        if command.when in ("after", "next_morning"):
            # Reported after the session ended (a kiosk's last screen, the next morning at home): it is
            # about the person's latest session, which is the one the next plan is judged on.
            latest = self.store.sessions_for_user(user, limit=1)
            if not latest:
                when = command.when.replace("_", "-")  # in words, as `user pain --when` spells it
                raise RefusedError(
                    f"user {user!r} has no session yet to report {when} pain for", code="no_session"
                )
            return latest[-1].session_id
        return None

    def session_started(self, started: ev.SessionStarted) -> None:
        """Note the session as open: if the service dies, the restart closes it instead of losing it."""
        self.store.open_session(
            OpenSession(
                session_id=started.session_id,
                user_id=started.user_id,
                treadmill_id=started.treadmill_id,
                started_at=datetime.now(UTC),
                # As asked, not as fitted to this treadmill: the next plan builds on what the person
                # was meant to walk, and may run on another treadmill.
                plan_json=asked_plan(started.plan).model_dump_json(),
            )
        )
        runner = self.runners.get(started.treadmill_id)
        if runner is not None and runner.caps is not None:
            # What this treadmill can do, so that `retrowalk user show` fits plans as a start here does.
            self.store.record_treadmill_caps(
                StoredCaps(started.treadmill_id, runner.caps.model_dump_json(), datetime.now(UTC))
            )

    def pain_during(self, user_id: str, session_id: str) -> int | None:
        """The highest pain reported during this session, if any (for its summary)."""
        scores = [
            r.pain
            for r in self.store.pain_reports_for_user(user_id)
            if r.session_id == session_id and r.moment == "during"
        ]
        return max(scores) if scores else None

    def session_ended(self, ended: ev.SessionEnded, summary: p.SessionSummary) -> None:
        """Keep the session in the history the next plan is made from."""
        runner = self.runners.get(ended.treadmill_id)
        plan = runner.engine.plan if runner is not None and runner.engine is not None else None
        self.store.record_session(
            StoredSession(
                session_id=ended.session_id,
                user_id=ended.user_id,
                treadmill_id=ended.treadmill_id,
                started_at=summary.started_at,
                ended_at=summary.ended_at,
                end_reason=ended.reason.value,
                walked_s=ended.backward_s,
                distance_m=summary.distance_m,
                max_speed_kmh=ended.max_speed_kmh,
                duration_cap_s=plan.duration_cap_s if plan else 0,
                pain_during=summary.pain_during,
                plan_json=asked_plan(plan).model_dump_json() if plan else None,
                summary_json=summary.model_dump_json(),
                # As the treadmill ran it, for the history a person reads (never the faster one asked).
                fitted_plan_json=plan.model_dump_json() if isinstance(plan, FittedPlan) else None,
            )
        )
