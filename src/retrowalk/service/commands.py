"""The command path: kiosk commands (from MQTT or the terminal) to the right treadmill's engine.

Screening, clearances and pain reports are records; a start is checked against them and against the
user's history before a plan reaches the engine, which checks it once more against the operator's
ceilings and the treadmill. Nothing here talks to a treadmill: only the engine's actions do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from retrowalk.errors import PlanError, RefusedError
from retrowalk.mqtt import commands as mc
from retrowalk.mqtt import payloads as p
from retrowalk.service.records import clearance_record, pain_report, screening_record, session_record
from retrowalk.session import events as ev
from retrowalk.session.plan import OperatorCeilings, SessionPlan, validate_plan
from retrowalk.session.progression import next_plan
from retrowalk.session.screening import require_screening_passed, user_profile
from retrowalk.storage import (
    OpenSession,
    Store,
    StoredClearance,
    StoredPainReport,
    StoredScreening,
    StoredSession,
)

if TYPE_CHECKING:
    from retrowalk.service.runner import TreadmillRunner

log = logging.getLogger(__name__)

# Pain above this during a session ends it (references §2, pain-monitoring model).
STOP_PAIN = 5


class CommandRouter:
    """Implements the MQTT bridge's CommandHandler; the terminal session uses it too."""

    def __init__(
        self, store: Store, ceilings: OperatorCeilings, plan_overrides: Mapping[str, Any] | None = None
    ) -> None:
        self.store = store
        self.ceilings = ceilings
        self.plan_overrides = dict(plan_overrides or {})
        self.runners: Mapping[str, TreadmillRunner] = {}
        self._starting: dict[str, str] = {}  # user id -> treadmill id, while a start is being decided

    def _runner(self, treadmill_id: str) -> TreadmillRunner:
        runner = self.runners.get(treadmill_id)
        if runner is None:
            known = ", ".join(sorted(self.runners)) or "none"
            raise RefusedError(f"unknown treadmill {treadmill_id!r} (this service drives: {known})")
        return runner

    async def handle_command(self, treadmill_id: str, command: mc.Command) -> None:
        runner = self._runner(treadmill_id)
        match command:
            case mc.StartCommand():
                await self._start(runner, command)
            case mc.StopCommand():
                await runner.submit(ev.Stop())
            case mc.PauseCommand():
                await runner.submit(ev.Pause())
            case mc.ResumeCommand():
                await runner.submit(ev.Resume())
            case mc.PainReportCommand():
                await self._pain(runner, command)
            case mc.ScreeningCommand():
                answers = command.model_dump(exclude={"command_id", "type", "user_id"})
                self.store.add_screening(StoredScreening(command.user_id, datetime.now(UTC), answers))
            case mc.ClearanceCommand():
                self.store.add_clearance(
                    StoredClearance(
                        command.user_id,
                        datetime.now(UTC),
                        command.cleared_by,
                        command.valid_until,
                        command.note,
                    )
                )

    async def _start(self, runner: TreadmillRunner, command: mc.StartCommand) -> None:
        """Start a session, unless this person is already walking (or being started) on another belt.

        The person is marked as starting for as long as the engine is deciding, so two starts for one
        person on two treadmills, handled side by side, cannot both pass the check.
        """
        user_id = command.user_id
        elsewhere = self._walking_on(user_id)
        if elsewhere is not None:
            raise RefusedError(
                f"{user_id!r} is already in a session on treadmill {elsewhere}; "
                "one person walks on one treadmill at a time: stop that session first"
            )
        self._starting[user_id] = runner.treadmill_id
        try:
            plan = self.plan_for(user_id, command.plan, runner)
            await runner.submit(ev.Start(user_id, plan))
        finally:
            del self._starting[user_id]

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
        stored = self.store.latest_screening(user_id)
        answers = [screening_record(stored)] if stored else []
        clearance = self.store.latest_clearance(user_id)
        clearances = [clearance_record(clearance)] if clearance else []
        require_screening_passed(user_id, answers, clearances)
        age = stored.answers.get("age") if stored else None
        profile = user_profile(user_id, age if isinstance(age, int) else None, answers)
        history = [r for r in map(session_record, self.store.sessions_for_user(user_id)) if r is not None]
        pain = [r for r in map(pain_report, self.store.pain_reports_for_user(user_id)) if r is not None]
        progression = next_plan(profile, self.ceilings, history, pain, clearances)
        if progression.plan is None:
            raise PlanError(
                f"user {user_id!r} should see a clinician before the next session: "
                + "; ".join(progression.reasons)
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
                f"{'.'.join(map(str, e['loc'])) or 'plan'}: {e['msg']}" for e in err.errors()
            )
            raise PlanError(f"plan refused: {problems}") from None
        caps = runner.caps
        if caps is None:
            raise RefusedError(f"treadmill {runner.treadmill_id} has not been connected yet")
        return validate_plan(plan, self.ceilings, caps, profile)

    async def _pain(self, runner: TreadmillRunner, command: mc.PainReportCommand) -> None:
        engine = runner.engine
        session_id = command.session_id
        if session_id is None and engine is not None and engine.user_id == command.user_id:
            session_id = engine.session_id or None
        self.store.add_pain_report(
            StoredPainReport(
                user_id=command.user_id,
                session_id=session_id,
                at=datetime.now(UTC),
                moment=command.when,
                pain=command.pain,
                swelling=command.swelling,
                giving_way=command.giving_way,
            )
        )
        in_session = (
            engine is not None and engine.phase in ev.SESSION_PHASES and engine.user_id == command.user_id
        )
        if in_session and command.when == "during" and command.pain > STOP_PAIN:
            log.warning(
                "pain %d/10 reported during the session on %s: stopping", command.pain, runner.treadmill_id
            )
            await runner.submit(ev.Stop())

    def session_started(self, started: ev.SessionStarted) -> None:
        """Note the session as open: if the service dies, the restart closes it instead of losing it."""
        self.store.open_session(
            OpenSession(
                session_id=started.session_id,
                user_id=started.user_id,
                treadmill_id=started.treadmill_id,
                started_at=datetime.now(UTC),
                plan_json=started.plan.model_dump_json(),
            )
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
                plan_json=plan.model_dump_json() if plan else None,
            )
        )
