"""The session tracker's database: the read side, shared by `consumers sessions report` and the HTTP page.

The SQL is what SQLite and PostgreSQL both understand; where they would differ (where NULLs sort), it says.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from consumers.livekit import PERSON
from consumers.sessions.store import Reader

# Who counts in "in now / all": people (OpenVidu 2 participants have no kind), not a recorder, an agent, …
# (NULLS FIRST / LAST below: SQLite sorts NULL lowest, PostgreSQL highest; said, both list the same order.)
_PERSON = f"(kind IS NULL OR kind = '{PERSON}')"


def live(db: Reader) -> list[dict[str, Any]]:
    """Sessions going on now, newest first, with the participants still in them."""
    found = db.rows("SELECT * FROM sessions WHERE ended_at IS NULL ORDER BY started_at DESC NULLS LAST, key")
    return [_session(db, row) | {"participants": _participants(db, row["key"], only_present=True)} for row in found]


def recent(db: Reader, limit: int = 20) -> list[dict[str, Any]]:
    """The sessions that ended last."""
    rows = db.rows("SELECT * FROM sessions WHERE ended_at IS NOT NULL ORDER BY ended_at DESC, key LIMIT ?", (limit,))
    return [_session(db, row) for row in rows]


def find(db: Reader, term: str) -> list[dict[str, Any]]:
    """Every session whose key or name is `term` (a name is reused), newest first, with who was in it."""
    rows = db.rows("SELECT * FROM sessions WHERE key = ? OR name = ? ORDER BY started_at DESC NULLS LAST", (term, term))
    return [
        _session(db, row)
        | {
            "participants": _participants(db, row["key"], only_present=False),
            "streams": _streams(db, row["key"]),
            "recordings": _recordings(db, row["key"]),
        }
        for row in rows
    ]


def _session(db: Reader, row: Mapping[str, Any]) -> dict[str, Any]:
    (counts,) = db.rows(
        f"SELECT COUNT(*) FILTER (WHERE left_at IS NULL) AS present, COUNT(*) AS total FROM participants "
        f"WHERE session = ? AND {_PERSON}",
        (row["key"],),
    )
    present, total = counts["present"], counts["total"]
    return {
        "key": row["key"],
        "name": row["name"],
        "source": row["source"],
        "live": row["ended_at"] is None,
        "started_at": iso(row["started_at"]),
        "ended_at": iso(row["ended_at"]),
        "duration_seconds": _duration(row["duration"], row["started_at"], row["ended_at"]),
        "end_reason": row["end_reason"],
        "participants_now": present,
        "participants_total": total,
    }


def _participants(db: Reader, session: str, only_present: bool) -> list[dict[str, Any]]:
    where = " AND left_at IS NULL" if only_present else ""
    order = "ORDER BY joined_at NULLS FIRST, id"
    rows = db.rows(f"SELECT * FROM participants WHERE session = ?{where} {order}", (session,))
    return [
        {
            "id": row["id"],
            "identity": row["identity"],
            "name": row["name"],
            "joined_at": iso(row["joined_at"]),
            "left_at": iso(row["left_at"]),
            "duration_seconds": _duration(None, row["joined_at"], row["left_at"]),
            "reason": row["reason"],
            "details": orjson.loads(row["details"]) if row["details"] else {},
            "kind": row["kind"] or PERSON,
            "person": (row["kind"] or PERSON) == PERSON,
        }
        for row in rows
    ]


def _streams(db: Reader, session: str) -> list[dict[str, Any]]:
    rows = db.rows(
        "SELECT * FROM streams WHERE session = ? ORDER BY started_at NULLS FIRST, id, participant", (session,)
    )
    return [
        {
            "id": row["id"],
            "participant": row["participant"],
            "role": row["role"],
            "kind": row["kind"],
            "receiving_from": row["receiving_from"],
            "started_at": iso(row["started_at"]),
            "ended_at": iso(row["ended_at"]),
            "reason": row["reason"],
        }
        for row in rows
    ]


def _recordings(db: Reader, session: str) -> list[dict[str, Any]]:
    rows = db.rows("SELECT * FROM recordings WHERE session = ? ORDER BY started_at NULLS FIRST, id", (session,))
    return [
        {
            "id": row["id"],
            "name": row["name"],
            "status": row["status"],
            "started_at": iso(row["started_at"]),
            "ended_at": iso(row["ended_at"]),
            "duration_seconds": row["duration"],
            "size": row["size"],
            "reason": row["reason"],
            "files": orjson.loads(row["files"]) if row["files"] else [],
        }
        for row in rows
    ]


def _duration(reported: float | None, started: int | None, ended: int | None) -> float | None:
    """What the sender reported, else from the times; a live one lasts until now."""
    if reported is not None:
        return float(reported)
    if started is None:
        return None
    until = ended if ended is not None else time.time() * 1000
    return round((until - started) / 1000, 3)


def iso(milliseconds: int | None) -> str | None:
    if milliseconds is None:
        return None
    moment = datetime.fromtimestamp(milliseconds / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
