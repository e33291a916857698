"""Fixtures of the consumers' tests (used with `pytest_plugins = ["tests.consumer_support.fixtures"]`)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import aio_pika
import pytest

from consumers import topology
from consumers.settings import Settings

FAST_DELAYS = (0.2, 0.5)


@pytest.fixture
def consumer_settings(amqp_url: str, exchange_name: str, tmp_path: Path) -> Settings:
    return Settings(
        rabbitmq_url=amqp_url, exchange=exchange_name, retry_delays=FAST_DELAYS, state_dir=tmp_path / "state"
    )


@pytest.fixture
def fresh_name(amqp_url: str) -> Iterator[Callable[..., str]]:
    """A factory of random consumer names; their queues (and retry queues) are deleted after the test."""
    made: list[str] = []
    other_delays: set[float] = set()

    def make(prefix: str = "c", delays: tuple[float, ...] = FAST_DELAYS) -> str:
        name = f"test-{prefix}-{uuid.uuid4().hex[:8]}"
        made.append(name)
        other_delays.update(delays)
        return name

    yield make
    asyncio.run(delete_queues(amqp_url, made, tuple(sorted(other_delays | set(FAST_DELAYS)))))


async def delete_queues(amqp_url: str, consumer_names: list[str], delays: tuple[float, ...] = FAST_DELAYS) -> None:
    if not consumer_names:
        return
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for name in consumer_names:
            names = topology.Names(name)
            for queue in (names.queue, names.dead, names.bindings, *(names.retry(d) for d in delays)):
                # aio-pika's Queue.delete asks for if-unused/if-empty, which quorum queues refuse.
                with contextlib.suppress(Exception):
                    await channel.queue_delete(queue)


async def delete_exchange(amqp_url: str, exchange: str) -> None:
    """Delete `exchange` and what a bridge declares beside it (for scripts; tests use `exchange_name`)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(f"{exchange}.unrouted")
        for name in (exchange, f"{exchange}.unrouted"):
            await channel.exchange_delete(name)


async def delete_partitioned(amqp_url: str, name: str, delays: tuple[float, ...] = FAST_DELAYS) -> None:
    """Everything a partitioned consumer (and its earlier layouts) declared, whatever its number of partitions."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        plain, partitioned = topology.Names(name), topology.Names(name, 1)
        queues = [plain.queue, plain.dead, plain.bindings]
        queues += [names.retry(d) for d in delays for names in (plain, partitioned)]
        queues += [plain.partition(n) for n in range(64)]
        for queue in queues:
            with contextlib.suppress(Exception):
                await channel.queue_delete(queue)
        for exchange in (plain.hash_exchange, plain.members):
            with contextlib.suppress(Exception):
                await channel.exchange_delete(exchange)


@pytest.fixture
def partitioned_name(amqp_url: str) -> Iterator[Callable[[tuple[float, ...]], str]]:
    """A factory of random names for partitioned consumers; all they declared is deleted after the test."""
    made: list[tuple[str, tuple[float, ...]]] = []

    def make(delays: tuple[float, ...] = FAST_DELAYS) -> str:
        name = f"test-part-{uuid.uuid4().hex[:8]}"
        made.append((name, delays))
        return name

    yield make
    for name, delays in made:
        asyncio.run(delete_partitioned(amqp_url, name, delays))
