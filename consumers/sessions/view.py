"""What the pages show, taken from the session documents the JSON API returns (see queries.py).

Nothing here reads the database: whichever store serves the documents, the pages read the same dicts.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import orjson

SOURCES = {"openvidu": "OpenVidu 2", "livekit": "LiveKit"}
PEOPLE = "STANDARD"  # a LiveKit participant kind; absent means a person as well
KINDS = {"EGRESS": "egress", "AGENT": "agent", "SIP": "SIP", "INGRESS": "ingress"}

# OpenVidu 2 clientData is whatever the application passed to Session.connect, usually a JSON object.
_NAME_FIELDS = ("clientData", "name", "displayName", "display_name", "userName", "username", "nickname", "user")

# Recording states, for both senders: (what a person reads, how it looks: active, good or bad).
_RECORDING_STATES = {
    "started": ("recording", "active"),
    "stopped": ("stopped", "active"),
    "ready": ("ready", "good"),
    "failed": ("failed", "bad"),
    "EGRESS_STARTING": ("starting", "active"),
    "EGRESS_ACTIVE": ("recording", "active"),
    "EGRESS_ENDING": ("ending", "active"),
    "EGRESS_COMPLETE": ("complete", "good"),
    "EGRESS_FAILED": ("failed", "bad"),
    "EGRESS_ABORTED": ("aborted", "bad"),
    "EGRESS_LIMIT_REACHED": ("limit reached", "bad"),
}


@dataclasses.dataclass(frozen=True)
class RecordingState:
    label: str
    tone: str  # active | good | bad | none


def display_name(source: str, participant: dict[str, Any]) -> str:
    """OpenVidu 2: a name-like field of clientData JSON, else clientData itself; LiveKit: name, else identity."""
    if source == "livekit":
        return str(participant.get("name") or participant.get("identity") or participant.get("id") or "?")
    raw = participant.get("identity")
    if not isinstance(raw, str) or not raw.strip():
        return str(participant.get("id") or "?")
    return _client_data_name(raw) or raw


def _client_data_name(raw: str) -> str | None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, str):
        return _client_data_name(data) or data.strip() or None  # JSON-stringified twice happens too
    if isinstance(data, dict):
        for field in _NAME_FIELDS:
            value = data.get(field)
            if isinstance(value, str) and value.strip():
                return _client_data_name(value) or value.strip()
    return None


def kind(participant: dict[str, Any]) -> str:
    """STANDARD for a person; EGRESS, AGENT, SIP, INGRESS for the rest."""
    details = participant.get("details")
    found = participant.get("kind") or (details.get("kind") if isinstance(details, dict) else None)
    return found if isinstance(found, str) and found else PEOPLE


def is_person(participant: dict[str, Any]) -> bool:
    return kind(participant) == PEOPLE


def recording_state(status: object) -> RecordingState:
    if not isinstance(status, str):
        return RecordingState("unknown", "none")
    label, tone = _RECORDING_STATES.get(status, (status.lower().removeprefix("egress_"), "none"))
    return RecordingState(label, tone)


def session_recording(recordings: list[dict[str, Any]]) -> RecordingState:
    """One word for a session's recordings: the one going on now, else how the last one ended."""
    if not recordings:
        return RecordingState("—", "none")
    states = [recording_state(r.get("status")) for r in recordings]
    active = [s for s in states if s.tone == "active"]
    return active[0] if active else states[-1]


def duration(seconds: float | None) -> str:
    """11m 45s, 2h 03m, 3d 4h: two units at most, so a glance is enough."""
    if seconds is None:
        return "—"
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s" if total else f"{seconds:.1f}s"


def moment(iso: str | None) -> datetime | None:
    if not iso:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)


def when(iso: str | None, now: datetime) -> str:
    """A time as a person reads it, in UTC: 09:40:02 today, Jun 10 09:40 this year, 2023-06-10 09:40 before."""
    at = moment(iso)
    if at is None:
        return "—"
    if at.date() == now.date():
        return at.strftime("%H:%M:%S")
    if at.year == now.year:
        return at.strftime("%b %d %H:%M")
    return at.strftime("%Y-%m-%d %H:%M")


def size(count: int | None) -> str:
    """Bytes as a person reads them: 48.2 MB."""
    if count is None:
        return "—"
    units = ("B", "KB", "MB", "GB", "TB")
    power = 0
    while count >= 1000 ** (power + 1) and power < len(units) - 1:
        power += 1
    return f"{count} B" if power == 0 else f"{count / 1000**power:.1f} {units[power]}"


def people(session: dict[str, Any]) -> list[dict[str, Any]]:
    """The participant table's rows: each entry with its display name, what it published and subscribed to."""
    source, streams = str(session.get("source")), session.get("streams", [])
    rows = []
    for entry in session.get("participants", []):
        mine = [s for s in streams if s.get("participant") in (entry.get("id"), entry.get("identity"))]
        published = sorted({str(s.get("kind") or "stream").lower().replace("_", " ") for s in mine if _published(s)})
        details = entry.get("details") if isinstance(entry.get("details"), dict) else {}
        rows.append(
            {
                "entry": entry,
                "name": display_name(source, entry),
                "person": is_person(entry),
                "tag": KINDS.get(kind(entry), kind(entry).lower()),
                "published": published,
                "subscribed": sum(1 for s in mine if s.get("role") == "subscriber"),
                "platform": details.get("platform") if isinstance(details, dict) else None,
            }
        )
    return rows


def _published(stream: dict[str, Any]) -> bool:
    return stream.get("role") in ("publisher", "ingress")


def matches(session: dict[str, Any], query: str) -> bool:
    """Whether a search for `query` finds this session: by its id, room or a participant's name or identity."""
    needle = query.strip().casefold()
    if not needle:
        return True
    words = [session.get("key"), session.get("name")]
    for participant in session.get("participants", []):
        words += [participant.get("id"), participant.get("identity"), participant.get("name")]
        words.append(display_name(str(session.get("source")), participant))
    return any(isinstance(word, str) and needle in word.casefold() for word in words)
