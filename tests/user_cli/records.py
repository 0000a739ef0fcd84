"""What the `retrowalk user` tests share: the history they put in place with the storage API, and how
they run the command line. The fixtures (`config`, `store`) are in this package's conftest."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from retrowalk.cli import main
from retrowalk.session.plan import SessionPlan
from retrowalk.storage import (
    Store,
    StoredSession,
)

__all__ = [
    "BEFORE_FITTING",
    "FIRST_PLAN",
    "Terminal",
    "add_fitted_session",
    "add_session",
    "run",
    "screened",
    "started_words",
    "user_args",
]

FIRST_PLAN = SessionPlan(start_speed_kmh=1.0, target_speed_kmh=1.5, duration_cap_s=300)
# What `user show` says under the next plan while the configuration's treadmill has not run a session.
BEFORE_FITTING = (
    "(as asked, before fitting to the speed steps of home: retrowalk learns them when a session starts "
    "there, and a treadmill with coarser steps runs it slower, never faster)"
)


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


class Terminal(io.StringIO):
    """Typed answers on a terminal: `input()` reads them, and the prompts know someone is there."""

    def isatty(self) -> bool:
        return True
