"""The session tracker in a SQLite file: the default, for one host (every process of the tracker on it)."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from consumers.database import Database, migrate
from consumers.errors import ConfigError
from consumers.sessions.store import Reader, Row, merge_sql, ordered

T = TypeVar("T")

# Version 1 is the schema before versions were recorded, so a database of an earlier release upgrades in place.
_V1 = """
CREATE TABLE IF NOT EXISTS sessions (
    key TEXT PRIMARY KEY,      -- OpenVidu 2 uniqueSessionId (sessionId before 2.17), LiveKit room sid
    source TEXT NOT NULL,      -- openvidu | livekit
    name TEXT NOT NULL,        -- OpenVidu 2 sessionId, LiveKit room name
    started_at INTEGER,        -- epoch milliseconds, here and below
    ended_at INTEGER,
    end_reason TEXT,
    duration REAL              -- seconds, as the sender reported it
);
CREATE INDEX IF NOT EXISTS sessions_name ON sessions (name);
CREATE TABLE IF NOT EXISTS participants (
    session TEXT NOT NULL,
    id TEXT NOT NULL,          -- OpenVidu 2 connectionId, LiveKit participant sid
    identity TEXT,             -- LiveKit identity, OpenVidu 2 clientData
    name TEXT,
    joined_at INTEGER,
    left_at INTEGER,
    reason TEXT,
    details TEXT,              -- JSON: ip, platform, location, serverData / metadata, attributes
    PRIMARY KEY (session, id)
);
CREATE TABLE IF NOT EXISTS streams (
    session TEXT NOT NULL,
    id TEXT NOT NULL,          -- OpenVidu 2 streamId, LiveKit track sid or ingress id
    participant TEXT NOT NULL, -- who publishes (or, for a subscriber, who receives)
    role TEXT,                 -- publisher | subscriber | ingress
    kind TEXT,                 -- CAMERA, SCREEN, AUDIO, VIDEO, …
    receiving_from TEXT,
    started_at INTEGER,
    ended_at INTEGER,
    reason TEXT,
    PRIMARY KEY (session, id, participant)
);
CREATE TABLE IF NOT EXISTS recordings (
    session TEXT NOT NULL,
    id TEXT NOT NULL,          -- OpenVidu 2 recording id, LiveKit egress id
    name TEXT,
    status TEXT,
    rank INTEGER NOT NULL,     -- how far the status got (started 1, stopped 2, ready/failed 3, egress 1-4)
    started_at INTEGER,
    ended_at INTEGER,
    duration REAL,
    size INTEGER,
    reason TEXT,
    files TEXT,                -- JSON array of locations
    PRIMARY KEY (session, id)
);
CREATE TABLE IF NOT EXISTS processed (message_id TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID
"""


def _participant_kind(db: sqlite3.Connection) -> None:
    """Version 2: a LiveKit participant's kind in a column (earlier releases kept it inside details)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(participants)")}
    if "kind" not in columns:  # a database of the release that added it before versions were recorded has it
        db.execute("ALTER TABLE participants ADD COLUMN kind TEXT")  # LiveKit kind, NULL: STANDARD
        db.execute("UPDATE participants SET kind = json_extract(details, '$.kind') WHERE details IS NOT NULL")


MIGRATIONS = (_V1, _participant_kind)


class SQLiteSessions:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    # One short local transaction: cheaper in the event loop than a thread hop.
    async def apply(self, message_id: str, rows: Iterable[Row]) -> bool:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("INSERT OR IGNORE INTO processed VALUES (?, ?)", (message_id, time.time())).rowcount == 0:
                db.execute("ROLLBACK")
                return False
            for row in ordered(rows):
                db.execute(merge_sql(row, "?", "MAX"), tuple(row.values.values()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return True


@contextlib.asynccontextmanager
async def opened(database: Database) -> AsyncIterator[SQLiteSessions]:
    try:
        database.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(database.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")  # the report and the page read while the tracker writes
        db.execute("PRAGMA busy_timeout=5000")
        migrate(db, "sessions", MIGRATIONS)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"{database.variable}: cannot open {database} ({exc})") from None
    try:
        yield SQLiteSessions(db)
    finally:
        db.close()


class SQLiteReader:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Mapping[str, Any]]:
        return self.db.execute(sql, params).fetchall()

    # A local file answers in microseconds: reading in the event loop is cheaper than a thread hop.
    async def call(self, read: Callable[[Reader], T]) -> T:
        return read(self)


@contextlib.contextmanager
def reading(database: Database) -> Iterator[SQLiteReader]:
    """A read-only connection: neither the report nor the page can change what the tracker recorded."""
    db = sqlite3.connect(f"{database.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    db.row_factory = sqlite3.Row
    try:
        yield SQLiteReader(db)
    finally:
        db.close()
