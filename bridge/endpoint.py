"""The webhook endpoint: a raw ASGI app, because it is the hot path and every microsecond is OpenVidu's throughput."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from starlette.types import Message, Receive, Scope, Send

from bridge.auth import HeaderAuth
from bridge.journal import JournalFull, JournalRefused
from bridge.livekit import LiveKitVerifier
from bridge.metrics import event_label
from bridge.records import Source
from bridge.webhooks import Accepted, Refused, accept_openvidu, source_of

if TYPE_CHECKING:
    from bridge.app import Ingress

log = logging.getLogger(__name__)

_RETRY_AFTER = 5


class WebhookEndpoint:
    def __init__(self, ingress: Ingress) -> None:
        self.ingress = ingress
        settings = ingress.settings
        self.auth = HeaderAuth(settings.webhook_headers)
        self.open = settings.allow_unauthenticated and not self.auth  # OpenVidu 2 events from anyone, by opt-in
        self.livekit = LiveKitVerifier(settings.livekit_keys)
        self.events = settings.webhook_events
        self.limit = settings.max_body_bytes
        self.body_timeout = settings.body_timeout
        self.confirm = settings.ack == "confirm"
        self.fsync_always = settings.journal_fsync == "always"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        accepted: Accepted | None = None
        outcome = "accepted"
        close = False
        try:
            accepted, body = await self._read_event(scope, receive)
            if self.events is not None and accepted.event not in self.events:
                outcome = "filtered"
                self.ingress.metrics.filtered.labels(event_label(accepted.event)).inc()
            else:
                await self._keep(accepted, body)
            status, reason, retry_after = 200, "", None
        except Refused as refused:
            status, reason, retry_after, outcome = refused.status, refused.reason, refused.retry_after, "refused"
            # Refused before reading the whole body: close rather than let uvicorn read and discard the rest.
            close = accepted is None and status in (401, 408, 413, 415)
        except Exception:
            log.exception("unexpected failure while accepting a webhook: answered 503 so the sender can retry")
            status, reason, retry_after, outcome = 503, "internal error", _RETRY_AFTER, "failed"
        await _respond(send, status, reason, retry_after, close)
        seconds = time.perf_counter() - started
        self.ingress.metrics.observe(status, accepted.event if accepted else "", seconds)
        _log_request(status, accepted, outcome, int(seconds * 1_000_000), reason)

    async def _read_event(self, scope: Scope, receive: Receive) -> tuple[Accepted, bytes]:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        source = source_of(_header(headers, b"content-type"))
        if source is Source.OPENVIDU and not self.open:
            if not self.auth:
                raise Refused(401, "unauthorized: this bridge has no BRIDGE_WEBHOOK_HEADERS to check OpenVidu 2 events")
            if problem := self.auth.problem(headers):
                raise Refused(401, f"unauthorized: {problem}")
        length = _header(headers, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            raise Refused(413, f"body larger than {self.limit} bytes")
        body = await _read_body(receive, self.limit, self.body_timeout)
        if source is Source.LIVEKIT:
            return self.livekit.accept(body, _header(headers, b"authorization")), body
        return accept_openvidu(body), body

    async def _keep(self, accepted: Accepted, body: bytes) -> None:
        """Journal the event (and, by configuration, fsync it or wait for the broker) before the 200."""
        ingress = self.ingress
        received_at_ms = time.time_ns() // 1_000_000
        try:
            position = ingress.journal.append(
                accepted.event, accepted.message_id, accepted.source, received_at_ms, body, accepted.session
            )
        except JournalFull:
            raise Refused(503, "the journal is full (is the broker down?): retry later", _RETRY_AFTER) from None
        except JournalRefused:
            raise Refused(503, "the journal cannot be written: retry later", _RETRY_AFTER) from None
        if self.fsync_always:
            try:
                await ingress.syncer.flushed()
            except OSError:
                raise Refused(503, "the journal cannot be synced to disk: retry later", _RETRY_AFTER) from None
        if self.confirm:
            try:
                await asyncio.wait_for(ingress.publisher.confirmed(position), ingress.settings.confirm_timeout)
            except TimeoutError:
                raise Refused(503, "the broker did not confirm in time: retry later", _RETRY_AFTER) from None
        elif ingress.draining:
            # Shutting down: the load balancer is about to send this sender's next event to another instance.
            # Answering once this one is at the broker puts the next one, wherever it goes, after it. It is
            # journaled already, so a broker that does not confirm in time still gets a 200, only later.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ingress.publisher.confirmed(position), ingress.settings.confirm_timeout)


def _log_request(status: int, accepted: Accepted | None, outcome: str, micros: int, reason: str) -> None:
    # Refusals an operator must act on (credentials, capacity) stand out; bad input is routine.
    level = logging.WARNING if status in (401, 503) else logging.INFO
    if not log.isEnabledFor(level):
        return
    event, message_id = (accepted.event, accepted.message_id) if accepted else ("-", None)
    log.log(
        level,
        "%d %s %s %s %dus%s",
        status,
        event,
        message_id or "-",
        outcome,
        micros,
        f" ({reason})" if reason else "",
        extra={
            "status": status,
            "event": event,
            "message_id": message_id,
            "outcome": outcome,
            "duration_us": micros,
            "reason": reason or None,
        },
    )


async def _read_body(receive: Receive, limit: int, within: float) -> bytes:
    """The whole body, or a 413 as soon as it passes `limit`: a client streaming a gigabyte costs us `limit`."""
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        body: bytes = message.get("body", b"")  # the usual case: one chunk, already here
        if len(body) > limit:
            raise Refused(413, f"body larger than {limit} bytes")
        return body
    try:
        async with asyncio.timeout(within):  # a trickled body must not hold the request open for ever
            return await _read_chunks(receive, message, limit)
    except TimeoutError:
        raise Refused(408, f"body not received within {within:g}s") from None


async def _read_chunks(receive: Receive, message: Message, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise Refused(400, "client disconnected before sending the whole body")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
        message = await receive()


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


async def _respond(send: Send, status: int, reason: str, retry_after: int | None, close: bool) -> None:
    body = f"{reason}\n".encode() if reason else b""
    headers = [(b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    if body:
        headers.append((b"content-type", b"text/plain; charset=utf-8"))
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
