"""The session key of an event, sent as the `x-session` header: what consumers keep in order, and hash on.

OpenVidu 2 `sessionId`; LiveKit `room.name`, else `egressInfo.roomName` / `ingressInfo.roomName`; else (node
and autoscaling events) the event type, so that events without a session still have a stable key.
"""

from __future__ import annotations

import orjson

MAX_BYTES = 255  # stored with a one-byte length in the journal; real session ids and room names are far shorter


def session_key(data: dict[str, object], event: str, livekit: bool) -> str:
    key = _room_name(data) if livekit else data.get("sessionId")
    if not isinstance(key, str) or not key:
        return event
    return _cut(key)


def session_of_body(body: bytes, event: str, livekit: bool) -> str:
    """The key of a journal record written before records carried it (parsed again, once, at publish)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return event
    return session_key(data, event, livekit) if isinstance(data, dict) else event


def _room_name(data: dict[str, object]) -> object:
    room = data.get("room")
    if isinstance(room, dict) and isinstance(name := room.get("name"), str) and name:
        return name
    for info in ("egressInfo", "ingressInfo"):
        value = data.get(info)
        if isinstance(value, dict) and isinstance(name := value.get("roomName"), str) and name:
            return name
    return None


def _cut(key: str) -> str:
    encoded = key.encode()
    if len(encoded) <= MAX_BYTES:
        return key
    return encoded[:MAX_BYTES].decode(errors="ignore")  # whole characters only: the same cut every time
