"""`order="session"` in one process: each session in queue order, sessions at once, retries, stop."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
from collections.abc import Callable

import pytest
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from consumers import Consumer
from consumers.runner import Runner
from consumers.settings import Settings
from consumers.topology import Names
from consumers.worker import HOLD_IN_PLACE
from tests.consumer_support.running import eventually, publish, running, until_ready
from tests.consumer_support.sessions import SessionRecorder, interleaved, session_event

pytestmark = pytest.mark.anyio
pytest_plugins = ["tests.consumer_support.fixtures"]


def keyed(name: str, recorder: SessionRecorder, concurrency: int) -> Consumer:
    consumer = Consumer(name, concurrency=concurrency, order="session")
    consumer.on("participantJoined")(recorder)
    return consumer


async def test_each_session_is_handled_in_queue_order_and_sessions_at_once(
    consumer_settings: Settings, fresh_name: Callable[..., str], channel: AbstractChannel
) -> None:
    recorder = SessionRecorder(work=0.004)
    events = interleaved(sessions=20, count=400)
    async with running(consumer_settings, keyed(fresh_name("keyed"), recorder, concurrency=8)):
        for session, seq in events:
            await publish(channel, consumer_settings.exchange, session_event(session, seq))
        assert await recorder.wait_for(len(events), timeout=60)

    published: dict[str, list[int]] = collections.defaultdict(list)
    for session, seq in events:
        published[session].append(seq)
    assert recorder.order() == published
    assert len(recorder.handled) == len(events)  # each once: nothing failed, nothing redelivered
    assert recorder.overlaps == 0  # never two events of one session at once
    assert 1 < recorder.most_running <= 8


async def test_a_slow_session_does_not_hold_up_the_others(
    consumer_settings: Settings, fresh_name: Callable[..., str], channel: AbstractChannel
) -> None:
    recorder = SessionRecorder()
    recorder.gates[0] = asyncio.Event()  # the first event of the slow session waits until we say
    async with running(consumer_settings, keyed(fresh_name("slow"), recorder, concurrency=4)):
        for seq in range(3):
            await publish(channel, consumer_settings.exchange, session_event("ses_slow", seq))
        others = interleaved(sessions=12, count=60)
        for session, seq in others:
            await publish(channel, consumer_settings.exchange, session_event(session, 3 + seq))
        assert await recorder.wait_for(len(others), timeout=30)  # all of them, while the slow one is stuck
        assert {h.seq for h in recorder.handled} == {3 + seq for _, seq in others}
        recorder.gates[0].set()
        assert await recorder.wait_for(len(others) + 3, timeout=30)
    assert recorder.order()["ses_slow"] == [0, 1, 2]


async def test_a_retry_due_soon_holds_its_own_session_in_place_and_no_other(
    amqp: AbstractRobustConnection,
    consumer_settings: Settings,
    fresh_name: Callable[..., str],
    channel: AbstractChannel,
) -> None:
    settings = dataclasses.replace(consumer_settings, retry_delays=(1.0,))
    recorder = SessionRecorder()
    recorder.failures[0] = 1  # ses_A's first event fails once, and is due again in 1 s
    name = fresh_name("hold", (1.0,))
    async with running(settings, keyed(name, recorder, concurrency=4)):
        await publish(channel, settings.exchange, session_event("ses_A", 0))
        await publish(channel, settings.exchange, session_event("ses_A", 1))
        for seq in range(2, 7):
            await publish(channel, settings.exchange, session_event("ses_B", seq))
        assert await recorder.wait_for(8, timeout=30)

    a = [(h.seq, h.attempt) for h in recorder.handled if h.session == "ses_A"]
    assert a == [(0, 1), (0, 2), (1, 1)]  # the later event of its session waited for the retry
    retried = next(h for h in recorder.handled if h.seq == 0 and h.attempt == 2)
    assert all(h.ended < retried.started for h in recorder.handled if h.session == "ses_B")  # the others did not
    async with amqp.channel() as check:  # it waited in place: it never went to the broker's retry queue
        retry = await check.declare_queue(Names(name).retry(1.0), passive=True)
        assert retry.declaration_result.message_count == 0


@pytest.mark.slow
async def test_a_retry_due_later_lets_the_later_events_of_its_session_pass(
    consumer_settings: Settings, fresh_name: Callable[..., str], channel: AbstractChannel
) -> None:
    delay = HOLD_IN_PLACE + 0.5
    settings = dataclasses.replace(consumer_settings, retry_delays=(delay,))
    recorder = SessionRecorder()
    recorder.failures[0] = 1
    name = fresh_name("pass", (delay,))
    async with running(settings, keyed(name, recorder, concurrency=4)):
        await publish(channel, settings.exchange, session_event("ses_A", 0))
        await publish(channel, settings.exchange, session_event("ses_A", 1))
        assert await recorder.wait_for(3, timeout=delay + 30)

    assert [(h.seq, h.attempt) for h in recorder.handled] == [(0, 1), (1, 1), (0, 2)]
    first, retried = recorder.handled[0], recorder.handled[2]
    assert retried.started - first.ended >= delay - 0.1  # it waited in the broker's retry queue


async def test_stopping_settles_what_runs_and_gives_back_the_rest_in_order(
    caplog: pytest.LogCaptureFixture,
    consumer_settings: Settings,
    fresh_name: Callable[..., str],
    channel: AbstractChannel,
) -> None:
    recorder = SessionRecorder()
    recorder.gates[0] = asyncio.Event()
    caplog.set_level(logging.INFO, logger="consumers.worker")
    consumer = keyed(fresh_name("stop"), recorder, concurrency=4)
    runner = Runner(consumer_settings, [consumer])
    task = asyncio.create_task(runner.run())
    await until_ready(runner, task)
    for seq in range(6):
        await publish(channel, consumer_settings.exchange, session_event("ses_A", seq))
    await publish(channel, consumer_settings.exchange, session_event("ses_B", 6))
    assert await recorder.wait_started(0)
    assert await recorder.wait_for(1)  # ses_B's event, while ses_A's first is in the handler
    runner.stop()

    stopped = f"stopped consuming {consumer.name!r}; 6 messages in hand"
    assert await eventually(lambda: stopped in caplog.text, timeout=15)  # stopping: no new messages
    recorder.gates[0].set()  # the one running finishes and is acked; the five behind it go back, in order
    await asyncio.wait_for(task, 15)
    assert [h.seq for h in recorder.handled] == [6, 0]

    async with running(consumer_settings, consumer):  # the next run (or another process) takes them up
        assert await recorder.wait_for(7)
    assert recorder.order() == {"ses_A": [0, 1, 2, 3, 4, 5], "ses_B": [6]}
    assert len(recorder.handled) == 7  # none twice


async def test_stopping_with_a_full_look_ahead_gives_it_back_in_order(
    caplog: pytest.LogCaptureFixture,
    consumer_settings: Settings,
    fresh_name: Callable[..., str],
    channel: AbstractChannel,
) -> None:
    # Hundreds of messages given back at once: RabbitMQ 3.10 batches a channel's requeues while 32 of its
    # commands are pending, and a quorum queue requeues a batch of more than 32 in no particular order.
    events = interleaved(sessions=8, count=256)
    firsts = {session: next(seq for s, seq in events if s == session) for session, _ in events}
    recorder = SessionRecorder()
    gate = asyncio.Event()
    recorder.gates = dict.fromkeys(firsts.values(), gate)
    caplog.set_level(logging.INFO, logger="consumers.worker")
    consumer = keyed(fresh_name("stopfull"), recorder, concurrency=32)  # a look-ahead of 256
    runner = Runner(consumer_settings, [consumer])
    task = asyncio.create_task(runner.run())
    await until_ready(runner, task)
    for session, seq in events:
        await publish(channel, consumer_settings.exchange, session_event(session, seq))
    assert await eventually(lambda: len(recorder.started) == 8 and runner.workers[0].in_hand == 256, timeout=15)
    runner.stop()
    assert await eventually(lambda: "256 messages in hand" in caplog.text, timeout=15)
    gate.set()  # the first event of each session finishes; the 248 behind them go back
    await asyncio.wait_for(task, 15)

    async with running(consumer_settings, consumer):
        assert await recorder.wait_for(256)
    published: dict[str, list[int]] = collections.defaultdict(list)
    for session, seq in events:
        published[session].append(seq)
    assert recorder.order() == published


async def test_a_message_that_is_not_an_event_goes_to_dead_letters_without_holding_anyone(
    amqp: AbstractRobustConnection,
    consumer_settings: Settings,
    fresh_name: Callable[..., str],
    channel: AbstractChannel,
) -> None:
    recorder = SessionRecorder()
    name = fresh_name("bad")
    async with running(consumer_settings, keyed(name, recorder, concurrency=2)):
        await publish(channel, consumer_settings.exchange, b"not json", event_type="participantJoined")
        await publish(channel, consumer_settings.exchange, session_event("ses_A", 0))
        assert await recorder.wait_for(1)

        async def dead_count() -> int:
            async with amqp.channel() as check:
                dead = await check.declare_queue(Names(name).dead, passive=True)
                return dead.declaration_result.message_count or 0

        assert await eventually(lambda: dead_count(), timeout=10) == 1
