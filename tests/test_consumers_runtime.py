"""The runner against faults: a lost broker connection, SIGTERM mid-handler, start order, changed bindings."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import aiormq
import pytest
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from consumers import Consumer, Event, topology
from consumers.runner import Runner
from consumers.settings import Settings
from tests.consumer_support.running import Recorder, eventually, publish, running
from tests.consumer_support.webhooks import bridge
from tests.support.proxy import TcpProxy

pytest_plugins = ["tests.consumer_support.fixtures"]
pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent


async def queue_counts(amqp: AbstractRobustConnection, queue: str) -> tuple[int, int]:
    """(ready messages, consumers) of `queue`, on a channel of its own (a failed passive declare closes it)."""
    async with amqp.channel() as channel:
        declared = await channel.declare_queue(queue, passive=True)
        result = declared.declaration_result
        return int(result.message_count or 0), int(result.consumer_count or 0)


async def test_reconnects_after_the_connection_drops(
    amqp_url: str,
    consumer_settings: Settings,
    fresh_name: Callable[[str], str],
    channel: AbstractChannel,
    tcp_proxy: Callable[[], TcpProxy],
    openvidu_events: dict,
) -> None:
    proxy = tcp_proxy()
    settings = Settings(**{**consumer_settings.__dict__, "rabbitmq_url": proxy.url(amqp_url)})
    consumer = Consumer(fresh_name("reconnect"))
    recorder = consumer.on("sessionCreated")(Recorder())
    gate, inside = asyncio.Event(), asyncio.Event()
    held: list[Event] = []

    @consumer.on("participantJoined")
    async def held_up(event: Event) -> None:
        held.append(event)
        inside.set()
        await gate.wait()

    async with running(settings, consumer) as runner:
        await publish(channel, settings.exchange, openvidu_events["sessionCreated"])
        assert await recorder.wait_for(1)
        await publish(channel, settings.exchange, openvidu_events["participantJoined"])
        await asyncio.wait_for(inside.wait(), 10)
        proxy.cut()  # mid-handler: its ack cannot reach the broker any more
        gate.set()
        await eventually(lambda: not runner.ready.is_set())
        # Published while the consumer is away: it waits in the queue.
        await publish(channel, settings.exchange, openvidu_events["sessionCreated"], message_id="while-away")
        proxy.restore()
        assert await recorder.wait_for(2, timeout=15)
        await eventually(lambda: len(held) == 2)
    assert runner.sessions == 2
    assert recorder.events[1].message_id == "while-away"
    # The message whose ack was lost came again: at least once, same id, not counted as a failed attempt.
    assert [(e.message_id, e.attempt) for e in held] == [(held[0].message_id, 1)] * 2


def slow_consumer_env(amqp_url: str, exchange: str, name: str, tmp_path: Path, seconds: float) -> dict[str, str]:
    return {
        **os.environ,
        "RABBITMQ_URL": amqp_url,
        "CONSUMER_EXCHANGE": exchange,
        "CONSUMER_RETRY_DELAYS": "0.2,0.5",
        "CONSUMER_STATE_DIR": str(tmp_path / "state"),
        "SLOW_CONSUMER_NAME": name,
        "SLOW_CONSUMER_MARKS": str(tmp_path / "marks.log"),
        "SLOW_CONSUMER_SECONDS": str(seconds),
    }


@pytest.mark.parametrize(("signals", "exit_code", "marks", "left"), [
    (1, 0, ["started 1", "finished 1"], 1),  # the message in hand is finished and acked; the next one waits
    (2, 1, ["started 1"], 2),  # a second signal does not wait: the message in hand goes back to the queue
])  # fmt: skip
async def test_sigterm_mid_handler(
    amqp_url: str, amqp: AbstractRobustConnection, consumer_settings: Settings, fresh_name: Callable[[str], str],
    channel: AbstractChannel, tmp_path: Path, signals: int, exit_code: int, marks: list[str], left: int,
) -> None:  # fmt: skip
    name, log = fresh_name("sigterm"), tmp_path / "consumer.log"
    env = slow_consumer_env(amqp_url, consumer_settings.exchange, name, tmp_path, 1 if signals == 1 else 60)
    with log.open("wb") as output:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "consumers", "run", "tests.consumer_support.slow:consumer",
            cwd=ROOT, env=env, stdout=output, stderr=output,
        )  # fmt: skip
    marked = tmp_path / "marks.log"
    try:
        assert await eventually(lambda: "consuming queue" in log.read_text(), timeout=20), log.read_text()
        for stamp in (1, 2):
            body = b'{"sessionId":"s","timestamp":%d,"event":"sessionCreated"}' % stamp
            await publish(channel, consumer_settings.exchange, body)
        assert await eventually(lambda: marked.exists() and "started 1" in marked.read_text())
        proc.send_signal(signal.SIGTERM)
        if signals == 2:
            assert await eventually(lambda: "finishing the messages in hand" in log.read_text())
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert code == exit_code, log.read_text()
    assert marked.read_text().splitlines() == marks
    assert await queue_counts(amqp, name) == (left, 0)


async def test_a_deleted_queue_is_declared_again(
    consumer_settings: Settings, fresh_name: Callable[[str], str], channel: AbstractChannel, openvidu_events: dict
) -> None:
    consumer = Consumer(fresh_name("deleted"))
    recorder = consumer.on("sessionCreated")(Recorder())
    async with running(consumer_settings, consumer) as runner:
        await channel.queue_delete(consumer.name)  # an operator's mistake; the broker cancels our consumer
        await eventually(lambda: runner.sessions == 2 and runner.ready.is_set())
        await publish(channel, consumer_settings.exchange, openvidu_events["sessionCreated"])
        assert await recorder.wait_for(1)


async def test_start_order_does_not_matter(
    amqp_url: str,
    consumer_settings: Settings,
    fresh_name: Callable[[str], str],
    tmp_path: Path,
    openvidu_events: dict,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The bridge first this time (the other end-to-end tests start consumers first): same exchange, no conflict.
    consumer = Consumer(fresh_name("late"))
    recorder = consumer.on("sessionCreated")(Recorder())
    async with bridge(amqp_url, consumer_settings.exchange, tmp_path) as poster:
        async with running(consumer_settings, consumer):
            await poster.post(openvidu_events["sessionCreated"])
            assert await recorder.wait_for(1)
    assert "other arguments" not in caplog.text


async def test_queues_are_quorum_queues(
    amqp: AbstractRobustConnection, consumer_settings: Settings, fresh_name: Callable[[str], str]
) -> None:
    name = fresh_name("quorum")
    consumer = Consumer(name)
    consumer.on("sessionCreated")(Recorder())
    async with running(consumer_settings, consumer):
        pass
    names = topology.Names(consumer.name)
    safe = {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
    documented = {
        names.queue: {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": names.dead, "x-delivery-limit": 20}
        | safe,
        names.dead: {},
        names.bindings: {},
        names.retry(0.2): {"x-message-ttl": 200, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": name}
        | safe,
        names.retry(0.5): {"x-message-ttl": 500, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": name}
        | safe,
    }
    for queue, arguments in documented.items():
        async with amqp.channel() as channel:  # the same declaration again is accepted: these are its arguments
            await channel.declare_queue(queue, durable=True, arguments=arguments | {"x-queue-type": "quorum"})
        async with amqp.channel() as channel:
            with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed, match="x-queue-type"):
                await channel.declare_queue(queue, durable=True, arguments=arguments | {"x-queue-type": "classic"})


async def test_bindings_follow_the_handlers(
    amqp: AbstractRobustConnection,
    consumer_settings: Settings,
    fresh_name: Callable[[str], str],
    channel: AbstractChannel,
    openvidu_events: dict,
) -> None:
    name = fresh_name("rebind")
    before = Consumer(name)
    before.on("sessionCreated", "signalSent")(Recorder())
    async with running(consumer_settings, before):
        pass
    after = Consumer(name)  # the next version of the code no longer handles signalSent
    recorder = after.on("sessionCreated", "participantLeft")(Recorder())
    async with running(consumer_settings, after):
        for kind in ("signalSent", "participantLeft", "sessionCreated"):
            await publish(channel, consumer_settings.exchange, openvidu_events[kind])
        assert await recorder.wait_for(2)
    assert recorder.types == ["participantLeft", "sessionCreated"]
    assert await queue_counts(amqp, name) == (0, 0)  # signalSent was not routed to the queue at all
    async with amqp.channel() as fresh:
        record = await fresh.get_queue(topology.Names(name).bindings)
        message = await record.get(no_ack=False)
        assert message.body == b'["participantLeft","sessionCreated"]'
        await message.nack()


def test_a_consumer_without_handlers_or_two_with_one_name_is_refused(consumer_settings: Settings) -> None:
    with pytest.raises(ValueError, match="no handler"):
        Runner(consumer_settings, [Consumer("empty")])
    one, two = Consumer("same"), Consumer("same")
    with pytest.raises(ValueError, match="different names"):
        Runner(consumer_settings, [one, two])
