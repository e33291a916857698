"""Observing what reached the broker: a queue bound to the exchange, collected with timeouts, never sleeps."""

from __future__ import annotations

import asyncio
import time

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue, ExchangeType


async def declare_exchange(channel: AbstractChannel, exchange: str) -> aio_pika.abc.AbstractExchange:
    """The exchange as the README's contract declares it (what consumers do too)."""
    return await channel.declare_exchange(
        exchange, ExchangeType.TOPIC, durable=True, arguments={"alternate-exchange": f"{exchange}.unrouted"}
    )


async def bound_queue(channel: AbstractChannel, exchange: str, *patterns: str) -> AbstractQueue:
    await declare_exchange(channel, exchange)
    queue = await channel.declare_queue(exclusive=True)
    for pattern in patterns or ("#",):
        await queue.bind(exchange, routing_key=pattern)
    return queue


class Collector:
    """Consumes a queue from the moment it is made; `take` waits (bounded) for the next messages."""

    def __init__(self, queue: AbstractQueue) -> None:
        self.queue = queue
        self.inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self.taken: list[AbstractIncomingMessage] = []
        self._tag: str | None = None

    async def start(self) -> Collector:
        self._tag = await self.queue.consume(self.inbox.put, no_ack=True)
        return self

    async def take(self, count: int, timeout: float = 10.0) -> list[AbstractIncomingMessage]:
        """The next `count` messages; fewer if they do not all arrive within `timeout` seconds."""
        got: list[AbstractIncomingMessage] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            try:
                got.append(await asyncio.wait_for(self.inbox.get(), max(deadline - time.monotonic(), 0.001)))
            except TimeoutError:
                break
        self.taken += got
        return got

    async def rest(self, quiet: float) -> list[AbstractIncomingMessage]:
        """Whatever else arrives until `quiet` seconds pass without a message (for counting duplicates)."""
        got: list[AbstractIncomingMessage] = []
        while True:
            try:
                got.append(await asyncio.wait_for(self.inbox.get(), quiet))
            except TimeoutError:
                self.taken += got
                return got


async def collector(channel: AbstractChannel, exchange: str, *patterns: str) -> Collector:
    return await Collector(await bound_queue(channel, exchange, *patterns)).start()
