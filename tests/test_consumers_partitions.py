"""`partitions=P`: every process of a consumer takes part, each partition consumed by one process at a time."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiormq
import pytest
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from consumers import Consumer
from consumers.runner import Runner
from consumers.settings import Settings
from consumers.topology import Names
from consumers.worker import HOLD_IN_PLACE
from tests.consumer_support.running import eventually, publish, terminate, until_ready
from tests.consumer_support.sessions import SessionRecorder, interleaved, session_event
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.anyio
pytest_plugins = ["tests.consumer_support.fixtures"]
ROOT = Path(__file__).resolve().parent.parent


def partitioned(name: str, recorder: SessionRecorder, partitions: int | None, concurrency: int = 4) -> Consumer:
    consumer = Consumer(name, concurrency=concurrency, order="session", partitions=partitions)
    consumer.on("participantJoined")(recorder)
    return consumer


@contextlib.asynccontextmanager
async def process(settings: Settings, consumer: Consumer) -> AsyncIterator[Runner]:
    """A runner standing for one process of the consumer: a connection (and membership) of its own."""
    runner = Runner(settings, [consumer])
    task = asyncio.create_task(runner.run())
    await until_ready(runner, task)
    try:
        yield runner
    finally:
        runner.stop()
        await asyncio.wait_for(task, 30)


def held(runner: Runner) -> set[str]:
    claimer = runner.workers[0].claimer if runner.workers else None
    return set(claimer.held) if claimer is not None else set()


async def publish_all(channel: AbstractChannel, exchange: str, events: list[tuple[str, int]]) -> None:
    for session, seq in events:
        await publish(channel, exchange, session_event(session, seq))


def in_order(recorder: SessionRecorder, events: list[tuple[str, int]]) -> bool:
    published: dict[str, list[int]] = collections.defaultdict(list)
    for session, seq in events:
        published[session].append(seq)
    return recorder.order() == published


async def owners(amqp: AbstractRobustConnection, lanes: list[str]) -> int:
    """How many of `lanes` a connection holds right now (its owner queue is locked by that connection)."""
    count = 0
    for lane in lanes:
        channel = await amqp.channel()
        try:
            await channel.declare_queue(Names.owner(lane), passive=True)
        except aiormq.exceptions.ChannelLockedResource:
            count += 1
        except aiormq.exceptions.ChannelNotFoundEntity:
            pass
        finally:
            if not channel.is_closed:
                await channel.close()
    return count


async def test_two_processes_share_the_partitions_evenly_and_one_takes_all_when_the_other_stops(
    consumer_settings: Settings, partitioned_name: Callable[..., str], channel: AbstractChannel
) -> None:
    name = partitioned_name()
    recorder = SessionRecorder(work=0.002)
    first_events = interleaved(sessions=16, count=200)
    later_events = [(session, seq + 200) for session, seq in interleaved(sessions=16, count=100, seed=8)]
    async with process(consumer_settings, partitioned(name, recorder, 4)) as one:
        async with process(consumer_settings, partitioned(name, recorder, 4)) as two:
            assert await eventually(lambda: len(held(one)) == len(held(two)) == 2, timeout=20)
            assert held(one) | held(two) == set(Names(name, 4).lanes)
            await publish_all(channel, consumer_settings.exchange, first_events)
            assert await recorder.wait_for(len(first_events), timeout=30)
        assert await eventually(lambda: len(held(one)) == 4, timeout=20)  # the other one left: all are its own
        await publish_all(channel, consumer_settings.exchange, later_events)
        assert await recorder.wait_for(len(first_events) + len(later_events), timeout=30)

    assert in_order(recorder, first_events + later_events)
    assert len(recorder.handled) == len(first_events) + len(later_events)  # none twice: hand-overs lose nothing
    assert recorder.overlaps == 0


async def test_a_process_that_loses_its_connection_hands_its_partitions_over_and_takes_its_share_back(
    consumer_settings: Settings,
    partitioned_name: Callable[..., str],
    channel: AbstractChannel,
    tcp_proxy: Callable[[], TcpProxy],
) -> None:
    proxy = tcp_proxy()
    far = dataclasses.replace(consumer_settings, rabbitmq_url=proxy.url(consumer_settings.rabbitmq_url))
    name, recorder = partitioned_name(), SessionRecorder(work=0.002)
    events = interleaved(sessions=16, count=300)
    async with (
        process(consumer_settings, partitioned(name, recorder, 4)) as near,
        process(far, partitioned(name, recorder, 4)) as away,
    ):
        assert await eventually(lambda: len(held(near)) == len(held(away)) == 2, timeout=20)
        await publish_all(channel, consumer_settings.exchange, events[:100])
        proxy.cut()  # the broker closes its connection: its owner queues go with it
        assert await eventually(lambda: len(held(near)) == 4, timeout=20)
        await publish_all(channel, consumer_settings.exchange, events[100:200])
        assert await eventually(lambda: {h.seq for h in recorder.handled} >= set(range(200)), timeout=30)
        proxy.restore()  # it reconnects as a new member, and gets its share back
        assert await eventually(lambda: len(held(near)) == len(held(away)) == 2, timeout=40)
        await publish_all(channel, consumer_settings.exchange, events[200:])
        assert await eventually(lambda: {h.seq for h in recorder.handled} >= set(range(300)), timeout=30)
    assert in_order(recorder, events)


async def test_a_retry_due_later_comes_back_to_its_own_partition(
    amqp: AbstractRobustConnection,
    consumer_settings: Settings,
    partitioned_name: Callable[..., str],
    channel: AbstractChannel,
) -> None:
    delay = HOLD_IN_PLACE + 0.5  # longer than a retry held in place: it goes through the broker's retry queue
    settings = dataclasses.replace(consumer_settings, retry_delays=(delay,))
    name = partitioned_name((delay,))
    names = Names(name, 3)
    recorder = SessionRecorder()
    recorder.failures[0] = 1
    async with process(settings, partitioned(name, recorder, 3)) as one:
        assert await eventually(lambda: len(held(one)) == 3, timeout=20)
        await publish(channel, settings.exchange, session_event("ses_R", 0))
        assert await recorder.wait_for(1)
    retried_at = time.monotonic()
    # Nobody consumes now. A new event of the same session shows which partition is the session's.
    await publish(channel, settings.exchange, session_event("ses_R", 1))

    async def counts() -> list[int]:
        result = []
        for lane in names.lanes:
            async with amqp.channel() as check:
                queue = await check.declare_queue(lane, passive=True)
                result.append(queue.declaration_result.message_count or 0)
        return result

    assert sorted(await eventually(counts, timeout=10)) == [0, 0, 1]
    assert sorted(await eventually(lambda: _when(counts, lambda c: sum(c) == 2), timeout=delay + 20)) == [0, 0, 2]
    assert time.monotonic() - retried_at >= delay - 1  # it did wait in the retry queue


async def _when(check: Callable[[], object], done: Callable[[list[int]], bool]) -> list[int] | None:
    result = await check()  # type: ignore[misc]
    return result if done(result) else None


class Processes:
    """`consumers run tests.consumer_support.partitioned:consumer`, as several real processes."""

    def __init__(self, settings: Settings, name: str, tmp: Path, partitions: int) -> None:
        self.tmp = tmp
        self.marks = tmp / "marks.log"
        self.env = {
            **os.environ,
            "RABBITMQ_URL": settings.rabbitmq_url,
            "CONSUMER_EXCHANGE": settings.exchange,
            "CONSUMER_STATE_DIR": str(tmp / "state"),
            "CONSUMER_RETRY_DELAYS": ",".join(map(str, settings.retry_delays)),  # those the fixture deletes
            "CONSUMER_LOG_LEVEL": "INFO",
            "PARTITIONED_NAME": name,
            "PARTITIONED_PARTITIONS": str(partitions),
            "PARTITIONED_MARKS": str(self.marks),
            "PARTITIONED_WORK": "0.03",
        }
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, count: int) -> None:
        for _ in range(count):
            command = [sys.executable, "-m", "consumers", "run", "tests.consumer_support.partitioned:consumer"]
            with (self.tmp / f"consumer-{len(self.procs)}.log").open("ab") as log:
                proc = await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=self.env, stdout=log, stderr=log)
            self.procs.append(proc)

    def held(self) -> list[int]:
        """How many partitions each live process holds, by its log."""
        counts = []
        for number, proc in enumerate(self.procs):
            if proc.returncode is None:
                text = (self.tmp / f"consumer-{number}.log").read_text()
                counts.append(text.count("consuming partition ") - text.count("handed partition "))
        return sorted(counts)

    async def kill(self, number: int) -> None:
        self.procs[number].send_signal(signal.SIGKILL)
        await self.procs[number].wait()

    def calls(self) -> list[tuple[int, str, int, int]]:
        lines = self.marks.read_text().splitlines() if self.marks.exists() else []
        return [(int(pid), session, int(seq), int(attempt)) for pid, session, seq, attempt in map(str.split, lines)]

    async def stop(self) -> None:
        await terminate(self.procs)


@pytest.mark.slow
async def test_three_processes_keep_each_session_in_order_and_lose_nothing_when_one_is_sigkilled(
    amqp: AbstractRobustConnection,
    consumer_settings: Settings,
    partitioned_name: Callable[..., str],
    channel: AbstractChannel,
    tmp_path: Path,
) -> None:
    partitions, name = 6, partitioned_name()
    lanes = Names(name, partitions).lanes
    processes = Processes(consumer_settings, name, tmp_path, partitions)
    events = interleaved(sessions=40, count=1200)
    try:
        await processes.start(3)
        assert await eventually(lambda: processes.held() == [2, 2, 2], timeout=60), processes.held()
        for session, seq in events:
            await publish(channel, consumer_settings.exchange, session_event(session, seq))
            if seq == 400:
                await eventually(lambda: len(processes.calls()) >= 300, timeout=60)
                victim = processes.calls()[-1][0]
                killed = time.monotonic()
                await processes.kill(next(n for n, p in enumerate(processes.procs) if p.pid == victim))
        assert await eventually(lambda: processes.held() == [3, 3], timeout=30), processes.held()
        takeover = time.monotonic() - killed
        assert await owners(amqp, lanes) == partitions
        assert await eventually(lambda: {c[2] for c in processes.calls()} >= set(range(len(events))), timeout=90)
    finally:
        await processes.stop()

    calls = processes.calls()
    firsts: dict[str, list[int]] = collections.defaultdict(list)
    seen: set[int] = set()
    for _, session, seq, _ in calls:
        if seq not in seen:
            seen.add(seq)
            firsts[session].append(seq)
    published: dict[str, list[int]] = collections.defaultdict(list)
    for session, seq in events:
        published[session].append(seq)
    assert firsts == published  # every event handled, each session's first handlings in queue order
    again = len(calls) - len(seen)  # handled by the victim, not acked before the kill, so handled again
    assert again <= 2 * 8 * 8, again  # at most its two partitions' look-ahead
    assert victim in {c[0] for c in calls}
    assert takeover < 15, takeover
    sys.stdout.write(
        f"\n3 processes, {partitions} partitions, one SIGKILLed: taken over in {takeover:.1f}s, "
        f"{again} events handled again\n"
    )


async def test_layout_changes_unbind_the_old_queues_and_still_deliver_what_they_hold(
    amqp: AbstractRobustConnection,
    consumer_settings: Settings,
    partitioned_name: Callable[..., str],
    channel: AbstractChannel,
) -> None:
    name, recorder = partitioned_name(), SessionRecorder()
    published = 0

    async def publish_ten() -> None:
        nonlocal published
        for seq in range(published, published + 10):
            await publish(channel, consumer_settings.exchange, session_event(f"ses_{seq % 5}", seq))
        published += 10

    async def counts(*queues: str) -> list[int]:
        result = []
        for queue in queues:
            channel = await amqp.channel()
            try:
                result.append((await channel.declare_queue(queue, passive=True)).declaration_result.message_count)
            except aiormq.exceptions.ChannelNotFoundEntity:
                result.append(0)  # not declared (yet)
            finally:
                if not channel.is_closed:
                    await channel.close()
        return result

    names = Names(name, 4)
    plain, partitions = names.queue, names.lanes
    for layout, lanes in ((None, 1), (4, 5), (2, 5), (None, 4)):  # 5 = the partitions and the earlier queues
        async with process(consumer_settings, partitioned(name, recorder, layout)) as one:
            if layout:
                assert await eventually(lambda lanes=lanes: len(held(one)) == lanes, timeout=20)
            await publish_ten()  # what waited in the earlier layout's queues, then this: all handled
            assert await recorder.wait_for(published, timeout=30)
        await publish_ten()  # while nobody runs: the events show where this layout routes them
        where = await eventually(lambda: _when(lambda: counts(plain, *partitions), lambda c: sum(c) == 10))
        assert where is not None
        if layout is None:
            assert where[0] == 10  # the plain queue: the partitions are unbound from the topic exchange
        else:
            assert where[0] == 0
            assert sum(where[1 : 1 + layout]) == 10  # only the first `layout` partitions are bound
    assert sorted(h.seq for h in recorder.handled) == list(range(published - 10))  # each once


@pytest.mark.slow
def test_without_the_plugin_partitions_fail_at_start_with_one_line_saying_how_to_enable_it(tmp_path: Path) -> None:
    from tests.support.own_broker import OwnBroker

    broker = OwnBroker().start()  # a node of our own, without the plugin
    try:
        env = {**os.environ, "RABBITMQ_URL": broker.url, "PARTITIONED_MARKS": str(tmp_path / "marks.log")}
        command = [sys.executable, "-m", "consumers", "run", "tests.consumer_support.partitioned:consumer"]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    finally:
        broker.remove()
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "consumers: partitions need the RabbitMQ plugin rabbitmq_consistent_hash_exchange, which this broker has not "
        "enabled: run `rabbitmq-plugins enable rabbitmq_consistent_hash_exchange` on every node (it ships with "
        "RabbitMQ; no restart needed)"
    ]
