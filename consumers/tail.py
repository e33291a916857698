"""`consumers tail`: print events as they pass, from a temporary queue, for a person debugging a deployment."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from aio_pika.abc import AbstractIncomingMessage

from consumers import broker, topology
from consumers.event import event_type
from consumers.settings import Settings

_BACKLOG = 10_000  # a terminal that cannot keep up loses the oldest lines, not the broker's memory


async def tail(
    settings: Settings,
    events: Sequence[str],
    write: Callable[[str], None],
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
) -> None:
    """Write one line per event of `events` (all when empty) until `stop` is set."""
    connection = await broker.connect(settings.rabbitmq_url, "consumers tail")
    async with connection:
        await topology.declare_exchange(connection, settings.exchange)
        channel = await connection.channel()
        queue = await channel.declare_queue(
            exclusive=True, arguments={"x-max-length": _BACKLOG, "x-overflow": "drop-head"}
        )
        for key in events or ["#"]:
            await queue.bind(settings.exchange, routing_key=key)

        async def show(message: AbstractIncomingMessage) -> None:
            write(line(message, settings.exchange))

        await queue.consume(show, no_ack=True)
        if ready is not None:
            ready.set()
        await stop.wait()


def line(message: AbstractIncomingMessage, exchange: str) -> str:
    """received-at  source  event  message_id  body"""
    headers = message.headers or {}
    received = headers.get("x-received-at")
    when = (
        datetime.fromtimestamp(received / 1000, UTC)
        if isinstance(received, int)
        else message.timestamp or datetime.now(UTC)
    )
    body = message.body.decode("utf-8", errors="replace").replace("\n", " ")
    return "  ".join(
        [
            when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            str(headers.get("x-source") or "-"),
            event_type(message, exchange, {}),
            message.message_id or "-",
            body,
        ]
    )
