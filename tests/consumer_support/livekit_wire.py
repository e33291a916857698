"""LiveKit webhooks built with LiveKit's own libraries, so that what the tests send is what LiveKit sends.

The events are livekit-protocol's WebhookEvent messages, written the way Go's protojson writes them (protobuf's
json_format: camelCase names, int64 as strings, enums by name, zero values left out), compact or with the space
after every comma and colon that some protojson builds write. Each is signed with livekit-api's AccessToken, and
livekit-api's WebhookReceiver must accept it (`genuine`), which is what proves the fixtures real.

The scenario is a recorded class: a teacher with a camera and a microphone, a phone caller, an agent and the
egress's hidden participant; the teacher leaves (each of her tracks then gets its own track_unpublished), the
room finishes, and the egress_ended, queued apart from room events, comes after room_finished with its file in
both `file` and `fileResults`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json

from google.protobuf import json_format
from livekit import api
from livekit.protocol import egress, models, webhook

from tests.consumer_support.webhooks import LIVEKIT_KEY, LIVEKIT_SECRET

T0 = 1718020000  # seconds: createdAt, creationTime and joinedAt are whole seconds
ROOM = models.Room(
    sid="RM_Rec0rdedCl4ss",
    name="recorded-class",
    empty_timeout=300,
    departure_timeout=20,
    creation_time=T0,
    creation_time_ms=T0 * 1000 + 123,
)
ROOM_REF = models.Room(sid=ROOM.sid, name=ROOM.name)  # all that track and egress events carry of the room
FILE = {
    "filename": "recorded-class/recorded-class-2024-06-10T120000.mp4",
    "location": "https://storage.example.com/recordings/recorded-class/recorded-class-2024-06-10T120000.mp4",
    "size": 73400320,
    "duration": 612_500_000_000,  # nanoseconds
}
EGRESS_ID = "EG_Cl4ssR3c0rd1ng"
Kind = models.ParticipantInfo.Kind


@dataclasses.dataclass(frozen=True)
class Webhook:
    name: str
    event: webhook.WebhookEvent
    body: bytes
    token: str


def participant(sid: str, identity: str, kind: int = Kind.STANDARD, joined: int = T0) -> models.ParticipantInfo:
    return models.ParticipantInfo(
        sid=sid,
        identity=identity,
        name=identity.title(),
        state=models.ParticipantInfo.State.ACTIVE,
        joined_at=joined,
        joined_at_ms=joined * 1000 + 42,
        kind=kind,  # type: ignore[arg-type]
    )


TEACHER = participant("PA_T34ch3r0000", "teacher", joined=T0 + 5)
RECORDER = participant("PA_Egr3ssH1dd3", EGRESS_ID, Kind.EGRESS, joined=T0 + 12)
AGENT = participant("PA_4g3ntN0t3s0", "agent-notes", Kind.AGENT, joined=T0 + 13)
CALLER = participant("PA_S1pC4ll3r00", "sip_+4930123456", Kind.SIP, joined=T0 + 14)
CAMERA = models.TrackInfo(
    sid="TR_C4m3r4000000",
    type=models.TrackType.VIDEO,
    source=models.TrackSource.CAMERA,
    width=1280,
    height=720,
    mime_type="video/VP8",
)
MICROPHONE = models.TrackInfo(  # AUDIO is the zero value: the body has no `type`
    sid="TR_M1cr0ph0n300",
    type=models.TrackType.AUDIO,
    source=models.TrackSource.MICROPHONE,
    mime_type="audio/opus",
)


def recording(status: int, ended: int | None = None) -> egress.EgressInfo:
    info = egress.EgressInfo(
        egress_id=EGRESS_ID,
        room_id=ROOM.sid,
        room_name=ROOM.name,
        status=status,  # type: ignore[arg-type]
        started_at=(T0 + 10) * 10**9 + 871203558,
        room_composite=egress.RoomCompositeEgressRequest(room_name=ROOM.name, layout="grid"),
    )
    if ended is not None:
        info.ended_at = ended * 10**9 + 54210771
        info.file_results.append(egress.FileInfo(**FILE))  # type: ignore[arg-type]
        info.file.CopyFrom(egress.FileInfo(**FILE))  # type: ignore[arg-type]  # the same file, deprecated field
    return info


def _left(who: models.ParticipantInfo, reason: int) -> models.ParticipantInfo:
    gone = models.ParticipantInfo()
    gone.CopyFrom(who)
    gone.state = models.ParticipantInfo.State.DISCONNECTED
    gone.disconnect_reason = reason  # type: ignore[assignment]
    return gone


def _publisher(who: models.ParticipantInfo) -> models.ParticipantInfo:
    return models.ParticipantInfo(sid=who.sid, identity=who.identity)  # all that track events carry of him


def scenario() -> list[Webhook]:
    """The recorded class, in the order LiveKit sends it."""
    leave = models.DisconnectReason.CLIENT_INITIATED
    plan: list[tuple[str, int, dict[str, object]]] = [
        ("room_started", T0, {"room": ROOM}),
        ("participant_joined", T0 + 5, {"room": ROOM, "participant": TEACHER}),
        ("egress_started", T0 + 10, {"room": ROOM_REF, "egress_info": recording(egress.EgressStatus.EGRESS_STARTING)}),
        ("participant_joined", T0 + 12, {"room": ROOM, "participant": RECORDER}),
        ("participant_joined", T0 + 13, {"room": ROOM, "participant": AGENT}),
        ("participant_joined", T0 + 14, {"room": ROOM, "participant": CALLER}),
        ("egress_updated", T0 + 15, {"room": ROOM_REF, "egress_info": recording(egress.EgressStatus.EGRESS_ACTIVE)}),
        ("track_published", T0 + 20, {"room": ROOM_REF, "participant": _publisher(TEACHER), "track": CAMERA}),
        ("track_published", T0 + 21, {"room": ROOM_REF, "participant": _publisher(TEACHER), "track": MICROPHONE}),
        ("participant_left", T0 + 600, {"room": ROOM, "participant": _left(TEACHER, leave)}),
        ("track_unpublished", T0 + 600, {"room": ROOM_REF, "participant": _publisher(TEACHER), "track": CAMERA}),
        ("track_unpublished", T0 + 600, {"room": ROOM_REF, "participant": _publisher(TEACHER), "track": MICROPHONE}),
        ("participant_left", T0 + 610, {"room": ROOM, "participant": _left(CALLER, leave)}),
        ("participant_left", T0 + 611, {"room": ROOM, "participant": _left(AGENT, leave)}),
        ("participant_left", T0 + 612, {"room": ROOM, "participant": _left(RECORDER, leave)}),
        ("room_finished", T0 + 620, {"room": ROOM}),
        (
            "egress_ended",
            T0 + 625,
            {"room": ROOM_REF, "egress_info": recording(egress.EgressStatus.EGRESS_COMPLETE, ended=T0 + 624)},
        ),
    ]
    found = []
    for number, (name, created, fields) in enumerate(plan):
        event = webhook.WebhookEvent(event=name, id=f"EV_Cl4ss{number:07d}", created_at=created, **fields)  # type: ignore[arg-type]
        found.append(signed(name, event, spaced=number % 2 == 1))
    return found


def signed(name: str, event: webhook.WebhookEvent, spaced: bool = False) -> Webhook:
    data = json_format.MessageToDict(event)
    body = json.dumps(data, separators=(", ", ": ") if spaced else (",", ":"), ensure_ascii=False).encode()
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    return Webhook(name, event, body, api.AccessToken(LIVEKIT_KEY, LIVEKIT_SECRET).with_sha256(digest).to_jwt())


def genuine(hook: Webhook) -> webhook.WebhookEvent:
    """What livekit-api's WebhookReceiver makes of the fixture; it raises unless the token and body verify."""
    return api.WebhookReceiver(api.TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET)).receive(hook.body.decode(), hook.token)
