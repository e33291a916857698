"""Which engine keeps the tracker's state, chosen by SESSIONS_DB: a SQLite file or a PostgreSQL database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

from consumers.database import Database
from consumers.sessions import postgres, sqlite
from consumers.sessions.store import Reader, SessionStore


@contextlib.asynccontextmanager
async def opened(database: Database) -> AsyncIterator[SessionStore]:
    """The write side; its tables created or upgraded first."""
    if database.engine == "postgres":
        async with postgres.opened(database) as store:
            yield store
    else:
        async with sqlite.opened(database) as store:
            yield store


@contextlib.contextmanager
def reading(database: Database) -> Iterator[Reader]:
    """The read side, for the report and the pages: it cannot change what the tracker recorded."""
    if database.engine == "postgres":
        with postgres.reading(database) as reader:
            yield reader
    else:
        with sqlite.reading(database) as reader:
            yield reader
