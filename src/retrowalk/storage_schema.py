"""The SQLite schema of :mod:`retrowalk.storage`: the first version, the upgrades that follow it (applied in
order; the version lives in `PRAGMA user_version`), and the order of records the rules compare."""

from __future__ import annotations

__all__ = ["NEXT_SEQ", "SCHEMA_V1", "SCHEMA_VERSION", "UPGRADES"]

SCHEMA_VERSION = 6

SCHEMA_V1 = """
CREATE TABLE sessions (
    session_id      TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    treadmill_id    TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    ended_at        TEXT NOT NULL,
    end_reason      TEXT NOT NULL,
    walked_s        REAL NOT NULL,
    distance_m      REAL NOT NULL,
    max_speed_kmh   REAL NOT NULL,
    duration_cap_s  INTEGER NOT NULL,
    pain_during     INTEGER,
    plan            TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id, started_at);
CREATE TABLE pain_reports (
    id          INTEGER PRIMARY KEY,
    user_id     TEXT NOT NULL,
    session_id  TEXT,
    at          TEXT NOT NULL,
    moment      TEXT NOT NULL CHECK (moment IN ('before', 'during', 'after', 'next_morning')),
    pain        INTEGER NOT NULL CHECK (pain BETWEEN 0 AND 10),
    swelling    INTEGER NOT NULL,
    giving_way  INTEGER NOT NULL
);
CREATE INDEX pain_by_user ON pain_reports (user_id, at);
CREATE TABLE screening_answers (
    id          INTEGER PRIMARY KEY,
    user_id     TEXT NOT NULL,
    at          TEXT NOT NULL,
    answers     TEXT NOT NULL
);
CREATE INDEX screening_by_user ON screening_answers (user_id, at);
CREATE TABLE clearances (
    id           INTEGER PRIMARY KEY,
    user_id      TEXT NOT NULL,
    at           TEXT NOT NULL,
    cleared_by   TEXT NOT NULL,
    valid_until  TEXT,
    note         TEXT
);
CREATE INDEX clearances_by_user ON clearances (user_id, at);
CREATE TABLE open_sessions (
    session_id    TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    treadmill_id  TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    plan          TEXT NOT NULL
);
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL UNIQUE,
    topic_suffix TEXT NOT NULL,
    payload      BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE command_replies (
    treadmill_id  TEXT NOT NULL,
    command_id    TEXT NOT NULL,
    reply         TEXT NOT NULL,
    at            TEXT NOT NULL,
    PRIMARY KEY (treadmill_id, command_id)
);
"""

# Each upgrade takes a database from the version before it to its key, in order.
UPGRADES = {
    # The speed range (as the engine's TreadmillCaps, JSON) each treadmill reported at its latest session
    # start: `retrowalk user show` fits the next plan to it, as a start on that treadmill will.
    2: """
CREATE TABLE treadmill_caps (
    treadmill_id  TEXT PRIMARY KEY,
    caps          TEXT NOT NULL,
    seen_at       TEXT NOT NULL
);
""",
    # Home Assistant's chosen walker per treadmill, kept across service restarts; each session's summary as
    # published, so the retained last_session can be published again after a restart.
    3: """
CREATE TABLE chosen_walkers (
    treadmill_id  TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    chosen_at     TEXT NOT NULL
);
ALTER TABLE sessions ADD COLUMN summary TEXT;
CREATE INDEX sessions_by_treadmill ON sessions (treadmill_id, ended_at);
""",
    # The plan as the treadmill ran it when it was fitted to the treadmill's speed steps (the plan column
    # keeps it as asked, which the next plan builds on): `retrowalk user history` shows both.
    4: """
ALTER TABLE sessions ADD COLUMN fitted_plan TEXT;
""",
    # A "before" pain score given while the person was not walking, per treadmill and person, until their
    # next start there takes it: in the file, so a restart in between does not lose the baseline.
    5: """
CREATE TABLE kept_before_pain (
    treadmill_id  TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    given_at      TEXT NOT NULL,
    pain          INTEGER NOT NULL CHECK (pain BETWEEN 0 AND 10),
    swelling      INTEGER NOT NULL,
    giving_way    INTEGER NOT NULL,
    PRIMARY KEY (treadmill_id, user_id)
);
""",
    # The order in which pain reports, clearances, screening answers, kept "before" scores and session
    # starts were recorded, one sequence over them all: what the rules compare (was a red flag reported,
    # or a session started, after a clearance?) must not turn on a wall clock that can be set back. A
    # session keeps the number its start got (noted in open_sessions). Rows from before it are numbered in
    # the order of their timestamps, which is all that was known of them.
    6: """
ALTER TABLE pain_reports ADD COLUMN seq INTEGER;
ALTER TABLE clearances ADD COLUMN seq INTEGER;
ALTER TABLE screening_answers ADD COLUMN seq INTEGER;
ALTER TABLE kept_before_pain ADD COLUMN seq INTEGER;
ALTER TABLE sessions ADD COLUMN seq INTEGER;
ALTER TABLE open_sessions ADD COLUMN seq INTEGER;
CREATE TEMP TABLE numbered AS
    SELECT kind, row, row_number() OVER (ORDER BY at, kind, row) AS seq FROM (
        SELECT 'pain' AS kind, id AS row, at FROM pain_reports
        UNION ALL SELECT 'clearance', id, at FROM clearances
        UNION ALL SELECT 'screening', id, at FROM screening_answers
        UNION ALL SELECT 'kept', rowid, given_at FROM kept_before_pain
        UNION ALL SELECT 'session', rowid, started_at FROM sessions
        UNION ALL SELECT 'open', rowid, started_at FROM open_sessions
    );
UPDATE sessions SET seq = (SELECT seq FROM numbered WHERE kind = 'session' AND row = sessions.rowid);
UPDATE open_sessions SET seq = (SELECT seq FROM numbered WHERE kind = 'open' AND row = open_sessions.rowid);
UPDATE pain_reports SET seq = (SELECT seq FROM numbered WHERE kind = 'pain' AND row = pain_reports.id);
UPDATE clearances SET seq = (SELECT seq FROM numbered WHERE kind = 'clearance' AND row = clearances.id);
UPDATE screening_answers
    SET seq = (SELECT seq FROM numbered WHERE kind = 'screening' AND row = screening_answers.id);
UPDATE kept_before_pain
    SET seq = (SELECT seq FROM numbered WHERE kind = 'kept' AND row = kept_before_pain.rowid);
DROP TABLE numbered;
CREATE INDEX pain_reports_in_order ON pain_reports (seq);
CREATE INDEX clearances_in_order ON clearances (seq);
CREATE INDEX screening_in_order ON screening_answers (seq);
CREATE INDEX kept_before_pain_in_order ON kept_before_pain (seq);
CREATE INDEX sessions_in_order ON sessions (user_id, seq);
""",
}

# The next number of that sequence, in the statement that inserts the row (one transaction with it).
NEXT_SEQ = (
    "(SELECT coalesce(max(last), 0) + 1 FROM ("
    "SELECT max(seq) AS last FROM pain_reports UNION ALL SELECT max(seq) FROM clearances"
    " UNION ALL SELECT max(seq) FROM screening_answers UNION ALL SELECT max(seq) FROM kept_before_pain"
    " UNION ALL SELECT max(seq) FROM sessions UNION ALL SELECT max(seq) FROM open_sessions))"
)
