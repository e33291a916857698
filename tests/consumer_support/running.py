"""Consumers running in the test's event loop, publishing as the bridge does, and recording handlers."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import aio_pika
import orjson
from aio_pika.abc import AbstractChannel

from consumers import Consumer, Event
from consumers.metrics import ConsumerMetrics
from consumers.runner import Runner
from consumers.settings import Settings

T = TypeVar("T")


async def until_count(changed: asyncio.Event, current: Callable[[], int], count: int, timeout: float) -> bool:
    """Whether `current()` reached `count` within `timeout` seconds; `changed` is set whenever it may have grown."""
    deadline = time.monotonic() + timeout
    while current() < count:
        changed.clear()
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), left)
    return True


@contextlib.asynccontextmanager
async def running(
    settings: Settings, *consumers: Consumer, metrics: ConsumerMetrics | None = None
) -> AsyncIterator[Runner]:
    """A Runner consuming (its queues declared and bound) for the duration of the block."""
    runner = Runner(settings, consumers, metrics)
    task = asyncio.create_task(runner.run())
    await until_ready(runner, task)
    try:
        yield runner
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)


async def until_ready(runner: Runner, task: asyncio.Task[None], timeout: float = 15.0) -> None:
    ready = asyncio.ensure_future(runner.ready.wait())
    await asyncio.wait([task, ready], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    if task.done():
        task.result()
        raise AssertionError("the runner returned before consuming")
    if not runner.ready.is_set():
        raise AssertionError(f"the runner was not consuming after {timeout}s")


async def publish(
    channel: AbstractChannel,
    exchange: str,
    body: bytes,
    *,
    event_type: str | None = None,
    message_id: str | None = None,
    source: str = "openvidu",
) -> None:
    """Publish `body` with the properties the README's AMQP contract gives every message."""
    if event_type is None:
        event_type = orjson.loads(body)["event"]
    target = await channel.get_exchange(exchange, ensure=False)
    now_ms = time.time_ns() // 1_000_000
    await target.publish(
        aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id or hashlib.sha256(body).hexdigest(),
            app_id="openvidu-webhook-bridge",
            headers={"x-source": source, "x-received-at": now_ms},
        ),
        routing_key=event_type,
    )


class Recorder:
    """A handler that records each event it gets (and when); tests wait on it with a bound, never a sleep."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.events: list[Event] = []
        self.times: list[float] = []
        self.fail = fail
        self._changed = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        self.events.append(event)
        self.times.append(time.monotonic())
        self._changed.set()
        if self.fail is not None:
            raise self.fail

    async def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Whether `count` events arrived within `timeout` seconds."""
        return await until_count(self._changed, lambda: len(self.events), count, timeout)

    @property
    def types(self) -> list[str]:
        return [e.type for e in self.events]


async def eventually(check: Callable[[], T | Awaitable[T]], timeout: float = 10.0, every: float = 0.03) -> T:
    """The first truthy result of `check` (sync or async), polled with a bound: for what nothing signals."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result or time.monotonic() > deadline:
            return result  # type: ignore[return-value]
        await asyncio.sleep(every)
