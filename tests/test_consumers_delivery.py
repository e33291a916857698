"""Delivery rules against a real broker: ack on return, retries on the configured delays, dead letters, order."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel

from consumers import Consumer, Event, Reject, Retry, dead, topology
from consumers.settings import Settings
from tests.consumer_support.running import Recorder, eventually, publish, running

pytest_plugins = ["tests.consumer_support.fixtures"]
pytestmark = pytest.mark.anyio


async def ready_count(channel: AbstractChannel, queue: str) -> int:
    declared = await channel.declare_queue(queue, passive=True)
    return int(declared.declaration_result.message_count or 0)


async def dead_letters(settings: Settings, name: str, count: int) -> list[dead.DeadLetter]:
    """The dead letters of `name` once there are `count` of them."""
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:

        async def listed() -> list[dead.DeadLetter]:
            letters = [letter async for letter in dead.dead_letters(connection, topology.Names(name))]
            return letters if len(letters) >= count else []

        return await eventually(listed)


async def test_a_returning_handler_acks(
    consumer_settings: Settings, fresh_name: Callable[[str], str], channel: AbstractChannel, openvidu_events: dict
) -> None:
    consumer = Consumer(fresh_name("ack"))
    recorder = consumer.on("sessionCreated")(Recorder())
    async with running(consumer_settings, consumer):
        await publish(channel, consumer_settings.exchange, openvidu_events["sessionCreated"])
        assert await recorder.wait_for(1)
    # The runner's connection is closed: an unacked message would be back in the queue.
    assert await ready_count(channel, consumer.name) == 0
    event = recorder.events[0]
    assert (event.type, event.attempt, event.source) == ("sessionCreated", 1, "openvidu")
    assert event.body == openvidu_events["sessionCreated"]
    assert event.received_at is not None


async def test_failures_retry_on_the_configured_delays_then_go_to_dead_letters(
    consumer_settings: Settings, fresh_name: Callable[[str], str], channel: AbstractChannel, openvidu_events: dict
) -> None:
    consumer = Consumer(fresh_name("retry"))
    recorder = consumer.on("participantLeft")(Recorder(fail=RuntimeError("billing API down")))
    async with running(consumer_settings, consumer):
        await publish(channel, consumer_settings.exchange, openvidu_events["participantLeft"])
        assert await recorder.wait_for(3)
        letters = await dead_letters(consumer_settings, consumer.name, 1)
        # No hot loop: nothing more comes after the last attempt.
        assert not await recorder.wait_for(4, timeout=1.0)
    assert [e.attempt for e in recorder.events] == [1, 2, 3]
    assert len({e.message_id for e in recorder.events}) == 1
    assert all(e.body == openvidu_events["participantLeft"] for e in recorder.events)
    gaps = [later - earlier for earlier, later in zip(recorder.times, recorder.times[1:], strict=False)]
    assert gaps[0] >= 0.2, gaps
    assert gaps[1] >= 0.5, gaps
    assert len(letters) == 1
    letter = letters[0]
    assert (letter.event_type, letter.attempts) == ("participantLeft", 3)
    assert "RuntimeError: billing API down" in letter.error


async def test_retry_then_success_keeps_the_event_whole(
    consumer_settings: Settings, fresh_name: Callable[[str], str], channel: AbstractChannel, livekit_events: dict
) -> None:
    consumer = Consumer(fresh_name("retry-ok"))
    seen: list[Event] = []
    done = asyncio.Event()

    @consumer.on("egress_ended")
    async def flaky(event: Event) -> None:
        seen.append(event)
        if event.attempt == 1:
            raise Retry("storage not mounted yet")
        done.set()

    body = livekit_events["egress_ended"]
    async with running(consumer_settings, consumer):
        await publish(channel, consumer_settings.exchange, body, message_id="EV_Wd9eR3tYu6Io", source="livekit")
        await asyncio.wait_for(done.wait(), 10)
    first, second = seen
    assert (second.type, second.attempt, second.source, second.message_id) == (
        "egress_ended",
        2,
        "livekit",
        "EV_Wd9eR3tYu6Io",
    )
    assert second.body == body
    assert second.data == first.data
    assert second.received_at == first.received_at
    assert await ready_count(channel, topology.Names(consumer.name).dead) == 0


async def test_reject_goes_straight_to_dead_letters(
    consumer_settings: Settings, fresh_name: Callable[[str], str], channel: AbstractChannel, openvidu_events: dict
) -> None:
    consumer = Consumer(fresh_name("reject"))
    recorder = consumer.on("signalSent")(Recorder(fail=Reject("not for us")))
    async with running(consumer_settings, consumer):
        await publish(channel, consumer_settings.exchange, openvidu_events["signalSent"])
        letters = await dead_letters(consumer_settings, consumer.name, 1)
        assert not await recorder.wait_for(2, timeout=0.8)
    assert [(letter.attempts, letter.error) for letter in letters] == [(1, "Reject: not for us")]


async def test_a_body_that_is_not_an_event_goes_to_dead_letters(
    consumer_settings: Settings, fresh_name: Callable[[str], str], channel: AbstractChannel
) -> None:
    consumer = Consumer(fresh_name("garbage"))
    recorder = consumer.on("sessionCreated")(Recorder())
    async with running(consumer_settings, consumer):
        await publish(channel, consumer_settings.exchange, b"not json", event_type="sessionCreated")
        letters = await dead_letters(consumer_settings, consumer.name, 1)
    assert recorder.events == []
    assert letters[0].error == "the body is not JSON"


async def test_concurrency_one_keeps_queue_order(
    consumer_settings: Settings, fresh_name: Callable[[str], str], channel: AbstractChannel
) -> None:
    consumer = Consumer(fresh_name("order"))
    seen: list[int] = []
    running_now, most = 0, 0

    @consumer.on("participantJoined", "participantLeft")
    async def track(event: Event) -> None:
        nonlocal running_now, most
        running_now += 1
        most = max(most, running_now)
        await asyncio.sleep(random.uniform(0, 0.003))  # uneven work, the way real handlers take time
        seen.append(event.data["timestamp"])
        running_now -= 1

    stamps = list(range(1718012351000, 1718012351040))
    async with running(consumer_settings, consumer):
        for stamp in stamps:
            kind = random.choice(["participantJoined", "participantLeft"])
            body = b'{"sessionId":"s","timestamp":%d,"event":"%s"}' % (stamp, kind.encode())
            await publish(channel, consumer_settings.exchange, body)
        await eventually(lambda: len(seen) == len(stamps))
    assert seen == stamps
    assert most == 1


async def test_concurrency_n_runs_n_handlers_at_once(
    consumer_settings: Settings, fresh_name: Callable[[str], str], channel: AbstractChannel, openvidu_events: dict
) -> None:
    consumer = Consumer(fresh_name("parallel"), concurrency=4)
    started, release = asyncio.Semaphore(0), asyncio.Event()
    finished: list[str] = []

    @consumer.on("webrtcConnectionCreated")
    async def slow(event: Event) -> None:
        started.release()
        await release.wait()
        finished.append(event.message_id)

    async with running(consumer_settings, consumer):
        for index in range(6):
            await publish(
                channel, consumer_settings.exchange, openvidu_events["webrtcConnectionCreated"], message_id=str(index)
            )
        for _ in range(4):  # four handlers in flight together, none finished
            await asyncio.wait_for(started.acquire(), 10)
        assert finished == []
        release.set()
        for _ in range(2):
            await asyncio.wait_for(started.acquire(), 10)
        await eventually(lambda: len(finished) == 6)
    assert sorted(finished) == [str(i) for i in range(6)]
