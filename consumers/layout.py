"""What a consumer's earlier runs left on the broker, and what becomes of it when its layout changes.

AMQP cannot list bindings, so each run records what it bound in `<name>.bindings`: the event types, and (since
partitions) how many partitions. The next run unbinds what is no longer wanted:

- event types no handler takes any more;
- after a switch to partitions, the plain queue's bindings (the hash exchange takes over), and back;
- partitions past a lowered count, from the hash exchange.

Queues of an earlier layout that still exist (the plain queue after a switch to partitions, partitions past
the count, or partitions after a switch back) are consumed as well, so that no event left in them is lost; they
receive nothing new. Delete them once they are empty (README, "Changing the number of partitions").
"""

from __future__ import annotations

import logging

import aio_pika
import orjson
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, AbstractQueue

from consumers.topology import Names, exists

log = logging.getLogger(__name__)

_WEIGHT = "1"  # every partition's binding to the hash exchange: equal shares


async def bind(connection: AbstractConnection, names: Names, exchange: str, keys: frozenset[str]) -> None:
    """Bind `keys` and unbind what the records of earlier runs show is no longer wanted.

    The new record is published before anything is bound and the old ones acked only after the stale
    bindings are gone, so a crash at any point leaves a record of everything that may still be bound.
    """
    channel = await connection.channel(publisher_confirms=True)
    try:
        earlier, layouts = [], []
        record = await channel.get_queue(names.bindings, ensure=False)
        while (message := await record.get(no_ack=False, fail=False)) is not None:
            earlier.append(message)
            layouts.append(_layout(message.body))
        body = orjson.dumps(
            {"keys": sorted(keys), "partitions": names.partitions} if names.partitions else sorted(keys)
        )
        await channel.default_exchange.publish(aio_pika.Message(body, delivery_mode=2), routing_key=names.bindings)
        source = await channel.get_exchange(exchange, ensure=False)
        destination = await _destination(channel, names, bool(names.partitions))
        for key in sorted(keys):
            await destination.bind(source, routing_key=key)
        for partitions, previous in layouts:
            await _unbind_stale(
                channel, names, source, partitions, previous - keys if _same(names, partitions) else previous
            )
        for message in earlier:
            await message.ack()
    finally:
        await channel.close()


async def leftovers(connection: AbstractConnection, names: Names) -> list[str]:
    """Queues of an earlier layout that still exist: consumed too, until someone deletes them."""
    if names.partitions:
        candidates = [names.queue, *(names.partition(n) for n in range(names.partitions, names.partitions + 1000))]
    elif await exists(connection, names.hash_exchange, exchange=True):  # it had partitions once
        candidates = [names.partition(n) for n in range(1000)]
    else:
        return []
    found = []
    for lane in candidates:
        if not await exists(connection, lane):
            if lane != names.queue:
                break  # partitions are numbered from 0 without gaps
            continue
        found.append(lane)
    for lane in found:
        log.warning(
            "queue %r is left from an earlier layout of consumer %r: it receives nothing new and is consumed "
            "until you delete it (once empty)",
            lane,
            names.queue,
        )
    return found


async def _unbind_stale(
    channel: AbstractChannel, names: Names, source: AbstractExchange, partitions: int, stale: set[str]
) -> None:
    destination = await _destination(channel, names, bool(partitions))
    for key in sorted(stale):
        why = "no handler takes any more" if _same(names, partitions) else "belongs to an earlier layout"
        log.info("%s: unbinding %r, which %s", destination.name, key, why)
        await destination.unbind(source, routing_key=key)
    if _same(names, partitions) and names.partitions and partitions > names.partitions:
        hash_exchange = await channel.get_exchange(names.hash_exchange, ensure=False)
        for number in range(names.partitions, partitions):
            queue = await channel.get_queue(names.partition(number), ensure=False)
            await queue.unbind(hash_exchange, routing_key=_WEIGHT)


def _same(names: Names, partitions: int) -> bool:
    return bool(partitions) == bool(names.partitions)


async def _destination(channel: AbstractChannel, names: Names, partitioned: bool) -> AbstractExchange | AbstractQueue:
    """What the topic exchange's bindings lead to: the hash exchange of the partitions, or the queue."""
    if partitioned:
        return await channel.get_exchange(names.hash_exchange, ensure=False)
    return await channel.get_queue(names.queue, ensure=False)


def _layout(body: bytes) -> tuple[int, set[str]]:
    """(partitions, keys) of a record: a list of keys without partitions, else {"keys": …, "partitions": P}."""
    try:
        record = orjson.loads(body)
    except orjson.JSONDecodeError:
        return 0, set()
    partitions = 0
    if isinstance(record, dict):
        count = record.get("partitions")
        partitions = count if isinstance(count, int) and count > 0 else 0
        record = record.get("keys")
    keys = {k for k in record if isinstance(k, str)} if isinstance(record, list) else set()
    return partitions, keys
