"""Message ids in PostgreSQL: one store for every process of a consumer, on any number of hosts.

    store = PostgresStore("postgresql://billing@db/billing")
    consumer = Consumer("billing", store=store)

    @consumer.on("sessionDestroyed", once=True)
    async def bill(event: Event) -> None:
        async with store.transaction() as db:  # the transaction that takes the message_id
            await db.execute("INSERT INTO bills (session, seconds) VALUES (%s, %s)", (...))

The id and the bill commit together when the handler returns, or neither does.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from consumers.database import Database, migrate, until_ready

_V1 = """
CREATE TABLE IF NOT EXISTS processed (
    scope TEXT NOT NULL, message_id TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, PRIMARY KEY (scope, message_id)
);
CREATE INDEX IF NOT EXISTS processed_at ON processed (at)
"""
MIGRATIONS = (_V1,)
Connection = psycopg.AsyncConnection[Any]


class PostgresStore:
    """Claims message ids atomically across processes; keeps them `keep_days`. Open it with `async with` (the
    runner does for CONSUMER_STORE), or let the first claim open it."""

    _PRUNE_EVERY = 1000

    def __init__(self, url: str, keep_days: float = 7.0, size: int = 10, variable: str = "CONSUMER_STORE") -> None:
        self.database = Database("postgres", url, variable)
        self.keep_seconds = keep_days * 86400
        self.size = size  # connections: each handler in flight holds one
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._opening = asyncio.Lock()
        self._current: contextvars.ContextVar[Connection | None] = contextvars.ContextVar("claim", default=None)
        self._since_prune = 0

    async def __aenter__(self) -> PostgresStore:
        await self._ready()
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @contextlib.asynccontextmanager
    async def claim(self, scope: str, message_id: str) -> AsyncIterator[bool]:
        pool = await self._ready()
        async with pool.connection() as db, db.transaction():
            # A copy being handled by another process holds this key: the insert waits for its transaction.
            taken = await db.execute(
                "INSERT INTO processed VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                (scope, message_id, time.time()),
            )
            if await taken.fetchone() is None:
                yield False
                return
            token = self._current.set(db)
            try:
                yield True
            finally:
                self._current.reset(token)
        await self._count()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """In a once=True handler: the claim's transaction (a savepoint of it, so an error caught inside the
        block undoes the block only). Elsewhere: a transaction of its own."""
        db = self._current.get()
        if db is not None:
            async with db.transaction():
                yield db
            return
        pool = await self._ready()
        async with pool.connection() as own, own.transaction():
            yield own

    async def seen(self, scope: str, message_id: str) -> bool:
        pool = await self._ready()
        async with pool.connection() as db:
            found = await db.execute(
                "SELECT 1 FROM processed WHERE scope = %s AND message_id = %s", (scope, message_id)
            )
            return await found.fetchone() is not None

    async def remember(self, scope: str, message_id: str) -> None:
        pool = await self._ready()
        async with pool.connection() as db:
            await db.execute(
                "INSERT INTO processed VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", (scope, message_id, time.time())
            )

    async def _ready(self) -> AsyncConnectionPool[Connection]:
        async with self._opening:
            if self._pool is None:
                await until_ready(self.database, lambda: asyncio.to_thread(self._setup))
                pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
                    self.database.location, min_size=1, max_size=self.size, open=False, name="idempotency"
                )
                await pool.open()
                self._pool = pool
            return self._pool

    def _setup(self) -> None:
        with psycopg.connect(self.database.location, connect_timeout=10, autocommit=True) as db:
            migrate(db, "idempotency", MIGRATIONS)
            db.execute("DELETE FROM processed WHERE at < %s", (time.time() - self.keep_seconds,))

    async def _count(self) -> None:
        self._since_prune += 1
        if self._since_prune >= self._PRUNE_EVERY and self._pool is not None:
            self._since_prune = 0
            async with self._pool.connection() as db:
                await db.execute("DELETE FROM processed WHERE at < %s", (time.time() - self.keep_seconds,))
