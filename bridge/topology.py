"""What the bridge declares on the broker: the topic exchange, its alternate exchange and the unrouted queue.

Consumers declare the same exchange with the same arguments, so either side may start first. When an
exchange or queue already exists with other arguments, the bridge says so loudly and uses it as it is:
refusing to publish would lose more than a differing argument does.

The unrouted queue is a quorum queue, replicated on every node of a cluster (a broker older than 3.8 ignores
the argument and makes a classic one). The bridge declares all this once per process; later sessions, often on
another node of the cluster, only check that it is still there.
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


def unrouted_arguments(settings: Settings) -> dict[str, Any]:
    return {"x-queue-type": "quorum", "x-max-length": settings.unrouted_max_length, "x-overflow": "drop-head"}


async def exists(connection: aio_pika.abc.AbstractConnection, settings: Settings) -> bool:
    """Whether the exchanges and the unrouted queue are there (a broker reset since, or a node of another cluster,
    has none of them)."""
    channel = await connection.channel(publisher_confirms=False)
    try:
        await channel.get_exchange(settings.exchange, ensure=True)
        await channel.get_exchange(settings.unrouted, ensure=True)
        await channel.get_queue(settings.unrouted, ensure=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        return False
    finally:
        if not channel.is_closed:
            await channel.close()
    return True


async def declare(connection: aio_pika.abc.AbstractConnection | AbstractRobustConnection, settings: Settings) -> None:
    async def main_exchange(channel: AbstractChannel) -> object:
        return await channel.declare_exchange(
            settings.exchange, ExchangeType.TOPIC, durable=True, arguments=exchange_arguments(settings)
        )

    async def unrouted_exchange(channel: AbstractChannel) -> object:
        return await channel.declare_exchange(settings.unrouted, ExchangeType.FANOUT, durable=True)

    async def unrouted_queue(channel: AbstractChannel) -> object:
        try:
            return await channel.declare_queue(settings.unrouted, durable=True, arguments=unrouted_arguments(settings))
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            if "x-queue-type" not in str(exc):
                raise
        log.warning(
            "queue %r is a classic queue, kept on one node of a cluster; using it as it is. To make it a quorum "
            "queue, replicated on every node: when it is empty, delete it (rabbitmqctl delete_queue %s) and restart "
            "the bridge, which declares it again",
            settings.unrouted,
            settings.unrouted,
        )
        return None

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
