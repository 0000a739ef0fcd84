"""Local SQLite storage: session history, the MQTT outbox and stored command replies.

One :class:`Store` per service, used from the event loop thread. Calls are synchronous and each is one
short transaction (an insert or a small indexed query, well under a millisecond on a warm page cache),
which keeps the loop responsive without the complexity of a writer thread. WAL mode with
`synchronous=NORMAL` survives a crash of the process (what "a service restart loses nothing" needs); a
power cut may lose the last commits, and the belt stops with the power anyway.

Other processes use the same file beside the service (`retrowalk user`; `retrowalk session start` when
no `serve` holds the storage's lock): every write begins with `BEGIN IMMEDIATE`, which takes SQLite's
write lock, so a write that reads what it changes (taking a kept "before" pain score) is one
transaction and no other process sees it half done.

The schema version lives in `PRAGMA user_version`; the upgrades to :data:`SCHEMA_VERSION`
(:mod:`retrowalk.storage_schema`) are applied in order.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from retrowalk.errors import StorageError
from retrowalk.storage_schema import NEXT_SEQ, SCHEMA_V1, SCHEMA_VERSION, UPGRADES

__all__ = [
    "SCHEMA_VERSION",
    "KeptBeforePain",
    "OpenSession",
    "OutboxRow",
    "Store",
    "StoredCaps",
    "StoredClearance",
    "StoredPainReport",
    "StoredScreening",
    "StoredSession",
]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    event_id: str
    topic_suffix: str
    payload: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class StoredSession:
    session_id: str
    user_id: str
    treadmill_id: str
    started_at: datetime
    ended_at: datetime
    end_reason: str
    walked_s: float
    distance_m: float
    max_speed_kmh: float
    duration_cap_s: int
    pain_during: int | None = None
    # The plan the session ran under, as JSON (progression builds the next plan from it).
    plan_json: str | None = None
    # The session's summary as published (JSON); None for sessions recorded before it was kept.
    summary_json: str | None = None
    # The plan as run, fitted to the treadmill's speed steps (JSON); None when it ran as asked, or for
    # sessions recorded before it was kept.
    fitted_plan_json: str | None = None
    # Where its start is in the order of records (the number noted when it started; None: not recorded).
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class OpenSession:
    """A session that started and has not ended yet; left over after a crash."""

    session_id: str
    user_id: str
    treadmill_id: str
    started_at: datetime
    plan_json: str
    seq: int | None = None  # where its start is in the order of records (None: not noted yet)


@dataclass(frozen=True, slots=True)
class StoredCaps:
    """What a treadmill reported it can do (the engine's TreadmillCaps as JSON), and when."""

    treadmill_id: str
    caps_json: str
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class StoredPainReport:
    user_id: str
    session_id: str | None
    at: datetime
    moment: str  # "during", "after" or "next_morning"
    pain: int
    swelling: bool = False
    giving_way: bool = False
    # Where in the order of records it was recorded (None: not recorded yet; one taken from a kept
    # "before" score keeps the number the score got when it was given).
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class KeptBeforePain:
    """A "before" pain score waiting for the person's next start on this treadmill, and when it was given."""

    treadmill_id: str
    user_id: str
    given_at: datetime
    pain: int
    swelling: bool = False
    giving_way: bool = False
    seq: int | None = None  # where in the order of records it was given (None: not kept yet)


@dataclass(frozen=True, slots=True)
class StoredScreening:
    user_id: str
    at: datetime
    answers: dict[str, bool | int]
    seq: int | None = None  # where in the order of records (None: not recorded yet)


@dataclass(frozen=True, slots=True)
class StoredClearance:
    user_id: str
    at: datetime
    cleared_by: str
    valid_until: date | None = None
    note: str | None = None
    seq: int | None = None  # where in the order of records (None: not recorded yet)


def _iso(moment: datetime) -> str:
    # Naive datetimes are refused: history compared across time zones must be unambiguous.
    if moment.tzinfo is None:
        raise ValueError(f"datetime {moment!r} has no time zone")
    return moment.astimezone(UTC).isoformat()


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _check_pain(pain: int) -> None:
    if not 0 <= pain <= 10:
        raise ValueError("pain must be 0..10")


def _pain_report_insert(p: StoredPainReport) -> tuple[str, tuple[Any, ...]]:
    """The statement that records a pain report (its score checked)."""
    _check_pain(p.pain)
    return (
        "INSERT INTO pain_reports (user_id, session_id, at, moment, pain, swelling, giving_way, seq)"
        f" VALUES (?, ?, ?, ?, ?, ?, ?, coalesce(?, {NEXT_SEQ}))",
        (p.user_id, p.session_id, _iso(p.at), p.moment, p.pain, int(p.swelling), int(p.giving_way), p.seq),
    )


def _screening(row: tuple[Any, ...]) -> StoredScreening:
    return StoredScreening(row[0], _dt(row[1]), json.loads(row[2]), row[3])


def _clearance(row: tuple[Any, ...]) -> StoredClearance:
    valid_until = date.fromisoformat(row[3]) if row[3] else None
    return StoredClearance(row[0], _dt(row[1]), row[2], valid_until, row[4], row[5])


class Store:
    """The service's SQLite database. Raises :class:`StorageError` when it cannot be used."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self._conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(
                f"{self.path}: cannot open the database ({exc}); check that its folder exists and is "
                "writable, or set [service] storage in the configuration to another file"
            ) from exc
        try:
            self._prepare()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StorageError(
                f"{self.path}: not a usable retrowalk database ({exc}); set [service] storage in the "
                "configuration to a retrowalk database or a new file"
            ) from exc
        except StorageError:
            self._conn.close()
            raise

    def _prepare(self) -> None:
        check = self._conn.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise StorageError(
                f"{self.path}: database is corrupt ({check[0] if check else 'no answer'}); restore it from "
                "a backup, or set [service] storage in the configuration to a new file"
            )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{self.path}: schema version {version} is newer than this retrowalk understands "
                f"({SCHEMA_VERSION}); upgrade retrowalk or use another database file"
            )
        if version == 0:
            tables = self._conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()
            if tables[0]:
                raise StorageError(
                    f"{self.path}: has tables but no retrowalk schema version, so it belongs to another "
                    "program; set [service] storage in the configuration to a new file"
                )
            self._apply(SCHEMA_V1, 1)
            version = 1
        for upgrade in range(version + 1, SCHEMA_VERSION + 1):
            self._apply(UPGRADES[upgrade], upgrade)

    def _apply(self, script: str, version: int) -> None:
        """Bring the file to schema ``version`` with ``script``, unless another process did it meanwhile.

        Two processes may open an old file at once (`serve` and `retrowalk user`): each script takes the
        write lock first (BEGIN IMMEDIATE), so the second waits, then fails on what the first created; it
        then finds the version already reached and goes on, rather than calling a good file unusable."""
        try:
            with self._transaction():
                self._conn.executescript(f"BEGIN IMMEDIATE;{script}PRAGMA user_version={version};")
        except sqlite3.OperationalError:
            if int(self._conn.execute("PRAGMA user_version").fetchone()[0]) >= version:
                return
            raise

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # isolation_level=None: we say BEGIN/COMMIT ourselves so every method is exactly one transaction.
        try:
            yield self._conn
            if self._conn.in_transaction:
                self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def _write(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            with self._transaction() as conn:
                conn.execute("BEGIN IMMEDIATE")
                return conn.execute(sql, params)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: write failed: {exc}") from exc

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: read failed: {exc}") from exc

    def close(self) -> None:
        self._conn.close()

    def schema_version(self) -> int:
        return int(self._read("PRAGMA user_version")[0][0])

    # -- outbox ----------------------------------------------------------------------------------------

    def outbox_add(self, event_id: str, topic_suffix: str, payload: bytes) -> bool:
        """Queue a message; False (and nothing changes) when this event id is already queued."""
        try:
            self._write(
                "INSERT INTO outbox (event_id, topic_suffix, payload, created_at) VALUES (?, ?, ?, ?)",
                (event_id, topic_suffix, payload, _iso(datetime.now(UTC))),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def outbox_pending(self, limit: int = 50) -> list[OutboxRow]:
        rows = self._read(
            "SELECT seq, event_id, topic_suffix, payload, attempts FROM outbox ORDER BY seq LIMIT ?", (limit,)
        )
        return [OutboxRow(int(r[0]), str(r[1]), str(r[2]), bytes(r[3]), int(r[4])) for r in rows]

    def outbox_attempted(self, seq: int) -> None:
        self._write("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?", (seq,))

    def outbox_delete(self, seq: int) -> None:
        """Called only after the broker acknowledged the message."""
        self._write("DELETE FROM outbox WHERE seq = ?", (seq,))

    def outbox_count(self) -> int:
        return int(self._read("SELECT count(*) FROM outbox")[0][0])

    # -- command replies -------------------------------------------------------------------------------

    def command_reply(self, treadmill_id: str, command_id: str) -> str | None:
        """The stored reply to this command id for this treadmill (ids are the kiosk's, so they are
        only unique per treadmill)."""
        rows = self._read(
            "SELECT reply FROM command_replies WHERE treadmill_id = ? AND command_id = ?",
            (treadmill_id, command_id),
        )
        return str(rows[0][0]) if rows else None

    def save_command_reply(self, treadmill_id: str, command_id: str, reply_json: str) -> None:
        # INSERT OR IGNORE: the first reply is the truth; a later one for the same id is a bug upstream.
        self._write(
            "INSERT OR IGNORE INTO command_replies (treadmill_id, command_id, reply, at) VALUES (?, ?, ?, ?)",
            (treadmill_id, command_id, reply_json, _iso(datetime.now(UTC))),
        )

    # -- what the treadmills reported ------------------------------------------------------------------

    def record_treadmill_caps(self, caps: StoredCaps) -> None:
        """Keep what a treadmill reported (the latest report replaces the one before)."""
        self._write(
            "INSERT OR REPLACE INTO treadmill_caps (treadmill_id, caps, seen_at) VALUES (?, ?, ?)",
            (caps.treadmill_id, caps.caps_json, _iso(caps.seen_at)),
        )

    def treadmill_caps(self, treadmill_id: str) -> StoredCaps | None:
        rows = self._read("SELECT caps, seen_at FROM treadmill_caps WHERE treadmill_id = ?", (treadmill_id,))
        return StoredCaps(treadmill_id, rows[0][0], _dt(rows[0][1])) if rows else None

    # -- Home Assistant's chosen walkers -------------------------------------------------------------

    def choose_walker(self, treadmill_id: str, user_id: str) -> None:
        self._write(
            "INSERT OR REPLACE INTO chosen_walkers (treadmill_id, user_id, chosen_at) VALUES (?, ?, ?)",
            (treadmill_id, user_id, _iso(datetime.now(UTC))),
        )

    def chosen_walkers(self) -> dict[str, str]:
        """The walker last chosen on each treadmill, by treadmill id."""
        return {str(r[0]): str(r[1]) for r in self._read("SELECT treadmill_id, user_id FROM chosen_walkers")}

    # -- history ---------------------------------------------------------------------------------------

    def record_session(self, s: StoredSession) -> None:
        if s.ended_at < s.started_at:
            raise ValueError("session ended before it started")
        # In the order of records where its start was noted (a session that was never noted, where it ends).
        self._write(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            f" coalesce((SELECT seq FROM open_sessions WHERE session_id = ?), {NEXT_SEQ}))",
            (
                s.session_id, s.user_id, s.treadmill_id, _iso(s.started_at), _iso(s.ended_at),
                s.end_reason, s.walked_s, s.distance_m, s.max_speed_kmh, s.duration_cap_s, s.pain_during,
                s.plan_json, s.summary_json, s.fitted_plan_json, s.session_id,
            ),
        )  # fmt: skip
        # The session is over: it is no longer open (a no-op when it never was).
        self._write("DELETE FROM open_sessions WHERE session_id = ?", (s.session_id,))

    def open_session(self, o: OpenSession) -> None:
        """Note a session as started, so a restart after a crash can close it honestly."""
        # Noted again (the same session), it keeps its place in the order of records.
        self._write(
            "INSERT OR REPLACE INTO open_sessions VALUES (?, ?, ?, ?, ?,"
            f" coalesce((SELECT seq FROM open_sessions WHERE session_id = ?), {NEXT_SEQ}))",
            (o.session_id, o.user_id, o.treadmill_id, _iso(o.started_at), o.plan_json, o.session_id),
        )

    def open_sessions(self) -> list[OpenSession]:
        rows = self._read("SELECT * FROM open_sessions ORDER BY started_at")
        return [OpenSession(r[0], r[1], r[2], _dt(r[3]), r[4], r[5]) for r in rows]

    def sessions_for_user(self, user_id: str, limit: int = 100) -> list[StoredSession]:
        """The user's sessions in the order they started in, oldest first (the last `limit` of them); the
        order of records, not of their clocks."""
        rows = self._read(
            "SELECT * FROM (SELECT * FROM sessions WHERE user_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (user_id, limit),
        )
        return [
            StoredSession(
                session_id=r[0], user_id=r[1], treadmill_id=r[2], started_at=_dt(r[3]), ended_at=_dt(r[4]),
                end_reason=r[5], walked_s=r[6], distance_m=r[7], max_speed_kmh=r[8], duration_cap_s=r[9],
                pain_during=r[10], plan_json=r[11], summary_json=r[12], fitted_plan_json=r[13], seq=r[14],
            )
            for r in rows
        ]  # fmt: skip

    def last_summary_on(self, treadmill_id: str) -> str | None:
        """The published summary (JSON) of the session that ended last on this treadmill; None when there
        is none, or when that session was recorded before summaries were kept (an older one would not
        be the last session)."""
        rows = self._read(
            "SELECT summary FROM sessions WHERE treadmill_id = ? ORDER BY ended_at DESC LIMIT 1",
            (treadmill_id,),
        )
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    def add_pain_report(self, p: StoredPainReport) -> None:
        if p.moment not in ("before", "during", "after", "next_morning"):
            raise ValueError(f"unknown pain report moment {p.moment!r}")
        self._write(*_pain_report_insert(p))

    def keep_before_pain(self, kept: KeptBeforePain) -> KeptBeforePain:
        """Keep a "before" score for the person's next start on that treadmill; it replaces the one kept
        before it there (the latest says best how the knee is as the session starts). The score as kept,
        with its place in the order of records."""
        _check_pain(kept.pain)
        try:
            with self._transaction() as conn:
                conn.execute("BEGIN IMMEDIATE")
                # Fetched inside the transaction: a RETURNING row is read before the commit.
                (seq,) = conn.execute(
                    "INSERT OR REPLACE INTO kept_before_pain (treadmill_id, user_id, given_at, pain,"
                    f" swelling, giving_way, seq) VALUES (?, ?, ?, ?, ?, ?, {NEXT_SEQ}) RETURNING seq",
                    (
                        kept.treadmill_id, kept.user_id, _iso(kept.given_at), kept.pain, int(kept.swelling),
                        int(kept.giving_way),
                    ),
                ).fetchone()  # fmt: skip
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: write failed: {exc}") from exc
        return replace(kept, seq=int(seq))

    def kept_before_pains(self, user_id: str) -> list[KeptBeforePain]:
        """The person's kept "before" scores, one per treadmill they were given at, left where they are."""
        rows = self._read(
            "SELECT treadmill_id, given_at, pain, swelling, giving_way, seq FROM kept_before_pain"
            " WHERE user_id = ? ORDER BY seq",
            (user_id,),
        )
        return [KeptBeforePain(r[0], user_id, _dt(r[1]), r[2], bool(r[3]), bool(r[4]), r[5]) for r in rows]

    def take_before_pain(
        self, treadmill_id: str, user_id: str, *, session_id: str | None, given_since: datetime
    ) -> tuple[KeptBeforePain, bool] | None:
        """Take the person's kept "before" score on this treadmill, if any, and record it for `session_id`
        when it was given at `given_since` or later; the score taken and whether it was recorded.

        One transaction: another process on the same file (a `retrowalk session start` after `serve`
        stopped) either takes the score first or finds none, so it is recorded once, and a crash between
        taking and recording cannot lose it. The report keeps the moment the score was given: what the
        pain rule knew when (a clearance in between, say) reads it at that moment."""
        try:
            with self._transaction() as conn:
                conn.execute("BEGIN IMMEDIATE")
                row = conn.execute(
                    "DELETE FROM kept_before_pain WHERE treadmill_id = ? AND user_id = ?"
                    " RETURNING given_at, pain, swelling, giving_way, seq",
                    (treadmill_id, user_id),
                ).fetchone()
                if row is None:
                    return None
                kept = KeptBeforePain(
                    treadmill_id, user_id, _dt(row[0]), row[1], bool(row[2]), bool(row[3]), row[4]
                )
                recorded = kept.given_at >= given_since
                if recorded:
                    report = StoredPainReport(
                        user_id, session_id, kept.given_at, "before", kept.pain, kept.swelling,
                        kept.giving_way, kept.seq,
                    )  # fmt: skip
                    conn.execute(*_pain_report_insert(report))
                return kept, recorded
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: write failed: {exc}") from exc

    def pain_reports_for_user(self, user_id: str, limit: int = 100) -> list[StoredPainReport]:
        rows = self._read(
            "SELECT * FROM (SELECT user_id, session_id, at, moment, pain, swelling, giving_way, seq, id"
            " FROM pain_reports WHERE user_id = ? ORDER BY seq DESC, id DESC LIMIT ?) ORDER BY seq, id",
            (user_id, limit),
        )
        return [
            StoredPainReport(r[0], r[1], _dt(r[2]), r[3], r[4], bool(r[5]), bool(r[6]), r[7]) for r in rows
        ]

    def add_screening(self, s: StoredScreening) -> None:
        self._write(
            f"INSERT INTO screening_answers (user_id, at, answers, seq) VALUES (?, ?, ?, {NEXT_SEQ})",
            (s.user_id, _iso(s.at), json.dumps(s.answers, sort_keys=True)),
        )

    def latest_screening(self, user_id: str) -> StoredScreening | None:
        rows = self._read(
            "SELECT user_id, at, answers, seq FROM screening_answers WHERE user_id = ? ORDER BY seq DESC"
            " LIMIT 1",
            (user_id,),
        )
        return _screening(rows[0]) if rows else None

    def screenings_for_user(self, user_id: str) -> list[StoredScreening]:
        """Every set of the person's screening answers, oldest first: whether a clearance cleared a "yes"
        depends on the answers given by then, not only on the newest ones."""
        rows = self._read(
            "SELECT user_id, at, answers, seq FROM screening_answers WHERE user_id = ? ORDER BY seq",
            (user_id,),
        )
        return [_screening(r) for r in rows]

    def add_clearance(self, c: StoredClearance) -> None:
        self._write(
            "INSERT INTO clearances (user_id, at, cleared_by, valid_until, note, seq)"
            f" VALUES (?, ?, ?, ?, ?, {NEXT_SEQ})",
            (
                c.user_id,
                _iso(c.at),
                c.cleared_by,
                c.valid_until.isoformat() if c.valid_until else None,
                c.note,
            ),
        )

    def clearances_for_user(self, user_id: str) -> list[StoredClearance]:
        """Every clearance of the person, oldest first (whether one counts depends on what it cleared)."""
        rows = self._read(
            "SELECT user_id, at, cleared_by, valid_until, note, seq FROM clearances WHERE user_id = ?"
            " ORDER BY seq",
            (user_id,),
        )
        return [_clearance(r) for r in rows]

    def latest_clearance(self, user_id: str) -> StoredClearance | None:
        rows = self._read(
            "SELECT user_id, at, cleared_by, valid_until, note, seq FROM clearances WHERE user_id = ?"
            " ORDER BY seq DESC LIMIT 1",
            (user_id,),
        )
        return _clearance(rows[0]) if rows else None
