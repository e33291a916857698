"""Consumers running in the test's event loop, publishing as the bridge does, and recording handlers."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
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
    session: str | None = None,
) -> None:
    """Publish `body` with the properties the README's AMQP contract gives every message."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = {}  # a test of what is not an event
    data = data if isinstance(data, dict) else {}
    if event_type is None:
        event_type = data["event"]
    if session is None:
        room = data.get("room") if source == "livekit" else None
        session = (room or {}).get("name") if source == "livekit" else data.get("sessionId")
        session = session or event_type
    target = await channel.get_exchange(exchange, ensure=False)
    now_ms = time.time_ns() // 1_000_000
    await target.publish(
        aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id or hashlib.sha256(body).hexdigest(),
            app_id="openvidu-webhook-bridge",
            headers={"x-source": source, "x-received-at": now_ms, "x-session": session},
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


async def until_drained(runners: Sequence[Runner], channel: AbstractChannel, timeout: float = 30.0) -> bool:
    """Whether, within `timeout`, nothing waits in the runners' queues and nothing is in their hands.

    With `order="session"` sessions are handled at once, so a last event handled is not proof that the events
    published before it were: wait for this instead (after something published last was seen handled).
    """

    async def drained() -> bool:
        for runner in runners:
            for worker in runner.workers:
                for lane in worker.names.lanes:
                    declared = await channel.declare_queue(lane, passive=True)
                    if declared.declaration_result.message_count:
                        return False
                if worker.in_hand:
                    return False
        return True

    return bool(await eventually(drained, timeout=timeout))


async def terminate(procs: Sequence[asyncio.subprocess.Process], within: float = 30.0) -> None:
    """SIGTERM every process still running, then wait for each; one that outlives `within` is killed."""
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            await asyncio.wait_for(proc.wait(), within)
        except TimeoutError:
            proc.kill()
