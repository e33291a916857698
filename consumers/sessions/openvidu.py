"""OpenVidu 2 events as tracker rows: sessions, their connections, streams and recordings."""

from __future__ import annotations

from typing import Any

import orjson

from consumers.sessions.store import Row

# How far a recording got; a late copy of an earlier status never overwrites a later one.
RECORDING_RANK = {"started": 1, "stopped": 2, "ready": 3, "failed": 3}
_LEGACY_STATUS = {"recordingStarted": "started", "recordingStopped": "stopped"}  # before recordingStatusChanged

EVENTS = (
    "sessionCreated",
    "sessionDestroyed",
    "participantJoined",
    "participantLeft",
    "webrtcConnectionCreated",
    "webrtcConnectionDestroyed",
    "recordingStatusChanged",
    "recordingStarted",
    "recordingStopped",
)


def rows(event_type: str, data: dict[str, Any]) -> list[Row]:
    name = data.get("sessionId")
    if not isinstance(name, str):
        return []  # a node or cluster event: no session in it
    unique = data.get("uniqueSessionId")
    key = unique if isinstance(unique, str) and unique else name
    now = _int(data.get("timestamp"))
    session: dict[str, object] = {"key": key, "source": "openvidu", "name": name}
    if event_type == "sessionCreated":
        session["started_at"] = now
    elif event_type == "sessionDestroyed":
        session |= _ended(data, now) | {"end_reason": data.get("reason"), "duration": data.get("duration")}
    found = [Row("sessions", session)]
    if event_type in ("participantJoined", "participantLeft"):
        found.append(_participant(key, data, now, ended=event_type == "participantLeft"))
    elif event_type in ("webrtcConnectionCreated", "webrtcConnectionDestroyed"):
        found.append(_stream(key, data, now, ended=event_type == "webrtcConnectionDestroyed"))
    elif event_type in ("recordingStatusChanged", *_LEGACY_STATUS):
        found.append(_recording(key, data, now, _LEGACY_STATUS.get(event_type) or data.get("status")))
    return found


def _participant(session: str, data: dict[str, Any], now: int | None, ended: bool) -> Row:
    details = {k: data[k] for k in ("location", "ip", "platform", "serverData") if data.get(k) not in (None, "")}
    values: dict[str, object] = {
        "session": session,
        "id": data.get("connectionId") or data.get("participantId"),
        "identity": data.get("clientData") or None,
        "details": orjson.dumps(details).decode() if details else None,
    }
    if ended:
        values |= {"joined_at": _int(data.get("startTime")), "left_at": now, "reason": data.get("reason")}
    else:
        values["joined_at"] = now
    return Row("participants", values)


def _stream(session: str, data: dict[str, Any], now: int | None, ended: bool) -> Row:
    inbound = data.get("connection") == "INBOUND"
    values: dict[str, object] = {
        "session": session,
        "id": data.get("streamId"),
        "participant": data.get("connectionId") or data.get("participantId"),
        "role": "subscriber" if inbound else "publisher",
        "kind": data.get("videoSource") or ("AUDIO" if data.get("audioEnabled") else None),
        "receiving_from": data.get("receivingFrom"),
    }
    if ended:
        values |= {"started_at": _int(data.get("startTime")), "ended_at": now, "reason": data.get("reason")}
    else:
        values["started_at"] = now
    return Row("streams", values)


def _recording(session: str, data: dict[str, Any], now: int | None, status: object) -> Row:
    rank = RECORDING_RANK.get(status, 0) if isinstance(status, str) else 0
    return Row(
        "recordings",
        {
            "session": session,
            "id": data.get("id"),
            "name": data.get("name"),
            "status": status,
            "rank": rank,
            "started_at": _int(data.get("startTime")) or (now if status == "started" else None),
            "ended_at": now if rank >= 2 else None,
            "duration": data.get("duration") if rank >= 2 else None,
            "size": data.get("size") if rank >= 2 else None,
            "reason": data.get("reason"),
        },
    )


def _ended(data: dict[str, Any], now: int | None) -> dict[str, object]:
    return {"started_at": _int(data.get("startTime")), "ended_at": now}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
