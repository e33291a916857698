"""What a consumer declares on the broker, idempotently, every time it connects.

- the topic exchange, exactly as the README's AMQP contract says (so the bridge and consumers may start in
  any order; its alternate exchange and the `<exchange>.unrouted` queue belong to the bridge);
- `<name>`: the consumer's queue, bound to its event types; a message the broker gives up on (delivered
  `DELIVERY_LIMIT` times without an ack: a handler that kills its process) is dead-lettered to `<name>.dead`;
- `<name>.retry.<delay>s`, one per retry delay: a failed message waits there, then expires back into `<name>`;
- `<name>.dead`: the dead letters, until `consumers dead` requeues or purges them;
- `<name>.bindings`: a record of the routing keys last bound, so keys a new version no longer handles are
  unbound (AMQP cannot list a queue's bindings).

All are quorum queues on RabbitMQ 3.10 and later (the first with message TTL and at-least-once
dead-lettering on quorum queues), durable classic queues on older brokers.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import aiormq
import orjson
from aio_pika.abc import AbstractChannel, AbstractConnection, ExchangeType

log = logging.getLogger(__name__)

DELIVERY_LIMIT = 20


@dataclasses.dataclass(frozen=True)
class Names:
    queue: str

    @property
    def dead(self) -> str:
        return f"{self.queue}.dead"

    @property
    def bindings(self) -> str:
        return f"{self.queue}.bindings"

    def retry(self, delay: float) -> str:
        return f"{self.queue}.retry.{delay:g}s"


async def declare_exchange(connection: AbstractConnection, exchange: str) -> None:
    async def declare_it(channel: AbstractChannel) -> object:
        return await channel.declare_exchange(
            exchange, ExchangeType.TOPIC, durable=True, arguments={"alternate-exchange": f"{exchange}.unrouted"}
        )

    await _declare(connection, f"exchange {exchange!r}", declare_it)


async def declare_queues(connection: AbstractConnection, names: Names, delays: tuple[float, ...]) -> None:
    quorum = supports_quorum(connection)
    to_dead = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": names.dead}
    await _queue(connection, names.queue, quorum, to_dead | {"x-delivery-limit": DELIVERY_LIMIT})
    await _queue(connection, names.dead, quorum, {})
    await _queue(connection, names.bindings, quorum, {})
    back = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": names.queue}
    for delay in delays:
        await _queue(connection, names.retry(delay), quorum, back | {"x-message-ttl": max(1, round(delay * 1000))})


async def bind(connection: AbstractConnection, names: Names, exchange: str, keys: frozenset[str]) -> None:
    """Bind `keys` and unbind the keys recorded by earlier runs that are no longer wanted.

    The new record is published before anything is bound and the old ones acked only after the stale keys
    are unbound, so a crash at any point leaves a record of every key that may still be bound.
    """
    channel = await connection.channel(publisher_confirms=True)
    try:
        queue = await channel.get_queue(names.queue, ensure=False)
        record = await channel.get_queue(names.bindings, ensure=False)
        earlier, previous = [], set[str]()
        while (message := await record.get(no_ack=False, fail=False)) is not None:
            earlier.append(message)
            previous.update(_keys(message.body))
        body = orjson.dumps(sorted(keys))
        await channel.default_exchange.publish(aio_pika.Message(body, delivery_mode=2), routing_key=names.bindings)
        for key in sorted(keys):
            await queue.bind(exchange, routing_key=key)
        for key in sorted(previous - keys):
            log.info("queue %r: unbinding %r, which no handler takes any more", names.queue, key)
            await queue.unbind(exchange, routing_key=key)
        for message in earlier:
            await message.ack()
    finally:
        await channel.close()


def supports_quorum(connection: AbstractConnection) -> bool:
    underlay = connection.transport.connection if connection.transport else None
    properties: dict[str, Any] = dict(underlay.server_properties) if underlay else {}
    if properties.get("product") not in ("RabbitMQ", b"RabbitMQ"):
        return False
    version = properties.get("version")
    version = version.decode() if isinstance(version, bytes) else str(version)
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (3, 10)


async def _queue(connection: AbstractConnection, name: str, quorum: bool, arguments: dict[str, Any]) -> None:
    if quorum:
        arguments = arguments | {"x-queue-type": "quorum"}
        if "x-dead-letter-exchange" in arguments:
            # At-least-once dead-lettering keeps a message moving between queues safe from a broker crash;
            # quorum queues allow it only with reject-publish overflow.
            arguments |= {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
    else:
        arguments = {k: v for k, v in arguments.items() if k != "x-delivery-limit"}

    async def declare_it(channel: AbstractChannel) -> object:
        return await channel.declare_queue(name, durable=True, arguments=arguments)

    await _declare(connection, f"queue {name!r}", declare_it)


async def _declare(
    connection: AbstractConnection, what: str, declare_it: Callable[[AbstractChannel], Awaitable[object]]
) -> None:
    # A refused declaration closes its channel, so each one gets a channel of its own.
    channel = await connection.channel(publisher_confirms=False)
    try:
        await declare_it(channel)
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        log.error(
            "%s already exists on the broker with other arguments (%s); using it as it is. Delete it to get "
            "the documented topology",
            what,
            exc,
        )
    finally:
        if not channel.is_closed:
            await channel.close()


def _keys(body: bytes) -> list[str]:
    try:
        keys = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    return [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else []
