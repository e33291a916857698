"""The session tracker's SQLite database: the write side.

Every event becomes a few rows merged into the tables below, in one transaction with its message_id, so a
duplicate (same message_id) changes nothing. Merges are order-proof as well, for events that come back
late from a retry: a start time is kept once known (`first`), an end fills in when it comes (`last`), and a
recording's fields move only forward through its statuses (`ranked`).
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    key TEXT PRIMARY KEY,      -- OpenVidu 2 uniqueSessionId (sessionId before 2.17); LiveKit room sid
    source TEXT NOT NULL,      -- openvidu | livekit
    name TEXT NOT NULL,        -- OpenVidu 2 sessionId; LiveKit room name
    started_at INTEGER,        -- epoch milliseconds, here and below
    ended_at INTEGER,
    end_reason TEXT,
    duration REAL              -- seconds, as the sender reported it
);
CREATE INDEX IF NOT EXISTS sessions_name ON sessions (name);
CREATE TABLE IF NOT EXISTS participants (
    session TEXT NOT NULL,
    id TEXT NOT NULL,          -- OpenVidu 2 connectionId; LiveKit participant sid
    identity TEXT,             -- LiveKit identity; OpenVidu 2 clientData
    name TEXT,
    joined_at INTEGER,
    left_at INTEGER,
    reason TEXT,
    details TEXT,              -- JSON: ip, platform, location, serverData / metadata, attributes
    kind TEXT,                 -- LiveKit participant kind (STANDARD, EGRESS, AGENT, …); NULL: STANDARD
    PRIMARY KEY (session, id)
);
CREATE TABLE IF NOT EXISTS streams (
    session TEXT NOT NULL,
    id TEXT NOT NULL,          -- OpenVidu 2 streamId; LiveKit track sid or ingress id
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
    id TEXT NOT NULL,          -- OpenVidu 2 recording id; LiveKit egress id
    name TEXT,
    status TEXT,
    rank INTEGER NOT NULL,     -- how far the status got (started 1, stopped 2, ready/failed 3; egress 1-4)
    started_at INTEGER,
    ended_at INTEGER,
    duration REAL,
    size INTEGER,
    reason TEXT,
    files TEXT,                -- JSON array of locations
    PRIMARY KEY (session, id)
);
CREATE TABLE IF NOT EXISTS processed (message_id TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID;
"""

# table -> (key columns, {column: merge rule})
TABLES: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "sessions": (
        ("key",),
        {"source": "first", "name": "first", "started_at": "first", "ended_at": "last", "end_reason": "last",
         "duration": "last"},
    ),
    "participants": (
        ("session", "id"),
        {"identity": "last", "name": "last", "joined_at": "first", "left_at": "last", "reason": "last",
         "details": "last", "kind": "last"},
    ),
    "streams": (
        ("session", "id", "participant"),
        {"role": "last", "kind": "last", "receiving_from": "last", "started_at": "first", "ended_at": "last",
         "reason": "last"},
    ),
    "recordings": (
        ("session", "id"),
        {"rank": "max", "name": "ranked", "status": "ranked", "started_at": "first", "ended_at": "ranked",
         "duration": "ranked", "size": "ranked", "reason": "ranked", "files": "ranked"},
    ),
}  # fmt: skip

_RULES = {
    "first": "COALESCE({t}.{c}, excluded.{c})",
    "last": "COALESCE(excluded.{c}, {t}.{c})",
    "max": "MAX({t}.{c}, excluded.{c})",
    "ranked": "CASE WHEN excluded.rank >= {t}.rank THEN COALESCE(excluded.{c}, {t}.{c}) ELSE {t}.{c} END",
}


@dataclasses.dataclass(frozen=True)
class Row:
    table: str
    values: dict[str, object]


class SessionStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")  # the report and the page read while the tracker writes
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(SCHEMA)
        _migrate(db)
        self._db = db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def apply(self, message_id: str, rows: Iterable[Row]) -> bool:
        """Merge `rows` unless `message_id` was applied before; False for such a duplicate."""
        db = self._db
        if db is None:
            raise RuntimeError("the session store is not open")
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("INSERT OR IGNORE INTO processed VALUES (?, ?)", (message_id, time.time())).rowcount == 0:
                db.execute("ROLLBACK")
                return False
            for row in rows:
                db.execute(_merge_sql(row), tuple(row.values.values()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return True


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a database written by an earlier version up to SCHEMA."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(participants)")}
    if "kind" not in columns:  # earlier versions kept a LiveKit participant's kind inside details
        db.execute("ALTER TABLE participants ADD COLUMN kind TEXT")
        db.execute("UPDATE participants SET kind = json_extract(details, '$.kind') WHERE details IS NOT NULL")


def _merge_sql(row: Row) -> str:
    keys, rules = TABLES[row.table]
    columns = list(row.values)
    updates = [f"{c} = {_RULES[rules[c]].format(t=row.table, c=c)}" for c in columns if c not in keys]
    conflict = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
    return (
        f"INSERT INTO {row.table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) {conflict}"
    )
