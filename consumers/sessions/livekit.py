"""OpenVidu 3 (LiveKit) events as tracker rows: a room is a session, a participant sid a connection."""

from __future__ import annotations

from typing import Any

import orjson

from consumers import livekit
from consumers.event import Event
from consumers.sessions.store import Row

# How far an egress got; a late copy of an earlier status never overwrites a later one.
EGRESS_RANK = {
    "EGRESS_STARTING": 1,
    "EGRESS_ACTIVE": 2,
    "EGRESS_ENDING": 3,
    "EGRESS_COMPLETE": 4,
    "EGRESS_FAILED": 4,
    "EGRESS_ABORTED": 4,
    "EGRESS_LIMIT_REACHED": 4,
}

EVENTS = (
    "room_started",
    "room_finished",
    "participant_joined",
    "participant_left",
    "participant_connection_aborted",
    "track_published",
    "track_unpublished",
    "egress_started",
    "egress_updated",
    "egress_ended",
    "ingress_started",
    "ingress_ended",
)


def rows(event: Event) -> list[Row]:
    room, data = event.room, event.data
    ingress = _object(data.get("ingressInfo"))
    state = _object(ingress.get("state"))
    egress = event.egress
    name = room.name if room else egress.room_name if egress else ingress.get("roomName")
    # Ingress events name the room only; its sid is in the ingress state.
    key = (room.sid if room else None) or (egress.room_sid if egress else None) or state.get("roomId") or name
    if not isinstance(key, str) or not isinstance(name, str):
        return []
    now = _ms(livekit.seconds_time(data.get("createdAt")))
    session: dict[str, object] = {"key": key, "source": "livekit", "name": name}
    if event.type in ("room_started", "room_finished"):
        raw = _object(data.get("room"))
        session["started_at"] = _int(raw.get("creationTimeMs")) or _ms(livekit.seconds_time(raw.get("creationTime")))
    if event.type == "room_finished":
        session["ended_at"] = now
    found = [Row("sessions", session)]
    if event.type.startswith("participant_"):
        found += _participant(key, event, now)
    elif event.type.startswith("track_"):
        found += _track(key, event, now)
    elif egress is not None:
        found.append(_egress(key, egress))
    elif event.type.startswith("ingress_") and isinstance(ingress.get("ingressId"), str):
        found.append(_ingress(key, event.type, ingress, state))
    return found


def _participant(session: str, event: Event, now: int | None) -> list[Row]:
    who = event.participant
    if who is None:
        return []
    raw = event.data["participant"]
    details = {k: raw[k] for k in ("metadata", "attributes") if raw.get(k)}
    values: dict[str, object] = {
        "session": session,
        "id": who.sid,
        "identity": who.identity,
        "name": who.name or None,
        "joined_at": _ms(who.joined_at),
        "details": orjson.dumps(details).decode() if details else None,
        "kind": who.kind,
    }
    if event.type != "participant_joined":  # left, or connection aborted: gone either way
        values |= {"left_at": now, "reason": who.disconnect_reason or event.type.removeprefix("participant_")}
    return [Row("participants", values)]


def _track(session: str, event: Event, now: int | None) -> list[Row]:
    track, who = event.track, event.participant
    if track is None or who is None:
        return []
    values: dict[str, object] = {
        "session": session,
        "id": track.sid,
        "participant": who.sid,
        "role": "publisher",
        "kind": track.source if track.source != "UNKNOWN" else track.type,
    }
    values |= {"ended_at": now} if event.type == "track_unpublished" else {"started_at": now}
    return [Row("streams", values)]


def _egress(session: str, egress: livekit.Egress) -> Row:
    rank = EGRESS_RANK.get(egress.status, 0)
    durations = [f.duration_seconds for f in egress.files if f.duration_seconds is not None]
    sizes = [f.size for f in egress.files if f.size is not None]
    return Row(
        "recordings",
        {
            "session": session,
            "id": egress.egress_id,
            "status": egress.status,
            "rank": rank,
            "started_at": _ms(egress.started_at),
            "ended_at": _ms(egress.ended_at),
            "duration": max(durations) if durations else None,
            "size": sum(sizes) if sizes else None,
            "reason": egress.error,
            "files": orjson.dumps(egress.locations).decode() if egress.locations else None,
        },
    )


def _ingress(session: str, event_type: str, ingress: dict[str, Any], state: dict[str, Any]) -> Row:
    values: dict[str, object] = {
        "session": session,
        "id": ingress["ingressId"],
        "participant": ingress.get("participantIdentity") or ingress["ingressId"],
        "role": "ingress",
        "kind": ingress.get("inputType") or "RTMP_INPUT",  # the zero value, left out when it is RTMP
        "started_at": _ms(livekit.ns_time(state.get("startedAt"))),
    }
    if event_type == "ingress_ended":
        values |= {"ended_at": _ms(livekit.ns_time(state.get("endedAt"))), "reason": state.get("status")}
    return Row("streams", values)


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _ms(moment: object) -> int | None:
    timestamp = getattr(moment, "timestamp", None)
    return round(timestamp() * 1000) if callable(timestamp) else None


def _int(value: object) -> int | None:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
