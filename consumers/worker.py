"""One consumer on its own channel of a broker session: deliveries in, decisions carried out.

A decision is carried out before the ack: a retried message is first published (with a confirm) to the
retry queue of its delay, a dead one to the dead-letter queue, and only then is the original acked. A
crash in between delivers the message again; nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue

from consumers import topology
from consumers.consumer import Consumer
from consumers.event import ATTEMPT, EVENT_TYPE, LAST_ERROR, BadMessage, Event, from_message, moved_copy
from consumers.handling import Decision, Outcome, handle
from consumers.idempotency import IdempotencyStore
from consumers.metrics import ConsumerMetrics
from consumers.settings import Settings

log = logging.getLogger(__name__)

_MAX_ERROR = 1000


class Worker:
    def __init__(
        self,
        consumer: Consumer,
        settings: Settings,
        store: IdempotencyStore,
        broken: Callable[[str], None],
        metrics: ConsumerMetrics,
    ) -> None:
        self.consumer = consumer
        self.settings = settings
        self.store = store
        self.broken = broken  # tells the session it cannot go on
        self.names = topology.Names(consumer.name)
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self.metrics = metrics
        metrics.watch_in_hand(consumer, lambda: self._busy)

    async def start(self, connection: AbstractConnection) -> None:
        await topology.declare_queues(connection, self.names, self.settings.retry_delays)
        await topology.bind(connection, self.names, self.settings.exchange, self.consumer.binding_keys)
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        channel.close_callbacks.add(self._channel_closed)
        await channel.set_qos(prefetch_count=self.consumer.concurrency)  # as many in hand as handlers may run
        # The broker cancels a consumer whose queue was deleted; a new session declares it again.
        underlay = await channel.get_underlay_channel()
        underlay.on_consumer_cancel_callbacks.add(self._cancelled_by_broker)
        self._channel = channel
        self._queue = await channel.get_queue(self.names.queue, ensure=False)
        self._tag = await self._queue.consume(self._deliver)

    async def stop(self, now: asyncio.Event) -> None:
        """Take no new message, and wait until those in hand are handled and settled (or until `now` is set)."""
        self._stopping = True
        if self._queue is not None and self._tag is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._queue.cancel(self._tag), 5)
        waits = [asyncio.ensure_future(self._idle.wait()), asyncio.ensure_future(now.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()

    def _channel_closed(self, *args: object) -> None:
        if not self._stopping:
            reason = next((a for a in args if isinstance(a, BaseException)), None)
            self.broken(f"channel of {self.consumer.name!r} closed: {reason or 'no reason given'}")

    def _cancelled_by_broker(self, *_: object) -> None:
        if not self._stopping:
            self.broken(f"the broker cancelled the consumer of queue {self.names.queue!r} (queue deleted?)")

    async def _deliver(self, message: AbstractIncomingMessage) -> None:
        if self._stopping:
            # Delivered between our cancel and the broker's answer: back to the queue, untouched.
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            return
        self._busy += 1
        self._idle.clear()
        try:
            await self._process(message)
        finally:
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    async def _process(self, message: AbstractIncomingMessage) -> None:
        started = time.perf_counter()
        event: Event | None = None
        try:
            event = from_message(message, self.settings.exchange)
        except BadMessage as exc:
            decision = Decision(Outcome.DEAD, str(exc))
        else:
            decision = await handle(self.consumer, event, self.settings.retry_delays, self.store)
        event_type = event.type if event else message.routing_key or "-"
        attempt = event.attempt if event else 1
        try:
            await self._settle(message, event_type, attempt, decision)
        except Exception as exc:
            # The channel is gone or refused the move: the broker will deliver the message again.
            self._log(message, event_type, attempt, f"unsettled, will be redelivered ({exc!r})", started, None)
            self.broken(f"could not settle a message of {self.consumer.name!r}: {exc!r}")
            return
        self._log(message, event_type, attempt, decision, started, decision.exception)

    async def _settle(
        self, message: AbstractIncomingMessage, event_type: str, attempt: int, decision: Decision
    ) -> None:
        if decision.outcome is Outcome.RETRY and decision.delay is not None:
            await self._move(message, self.names.retry(decision.delay), event_type, attempt + 1, decision.error)
        elif decision.outcome is Outcome.DEAD:
            await self._move(message, self.names.dead, event_type, attempt, decision.error)
        await message.ack()

    async def _move(
        self, message: AbstractIncomingMessage, queue: str, event_type: str, attempt: int, error: str | None
    ) -> None:
        assert self._channel is not None
        headers = {EVENT_TYPE: event_type, ATTEMPT: attempt, LAST_ERROR: (error or "")[:_MAX_ERROR]}
        copy = moved_copy(message, headers)
        # mandatory + on_return_raises: a retry queue deleted behind our back fails the move instead of
        # dropping the message; the session then ends, and the next one declares the queue again.
        await self._channel.default_exchange.publish(copy, routing_key=queue, mandatory=True)

    def _log(
        self,
        message: AbstractIncomingMessage,
        event_type: str,
        attempt: int,
        outcome: Decision | str,
        started: float,
        exception: Exception | None,
    ) -> None:
        millis = (time.perf_counter() - started) * 1000
        failed = isinstance(outcome, str) or outcome.outcome is Outcome.DEAD or exception is not None
        settled = outcome.outcome.value if isinstance(outcome, Decision) else "unsettled"
        self.metrics.settled(self.consumer, event_type, settled, millis / 1000)
        log.log(
            logging.WARNING if failed else logging.INFO,
            "%s | %s | %s | attempt %d | %s | %.1fms",
            self.consumer.name,
            event_type,
            message.message_id,
            attempt,
            outcome,
            millis,
            exc_info=exception,
            extra={
                "consumer": self.consumer.name,
                "event": event_type,
                "message_id": message.message_id,
                "attempt": attempt,
                "outcome": settled,
                "duration_ms": round(millis, 3),
            },
        )
