"""A consumer's dead letters: list them, send them back for another try, or drop them."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from consumers import topology
from consumers.event import ATTEMPT, EVENT_TYPE, LAST_ERROR, moved_copy

_BROKER_REASONS = {"delivery_limit": f"delivered {topology.DELIVERY_LIMIT} times without an ack (a crash?)"}


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    event_type: str
    message_id: str
    attempts: int
    error: str

    def __str__(self) -> str:
        return f"{self.event_type}\t{self.message_id}\tattempts={self.attempts}\t{self.error}"


async def dead_letters(connection: AbstractConnection, names: topology.Names) -> AsyncIterator[DeadLetter]:
    """Each dead letter once; all of them stay in the queue (they go back when the channel closes)."""
    channel = await connection.channel()
    try:
        queue = await channel.get_queue(names.dead, ensure=False)
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            yield describe(message)
    finally:
        await channel.close()


async def requeue(connection: AbstractConnection, names: topology.Names) -> int:
    """Move the dead letters there are now back to the consumer's queue (with partitions: to its session's
    partition, through the hash exchange), for a fresh set of attempts.

    All of them are taken (unacknowledged) before the first is sent back: a consumer that still fails would send
    them straight back, and reading until the queue is empty would requeue them again and again. (The count in a
    quorum queue's declare-ok can lag behind, so it cannot bound the loop.)"""
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    try:
        queue = await channel.get_queue(names.dead, ensure=False)
        if names.partitions:
            target, key = await channel.get_exchange(names.hash_exchange, ensure=False), ""
        else:
            target, key = channel.default_exchange, names.queue
        present = []
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            present.append(message)
        for message in present:
            await target.publish(_fresh(message), routing_key=key, mandatory=True)
            await message.ack()  # only once the broker confirmed the copy
    finally:
        await channel.close()
    return len(present)


async def purge(connection: AbstractConnection, names: topology.Names) -> int:
    channel = await connection.channel()
    try:
        queue = await channel.get_queue(names.dead, ensure=False)
        result = await queue.purge()
        return int(result.message_count or 0)
    finally:
        await channel.close()


def describe(message: AbstractIncomingMessage) -> DeadLetter:
    headers = message.headers or {}
    attempts = headers.get(ATTEMPT)
    return DeadLetter(
        event_type=_event_type(message, headers),
        message_id=message.message_id or "-",
        attempts=attempts if isinstance(attempts, int) else 1,
        error=str(headers.get(LAST_ERROR) or _broker_reason(headers)),
    )


def _event_type(message: AbstractIncomingMessage, headers: dict[str, Any]) -> str:
    event_type = headers.get(EVENT_TYPE)
    if isinstance(event_type, str):
        return event_type
    # Dead-lettered by the broker itself: the original routing key is in x-death.
    for death in headers.get("x-death") or []:
        keys = death.get("routing-keys") if isinstance(death, dict) else None
        if keys:
            return str(keys[0])
    return message.routing_key or "-"


def _broker_reason(headers: dict[str, Any]) -> str:
    reason = headers.get("x-first-death-reason")
    if isinstance(reason, str):
        return f"dead-lettered by the broker: {_BROKER_REASONS.get(reason, reason)}"
    return "no error recorded"


def _fresh(message: AbstractIncomingMessage) -> aio_pika.Message:
    """Back to the consumer's queue for a fresh set of attempts: no attempt count, the event type kept."""
    return moved_copy(message, {EVENT_TYPE: _event_type(message, message.headers or {})}, drop=(ATTEMPT,))
