"""What a consumer declares on the broker, idempotently, every time it connects.

- the topic exchange, exactly as the README's AMQP contract says (so the bridge and consumers may start in
  any order; its alternate exchange and the `<exchange>.unrouted` queue belong to the bridge);
- `<name>`: the consumer's queue, bound to its event types; a message the broker gives up on (delivered
  `DELIVERY_LIMIT` times without an ack: a handler that kills its process) is dead-lettered to `<name>.dead`;
- `<name>.retry.<delay>s`, one per retry delay: a failed message waits there, then expires back into `<name>`;
- `<name>.dead`: the dead letters, until `consumers dead` requeues or purges them;
- `<name>.bindings`: a record of the routing keys last bound, so keys a new version no longer handles are
  unbound (AMQP cannot list a queue's bindings): see layout.py.

With `partitions=P` the consumer's events go through a consistent-hash exchange instead (README, "Per-session
order and scaling"):

- `<name>.partitions`: `x-consistent-hash` hashing on the `x-session` header, bound from the topic exchange with
  the event types; `<name>.0` … `<name>.{P-1}` bound to it with equal weights (bound in that order: the
  plugin numbers its buckets in binding order), each like `<name>` above;
- `<name>.partitions.retry.<delay>s`: retries expire back into the hash exchange, so a retried event returns
  to its session's partition.

All are quorum queues on RabbitMQ 3.10 and later (the first with message TTL and at-least-once
dead-lettering on quorum queues), durable classic queues on older brokers.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika.exceptions
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, ExchangeType

from consumers.errors import ConfigError

log = logging.getLogger(__name__)

DELIVERY_LIMIT = 20
HASH_EXCHANGE_TYPE = "x-consistent-hash"
SESSION_HEADER = "x-session"
PLUGIN = "rabbitmq_consistent_hash_exchange"


class PluginMissing(ConfigError):
    """The broker has no consistent-hash exchange: partitions cannot work."""

    def __init__(self) -> None:
        super().__init__(
            f"partitions need the RabbitMQ plugin {PLUGIN}, which this broker has not enabled: run "
            f"`rabbitmq-plugins enable {PLUGIN}` on every node (it ships with RabbitMQ; no restart needed)"
        )


@dataclasses.dataclass(frozen=True)
class Names:
    queue: str
    partitions: int | None = None

    @property
    def dead(self) -> str:
        return f"{self.queue}.dead"

    @property
    def bindings(self) -> str:
        return f"{self.queue}.bindings"

    def retry(self, delay: float) -> str:
        # Partitioned retries expire into the hash exchange, plain ones into the queue: different queues,
        # so that switching a consumer between the two never meets a queue declared with other arguments.
        kind = "partitions.retry" if self.partitions else "retry"
        return f"{self.queue}.{kind}.{delay:g}s"

    @property
    def hash_exchange(self) -> str:
        return f"{self.queue}.partitions"

    def partition(self, number: int) -> str:
        return f"{self.queue}.{number}"

    @property
    def lanes(self) -> list[str]:
        """The queues this layout consumes."""
        if not self.partitions:
            return [self.queue]
        return [self.partition(n) for n in range(self.partitions)]

    @property
    def members(self) -> str:
        """The fanout exchange the processes of a partitioned consumer hear each other on."""
        return f"{self.queue}.members"

    def member(self, member_id: str) -> str:
        return f"{self.queue}.member.{member_id}"

    @staticmethod
    def owner(lane: str) -> str:
        """The exclusive queue whose holder consumes `lane`."""
        return f"{lane}.owner"


async def declare_exchange(connection: AbstractConnection, exchange: str) -> None:
    async def declare_it(channel: AbstractChannel) -> object:
        return await channel.declare_exchange(
            exchange, ExchangeType.TOPIC, durable=True, arguments={"alternate-exchange": f"{exchange}.unrouted"}
        )

    await _declare(connection, f"exchange {exchange!r}", declare_it)


async def declare_queues(connection: AbstractConnection, names: Names, delays: tuple[float, ...]) -> None:
    quorum = supports_quorum(connection)
    to_dead = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": names.dead}
    if names.partitions:
        await declare_hash_exchange(connection, names.hash_exchange)
    for lane in names.lanes:
        await _queue(connection, lane, quorum, to_dead | {"x-delivery-limit": DELIVERY_LIMIT})
    await _queue(connection, names.dead, quorum, {})
    await _queue(connection, names.bindings, quorum, {})
    if names.partitions:
        back = {"x-dead-letter-exchange": names.hash_exchange}  # the x-session header picks the partition
        await _bind_partitions(connection, names)
    else:
        back = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": names.queue}
    for delay in delays:
        await _queue(connection, names.retry(delay), quorum, back | {"x-message-ttl": max(1, round(delay * 1000))})


async def declare_hash_exchange(connection: AbstractConnection, name: str) -> None:
    """The consistent-hash exchange; PluginMissing (a connection error, which ends the session) without it."""

    async def declare_it(channel: AbstractChannel) -> object:
        return await channel.declare_exchange(
            name, HASH_EXCHANGE_TYPE, durable=True, arguments={"hash-header": SESSION_HEADER}
        )

    _quiet_plugin_noise()
    try:
        await _declare(connection, f"exchange {name!r}", declare_it)
    except aiormq.exceptions.ConnectionCommandInvalid as exc:
        if "unknown exchange type" in str(exc):
            raise PluginMissing() from None
        raise


class _PluginNoise(logging.Filter):
    """aiormq logs the broker's refusal of the exchange type twice, with a traceback, as the connection
    closes; PluginMissing says it once, with what to do, so those two records are dropped (and only those)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return f"unknown exchange type '{HASH_EXCHANGE_TYPE}'" not in f"{record.getMessage()} {error}"


_NOISE = _PluginNoise()


def _quiet_plugin_noise() -> None:
    logger = logging.getLogger("aiormq.connection")
    if _NOISE not in logger.filters:
        logger.addFilter(_NOISE)


async def _bind_partitions(connection: AbstractConnection, names: Names) -> None:
    channel = await connection.channel()
    try:
        exchange = await channel.get_exchange(names.hash_exchange, ensure=False)
        for lane in names.lanes:  # in order: binding again what is bound already changes nothing
            queue = await channel.get_queue(lane, ensure=False)
            await queue.bind(exchange, routing_key="1")  # the weight: every partition the same
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


async def exists(connection: AbstractConnection, name: str, exchange: bool = False) -> bool:
    """Whether the queue (or exchange) is there, asked without creating it."""
    # A passive declaration of something missing closes its channel: a channel of its own, then.
    channel = await connection.channel()
    try:
        if exchange:
            await channel.declare_exchange(name, passive=True)
        else:
            await channel.declare_queue(name, passive=True)
    except aio_pika.exceptions.ChannelNotFoundEntity:
        return False
    finally:
        if not channel.is_closed:
            await channel.close()
    return True
