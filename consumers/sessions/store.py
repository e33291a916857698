"""The session tracker's state: what each event changes, and the interface of the engines that keep it.

Every event becomes a few rows merged into the tables below (sqlite.py and postgres.py create them), in one
transaction with its message_id, so a duplicate (same message_id) changes nothing. Merges are order-proof as
well, for events that come back late from a retry or that another tracker process applies at the same time: a
start time is kept once known (`first`), an end fills in when it comes (`last`), and a recording's fields move
only forward through its statuses (`ranked`). Each merge is one `INSERT … ON CONFLICT DO UPDATE`, atomic per row
on both engines, and rows are applied in one order (table, then key) so two transactions never wait on each other
in a circle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

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
    "max": "{greatest}({t}.{c}, excluded.{c})",
    "ranked": "CASE WHEN excluded.rank >= {t}.rank THEN COALESCE(excluded.{c}, {t}.{c}) ELSE {t}.{c} END",
}
_ORDER = {table: number for number, table in enumerate(TABLES)}


@dataclasses.dataclass(frozen=True)
class Row:
    table: str
    values: dict[str, object]


class SessionStore(Protocol):
    """The write side, open for as long as the tracker runs."""

    async def apply(self, message_id: str, rows: Iterable[Row]) -> bool:
        """Merge `rows` unless `message_id` was applied before; False for such a duplicate."""
        ...


class Reader(Protocol):
    """The read side (queries.py): rows as mappings; `?` marks a parameter on either engine."""

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Mapping[str, Any]]: ...

    async def call(self, read: Callable[[Reader], T]) -> T:
        """`read(self)` without holding up the event loop on a network round trip."""
        ...


def ordered(rows: Iterable[Row]) -> list[Row]:
    """Rows in the one order every transaction locks them in: table, then key."""
    return sorted(rows, key=lambda row: (_ORDER[row.table], [str(row.values.get(k)) for k in TABLES[row.table][0]]))


def merge_sql(row: Row, mark: str, greatest: str) -> str:
    """The upsert of `row`; `mark` is the engine's parameter marker, `greatest` its two-argument maximum."""
    keys, rules = TABLES[row.table]
    columns = list(row.values)
    updates = [
        f"{c} = {_RULES[rules[c]].format(t=row.table, c=c, greatest=greatest)}" for c in columns if c not in keys
    ]
    conflict = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
    return (
        f"INSERT INTO {row.table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) {conflict}"
    )
