"""The recording notifier: when a recording is ready or failed, POST a small JSON notification to a URL.

OpenVidu 2 `recordingStatusChanged` with status `ready` or `failed`, and OpenVidu 3 (LiveKit) `egress_ended`
(complete or limit reached: ready; failed or aborted: failed). A receiver that is down or answers other than
2xx gets the notification again on the consumer's retry schedule, then it waits in the dead letters for
`consumers dead … --requeue`: it is never dropped. Duplicate events are notified once; each POST carries an
`Idempotency-Key` header (the event's message_id) for a receiver that must be sure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from consumers.consumer import Consumer
from consumers.errors import ConfigError, Retry
from consumers.event import Event

_EGRESS_STATUS = {
    "EGRESS_COMPLETE": "ready",
    "EGRESS_LIMIT_REACHED": "ready",  # stopped at its time limit, but the file is there
    "EGRESS_FAILED": "failed",
    "EGRESS_ABORTED": "failed",
}


@dataclasses.dataclass(frozen=True)
class NotifierSettings:
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NotifierSettings:
        timeout = env.get("RECORDING_NOTIFY_TIMEOUT", "").strip()
        try:
            seconds = float(timeout) if timeout else cls.timeout
        except ValueError:
            raise ConfigError(f"RECORDING_NOTIFY_TIMEOUT must be seconds, got {timeout!r}") from None
        url = env.get("RECORDING_NOTIFY_URL", "").strip() or None
        if url is not None and urlsplit(url).scheme.lower() not in ("http", "https"):
            # Not the value itself: it may carry a token.
            raise ConfigError("RECORDING_NOTIFY_URL must start with http:// or https://")
        return cls(
            url=url,
            headers=_headers(env.get("RECORDING_NOTIFY_HEADERS", "").strip()),
            timeout=seconds,
        )


def notification(event: Event) -> dict[str, Any] | None:
    """The JSON to POST for `event`, or None when there is nothing to say yet."""
    data = event.data
    if event.type == "egress_ended" and (egress := event.egress) is not None:
        status = _EGRESS_STATUS.get(egress.status)
        durations = [f.duration_seconds for f in egress.files if f.duration_seconds is not None]
        sizes = [f.size for f in egress.files if f.size is not None]
        details: dict[str, Any] = {
            "session": egress.room_name,
            "recording_id": egress.egress_id,
            "name": egress.egress_id,
            "duration_seconds": max(durations) if durations else None,
            "size_bytes": sum(sizes) if sizes else None,
            "reason": egress.error,
            "files": list(egress.locations),
            "egress_status": egress.status,
        }
    elif event.type == "recordingStatusChanged":
        status = data.get("status") if data.get("status") in ("ready", "failed") else None
        details = {
            "session": data.get("sessionId"),
            "recording_id": data.get("id"),
            "name": data.get("name"),
            "duration_seconds": data.get("duration"),
            "size_bytes": data.get("size"),
            "reason": data.get("reason"),
            "files": [],  # OpenVidu 2 says where only through its REST API
        }
    else:
        return None
    if status is None:
        return None
    occurred = event.occurred_at
    return {
        "status": status,
        "source": event.source,
        "event": event.type,
        **details,
        "occurred_at": occurred.isoformat(timespec="milliseconds").replace("+00:00", "Z") if occurred else None,
        "message_id": event.message_id,
    }


class _Notifier:
    """The HTTP side: a client open while the consumer runs, one POST per notification."""

    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings
        self.client: httpx.AsyncClient | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        if not self.settings.url:
            raise ConfigError("RECORDING_NOTIFY_URL is not set: the recording notifier needs a URL to POST to")
        async with httpx.AsyncClient(timeout=self.settings.timeout, headers=dict(self.settings.headers)) as client:
            self.client = client
            try:
                yield
            finally:
                self.client = None

    async def notify(self, event: Event) -> None:
        payload = notification(event)
        if payload is None:
            return
        if self.client is None or self.settings.url is None:
            raise Retry("the notifier is not running (its lifespan opens the HTTP client)")
        target = httpx.URL(self.settings.url).host  # never the whole URL in a log line: it may carry a secret
        headers = {"Content-Type": "application/json", "Idempotency-Key": event.message_id}
        try:
            response = await self.client.post(self.settings.url, content=orjson.dumps(payload), headers=headers)
        except httpx.HTTPError as exc:
            raise Retry(f"POST to {target} failed: {type(exc).__name__}: {exc}") from None
        if not response.is_success:
            raise Retry(f"POST to {target} answered {response.status_code}")


def create_notifier(settings: NotifierSettings, name: str = "recording-notifier") -> Consumer:
    notifier = _Notifier(settings)
    consumer = Consumer(name, lifespan=notifier.running)
    consumer.on("recordingStatusChanged", "egress_ended", once=True)(notifier.notify)
    return consumer


def _headers(value: str) -> tuple[tuple[str, str], ...]:
    # The format of OPENVIDU_WEBHOOK_HEADERS: ["Authorization: Bearer abc"]. Errors never echo a value.
    if not value:
        return ()
    try:
        items = orjson.loads(value)
    except orjson.JSONDecodeError:
        items = None
    if not isinstance(items, list) or not all(isinstance(i, str) and ": " in i for i in items):
        raise ConfigError('RECORDING_NOTIFY_HEADERS must be a JSON array of "Name: value" strings')
    return tuple((name, header) for name, _, header in (item.partition(": ") for item in items))


notifier = create_notifier(NotifierSettings.from_env(os.environ))
