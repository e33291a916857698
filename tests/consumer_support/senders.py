"""Whole sessions written as OpenVidu 2 and OpenVidu 3 (LiveKit) post them: every event's wire body, in order.

Bodies are the corpus's real ones (tests/corpus) with their fields replaced, so keys, key order and value types
stay what the senders write. Times are seconds from the session's start; ids come from a random seeded with the
session's name, so a session is the same on every run. The sessions themselves are in scenes.py.
"""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
PLATFORMS = (
    "Chrome 125.0.0.0 on Windows 10 64-bit",
    "Firefox 126.0 on Ubuntu 64-bit",
    "Safari 17.5 on OS X 10.15.7",
    "Chrome Mobile 125.0.0.0 on Android 14",
)


def _template(kind: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((CORPUS / kind / f"{name}.json").read_bytes())
    return data


class Ids:
    """Random ids, the same for the same seed."""

    def __init__(self, seed: str) -> None:
        self.random = random.Random(seed)

    def __call__(self, prefix: str, length: int = 10) -> str:
        return prefix + "".join(self.random.choices(string.ascii_letters + string.digits, k=length))


class OpenViduSession:
    """An OpenVidu 2 session: connections, their WebRTC streams and recordings, sent as OpenVidu 2.32 does."""

    def __init__(self, session_id: str, start: float) -> None:
        self.session_id, self.start_ms = session_id, int(start * 1000)
        self.unique = f"{session_id}_{self.start_ms}"
        self.ids = Ids(session_id)
        self.events: list[tuple[int, dict[str, Any]]] = []
        self.joined: dict[str, tuple[int, dict[str, Any]]] = {}
        self.streams: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self._add("sessionCreated", 0, {})

    def join(self, name: str, at: float, *, platform: int = 0) -> str:
        connection = self.ids("con_")
        fields = {
            "participantId": connection,
            "connectionId": connection,
            "location": "unknown",
            "ip": f"10.0.{len(self.joined) // 250}.{len(self.joined) % 250 + 2}",
            "platform": PLATFORMS[platform % len(PLATFORMS)],
            "clientData": orjson.dumps({"clientData": name}).decode(),
            "serverData": orjson.dumps({"userId": 1000 + len(self.joined)}).decode(),
        }
        self.joined[connection] = (self._ms(at), self._add("participantJoined", at, fields))
        return connection

    def publish(self, connection: str, at: float, source: str = "CAMERA") -> str:
        stream = f"str_{source[:3]}_{self.ids('', 4)}_{connection}"
        fields = {
            "streamId": stream,
            "participantId": connection,
            "connectionId": connection,
            "connection": "OUTBOUND",
            "videoSource": source,
            "videoFramerate": 30,
            "videoDimensions": '{"width":1280,"height":720}',
            "audioEnabled": source == "CAMERA",
            "videoEnabled": True,
        }
        self.streams[(stream, connection)] = (self._ms(at), self._add("webrtcConnectionCreated", at, fields))
        return stream

    def subscribe(self, connection: str, stream: str, at: float) -> None:
        publisher = "con_" + stream.rsplit("_con_", 1)[1]
        _, published = self.streams[(stream, publisher)]
        media = ("videoSource", "videoFramerate", "videoDimensions", "audioEnabled", "videoEnabled")
        fields = {
            "streamId": stream,
            "participantId": connection,
            "connectionId": connection,
            "connection": "INBOUND",
            "receivingFrom": publisher,
        } | {k: published[k] for k in media}
        self.streams[(stream, connection)] = (self._ms(at), self._add("webrtcConnectionCreated", at, fields))

    def unpublish(self, stream: str, connection: str, at: float, reason: str = "unpublish") -> None:
        started, created = self.streams.pop((stream, connection))
        self._add("webrtcConnectionDestroyed", at, self._ended(created, started, at, reason))

    def leave(self, connection: str, at: float, reason: str = "disconnect") -> None:
        """As OpenVidu does: each stream of the connection (and each subscription to them) ends first."""
        for stream, owner in list(self.streams):
            _, created = self.streams[(stream, owner)]
            if owner == connection or created.get("receivingFrom") == connection:
                self.unpublish(stream, owner, at, "disconnect" if owner == connection else "unsubscribe")
        started, joined = self.joined.pop(connection)
        self._add("participantLeft", at, self._ended(joined, started, at, reason))

    def record(self, start: float, stop: float | None, *, status: str = "ready", name: str | None = None) -> None:
        recordings = {e["id"] for _, e in self.events if e["event"] == "recordingStatusChanged"}
        recording = f"{self.session_id}~{len(recordings)}" if recordings else self.session_id
        template = _template("events", "recordingStatusChanged")
        media = {k: template[k] for k in list(template)[_media(template)]}
        base = {"startTime": self._ms(start), "duration": 0.0, "id": recording, "name": name or recording} | media
        self._add("recordingStatusChanged", start, base | {"size": 0, "status": "started"})
        if stop is None:
            return
        seconds = round(stop - start - 0.4, 3)
        done = base | {"duration": seconds, "reason": "recordingStoppedByServer", "size": int(seconds * 80_000)}
        self._add("recordingStatusChanged", stop, _reordered(done, "stopped"))
        self._add("recordingStatusChanged", stop + 2.5, _reordered(done, status))

    def destroy(self, at: float, reason: str = "lastParticipantLeft") -> None:
        for connection in list(self.joined):
            self.leave(connection, at - 0.5)
        fields = {"startTime": self.start_ms, "duration": int(at), "reason": reason}
        self._add("sessionDestroyed", at, fields)

    def bodies(self) -> list[bytes]:
        return [orjson.dumps(body) for _, body in sorted(self.events, key=lambda pair: pair[0])]

    def _ms(self, at: float) -> int:
        return self.start_ms + int(at * 1000)

    def _add(self, event: str, at: float, fields: dict[str, Any]) -> dict[str, Any]:
        body = {"sessionId": self.session_id, "uniqueSessionId": self.unique, "timestamp": self._ms(at)}
        body |= {k: v for k, v in fields.items() if k != "event"} | {"event": event}
        self.events.append((self._ms(at), body))
        return body

    def _ended(self, created: dict[str, Any], started: int, at: float, reason: str) -> dict[str, Any]:
        rest = {k: v for k, v in created.items() if k not in ("sessionId", "uniqueSessionId", "timestamp", "event")}
        return {"startTime": started, "duration": (self._ms(at) - started) // 1000, "reason": reason} | rest


def _media(recording: dict[str, Any]) -> slice:
    """Where the media fields (outputMode … hasVideo) sit in a recordingStatusChanged body."""
    keys = list(recording)
    return slice(keys.index("outputMode"), keys.index("size"))


def _reordered(recording: dict[str, Any], status: str) -> dict[str, Any]:
    """The wire order of an ended recording: startTime, duration, reason, id, name, media, size, status."""
    first = {k: recording[k] for k in ("startTime", "duration", "reason", "id", "name")}
    return first | {k: v for k, v in recording.items() if k not in first} | {"status": status}


class LiveKitRoom:
    """An OpenVidu 3 (LiveKit) room: participants, their tracks and egresses, as LiveKit's webhooks carry them."""

    def __init__(self, name: str, start: float) -> None:
        self.name, self.start = name, start
        self.ids = Ids(name)
        self.sid = self.ids("RM_", 12)
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.present: dict[str, dict[str, Any]] = {}
        self.tracks: dict[str, list[dict[str, Any]]] = {}
        room = _template("livekit-events", "room_started")["room"]
        self.room = room | {
            "sid": self.sid,
            "name": name,
            "creationTime": str(int(start)),
            "creationTimeMs": str(int(start * 1000)),
        }
        self._add("room_started", 0, {"room": self._room(0)})

    def join(self, identity: str, name: str, at: float, *, kind: str | None = None) -> None:
        joined = self.start + at
        who: dict[str, Any] = {
            "sid": self.ids("PA_", 12),
            "identity": identity,
            "state": "ACTIVE",
            "joinedAt": str(int(joined)),
            "joinedAtMs": str(int(joined * 1000)),
            "name": name,
            "version": 3,
            "permission": {"canSubscribe": True, "canPublish": True, "canPublishData": True},
        }
        if kind is not None:
            who |= {"kind": kind}
        self.present[identity] = who
        self.tracks[identity] = []
        self._add("participant_joined", at, {"room": self._room(at), "participant": who})

    def publish(self, identity: str, at: float, source: str = "CAMERA") -> None:
        track: dict[str, Any] = {"sid": self.ids("TR_", 12)}
        if source in ("CAMERA", "SCREEN_SHARE"):
            track |= {
                "type": "VIDEO",
                "name": source.lower(),
                "width": 1280,
                "height": 720,
                "source": source,
                "mimeType": "video/VP8",
            }
        else:  # AUDIO is the zero value of the track type: protojson leaves it out
            track |= {"source": source, "mimeType": "audio/red"}
        self.tracks[identity].append(track)
        self._add("track_published", at, {"room": self._short(), "participant": self._who(identity), "track": track})

    def unpublish(self, identity: str, at: float, source: str) -> None:
        track = next(t for t in self.tracks[identity] if t["source"] == source)
        self.tracks[identity].remove(track)
        self._add("track_unpublished", at, {"room": self._short(), "participant": self._who(identity), "track": track})

    def leave(self, identity: str, at: float, reason: str = "CLIENT_INITIATED") -> None:
        """As LiveKit does: every track still published gets its own track_unpublished, then participant_left."""
        for track in list(self.tracks[identity]):
            self.unpublish(identity, at - 0.2, track["source"])
        who = self.present.pop(identity) | {"state": "DISCONNECTED", "disconnectReason": reason}
        self._add("participant_left", at, {"room": self._room(at), "participant": who})

    def abort(self, identity: str, name: str, at: float) -> None:
        """Someone whose connection never came up: participant_connection_aborted, JOIN_FAILURE."""
        self.join(identity, name, at)
        self.events.pop()  # no participant_joined is sent for a connection that never became active
        who = self.present.pop(identity) | {"state": "DISCONNECTED", "disconnectReason": "JOIN_FAILURE"}
        self._add("participant_connection_aborted", at + 12, {"room": self._room(at), "participant": who})

    def record(self, start: float, stop: float | None, *, status: str = "EGRESS_COMPLETE") -> None:
        """A room composite egress to an MP4 file, with its hidden EGRESS participant."""
        egress_id, file = self.ids("EG_", 12), f"{self.name}/{self.name}-{self._stamp(start)}.mp4"
        composite = {
            "roomName": self.name,
            "layout": "grid",
            "fileOutputs": [{"fileType": "MP4", "filepath": f"{self.name}/{{room_name}}-{{time}}.mp4"}],
        }
        info: dict[str, Any] = {"egressId": egress_id, "roomId": self.sid, "roomName": self.name}
        self._add(
            "egress_started",
            start,
            {"room": self._short(), "egressInfo": info | {"updatedAt": self._ns(start), "roomComposite": composite}},
        )
        active = info | {
            "status": "EGRESS_ACTIVE",
            "startedAt": self._ns(start + 2.5),
            "updatedAt": self._ns(start + 2.5),
            "roomComposite": composite,
            "fileResults": [{"filename": file, "startedAt": self._ns(start + 2.5)}],
        }
        self._add("egress_updated", start + 2.5, {"room": self._short(), "egressInfo": active})
        self.join(egress_id, "", start + 1.5, kind="EGRESS")
        self.present[egress_id].pop("name")  # an egress participant has no name
        if stop is None:
            return
        self.leave(egress_id, stop)
        seconds = stop - start - 2.5
        result = {
            "filename": file,
            "startedAt": self._ns(start + 2.5),
            "endedAt": self._ns(stop),
            "duration": str(int(seconds * 1e9)),
            "size": str(int(seconds * 80_000)),
            "location": f"https://openvidu.example.com/openvidu-appdata/{file}",
        }
        ended = info | {
            "status": status,
            "startedAt": self._ns(start + 2.5),
            "endedAt": self._ns(stop),
            "updatedAt": self._ns(stop),
            "roomComposite": composite,
            "fileResults": [result],
        }
        if status != "EGRESS_COMPLETE":
            ended["error"] = "Start signal not received"
        self._add("egress_ended", stop + 1, {"room": self._short(), "egressInfo": ended})

    def finish(self, at: float) -> None:
        for identity in list(self.present):
            self.leave(identity, at - 20)
        self._add("room_finished", at, {"room": self._room(at)})

    def bodies(self) -> list[bytes]:
        return [orjson.dumps(body) for _, body in sorted(self.events, key=lambda pair: pair[0])]

    def _add(self, event: str, at: float, fields: dict[str, Any]) -> None:
        created = self.start + at
        self.events.append(
            (created, {"event": event, **fields, "id": self.ids("EV_", 12), "createdAt": str(int(created))})
        )

    def _room(self, at: float) -> dict[str, Any]:
        people = sum(1 for who in self.present.values() if "kind" not in who)
        version = {"version": {"unixMicro": str(int((self.start + at) * 1e6))}}
        room = {k: v for k, v in self.room.items() if k != "version"}
        return room | ({"numParticipants": people} if people else {}) | version

    def _short(self) -> dict[str, Any]:
        return {"sid": self.sid, "name": self.name}

    def _who(self, identity: str) -> dict[str, Any]:
        return {"sid": self.present[identity]["sid"], "identity": identity}

    def _ns(self, at: float) -> str:
        return str(int((self.start + at) * 1e9))

    def _stamp(self, at: float) -> str:
        return datetime.fromtimestamp(self.start + at, UTC).strftime("%Y-%m-%dT%H%M%S")
