"""One consumer on a broker session: deliveries in, decisions carried out.

A decision is carried out before the ack: a retried message is first published (with a confirm) to the
retry queue of its delay, a dead one to the dead-letter queue, and only then is the original acked. A
crash in between delivers the message again; nothing is lost.

With `order="queue"` each delivery is handled as it comes, `concurrency` at a time (the prefetch). With
`order="session"` deliveries go to a keyed scheduler (keyed.py): each session's events one at a time, in the
order they came off the queue, `concurrency` sessions at once, from a look-ahead of LOOKAHEAD times `concurrency`
messages in hand per queue. A failed event whose retry delay is at most HOLD_IN_PLACE seconds waits in place,
holding back its own session only. With `partitions`, the claimer (partitions.py) decides which partition
queues this process consumes, and hands them over through `subscribe` and `unsubscribe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue

from consumers import layout, topology
from consumers.consumer import Consumer
from consumers.event import ATTEMPT, EVENT_TYPE, LAST_ERROR, BadMessage, Event, from_message, moved_copy, session_key
from consumers.handling import Decision, Outcome, handle
from consumers.idempotency import Store
from consumers.keyed import KeyedScheduler, Slots
from consumers.metrics import ConsumerMetrics
from consumers.partitions import Claimer
from consumers.settings import Settings

log = logging.getLogger(__name__)

_MAX_ERROR = 1000
# Messages in hand per queue, per slot, with order="session". With c slots busy the next 7c messages are
# already here, so a slot whose session has nothing more to do finds another session's message at once
# (among 8c interleaved messages there are nearly always c sessions); a bound, so memory and the burst
# redelivered after a crash stay small.
LOOKAHEAD = 8
HOLD_IN_PLACE = 5.0  # seconds: a retry this soon waits in place, keeping its session in order


@dataclasses.dataclass(eq=False)
class Subscription:
    """One queue this worker consumes, on a channel of its own."""

    queue: AbstractQueue
    channel: AbstractChannel
    scheduler: KeyedScheduler[InHand] | None
    tag: str | None = None
    leaving: bool = False

    @property
    def name(self) -> str:
        return self.queue.name


@dataclasses.dataclass(eq=False, slots=True)
class InHand:
    message: AbstractIncomingMessage
    attempt: int | None = None  # set once it was retried in place: the attempt that runs next


class Worker:
    def __init__(
        self,
        consumer: Consumer,
        settings: Settings,
        store: Store,
        broken: Callable[[str], None],
        metrics: ConsumerMetrics,
    ) -> None:
        self.consumer = consumer
        self.settings = settings
        self.store = store
        self.broken = broken  # tells the session it cannot go on
        self.names = topology.Names(consumer.name, consumer.partitions)
        self.keyed = consumer.order == "session"
        self.prefetch = min(consumer.concurrency * LOOKAHEAD, 65535) if self.keyed else consumer.concurrency
        self.subscriptions: list[Subscription] = []
        self.claimer: Claimer[Subscription] | None = None
        self._slots = Slots(consumer.concurrency)
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None  # publishes retries and dead letters, with confirms
        self.metrics = metrics
        metrics.watch_in_hand(consumer, lambda: self.in_hand)

    async def start(self, connection: AbstractConnection) -> None:
        await topology.declare_queues(connection, self.names, self.settings.retry_delays)
        await layout.bind(connection, self.names, self.settings.exchange, self.consumer.binding_keys)
        self._connection = connection
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        channel.close_callbacks.add(self._channel_closed)
        self._channel = channel
        lanes = self.names.lanes + await layout.leftovers(connection, self.names)
        if self.names.partitions:
            self.claimer = Claimer(connection, self.names, lanes, self.subscribe, self.unsubscribe, self.broken)
            await self.claimer.start()
        else:
            for lane in lanes:
                await self.subscribe(lane)

    async def subscribe(self, lane: str) -> Subscription:
        assert self._connection is not None
        channel = await self._connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=self.prefetch)
        scheduler = KeyedScheduler(self._slots, self._run, _leave_to_the_close) if self.keyed else None
        subscription = Subscription(await channel.get_queue(lane, ensure=False), channel, scheduler)
        channel.close_callbacks.add(functools.partial(self._subscription_closed, subscription))
        # The broker cancels a consumer whose queue was deleted; a new session declares it again.
        underlay = await channel.get_underlay_channel()
        underlay.on_consumer_cancel_callbacks.add(functools.partial(self._cancelled_by_broker, subscription))
        self.subscriptions.append(subscription)
        subscription.tag = await subscription.queue.consume(functools.partial(self._deliver, subscription))
        return subscription

    async def unsubscribe(self, subscription: Subscription, now: asyncio.Event) -> None:
        """Take no new message from the queue; settle what runs (unless `now`); give back what has not started.

        With order="session" the messages not started go back as the channel closes: RabbitMQ returns a closed
        channel's unacked messages in the order it delivered them. On RabbitMQ 3.10 neither a nack of each (it
        batches a channel's requeues while 32 of its commands are pending, and a quorum queue requeues a batch of
        more than 32 in no particular order) nor a basic.cancel first (a delivery on its way when the cancel is
        sent goes back at once, ahead of the older ones still unacked) would keep that order. So the consumer is
        not cancelled: what still comes in until the close is left unacked with the rest.
        """
        subscription.leaving = True
        if subscription.tag is not None and subscription.scheduler is None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(subscription.queue.cancel(subscription.tag), 5)
        in_hand = subscription.scheduler.in_hand if subscription.scheduler is not None else self._busy
        log.info("%s: stopped consuming %r; %d messages in hand", self.consumer.name, subscription.name, in_hand)
        if subscription.scheduler is not None:
            await _unless(subscription.scheduler.release(), now)
        else:
            await _unless(self._idle.wait(), now)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(subscription.channel.close(), 5)
        if subscription in self.subscriptions:
            self.subscriptions.remove(subscription)
        if not subscription.channel.is_closed and not self._stopping:
            # What it holds may still be out: the queue must not go to another process until the connection,
            # closing, returns it (the claimer ends the session on this, and the owner queue goes with it).
            raise RuntimeError(f"the channel of {subscription.name!r} did not close")

    async def stop(self, now: asyncio.Event) -> None:
        """Take no new message, and wait until those in hand are handled and settled (or until `now` is set)."""
        self._stopping = True
        if self.claimer is not None:
            await self.claimer.stop(now)
        await asyncio.gather(*(self.unsubscribe(s, now) for s in list(self.subscriptions)))

    @property
    def in_hand(self) -> int:
        # Also read by the metrics server's thread: iterate over a copy.
        keyed = sum(s.scheduler.in_hand for s in tuple(self.subscriptions) if s.scheduler is not None)
        return keyed + self._busy

    def _channel_closed(self, *args: object) -> None:
        if not self._stopping:
            reason = next((a for a in args if isinstance(a, BaseException)), None)
            self.broken(f"channel of {self.consumer.name!r} closed: {reason or 'no reason given'}")

    def _subscription_closed(self, subscription: Subscription, *args: object) -> None:
        if not subscription.leaving:
            self._channel_closed(*args)

    def _cancelled_by_broker(self, subscription: Subscription, *_: object) -> None:
        if not self._stopping and not subscription.leaving:
            self.broken(f"the broker cancelled the consumer of queue {subscription.name!r} (queue deleted?)")

    async def _deliver(self, subscription: Subscription, message: AbstractIncomingMessage) -> None:
        if subscription.scheduler is not None:
            # Even while leaving: the scheduler starts nothing then, and the channel's close returns it in order.
            subscription.scheduler.put(session_key(message), InHand(message))
            return
        if self._stopping or subscription.leaving:
            # Delivered between our cancel and the broker's answer: back to the queue, untouched.
            await _give_back(InHand(message))
            return
        self._busy += 1
        self._idle.clear()
        try:
            started = time.perf_counter()
            event, decision = await self._decide(message, None)
            await self._finish(message, event, decision, started)
        finally:
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    async def _run(self, item: InHand) -> float | None:
        """One run of a keyed message: None when settled, or the seconds until it runs again in place."""
        started = time.perf_counter()
        try:
            event, decision = await self._decide(item.message, item.attempt)
            soon = decision.delay is not None and decision.delay <= HOLD_IN_PLACE
            if event is not None and decision.outcome is Outcome.RETRY and soon:
                item.attempt = event.attempt + 1
                self._log(item.message, event.type, event.attempt, decision, started, decision.exception)
                return decision.delay
            await self._finish(item.message, event, decision, started)
        except Exception as exc:  # not the handler's (handle() catches those): ours; the broker redelivers
            log.exception("%s: could not handle message %s", self.consumer.name, item.message.message_id)
            self.broken(f"could not handle a message of {self.consumer.name!r}: {exc!r}")
        return None

    async def _decide(self, message: AbstractIncomingMessage, attempt: int | None) -> tuple[Event | None, Decision]:
        try:
            event = from_message(message, self.settings.exchange)
        except BadMessage as exc:
            return None, Decision(Outcome.DEAD, str(exc))
        if attempt is not None:
            event = dataclasses.replace(event, attempt=attempt)
        return event, await handle(self.consumer, event, self.settings.retry_delays, self.store)

    async def _finish(
        self, message: AbstractIncomingMessage, event: Event | None, decision: Decision, started: float
    ) -> None:
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


async def _leave_to_the_close(item: InHand) -> None:
    """Not started, and left unacked: the channel's close returns it (see `Worker.unsubscribe`)."""


async def _give_back(item: InHand) -> None:
    # Returned messages are delivered again before the rest of the queue, in the order they were returned.
    with contextlib.suppress(Exception):
        await item.message.nack(requeue=True)


async def _unless(waiting: Awaitable[object], now: asyncio.Event) -> None:
    """Wait for `waiting`, or until `now` is set, whichever comes first."""
    tasks = [asyncio.ensure_future(waiting), asyncio.ensure_future(now.wait())]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
