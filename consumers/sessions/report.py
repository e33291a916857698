"""`consumers sessions report [SESSION]`: what is live now, or who was in a session and how long it lasted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from consumers.database import Database
from consumers.errors import ConfigError
from consumers.sessions import engines, queries
from consumers.sessions.store import Reader


def main(
    database: Database,
    session: str | None,
    as_json: bool,
    write: Callable[[str], None],
    complain: Callable[[str], None] | None = None,
) -> int:
    """Write the report with `write`; what went wrong (no database, no such session) with `complain`."""
    complain = complain or write
    if database.engine == "sqlite" and not database.path.exists():
        complain(f"no session database at {database} ({database.variable}): has the session tracker run?")
        return 1
    try:
        with engines.reading(database) as db:
            report = _one(db, session) if session else _overview(db)
    except ConfigError as exc:
        complain(str(exc))  # a server that does not answer: say so once, the report is not a long-running process
        return 1
    if as_json:
        write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    elif not report.get("sessions", True):
        complain(text(report)[0])
    else:
        for line in text(report):
            write(line)
    return 0 if report.get("sessions", True) else 1


def _overview(db: Reader) -> dict[str, Any]:
    return {"live": queries.live(db), "recent": queries.recent(db, limit=10)}


def _one(db: Reader, term: str) -> dict[str, Any]:
    return {"query": term, "sessions": queries.find(db, term)}


def text(report: dict[str, Any]) -> list[str]:
    if "query" in report:
        if not report["sessions"]:
            return [f"no session {report['query']!r} (give a session id, uniqueSessionId, room name or room sid)"]
        return [line for session in report["sessions"] for line in _detail(session)]
    lines = [f"live now: {len(report['live'])} session(s)"]
    for session in report["live"]:
        lines.append("  " + _summary(session))
        lines += [f"      {_who(p)} since {p['joined_at']}" for p in session["participants"]]
    lines.append(f"recently ended: {len(report['recent'])}")
    lines += ["  " + _summary(session) for session in report["recent"]]
    return lines


def _detail(session: dict[str, Any]) -> list[str]:
    others = len(session["participants"]) - session["participants_total"]
    also = f", and {others} of other kinds (recorders, agents, SIP lines, feeds)" if others > 0 else ""
    lines = [_summary(session), f"  participants ({session['participants_total']}{also}):"]
    for p in session["participants"]:
        left = f"left {p['left_at']} ({p['reason']})" if p["left_at"] else "still in"
        lines.append(f"    {_who(p)}  joined {p['joined_at']}  {left}  {_seconds(p['duration_seconds'])}")
    publishers = [s for s in session["streams"] if s["role"] != "subscriber"]
    lines.append(f"  streams: {len(publishers)} published, {len(session['streams']) - len(publishers)} subscribed")
    for r in session["recordings"]:
        files = f"  {', '.join(r['files'])}" if r["files"] else ""
        lines.append(f"  recording {r['id']}: {r['status']}  {_seconds(r['duration_seconds'])}{files}")
    return lines


def _summary(session: dict[str, Any]) -> str:
    length = _seconds(session["duration_seconds"])
    if session["live"]:
        state = f"live for {length}"
    else:
        state = f"ended {session['ended_at']} ({session['end_reason'] or 'no reason given'}), lasted {length}"
    return (
        f"{session['name']} [{session['source']} {session['key']}] started {session['started_at'] or '?'}, {state}, "
        f"{session['participants_now']} in now / {session['participants_total']} in all"
    )


def _who(participant: dict[str, Any]) -> str:
    label = participant["identity"] or participant["name"] or "?"
    kind = "" if participant.get("kind", "STANDARD") == "STANDARD" else f" [{participant['kind']}]"
    return f"{label} ({participant['id']}){kind}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "?"
    minutes, seconds = divmod(round(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"
