"""Unit-testing a handler with a real OpenVidu event and no broker.

    from consumers.testing import deliver, sample

    async def test_bills_the_session() -> None:
        await bill(sample("sessionDestroyed", duration=42))           # the handler, called directly
        assert (await deliver(consumer, sample("sessionDestroyed"))).outcome.value == "ack"

`deliver` applies the consumer's own rules (handler lookup, once=True, Retry/Reject/exceptions, the retry
schedule) and returns the decision the worker would carry out on the broker.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from consumers import samples
from consumers.consumer import Consumer
from consumers.event import Event, Source, parse_body
from consumers.handling import Decision, Outcome, handle
from consumers.idempotency import MemoryStore, Store
from consumers.settings import Settings

__all__ = ["Decision", "Outcome", "deliver", "event", "sample"]


def event(
    body: bytes | str | Mapping[str, Any],
    *,
    attempt: int = 1,
    source: Source | None = None,
    message_id: str | None = None,
    received_at: datetime | None = None,
) -> Event:
    """The Event a handler would receive for `body`, with the ids the bridge would give it."""
    raw = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else orjson.dumps(body)
    data = parse_body(raw)
    event_type = data.get("event")
    if not isinstance(event_type, str) or not event_type:
        raise ValueError("an event body has an 'event' field naming its type")
    kind = source or ("livekit" if _looks_like_livekit(data) else "openvidu")
    if message_id is None:
        # As the bridge: LiveKit's own event id, else the SHA-256 of the exact bytes.
        livekit_id = data.get("id") if kind == "livekit" else None
        message_id = livekit_id if isinstance(livekit_id, str) else hashlib.sha256(raw).hexdigest()
    return Event(
        type=event_type,
        data=data,
        body=raw,
        message_id=message_id,
        attempt=attempt,
        source=kind,
        received_at=received_at or datetime.now(UTC),
    )


def sample(event_type: str, **fields: Any) -> Event:
    """A real body of `event_type` (OpenVidu 2 or LiveKit), with `fields` replacing or adding top-level keys."""
    body = samples.OPENVIDU.get(event_type) or samples.LIVEKIT.get(event_type)
    if body is None:
        known = ", ".join(sorted(samples.OPENVIDU) + sorted(samples.LIVEKIT))
        raise KeyError(f"no sample of {event_type!r}; there are: {known}")
    source: Source = "openvidu" if event_type in samples.OPENVIDU else "livekit"
    if fields:
        data = orjson.loads(body) | fields
        if source == "openvidu":
            data["event"] = data.pop("event")  # OpenVidu 2 writes it last
        body = orjson.dumps(data)
    return event(body, source=source)


async def deliver(
    consumer: Consumer,
    event: Event,
    *,
    retry_delays: tuple[float, ...] = Settings.retry_delays,
    store: Store | None = None,
) -> Decision:
    """What the consumer's rules make of `event`: ack, duplicate, retry (with its delay) or dead.

    once=True handlers remember ids in `store`: pass the same MemoryStore to two calls to test a duplicate.
    """
    return await handle(consumer, event, retry_delays, store or MemoryStore())


def _looks_like_livekit(data: dict[str, Any]) -> bool:
    return isinstance(data.get("id"), str) and "createdAt" in data
