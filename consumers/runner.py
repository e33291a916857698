"""Runs consumers in one process: one broker connection at a time, reconnecting with backoff.

Each connection is a session: declare the topology, consume, and on a lost connection (or a stop) let the
messages in hand finish before the next session or the exit. A message whose ack was lost with the
connection is delivered again by the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence

import aio_pika
from aio_pika.abc import AbstractConnection

from consumers import addresses, broker, idempotency, topology
from consumers.consumer import Consumer
from consumers.errors import ConfigError
from consumers.idempotency import Store
from consumers.metrics import ConsumerMetrics, serving
from consumers.settings import Settings
from consumers.worker import Worker

log = logging.getLogger(__name__)

FIRST_DELAY = 0.1
MAX_DELAY = 10.0
REPORT_REFUSAL_EVERY = 30.0  # seconds between log lines while the broker refuses our credentials


class SessionLost(Exception):
    """The broker connection or a channel went away; the message is the reason."""


class Runner:
    def __init__(
        self, settings: Settings, consumers: Sequence[Consumer], metrics: ConsumerMetrics | None = None
    ) -> None:
        names = [c.name for c in consumers]
        if not consumers or len(set(names)) != len(names):
            raise ValueError(f"give one or more consumers with different names, got {names}")
        for consumer in consumers:
            if not consumer.routes:
                raise ValueError(f"consumer {consumer.name!r} has no handler: decorate one with @consumer.on(...)")
        self.settings = settings
        self.consumers = list(consumers)
        self.metrics = metrics or ConsumerMetrics()
        self.ready = asyncio.Event()  # set while consuming: what tests wait on before publishing
        self.sessions = 0
        self.workers: list[Worker] = []  # those of the current broker session
        self._stop = asyncio.Event()
        self._now = asyncio.Event()
        self._default_store: Store | None = None
        self._starting: asyncio.Task[None] | None = None  # set while lifespans and stores open
        self._addresses = addresses.Addresses.from_setting(settings.rabbitmq_url)
        self.node = ""  # host:port of the node of the current (or last) session
        self._refusal_reported: float | None = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def hurried(self) -> bool:
        return self._now.is_set()

    def stop(self, now: bool = False) -> None:
        """Finish the messages in hand, settle them, then make `run` return.

        `now`: do not wait for the messages in hand; the broker gives them to the next consumer.
        """
        self._stop.set()
        if now:
            self._now.set()
        starting, self._starting = self._starting, None
        if starting is not None:
            starting.cancel()  # still waiting for a database (or a lifespan): nothing in hand, stop waiting

    async def run(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            self._starting = task = asyncio.current_task()
            try:
                await self._open(stack)
            except asyncio.CancelledError:
                if not self.stopping or task is None:
                    raise
                task.uncancel()
                return
            finally:
                self._starting = None
            if self.settings.metrics_port is not None:
                stack.enter_context(serving(self.metrics, self.settings.metrics_port))
            await self._reconnect_forever()

    async def _open(self, stack: contextlib.AsyncExitStack) -> None:
        for consumer in self.consumers:
            if consumer.lifespan is not None:
                await stack.enter_async_context(consumer.lifespan())
        using = [c for c in self.consumers if c.store is None and any(r.once for r in c.routes.values())]
        if using:
            # A once=True handler holds a connection while it runs (PostgreSQL): one per handler in flight.
            size = min(sum(c.concurrency for c in using) + 1, 100)
            self._default_store = await stack.enter_async_context(
                idempotency.opened(self.settings.idempotency_store, size)
            )

    async def _reconnect_forever(self) -> None:
        delay = FIRST_DELAY
        while not self.stopping:
            sessions = self.sessions
            try:
                await self._session()
            except ConfigError:
                raise  # the broker lacks what the consumer needs: reconnecting cannot help
            except Exception as exc:
                if self.stopping:
                    break
                self._session_ended(exc, delay)
            if self.sessions != sessions:
                delay = FIRST_DELAY  # that one got as far as consuming: start the backoff afresh
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, MAX_DELAY)

    def _session_ended(self, exc: Exception, delay: float) -> None:
        if broker.refuses_credentials(exc):
            # Configuration, not an outage: an ERROR, but not one per attempt.
            now = time.monotonic()
            if self._refusal_reported is None or now - self._refusal_reported >= REPORT_REFUSAL_EVERY:
                self._refusal_reported = now
                log.error(
                    "the broker at %s refuses the credentials in RABBITMQ_URL (%s); retrying until they are fixed",
                    self.node,
                    broker.reason(exc),
                )
            return
        known = isinstance(exc, SessionLost | aio_pika.exceptions.AMQPError | OSError | TimeoutError)
        log.warning(
            "broker session at %s ended (%s); reconnecting in %.1fs",
            self.node,
            broker.reason(exc),
            delay,
            exc_info=None if known else exc,
        )

    async def _session(self) -> None:
        url = self._addresses.take()
        self.node = addresses.node(url)
        connection = await aio_pika.connect(
            url,
            timeout=10,
            client_properties={"connection_name": f"consumers: {', '.join(c.name for c in self.consumers)}"},
        )
        lost: list[str] = []
        changed = asyncio.Event()

        def broken(reason: str) -> None:
            lost.append(reason)
            changed.set()

        connection.close_callbacks.add(lambda *args: broken(_reason(args)))
        workers = [Worker(c, self.settings, self._store(c), broken, self.metrics) for c in self.consumers]
        self.workers = workers
        watching: asyncio.Task[None] | None = None
        try:
            await self._start(connection, workers)
            if self.settings.metrics_port is not None:
                watching = asyncio.create_task(
                    self.metrics.watch_queues(connection, self.consumers, self.settings.retry_delays)
                )
            waits = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(changed.wait())]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for wait in waits:
                wait.cancel()
            if lost and not self.stopping:
                raise SessionLost(lost[0])
        finally:
            self.ready.clear()
            self.metrics.connected.set(0)
            if watching is not None:
                watching.cancel()
            await asyncio.gather(*(w.stop(self._now) for w in workers))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5)

    async def _start(self, connection: AbstractConnection, workers: list[Worker]) -> None:
        await topology.declare_exchange(connection, self.settings.exchange)
        for worker in workers:
            await worker.start(connection)
        self.sessions += 1
        self.ready.set()
        self.metrics.connected.set(1)
        for worker in workers:
            consumer = worker.consumer
            log.info(
                "consuming %s (events %s) from exchange %r at %s, %d at a time%s",
                f"queue {worker.names.queue!r}"
                if not consumer.partitions
                else f"partitions {worker.names.partition(0)!r}…{worker.names.partition(consumer.partitions - 1)!r} "
                f"(shared with the other processes of {consumer.name!r})",
                ", ".join(sorted(consumer.binding_keys)),
                self.settings.exchange,
                self.node,
                consumer.concurrency,
                ", in order per session" if consumer.order == "session" else "",
            )

    def _store(self, consumer: Consumer) -> Store:
        if consumer.store is not None:
            return consumer.store
        # No once=True handler (or a stop before the store opened): nothing will ask it anything.
        return self._default_store or idempotency.MemoryStore()


def _reason(args: tuple[object, ...]) -> str:
    reason = next((a for a in args if isinstance(a, BaseException)), None)
    return f"connection closed: {reason}" if reason else "connection closed"
