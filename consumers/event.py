"""The event a handler receives: the same fields for OpenVidu 2 and OpenVidu 3 (LiveKit) events."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

import aio_pika
import orjson
from aio_pika.abc import AbstractIncomingMessage

from consumers import livekit

Source = Literal["openvidu", "livekit"]

# Headers the consumers library adds when it moves a message to a retry or dead-letter queue: the routing key
# is lost on the way (those queues are addressed by name), so the event type travels in a header.
EVENT_TYPE = "x-event-type"
ATTEMPT = "x-attempt"
LAST_ERROR = "x-last-error"
# The bridge's session key (README, AMQP contract): what `order="session"` keeps in order, and partitions hash on.
SESSION = "x-session"
# Headers the broker adds on dead-lettering and redelivery; a moved message starts without them.
BROKER_HEADERS = ("x-death", "x-first-death-", "x-last-death-", "x-delivery-count")


def moved_copy(
    message: AbstractIncomingMessage, headers: dict[str, Any], drop: tuple[str, ...] = ()
) -> aio_pika.Message:
    """A persistent copy of `message` to publish elsewhere (a retry or dead-letter queue, back from the dead
    letters): the broker's own dead-lettering headers are left behind, `drop` too, and `headers` set."""
    kept = {
        key: value
        for key, value in (message.headers or {}).items()
        if not key.startswith(BROKER_HEADERS) and key not in drop
    }
    return aio_pika.Message(
        message.body,
        headers=kept | headers,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        timestamp=message.timestamp,
        app_id=message.app_id,
    )


class BadMessage(ValueError):
    """The message is not an event (not a JSON object): no handler can ever succeed with it."""


@dataclasses.dataclass(frozen=True)
class Event:
    type: str  # the routing key: "sessionDestroyed", "room_finished", …
    data: dict[str, Any]  # the parsed JSON object
    body: bytes  # the exact bytes the sender posted
    message_id: str  # the bridge's idempotency key: the same event always has the same id
    attempt: int = 1  # 1 on first delivery, 2 on the first retry, …
    source: Source = "openvidu"
    received_at: datetime | None = None  # when the bridge accepted it

    @property
    def occurred_at(self) -> datetime | None:
        """When the sender says it happened: OpenVidu 2 `timestamp` (ms), LiveKit `createdAt` (s)."""
        if self.source == "livekit":
            return livekit.seconds_time(self.data.get("createdAt"))
        return livekit.ms_time(self.data.get("timestamp"))

    @property
    def session_id(self) -> str | None:
        """OpenVidu 2 `sessionId`, or the LiveKit room name (OpenVidu 3 calls a room a session)."""
        if self.source == "livekit":
            room = self.room
            return room.name if room else None
        value = self.data.get("sessionId")
        return value if isinstance(value, str) else None

    @property
    def room(self) -> livekit.Room | None:
        return livekit.room(self.data)

    @property
    def participant(self) -> livekit.Participant | None:
        return livekit.participant(self.data)

    @property
    def track(self) -> livekit.Track | None:
        return livekit.track(self.data)

    @property
    def egress(self) -> livekit.Egress | None:
        return livekit.egress(self.data)


def parse_body(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadMessage("the body is not JSON") from None
    if not isinstance(data, dict):
        raise BadMessage("the body is not a JSON object")
    return data


def from_message(message: AbstractIncomingMessage, exchange: str) -> Event:
    headers = message.headers or {}
    data = parse_body(message.body)
    return Event(
        type=event_type(message, exchange, data),
        data=data,
        body=message.body,
        message_id=message.message_id or hashlib.sha256(message.body).hexdigest(),
        attempt=_positive(headers.get(ATTEMPT)),
        source="livekit" if headers.get("x-source") == "livekit" else "openvidu",
        received_at=_received_at(headers.get("x-received-at"), message.timestamp),
    )


def session_key(message: AbstractIncomingMessage) -> str:
    """The message's `x-session` header; for a message from a bridge that did not send one yet, the same key
    taken from the body (a body that is not JSON gets a key of its own: it goes straight to dead letters)."""
    key = (message.headers or {}).get(SESSION)
    if isinstance(key, str) and key:
        return key
    if isinstance(key, bytes) and key:
        return key.decode(errors="replace")
    try:
        data = parse_body(message.body)
    except BadMessage:
        return f"not an event: {message.message_id}"
    event = data.get("event")
    found = _room_name(data) if (message.headers or {}).get("x-source") == "livekit" else data.get("sessionId")
    if isinstance(found, str) and found:
        return found
    return event if isinstance(event, str) else ""


def _room_name(data: dict[str, Any]) -> object:
    # The bridge's rule (bridge/sessions.py), repeated: the two packages never import each other.
    for field, name in (("room", "name"), ("egressInfo", "roomName"), ("ingressInfo", "roomName")):
        value = data.get(field)
        if isinstance(value, dict) and isinstance(value.get(name), str) and value[name]:
            return value[name]
    return None


def event_type(message: AbstractIncomingMessage, exchange: str, data: dict[str, Any]) -> str:
    """The routing key when the message comes from the exchange; else what travelled with it."""
    if message.exchange == exchange and message.routing_key:
        return message.routing_key
    header = (message.headers or {}).get(EVENT_TYPE)
    if isinstance(header, str) and header:
        return header
    event = data.get("event")
    return event if isinstance(event, str) and event else (message.routing_key or "")


def _positive(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def _received_at(milliseconds: object, timestamp: datetime | None) -> datetime | None:
    if isinstance(milliseconds, int) and not isinstance(milliseconds, bool):
        return datetime.fromtimestamp(milliseconds / 1000, UTC)
    return timestamp
