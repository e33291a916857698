"""Message ids in a SQLite file: the default store, for the consumers of one host."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from consumers.database import migrate

_V1 = """
CREATE TABLE IF NOT EXISTS processed (
    scope TEXT NOT NULL, message_id TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (scope, message_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS processed_at ON processed (at)
"""
MIGRATIONS = (_V1,)  # version 1 is the table of the releases before versions were recorded


class SQLiteStore:
    """Message ids in a SQLite file, kept `keep_days` (duplicates arrive within minutes, not weeks)."""

    _PRUNE_EVERY = 1000

    def __init__(self, path: Path | str, keep_days: float = 7.0) -> None:
        self.path = Path(path)
        self.keep_seconds = keep_days * 86400
        self._db: sqlite3.Connection | None = None
        self._since_prune = 0

    # Each call is one indexed statement on a local file, well under a millisecond: running it in the event
    # loop is cheaper than a thread hop.
    async def seen(self, scope: str, message_id: str) -> bool:
        row = (
            self._connect()
            .execute("SELECT 1 FROM processed WHERE scope = ? AND message_id = ?", (scope, message_id))
            .fetchone()
        )
        return row is not None

    async def remember(self, scope: str, message_id: str) -> None:
        db = self._connect()
        db.execute("INSERT OR IGNORE INTO processed VALUES (?, ?, ?)", (scope, message_id, time.time()))
        self._since_prune += 1
        if self._since_prune >= self._PRUNE_EVERY:
            self._prune(db)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=5000")  # several consumer processes may share the file
            migrate(db, "idempotency", MIGRATIONS)
            self._db = db
            self._prune(db)
        return self._db

    def _prune(self, db: sqlite3.Connection) -> None:
        self._since_prune = 0
        db.execute("DELETE FROM processed WHERE at < ?", (time.time() - self.keep_seconds,))
