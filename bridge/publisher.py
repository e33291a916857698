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

import aio_pika
import aiormq
from aio_pika.abc import AbstractConnection

from bridge import addresses, topology
from bridge.confirms import ConfirmedChannel, publishers_blocked
from bridge.frames import APP_ID
from bridge.journal import Journal
from bridge.metrics import Metrics
from bridge.outage import Outage
from bridge.reader import JournalReader
from bridge.records import Entry, Position
from bridge.settings import Settings

log = logging.getLogger(__name__)


class BrokerState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BLOCKED = "blocked"
    DISCONNECTED = "disconnected"


_UP = (BrokerState.CONNECTED, BrokerState.BLOCKED)


class SessionEnded(Exception):
    """The broker session cannot go on; the reason is the message."""


BATCH = 64  # while earlier messages await their confirm, wait for this many before sending more
SLICE = 128  # entries read and sent per turn of the event loop: a big backlog must not stall requests
LINGER = 0.001  # with nothing in flight, wait this long for company before sending fewer than BATCH
MIN_BACKOFF, MAX_BACKOFF = 0.05, 2.0
# What a broker going away looks like from aiormq (a peer that hangs up mid-handshake ends an iteration).
BROKER_TROUBLE = (SessionEnded, aiormq.exceptions.AMQPError, OSError, TimeoutError, StopAsyncIteration, EOFError)
WATCHDOG = 0.5  # how often the pump looks at confirm age and broker blocks when nothing else wakes it
MAX_INFLIGHT_BYTES = 16 << 20  # with large bodies, the window is bounded by bytes before it is by count


@dataclasses.dataclass(slots=True)
class _Flight:
    tag: int
    end: Position
    sent_at: float
    size: int


class Publisher:
    def __init__(self, settings: Settings, journal: Journal, metrics: Metrics) -> None:
        self.settings = settings
        self.journal = journal
        self.metrics = metrics
        self.state = BrokerState.DISCONNECTED
        self._addresses = addresses.Addresses.from_setting(settings.rabbitmq_url)
        self.node = ""  # host:port of the node of the current (or last) session
        self._progressed = False  # the current session had at least one event confirmed
        self.declarations = 0  # the topology is declared once per process, then checked (declared again if gone)
        self._reader = JournalReader(journal, on_damage=metrics.damaged_bytes.inc)
        self._inflight: collections.deque[_Flight] = collections.deque()
        self._inflight_bytes = 0
        self._staged: list[Entry] = []  # read from the journal, not sent yet
        self._staged_at = 0.0
        self._linger: asyncio.TimerHandle | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._linger_for = LINGER if settings.ack == "journal" else 0.0  # confirm mode: a request is waiting
        self.outage = Outage()
        self._waiters: collections.deque[tuple[Position, asyncio.Future[None]]] = collections.deque()
        self._wake = asyncio.Event()
        self._released = asyncio.Event()
        journal.on_append = self._appended
        metrics.watch(metrics.broker_connected, lambda: float(self.state in _UP))
        metrics.watch(metrics.broker_blocked, lambda: float(self.state is BrokerState.BLOCKED))

    def _appended(self, entry: Entry) -> None:
        self._reader.appended(entry)
        self._wake.set()

    def confirmed(self, position: Position) -> asyncio.Future[None]:
        """A future that completes once the entry starting at `position` is confirmed (BRIDGE_ACK=confirm)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if position < self.journal.released:
            future.set_result(None)
        else:
            self._waiters.append((position, future))
        return future

    async def run(self) -> None:
        delay = MIN_BACKOFF
        while True:
            refused = False
            try:
                await self._session()
            except BROKER_TROUBLE as exc:
                reason = str(exc) or type(exc).__name__
                refused = isinstance(exc, aiormq.exceptions.ProbableAuthenticationError)
            except Exception as exc:
                log.exception("unexpected error in the publisher; starting a new broker session")
                reason = type(exc).__name__
            finally:
                # A session that had events in flight and got none confirmed (a broker without a quorum nacks or
                # never confirms) was not working: keep backing off instead of reconnecting at once every time.
                stuck = bool(self._inflight) and not self._progressed
                self._rewind()
            if self.state in _UP and not stuck:
                delay = MIN_BACKOFF  # it was working: try again soon
            self._lost(reason, refused, delay)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, MAX_BACKOFF)

    def _lost(self, reason: str, refused: bool, delay: float) -> None:
        self.metrics.reconnects.inc()
        self.outage.failed(reason, refused, self.state in _UP, delay, self.journal.pending)
        self.state = BrokerState.DISCONNECTED

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
        url = self._addresses.take()
        self.node = self.outage.node = addresses.node(url)
        limit = self.settings.confirm_timeout  # a broker that accepts TCP but never answers must not hang us
        async with asyncio.timeout(limit):
            connection = await aio_pika.connect(
                url,
                timeout=limit,
                client_properties={"connection_name": f"{APP_ID.decode()} publisher"},
            )
        try:
            async with asyncio.timeout(limit):
                if not (self.declarations and await topology.exists(connection, self.settings)):
                    await topology.declare(connection, self.settings)
                    self.declarations += 1
                channel = await connection.channel(publisher_confirms=True, on_return_raises=False)
                underlay = await channel.get_underlay_channel()
            confirmed = ConfirmedChannel(underlay, self.settings.exchange, self._wake.set)
            self.state, self._progressed = BrokerState.CONNECTED, False
            self.outage.connected(self.journal.pending)
            await self._pump(connection, confirmed)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 2.0)

    async def _pump(self, connection: AbstractConnection, channel: ConfirmedChannel) -> None:
        lost: list[str] = []

        def on_close(*args: object) -> None:
            reason = next((a for a in args if isinstance(a, BaseException)), None)
            lost.append(str(reason) if reason else "connection closed")
            self._wake.set()

        connection.close_callbacks.add(on_close)
        self._watchdog = asyncio.get_running_loop().call_later(WATCHDOG, self._watch)
        try:
            while True:
                self._wake.clear()
                if lost or channel.closed:
                    raise SessionEnded(lost[0] if lost else "channel closed")
                self._reap(channel)
                more = self._fill(channel)
                self._check_stuck(connection)
                if more:
                    await asyncio.sleep(0)  # let the requests waiting on the loop in before the next slice
                elif not self._wake.is_set():
                    await self._wake.wait()
        finally:
            if self._watchdog is not None:
                self._watchdog.cancel()
            if self._linger is not None:
                self._linger.cancel()
                self._linger = None

    def _watch(self) -> None:
        self._wake.set()
        self._watchdog = asyncio.get_running_loop().call_later(WATCHDOG, self._watch)

    def _fill(self, channel: ConfirmedChannel) -> bool:
        """Read and send one slice; True when there is more to send right away."""
        room = min(self.settings.publish_window - len(self._inflight) - len(self._staged), SLICE)
        more = False
        if room > 0 and self._inflight_bytes < MAX_INFLIGHT_BYTES:
            fresh = self._reader.read(room)
            more = len(fresh) == SLICE  # a full slice: probably more behind it
            if fresh and not self._staged:
                self._staged_at = time.monotonic()
            self._staged += fresh
        if not self._staged:
            return False
        # Batches: the broker and we pay for one write and one ack per batch, not per event. Confirms clock
        # them: while some are in flight, wait for a batch worth sending; with none, linger a moment at most.
        if len(self._staged) < BATCH:
            if self._inflight:
                return False
            wait = self._staged_at + self._linger_for - time.monotonic()
            if wait > 0:
                if self._linger is None:
                    self._linger = asyncio.get_running_loop().call_later(wait, self._lingered)
                return False
        entries, self._staged = self._staged, []
        channel.publish(entries)
        now, tag = time.monotonic(), channel.published - len(entries)
        for entry in entries:
            tag += 1
            self._inflight.append(_Flight(tag, entry.end, now, len(entry.body)))
            self._inflight_bytes += len(entry.body)
        return more

    def _lingered(self) -> None:
        self._linger = None
        self._wake.set()

    def _reap(self, channel: ConfirmedChannel) -> None:
        """Release the confirmed entries at the head of the window; end the session when the broker refused one."""
        if channel.returned:
            self.metrics.returned.inc(channel.returned)
            log.error("the broker returned %d events as unroutable: is the alternate exchange gone?", channel.returned)
            channel.returned = 0
        confirmed, count, upto, now = channel.confirmed, 0, None, time.monotonic()
        while self._inflight and self._inflight[0].tag <= confirmed:
            flight = self._inflight.popleft()
            self._inflight_bytes -= flight.size
            self.metrics.confirm_seconds.observe(now - flight.sent_at)
            count, upto = count + 1, flight.end
        if upto is not None:
            self._release(upto, count)
        if channel.refused:
            raise SessionEnded("the broker refused a message (nack)")

    def _release(self, upto: Position, count: int) -> None:
        self._progressed = True
        self.journal.release(upto, count)
        self.metrics.published.inc(count)
        released = self.journal.released
        while self._waiters and self._waiters[0][0] < released:
            future = self._waiters.popleft()[1]
            if not future.done():
                future.set_result(None)
        self._released.set()

    def _check_stuck(self, connection: AbstractConnection) -> None:
        """Follow the broker's publisher blocks, and end the session when confirms stopped coming."""
        blocked = publishers_blocked(connection)
        if blocked != (self.state is BrokerState.BLOCKED):
            self._blocked_changed(blocked)
        if blocked or not self._inflight:
            return
        age = time.monotonic() - self._inflight[0].sent_at
        if age >= self.settings.confirm_timeout:
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
        self._inflight.clear()
        self._inflight_bytes = 0
        self._staged.clear()
        self._reader.seek(self.journal.released)

    def close(self) -> None:
        self._reader.close()
        for _, future in self._waiters:
            future.cancel()
