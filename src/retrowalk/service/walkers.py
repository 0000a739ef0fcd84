"""Home Assistant's walkers: the people a home's Home Assistant may start sessions for.

Home Assistant has no sign-in: its Start, Stop and pain inputs act for the walker chosen on each
treadmill among the names configured in `[home_assistant] walkers`. This module decides who may be
offered (screening, clearances and the pain rule let them start now), who a Start is for, and turns
the walker commands into the router's ordinary start and pain report, so every rule of those applies
unchanged. It implements the Home Assistant view's `WalkerDirectory`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from retrowalk.errors import PlanError, RefusedError
from retrowalk.mqtt import commands as mc

if TYPE_CHECKING:
    from retrowalk.service.commands import CommandRouter
    from retrowalk.service.runner import TreadmillRunner

__all__ = ["HomeAssistantWalkers"]

log = logging.getLogger(__name__)


class HomeAssistantWalkers:
    def __init__(self, router: CommandRouter, names: Sequence[str]) -> None:
        self._router = router
        self.names = tuple(names)
        # The walker chosen per treadmill, stored so that a restarted service still starts the person
        # chosen before it.
        self._chosen = router.store.chosen_walkers() if self.names else {}

    def startable_walkers(self) -> tuple[str, ...]:
        """The configured walkers whose screening (and clearance, where it is needed) lets them start now,
        and whose pain reports do not send them to a clinician first: what Home Assistant offers."""
        return tuple(user for user in self.names if self._why_not_startable(user) is None)

    def chosen_walker(self, treadmill_id: str) -> str | None:
        """Who Home Assistant's Start is for on this treadmill: the walker chosen there, or the only one."""
        startable = self.startable_walkers()
        chosen = self._chosen.get(treadmill_id)
        if chosen in startable:
            return chosen
        return startable[0] if len(startable) == 1 else None

    def kept_before_pain(self, treadmill_id: str, user_id: str) -> int | None:
        """The "before" score the person's next Start on this treadmill would record; None when there is
        none, so Home Assistant's *Pain before* shows nothing rather than a score no session will get."""
        kept = self._router.recent_kept_before(user_id)
        here = [score for score in kept if score.treadmill_id == treadmill_id]
        return here[0].pain if here else None

    def choose(self, treadmill_id: str, user_id: str) -> None:
        """Make ``user_id`` the walker Home Assistant's Start is for on this treadmill, or refuse why not."""
        if user_id not in self.names:
            named = ", ".join(self.names) or "nobody ([home_assistant] walkers is empty)"
            raise RefusedError(
                f"{user_id!r} is not one of this service's walkers ({named})", code="no_walker"
            )
        why_not = self._why_not_startable(user_id)
        if why_not is not None:
            raise why_not
        self._router.store.choose_walker(treadmill_id, user_id)
        self._chosen[treadmill_id] = user_id
        log.info("[%s] walker %s chosen", treadmill_id, user_id)

    async def start(self, runner: TreadmillRunner, command_id: str) -> None:
        """Home Assistant's Start: the router's start for the walker chosen on this treadmill."""
        walker = self._walker_or_refuse(runner.treadmill_id)
        command = mc.StartCommand(command_id=command_id, type="start", user_id=walker)
        await self._router.start(runner, command)

    def pain_report(self, runner: TreadmillRunner, command: mc.WalkerPainCommand) -> mc.PainRecorded:
        """Home Assistant's pain inputs: the router's pain report for the walker chosen here."""
        walker = self._walker_or_refuse(runner.treadmill_id)
        report = mc.PainReportCommand(
            command_id=command.command_id,
            type="pain_report",
            user_id=walker,
            when=command.when,
            pain=command.pain,
        )
        return self._router.pain_report(runner, report)

    def _why_not_startable(self, user_id: str) -> PlanError | None:
        try:
            progression, _ = self._router.progression_for(user_id)
        except PlanError as err:
            return err
        if progression.plan is None:
            return PlanError(
                f"{user_id!r} should see a clinician before the next session: "
                + "; ".join(progression.reasons),
                code="see_clinician",
            )
        return None

    def _walker_or_refuse(self, treadmill_id: str) -> str:
        walker = self.chosen_walker(treadmill_id)
        if walker is None:
            raise RefusedError(
                f"no walker chosen on treadmill {treadmill_id}: choose one first (Home Assistant's Walker)",
                code="no_walker",
            )
        return walker
