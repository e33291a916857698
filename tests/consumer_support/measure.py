"""Handler throughput of a no-op consumer: `python -m tests.consumer_support.measure [COUNT] [CONCURRENCY …]`.

The queue is filled first (so the publisher's speed is not measured), then a Runner drains it; the rate is
messages over the time from the first handled message to the last. Belongs with the benchmarks in bench/.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid

import aio_pika

from consumers import Consumer, Event
from consumers.runner import Runner
from consumers.settings import Settings
from tests.consumer_support.fixtures import delete_exchange, delete_queues
from tests.support.broker import LOCAL_URL

BODY = b'{"sessionId":"ses_Jd8tUyvhXO","uniqueSessionId":"ses_Jd8tUyvhXO_1718012345678","timestamp":1718012345678,"event":"sessionCreated"}'  # noqa: E501


async def measure(url: str, count: int, concurrency: int) -> float:
    exchange, name = f"measure-{uuid.uuid4().hex[:8]}", f"measure-{uuid.uuid4().hex[:8]}"
    settings = Settings(rabbitmq_url=url, exchange=exchange, retry_delays=(0.2, 0.5))
    consumer = Consumer(name, concurrency=concurrency)
    times: list[float] = []
    done = asyncio.Event()

    @consumer.on("sessionCreated")
    async def nothing(event: Event) -> None:
        times.append(time.perf_counter())
        if len(times) == count:
            done.set()

    await _declare(settings, consumer)
    await _fill(url, exchange, count)
    runner = Runner(settings, [consumer])
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(done.wait(), 600)
    runner.stop()
    await task
    await delete_queues(url, [name], settings.retry_delays)
    await delete_exchange(url, exchange)
    return (count - 1) / (times[-1] - times[0])


async def _declare(settings: Settings, consumer: Consumer) -> None:
    """A first run that only declares and binds the queue: the messages published next wait in it."""
    runner = Runner(settings, [consumer])
    task = asyncio.create_task(runner.run())
    await runner.ready.wait()
    runner.stop()
    await task


async def _fill(url: str, exchange: str, count: int) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange)
        for start in range(0, count, 500):
            await asyncio.gather(
                *(
                    target.publish(
                        aio_pika.Message(BODY, message_id=str(i), headers={"x-source": "openvidu"}, delivery_mode=2),
                        routing_key="sessionCreated",
                    )
                    for i in range(start, min(start + 500, count))
                )
            )


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    for concurrency in [int(c) for c in sys.argv[2:]] or [1, 16]:
        rate = asyncio.run(measure(LOCAL_URL, count, concurrency))
        sys.stdout.write(f"concurrency {concurrency:>3}: {count} messages, {rate:,.0f} messages/s\n")


if __name__ == "__main__":
    main()
