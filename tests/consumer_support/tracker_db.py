"""The session tracker's database in tests: filling it without a broker, and reading back every row."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from consumers.database import Database
from consumers.event import Event
from consumers.sessions import engines, livekit, openvidu, queries
from consumers.sessions.store import Row
from consumers.testing import event

TABLES = ("sessions", "participants", "streams", "recordings")


def dump(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tracker's tables, sorted: what two runs must agree on."""
    with engines.reading(database) as db:
        return {
            table: sorted((tuple(row[k] for k in row.keys()) for row in db.rows(f"SELECT * FROM {table}")), key=repr)
            for table in TABLES
        }


async def fill(database: Database, bodies: Iterable[bytes], message_id: str | None = None) -> list[bool]:
    """What the tracker's handler does with each body, without the broker in between; True where applied."""
    async with engines.opened(database) as store:
        return [await store.apply(message_id or seen.message_id, rows(seen)) for seen in map(event, bodies)]


def rows(seen: Event) -> list[Row]:
    return livekit.rows(seen) if seen.source == "livekit" else openvidu.rows(seen.type, seen.data)


def has(database: Database, session: str) -> bool:
    """Whether the tracker recorded `session` yet."""
    if database.engine == "sqlite" and not database.path.exists():
        return False
    with engines.reading(database) as db:
        return bool(queries.find(db, session))
