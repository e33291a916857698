"""The benchmark's side of the shared RabbitMQ: a sink queue per contender, counting or consuming it, cleanup.

Every exchange this run makes is named `bench-<random>` and written to a ledger before it exists, so whatever a
crashed run left behind is deleted by the next one; the shared broker is never stopped or reconfigured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiormq
from aiormq.abc import DeliveredMessage

LEDGER = Path(__file__).resolve().parent / "work" / "ledger.json"


class Sink:
    """A queue bound with `#` to one contender's exchange: what reached the broker, counted or consumed."""

    def __init__(self, channel: aiormq.abc.AbstractChannel, exchange: str) -> None:
        self.channel = channel
        self.exchange = exchange
        self.queue = f"{exchange}.sink"
        self._tag: str | None = None

    async def count(self) -> int:
        declared = await self.channel.queue_declare(self.queue, passive=True)
        return int(declared.message_count or 0)

    async def purge(self) -> None:
        await self.channel.queue_purge(self.queue)

    async def consume(self, on_body: Callable[[bytes], None]) -> None:
        def deliver(message: DeliveredMessage) -> None:
            on_body(message.body)

        ok = await self.channel.basic_consume(self.queue, deliver, no_ack=True)  # type: ignore[arg-type]
        self._tag = ok.consumer_tag

    async def stop_consuming(self) -> None:
        if self._tag is not None:
            await self.channel.basic_cancel(self._tag)
            self._tag = None


class Broker:
    def __init__(self, url: str) -> None:
        self.url = url
        self.connection: aiormq.abc.AbstractConnection | None = None
        self.created: list[str] = []

    @property
    def version(self) -> str:
        props = self.connection.server_properties if self.connection else {}
        return f"{props.get('product', '?')} {props.get('version', '?')}"

    async def open(self) -> Broker:
        self.connection = await aiormq.connect(self.url)
        await self._delete_left_over()
        return self

    async def close(self) -> None:
        for exchange in list(self.created):
            await self.delete(exchange)
        if self.connection is not None:
            await self.connection.close()

    @contextlib.asynccontextmanager
    async def sink(self, *, contract: bool, quorum: bool = False) -> AsyncIterator[Sink]:
        """A fresh exchange (as the README's contract declares it, or plainly for naive) with a bound queue
        (a quorum queue, as consumers declare theirs, when `quorum`)."""
        assert self.connection is not None
        exchange = f"bench-{secrets.token_hex(4)}"
        self.created.append(exchange)
        _write_ledger(self.created)
        channel = await self.connection.channel()
        arguments = {"alternate-exchange": f"{exchange}.unrouted"} if contract else {}
        await channel.exchange_declare(exchange, exchange_type="topic", durable=True, arguments=arguments)
        # Durable, as consumers' queues are (persistent messages then cost the broker a disk write, for all);
        # x-expires removes it even if this process dies before deleting it.
        arguments = {"x-queue-type": "quorum"} if quorum else {"x-expires": 30 * 60 * 1000}
        await channel.queue_declare(exchange + ".sink", durable=True, arguments=arguments)
        await channel.queue_bind(exchange + ".sink", exchange, routing_key="#")
        try:
            yield Sink(channel, exchange)
        finally:
            with contextlib.suppress(aiormq.exceptions.AMQPError):
                await channel.close()
            await self.delete(exchange)

    async def delete(self, exchange: str) -> None:
        assert self.connection is not None
        channel = await self.connection.channel()
        try:
            for queue in (f"{exchange}.sink", f"{exchange}.unrouted"):
                await channel.queue_delete(queue)
            for name in (exchange, f"{exchange}.unrouted"):
                await channel.exchange_delete(name)
        finally:
            await channel.close()
        if exchange in self.created:
            self.created.remove(exchange)
        _write_ledger(self.created)

    async def _delete_left_over(self) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            for exchange in json.loads(LEDGER.read_text()):
                if str(exchange).startswith("bench-"):
                    await self.delete(str(exchange))


def _write_ledger(names: list[str]) -> None:
    LEDGER.parent.mkdir(parents=True, exist_ok=True)
    LEDGER.write_text(json.dumps(names))


async def wait_for_count(sink: Sink, target: int, within: float, every: float = 0.05) -> tuple[int, float]:
    """Poll until the queue holds `target` messages; (count, monotonic time it was first seen) or the last count."""
    deadline = time.monotonic() + within
    while True:
        count, seen = await sink.count(), time.monotonic()
        if count >= target or seen > deadline:
            return count, seen
        await asyncio.sleep(every)


async def settle(sink: Sink, quiet: float = 0.5, within: float = 10.0) -> int:
    """The queue's count once it stopped changing for `quiet` seconds (late publications of cut-off requests)."""
    deadline = time.monotonic() + within
    last, since = await sink.count(), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        count = await sink.count()
        if count != last:
            last, since = count, time.monotonic()
    return last
