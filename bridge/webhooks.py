"""What makes a webhook body acceptable, and the idempotency key of each event."""

from __future__ import annotations

import dataclasses
import hashlib
import re

import orjson

from bridge.records import Source
from bridge.sessions import session_key

# Event types become routing keys: dots, '*' and '#' would change routing, so only these are accepted.
EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
OPENVIDU_MEDIA_TYPE = b"application/json"
LIVEKIT_MEDIA_TYPE = b"application/webhook+json"


class Refused(Exception):
    """The request is answered `status` with a one-line `reason`, and nothing is published."""

    def __init__(self, status: int, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


@dataclasses.dataclass(frozen=True, slots=True)
class Accepted:
    event: str
    message_id: str
    source: Source
    session: str  # the x-session header, computed here where the body is parsed anyway


def source_of(content_type: bytes | None) -> Source:
    """OpenVidu 2 posts application/json; LiveKit (OpenVidu 3) posts application/webhook+json."""
    media_type = (content_type or b"").split(b";", 1)[0].strip().lower()
    if media_type == OPENVIDU_MEDIA_TYPE:
        return Source.OPENVIDU
    if media_type == LIVEKIT_MEDIA_TYPE:
        return Source.LIVEKIT
    raise Refused(415, "Content-Type must be application/json (OpenVidu) or application/webhook+json (LiveKit)")


def parse(body: bytes) -> dict[str, object]:
    if not body:
        raise Refused(400, "empty body: expected one JSON object")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, _not_json(body, exc)) from None
    if not isinstance(data, dict):
        raise Refused(400, "body must be a JSON object")
    return data


def _not_json(body: bytes, exc: orjson.JSONDecodeError) -> str:
    # orjson calls bytes that are not UTF-8 "surrogates not allowed": say what is wrong in plain words.
    try:
        body.decode()
    except UnicodeDecodeError as bad:
        return f"body is not valid UTF-8 (byte {bad.start}: {body[bad.start : bad.start + 1]!r})"
    return f"body is not valid JSON: {exc}"


def event_of(data: dict[str, object]) -> str:
    event = data.get("event")
    if event is None:
        raise Refused(400, 'body has no "event"')
    if not isinstance(event, str) or EVENT_NAME.fullmatch(event) is None:
        raise Refused(400, '"event" must be a string of at most 64 letters, digits and _, starting with a letter')
    return event


def accept_openvidu(body: bytes) -> Accepted:
    # OpenVidu 2 events carry no id; the same bytes (OpenVidu resends them unchanged) get the same key.
    data = parse(body)
    event = event_of(data)
    return Accepted(event, hashlib.sha256(body).hexdigest(), Source.OPENVIDU, session_key(data, event, livekit=False))
