"""Processing each message_id once: the store `once=True` handlers use, chosen by CONSUMER_STORE, SQLite by default.

The bridge may publish an event twice (after a crash) and OpenVidu resends after a 10 s timeout, always
with the same message_id. A handler marked `once=True` is skipped for an id its consumer already handled
successfully.

A store either *claims* an id (`claim`, PostgreSQL): the id is taken in a transaction that stays open while the
handler runs and commits when it returns, so a copy on another process waits and then is a duplicate, a handler
that fails leaves the id free for its retry, and `store.transaction()` lets the handler write its own rows in
that same transaction. Or it *remembers* it (`seen`, then `remember` after the handler returns: SQLite, memory,
and custom stores written for earlier releases): a crash in between runs the handler again, and two processes
handling one id at the same moment both run it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from consumers.database import Database
from consumers.idempotency.sqlite import SQLiteStore

__all__ = ["ClaimingStore", "IdempotencyStore", "MemoryStore", "SQLiteStore", "Store", "claim", "opened"]


class IdempotencyStore(Protocol):
    async def seen(self, scope: str, message_id: str) -> bool:
        """Whether `message_id` was remembered for `scope` (the consumer's name)."""
        ...

    async def remember(self, scope: str, message_id: str) -> None: ...


@runtime_checkable
class ClaimingStore(Protocol):
    def claim(self, scope: str, message_id: str) -> AbstractAsyncContextManager[bool]:
        """True inside the block if this process takes `message_id` (kept if the block ends without an error),
        False if another one already took it."""
        ...


Store = IdempotencyStore | ClaimingStore


class MemoryStore:
    """For tests and throwaway consumers: forgets everything when the process ends."""

    def __init__(self) -> None:
        self.ids: set[tuple[str, str]] = set()

    async def seen(self, scope: str, message_id: str) -> bool:
        return (scope, message_id) in self.ids

    async def remember(self, scope: str, message_id: str) -> None:
        self.ids.add((scope, message_id))


def claim(store: Store, scope: str, message_id: str) -> AbstractAsyncContextManager[bool]:
    """The store's own claim, or seen-then-remember for a store that only remembers."""
    if isinstance(store, ClaimingStore):
        return store.claim(scope, message_id)
    return _remembering(store, scope, message_id)


@contextlib.asynccontextmanager
async def _remembering(store: IdempotencyStore, scope: str, message_id: str) -> AsyncIterator[bool]:
    if await store.seen(scope, message_id):
        yield False
        return
    yield True
    await store.remember(scope, message_id)  # not reached when the handler raised: its retry runs it again


@contextlib.asynccontextmanager
async def opened(database: Database, size: int = 10) -> AsyncIterator[Store]:
    """The store CONSUMER_STORE names; a PostgreSQL one is waited for and its tables upgraded first."""
    if database.engine == "postgres":
        from consumers.idempotency.postgres import PostgresStore

        async with PostgresStore(database.location, size=size, variable=database.variable) as store:
            yield store
    else:
        local = SQLiteStore(database.path)  # opens on first use only
        try:
            yield local
        finally:
            local.close()
