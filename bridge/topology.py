"""What the bridge declares on the broker: the topic exchange, its alternate exchange and the unrouted queue.

Consumers declare the same exchange with the same arguments, so either side may start first. When an
exchange or queue already exists with other arguments, the bridge says so loudly and uses it as it is:
refusing to publish would lose more than a differing argument does.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractRobustConnection, ExchangeType

from bridge.settings import Settings

log = logging.getLogger(__name__)


def exchange_arguments(settings: Settings) -> dict[str, Any]:
    return {"alternate-exchange": settings.unrouted}


async def declare(connection: aio_pika.abc.AbstractConnection | AbstractRobustConnection, settings: Settings) -> None:
    async def main_exchange(channel: AbstractChannel) -> object:
        return await channel.declare_exchange(
            settings.exchange, ExchangeType.TOPIC, durable=True, arguments=exchange_arguments(settings)
        )

    async def unrouted_exchange(channel: AbstractChannel) -> object:
        return await channel.declare_exchange(settings.unrouted, ExchangeType.FANOUT, durable=True)

    async def unrouted_queue(channel: AbstractChannel) -> object:
        return await channel.declare_queue(
            settings.unrouted,
            durable=True,
            arguments={"x-max-length": settings.unrouted_max_length, "x-overflow": "drop-head"},
        )

    async def unrouted_binding(channel: AbstractChannel) -> object:
        queue = await channel.get_queue(settings.unrouted, ensure=True)
        return await queue.bind(settings.unrouted, routing_key="")

    await _declare(connection, f"exchange {settings.exchange!r}", main_exchange)
    await _declare(connection, f"exchange {settings.unrouted!r}", unrouted_exchange)
    await _declare(connection, f"queue {settings.unrouted!r}", unrouted_queue)
    await _declare(connection, f"binding of queue {settings.unrouted!r}", unrouted_binding)


async def _declare(
    connection: aio_pika.abc.AbstractConnection,
    what: str,
    declare_it: Callable[[AbstractChannel], Awaitable[object]],
) -> None:
    # A refused declaration closes its channel, so each one gets a channel of its own.
    channel = await connection.channel(publisher_confirms=False)
    try:
        await declare_it(channel)
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        log.error(
            "%s already exists on the broker with other arguments (%s); using it as it is. Delete it, or align "
            "BRIDGE_EXCHANGE / BRIDGE_UNROUTED_MAX_LENGTH, to get the documented topology",
            what,
            exc,
        )
    finally:
        if not channel.is_closed:
            await channel.close()
