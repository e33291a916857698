"""Publishes the journal to RabbitMQ in order, with a bounded window of unconfirmed messages.

An entry leaves the journal only once the broker confirmed it. Any trouble (connection lost, a nack, a
confirm that does not come) ends the session: the next one starts again from the oldest unconfirmed entry,
so order is kept and nothing is skipped; what was in flight may arrive twice, with the same message_id.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import enum
import logging
import random
import time
from datetime import UTC, datetime
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractConnection
from aiormq.abc import DeliveredMessage
from pamqp import commands as spec

from bridge import topology
from bridge.journal import Journal
from bridge.metrics import Metrics
from bridge.reader import JournalReader
from bridge.records import Entry, Position
from bridge.settings import Settings

log = logging.getLogger(__name__)

APP_ID = "openvidu-webhook-bridge"


class BrokerState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BLOCKED = "blocked"
    DISCONNECTED = "disconnected"


_UP = (BrokerState.CONNECTED, BrokerState.BLOCKED)


class SessionEnded(Exception):
    """The broker session cannot go on; the reason is the message."""


@dataclasses.dataclass(slots=True)
class _Flight:
    end: Position
    task: asyncio.Task[Any]
    sent_at: float


class Publisher:
    def __init__(self, settings: Settings, journal: Journal, metrics: Metrics) -> None:
        self.settings = settings
        self.journal = journal
        self.metrics = metrics
        self.state = BrokerState.DISCONNECTED
        self._reader = JournalReader(journal, on_damage=metrics.damaged_bytes.inc)
        self._inflight: collections.deque[_Flight] = collections.deque()
        self._waiters: collections.deque[tuple[Position, asyncio.Future[None]]] = collections.deque()
        self._wake = asyncio.Event()
        self._released = asyncio.Event()
        journal.on_append = self._wake.set
        metrics.watch(metrics.broker_connected, lambda: float(self.state in _UP))
        metrics.watch(metrics.broker_blocked, lambda: float(self.state is BrokerState.BLOCKED))

    def confirmed(self, position: Position) -> asyncio.Future[None]:
        """A future that completes once the entry starting at `position` is confirmed (BRIDGE_ACK=confirm)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if position < self.journal.released:
            future.set_result(None)
        else:
            self._waiters.append((position, future))
        return future

    async def run(self) -> None:
        delay = 0.05
        while True:
            try:
                await self._session()
            except (SessionEnded, aiormq.exceptions.AMQPError, OSError, TimeoutError) as exc:
                self.metrics.reconnects.inc()
                log.warning(
                    "broker session ended (%s): %d events wait in the journal; reconnecting in %.1fs",
                    str(exc) or type(exc).__name__,
                    self.journal.pending,
                    delay,
                )
            except Exception:
                self.metrics.reconnects.inc()
                log.exception("unexpected error in the publisher; starting a new broker session")
            finally:
                self._rewind()
            if self.state is not BrokerState.DISCONNECTED:
                delay = 0.05  # we got as far as connecting: start the backoff afresh
            self.state = BrokerState.DISCONNECTED
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, 5.0)

    async def drain(self, within: float) -> None:
        """Wait, at most `within` seconds, until the broker confirmed every entry (while it is reachable)."""
        deadline = time.monotonic() + within
        while self.journal.pending and self.state is not BrokerState.DISCONNECTED:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._released.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, 0.5)):
                    await self._released.wait()

    async def _session(self) -> None:
        self.state = BrokerState.CONNECTING
        limit = self.settings.confirm_timeout  # a broker that accepts TCP but never answers must not hang us
        async with asyncio.timeout(limit):
            connection = await aio_pika.connect(
                self.settings.rabbitmq_url,
                timeout=limit,
                client_properties={"connection_name": f"{APP_ID} publisher"},
            )
        try:
            async with asyncio.timeout(limit):
                await topology.declare(connection, self.settings)
                channel = await connection.channel(publisher_confirms=True, on_return_raises=False)
                underlay = await channel.get_underlay_channel()
            self.state = BrokerState.CONNECTED
            log.warning("connected to the broker; %d events to publish from the journal", self.journal.pending)
            await self._pump(connection, underlay)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 2.0)

    async def _pump(self, connection: AbstractConnection, channel: aiormq.abc.AbstractChannel) -> None:
        lost: list[str] = []

        def on_close(*args: object) -> None:
            reason = next((a for a in args if isinstance(a, BaseException)), None)
            lost.append(str(reason) if reason else "connection closed")
            self._wake.set()

        connection.close_callbacks.add(on_close)
        while True:
            self._wake.clear()
            if lost or channel.is_closed:
                raise SessionEnded(lost[0] if lost else "channel closed")
            self._reap()
            self._fill(channel)
            timeout = self._stuck_for(connection)
            if not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()

    def _fill(self, channel: aiormq.abc.AbstractChannel) -> None:
        room = self.settings.publish_window - len(self._inflight)
        if room <= 0:
            return
        now = time.monotonic()
        for entry in self._reader.read(room):
            task = asyncio.ensure_future(
                channel.basic_publish(
                    entry.body,
                    exchange=self.settings.exchange,
                    routing_key=entry.routing_key,
                    properties=_properties(entry),
                    mandatory=True,
                )
            )
            task.add_done_callback(self._landed)
            self._inflight.append(_Flight(entry.end, task, now))

    def _landed(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled():
            task.exception()  # retrieved here; _reap raises it in order
        self._wake.set()

    def _reap(self) -> None:
        """Release the confirmed entries at the head of the window; end the session on the first failure."""
        count, upto, now = 0, None, time.monotonic()
        try:
            while self._inflight and self._inflight[0].task.done():
                flight = self._inflight[0]
                if flight.task.cancelled():
                    raise SessionEnded("publish cancelled")
                exc = flight.task.exception()
                if isinstance(exc, aiormq.exceptions.DeliveryError):
                    raise SessionEnded("the broker refused a message (nack)")
                if exc is not None:
                    raise exc
                if isinstance(flight.task.result(), DeliveredMessage):
                    self.metrics.returned.inc()
                    log.error("the broker returned an event as unroutable: is the alternate exchange missing?")
                self._inflight.popleft()
                self.metrics.confirm_seconds.observe(now - flight.sent_at)
                count, upto = count + 1, flight.end
        finally:
            if upto is not None:
                self._release(upto, count)

    def _release(self, upto: Position, count: int) -> None:
        self.journal.release(upto, count)
        self.metrics.published.inc(count)
        released = self.journal.released
        while self._waiters and self._waiters[0][0] < released:
            future = self._waiters.popleft()[1]
            if not future.done():
                future.set_result(None)
        self._released.set()

    def _stuck_for(self, connection: AbstractConnection) -> float | None:
        """How long to wait before looking again (None: until woken); ends the session when confirms stopped."""
        blocked = _blocked(connection)
        if blocked != (self.state is BrokerState.BLOCKED):
            self._blocked_changed(blocked)
        if blocked:
            return 1.0  # a blocked broker sends no frame we could wait on when it lifts the block
        if not self._inflight:
            return None
        age = time.monotonic() - self._inflight[0].sent_at
        if age < self.settings.confirm_timeout:
            return self.settings.confirm_timeout - age
        raise SessionEnded(f"no confirm from the broker for {age:.1f}s")

    def _blocked_changed(self, blocked: bool) -> None:
        if blocked:
            log.warning("the broker blocks publishers (memory or disk alarm); events wait in the journal")
            self.state = BrokerState.BLOCKED
            return
        log.warning("the broker unblocked publishers; %d events to publish", self.journal.pending)
        self.state = BrokerState.CONNECTED
        now = time.monotonic()
        for flight in self._inflight:  # the time spent blocked does not count against the confirm timeout
            flight.sent_at = now

    def _rewind(self) -> None:
        for flight in self._inflight:
            flight.task.cancel()
        self._inflight.clear()
        self._reader.seek(self.journal.released)

    def close(self) -> None:
        self._reader.close()
        for _, future in self._waiters:
            future.cancel()


def _properties(entry: Entry) -> spec.Basic.Properties:
    return spec.Basic.Properties(
        content_type="application/json",
        delivery_mode=2,
        message_id=entry.message_id,
        timestamp=datetime.fromtimestamp(entry.received_at_ms // 1000, UTC),
        app_id=APP_ID,
        headers={"x-source": entry.source.label, "x-received-at": entry.received_at_ms},
    )


def _blocked(connection: AbstractConnection) -> bool:
    # aiormq honours connection.blocked (it stops writing) but keeps the state in a private event.
    underlay = getattr(connection.transport, "connection", None)
    unblocked = getattr(underlay, "_Connection__connection_unblocked", None)
    return isinstance(unblocked, asyncio.Event) and not unblocked.is_set()
