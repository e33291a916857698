"""Typed views of the LiveKit (OpenVidu 3) shapes handlers need most: room, participant, track, egress.

LiveKit sends protobuf JSON: int64 values arrive as strings, enum values as names, and zero values are left
out (an audio track has no `type`, a just-created egress no `status`). These views put the zero values back
and turn times into aware datetimes, so handlers do not each relearn those rules.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any


@dataclasses.dataclass(frozen=True)
class Room:
    sid: str | None  # absent from ingress events, which name the room only
    name: str


@dataclasses.dataclass(frozen=True)
class Participant:
    sid: str
    identity: str
    name: str
    state: str
    metadata: str
    joined_at: datetime | None
    disconnect_reason: str | None
    kind: str = "STANDARD"  # the zero value, so absent for most; INGRESS, EGRESS, SIP, AGENT, CONNECTOR, …

    @property
    def person(self) -> bool:
        """False for the participants of other kinds: a recorder, an ingress feed, an agent, a SIP line, …"""
        return self.kind == PERSON


@dataclasses.dataclass(frozen=True)
class Track:
    sid: str
    type: str  # AUDIO (the zero value, so often absent), VIDEO or DATA
    source: str
    name: str
    mime_type: str


@dataclasses.dataclass(frozen=True)
class EgressFile:
    filename: str
    location: str | None
    size: int | None
    duration_seconds: float | None


@dataclasses.dataclass(frozen=True)
class Egress:
    egress_id: str
    room_name: str
    room_sid: str | None
    status: str  # EGRESS_STARTING (absent) … EGRESS_COMPLETE, EGRESS_FAILED, EGRESS_ABORTED, EGRESS_LIMIT_REACHED
    started_at: datetime | None
    ended_at: datetime | None
    error: str | None
    files: tuple[EgressFile, ...]
    playlists: tuple[str, ...]  # HLS playlist locations of segmented outputs

    @property
    def ended(self) -> bool:
        return self.status in ENDED_EGRESS

    @property
    def locations(self) -> tuple[str, ...]:
        """Where the output ended up: each file's location (its filename when storage gave none), then playlists."""
        return tuple(f.location or f.filename for f in self.files) + self.playlists


ENDED_EGRESS = frozenset({"EGRESS_COMPLETE", "EGRESS_FAILED", "EGRESS_ABORTED", "EGRESS_LIMIT_REACHED"})
# The participant kind of a person in the room. A room being recorded has a hidden EGRESS participant that joins
# and leaves like anyone; agents, SIP lines, ingresses and connectors have kinds of their own.
PERSON = "STANDARD"


def room(data: dict[str, Any]) -> Room | None:
    value = _object(data, "room")
    if value is None or not isinstance(value.get("name"), str):
        return None
    return Room(sid=_str_or_none(value, "sid"), name=value["name"])


def participant(data: dict[str, Any]) -> Participant | None:
    value = _object(data, "participant")
    if value is None or not isinstance(value.get("sid"), str):
        return None
    return Participant(
        sid=value["sid"],
        identity=_str(value, "identity"),
        name=_str(value, "name"),
        state=_str(value, "state") or "JOINING",
        metadata=_str(value, "metadata"),
        joined_at=ms_time(value.get("joinedAtMs")) or seconds_time(value.get("joinedAt")),
        disconnect_reason=_str_or_none(value, "disconnectReason"),
        kind=_str(value, "kind") or "STANDARD",
    )


def track(data: dict[str, Any]) -> Track | None:
    value = _object(data, "track")
    if value is None or not isinstance(value.get("sid"), str):
        return None
    return Track(
        sid=value["sid"],
        type=_str(value, "type") or "AUDIO",
        source=_str(value, "source") or "UNKNOWN",
        name=_str(value, "name"),
        mime_type=_str(value, "mimeType"),
    )


def egress(data: dict[str, Any]) -> Egress | None:
    value = _object(data, "egressInfo")
    if value is None or not isinstance(value.get("egressId"), str):
        return None
    results = [r for r in _list(value, "fileResults") if isinstance(r, dict)]
    # The deprecated single `file`: older egress versions fill it instead of fileResults, newer ones (since 2023)
    # fill both with the same file, which must count once.
    single = value.get("file")
    if isinstance(single, dict) and not any(_same_file(single, r) for r in results):
        results.append(single)
    return Egress(
        egress_id=value["egressId"],
        room_name=_str(value, "roomName"),
        room_sid=_str_or_none(value, "roomId"),
        status=_str(value, "status") or "EGRESS_STARTING",
        started_at=ns_time(value.get("startedAt")),
        ended_at=ns_time(value.get("endedAt")),
        error=_str_or_none(value, "error"),
        files=tuple(_file(r) for r in results),
        playlists=tuple(
            r["playlistLocation"]
            for r in _list(value, "segmentResults")
            if isinstance(r, dict) and isinstance(r.get("playlistLocation"), str)
        ),
    )


def _same_file(one: dict[str, Any], other: dict[str, Any]) -> bool:
    return any(_str(one, key) and _str(one, key) == _str(other, key) for key in ("filename", "location"))


def _file(result: dict[str, Any]) -> EgressFile:
    duration = _int(result.get("duration"))
    return EgressFile(
        filename=_str(result, "filename"),
        location=_str_or_none(result, "location"),
        size=_int(result.get("size")),
        duration_seconds=duration / 1e9 if duration is not None else None,
    )


def seconds_time(value: object) -> datetime | None:
    number = _int(value)
    return datetime.fromtimestamp(number, UTC) if number else None


def ms_time(value: object) -> datetime | None:
    number = _int(value)
    return datetime.fromtimestamp(number / 1000, UTC) if number else None


def ns_time(value: object) -> datetime | None:
    number = _int(value)
    return datetime.fromtimestamp(number / 1e9, UTC) if number else None


def _int(value: object) -> int | None:
    # protojson writes int64 as strings and int32 as numbers; accept both.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _object(data: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = data.get(key)
    return value if isinstance(value, dict) else None


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _str_or_none(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None
