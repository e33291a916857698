"""The session tracker in PostgreSQL: any number of tracker processes, on any number of hosts, one database.

Each event is one transaction: its message_id first (`INSERT … ON CONFLICT DO NOTHING RETURNING`: a copy that
another process is applying at this moment waits for it, then finds the id taken), then its rows, each an
upsert that locks its row. Two events of one session touch the session's row first, so they apply one after
the other; events of different sessions do not wait on each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from consumers.database import Database, migrate, reason, refused, until_ready
from consumers.errors import ConfigError
from consumers.sessions.store import Reader, Row, merge_sql, ordered

T = TypeVar("T")

# Text keys sort as SQLite sorts them (bytewise, COLLATE "C"), so both engines list the same order.
_V1 = """
CREATE TABLE IF NOT EXISTS sessions (
    key TEXT COLLATE "C" PRIMARY KEY,
    source TEXT NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    started_at BIGINT,
    ended_at BIGINT,
    end_reason TEXT,
    duration DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS sessions_name ON sessions (name);
CREATE INDEX IF NOT EXISTS sessions_live ON sessions (started_at) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS sessions_ended ON sessions (ended_at);
CREATE TABLE IF NOT EXISTS participants (
    session TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    identity TEXT,
    name TEXT,
    joined_at BIGINT,
    left_at BIGINT,
    reason TEXT,
    details TEXT,
    kind TEXT,
    PRIMARY KEY (session, id)
);
CREATE TABLE IF NOT EXISTS streams (
    session TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    participant TEXT COLLATE "C" NOT NULL,
    role TEXT,
    kind TEXT,
    receiving_from TEXT,
    started_at BIGINT,
    ended_at BIGINT,
    reason TEXT,
    PRIMARY KEY (session, id, participant)
);
CREATE TABLE IF NOT EXISTS recordings (
    session TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    name TEXT,
    status TEXT,
    rank INTEGER NOT NULL,
    started_at BIGINT,
    ended_at BIGINT,
    duration DOUBLE PRECISION,
    size BIGINT,
    reason TEXT,
    files TEXT,
    PRIMARY KEY (session, id)
);
CREATE TABLE IF NOT EXISTS processed (message_id TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL)
"""
MIGRATIONS = (_V1,)
_ATTEMPTS = 3  # a deadlock or serialization failure is retried here, not burnt as a message retry


class PostgresSessions:
    def __init__(self, pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]]) -> None:
        self.pool = pool

    async def apply(self, message_id: str, rows: Iterable[Row]) -> bool:
        merges = [(merge_sql(row, "%s", "GREATEST"), tuple(row.values.values())) for row in ordered(rows)]
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return await self._apply(message_id, merges)
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                if attempt == _ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def _apply(self, message_id: str, merges: list[tuple[str, tuple[object, ...]]]) -> bool:
        async with self.pool.connection() as db, db.transaction():
            claimed = await db.execute(
                "INSERT INTO processed VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1", (message_id, time.time())
            )
            if await claimed.fetchone() is None:
                return False
            async with db.cursor() as cursor:
                for sql, values in merges:
                    await cursor.execute(sql, values)
        return True


def _setup(database: Database) -> None:
    with psycopg.connect(database.location, connect_timeout=10, autocommit=True) as db:
        migrate(db, "sessions", MIGRATIONS)


@contextlib.asynccontextmanager
async def opened(database: Database, size: int = 10) -> AsyncIterator[PostgresSessions]:
    """The write side: waits for the server (one log line per attempt), then upgrades the schema."""
    await until_ready(database, lambda: asyncio.to_thread(_setup, database))
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
        database.location, min_size=1, max_size=size, open=False, name="sessions"
    )
    await pool.open()
    try:
        yield PostgresSessions(pool)
    finally:
        await pool.close()


class PostgresReader:
    def __init__(self, pool: ConnectionPool[psycopg.Connection[dict[str, Any]]]) -> None:
        self.pool = pool

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Mapping[str, Any]]:
        with self.pool.connection() as db:
            return list(db.execute(sql.replace("?", "%s"), params).fetchall())

    async def call(self, read: Callable[[Reader], T]) -> T:
        return await asyncio.to_thread(read, self)


def _read_only(db: psycopg.Connection[Any]) -> None:
    db.execute("SET default_transaction_read_only = on")


@contextlib.contextmanager
def reading(database: Database) -> Iterator[PostgresReader]:
    """Read-only, autocommit connections, so a page never holds a transaction open; ConfigError if unreachable."""
    try:
        psycopg.connect(database.location, connect_timeout=10).close()  # a clear reason now, not a pool timeout
    except psycopg.Error as exc:
        what = "refused" if refused(exc) else "not reachable"
        raise ConfigError(f"{database.variable}: {database} {what}: {reason(exc)}") from None
    pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
        database.location, min_size=1, max_size=4, kwargs={"autocommit": True, "row_factory": dict_row},
        configure=_read_only, check=ConnectionPool.check_connection, name="sessions-read", open=True,
    )  # fmt: skip
    try:
        yield PostgresReader(pool)
    finally:
        pool.close()
