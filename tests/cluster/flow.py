"""One cluster scenario's moving parts: a real bridge process and a real consumer process (a quorum queue) on the
cluster, sequential senders posting through the bridge, and the scenario's row of the table."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx

from tests.faults.stream import Outcome, Senders, verify
from tests.support.bridges import BridgeProcess
from tests.support.cluster import Cluster, Node

ROOT = Path(__file__).resolve().parent.parent.parent
T = TypeVar("T")
RATE = 150.0  # per sender; two senders
HEARTBEAT = 5  # the consumer's: a frozen node is given up on after (5 + 1) * 3 = 18 s without a frame
CONSUMING = re.compile(r"consuming queue .* at (127\.0\.0\.1:\d+)")


class ConsumerProcess:
    """`consumers run tests.cluster.cluster_consumer:consumer` on every node's address."""

    def __init__(self, urls: str, exchange: str, name: str, tmp: Path) -> None:
        self.deliveries = tmp / "deliveries.log"
        self.log = tmp / "consumer.log"
        self.name = name
        self.env = {
            **os.environ,
            "RABBITMQ_URL": urls,
            "CONSUMER_EXCHANGE": exchange,
            "CONSUMER_RETRY_DELAYS": "1",
            "CONSUMER_STATE_DIR": str(tmp / "state"),
            "CLUSTER_CONSUMER_NAME": name,
            "CLUSTER_DELIVERIES": str(self.deliveries),
        }
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as output:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "consumers", "run", "tests.cluster.cluster_consumer:consumer",
                cwd=ROOT, env=self.env, stdout=output, stderr=output,
            )  # fmt: skip
        await until(lambda: self.sessions() >= 1, within=30, what="the consumer to consume")

    def sessions(self) -> int:
        return len(CONSUMING.findall(self.log.read_text())) if self.log.exists() else 0

    def node(self) -> str:
        return str(CONSUMING.findall(self.log.read_text())[-1])

    def delivered(self) -> list[tuple[float, str]]:
        lines = self.deliveries.read_text().splitlines() if self.deliveries.exists() else []
        return [(float(t), m) for t, _, m in (line.partition(" ") for line in lines if line.count(" ") == 1)]

    def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()


@dataclasses.dataclass
class Flow:
    cluster: Cluster
    bridge: BridgeProcess
    consumer: ConsumerProcess
    senders: Senders
    outages: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # no quorum: not failover time

    async def more(self, count: int, within: float = 60.0) -> None:
        """Wait until `count` more events were accepted."""
        await self.senders.until(len(self.senders.accepted) + count, within)

    async def ready(self) -> dict[str, object]:
        async with httpx.AsyncClient() as client:
            body: dict[str, object] = (await client.get(self.bridge.url + "/readyz", timeout=5)).json()
            return body

    async def bridge_node(self) -> Node:
        await until_async(self._connected, within=30, what="the bridge to be connected")
        return self.cluster.node_at(str((await self.ready())["broker_node"]))

    async def _connected(self) -> bool:
        return (await self.ready())["broker"] == "connected"

    async def bridge_leaves(self, node: Node, within: float) -> None:
        async def elsewhere() -> bool:
            ready = await self.ready()
            return ready["broker"] == "connected" and ready["broker_node"] != node.address

        await until_async(elsewhere, within, what=f"the bridge to leave {node.name}")

    def consumer_node(self) -> Node:
        return self.cluster.node_at(self.consumer.node())

    async def consumer_leaves(self, node: Node, within: float) -> None:
        sessions = self.consumer.sessions()
        await until(lambda: self.consumer.sessions() > sessions, within, what=f"the consumer to leave {node.name}")
        assert self.consumer.node() != node.address

    @staticmethod
    async def do(action: Callable[[], T]) -> T:
        """A blocking cluster operation, off the event loop: the senders keep going meanwhile."""
        return await asyncio.to_thread(action)

    @contextlib.asynccontextmanager
    async def without_quorum(self) -> AsyncIterator[None]:
        started = time.time()
        try:
            yield
        finally:
            self.outages.append((started, time.time()))


Run = Callable[[str], contextlib.AbstractAsyncContextManager[Flow]]  # a scenario's name -> its flow


@contextlib.asynccontextmanager
async def flow(
    cluster: Cluster, tmp_path: Path, scenario: str, report: Callable[[Outcome], None]
) -> AsyncIterator[Flow]:
    """Consumer and bridge started, senders sending; at the end every accepted event is delivered (or it fails)."""
    tag = os.urandom(4).hex()
    consumer = ConsumerProcess(cluster.urls(f"?heartbeat={HEARTBEAT}"), f"cluster-{tag}", f"cluster-c-{tag}", tmp_path)
    env = {"RABBITMQ_URL": cluster.urls(), "BRIDGE_EXCHANGE": f"cluster-{tag}", "BRIDGE_JOURNAL_DIR": str(tmp_path)}
    bridge = BridgeProcess(env, tmp_path / "bridge.log")
    try:
        await consumer.start()
        bridge = await listening(env, tmp_path)
        async with Senders(bridge.webhook, count=2, rate=RATE) as senders:
            running = Flow(cluster, bridge, consumer, senders)
            await running.more(300)
            yield running
        ids = await delivered(consumer, {sent.message_id for sent in senders.accepted})
        outcome = verify(scenario, senders, ids, longest_gap(consumer.delivered(), running.outages), ordered=False)
        report(outcome)
        assert outcome.refused == 0, senders.statuses
    except BaseException:
        sys.stdout.write(
            f"--- bridge log\n{bridge.log()[-4000:]}\n--- consumer log\n{consumer.log.read_text()[-4000:]}\n"
        )
        raise
    finally:
        bridge.stop()
        consumer.stop()


async def listening(env: dict[str, str], tmp_path: Path, attempts: int = 3) -> BridgeProcess:
    """A bridge process serving on a port of its own. Between free_port() and the bind, another process on this
    shared machine may take the port (and its /readyz, another bridge's, would answer 200): then another port."""
    for attempt in range(attempts):
        bridge = BridgeProcess(env, tmp_path / f"bridge-{attempt}.log").start()
        await until(functools.partial(_bound_or_gone, bridge), 30, "the bridge to bind its port")
        if bridge.proc is not None and bridge.proc.poll() is None:
            return await bridge.ready()
    raise AssertionError(f"the bridge could not bind a port in {attempts} attempts:\n{bridge.log()}")


def _bound_or_gone(bridge: BridgeProcess) -> bool:
    # The bridge binds its port before anything else and exits with one line when it is taken; uvicorn's
    # "Started server process" comes after the bind.
    return "Started server process" in bridge.log() or (bridge.proc is not None and bridge.proc.poll() is not None)


async def delivered(consumer: ConsumerProcess, accepted: set[str], within: float = 90.0) -> list[str]:
    """The message ids delivered, once every accepted one was and no more came for a second (late duplicates)."""
    await until(lambda: accepted <= {m for _, m in consumer.delivered()}, within, what="every accepted event")
    count, deadline = -1, time.monotonic() + 15
    while count != len(consumer.delivered()) and time.monotonic() < deadline:
        count = len(consumer.delivered())
        await asyncio.sleep(1.0)  # quiet for a second: late duplicates had their chance
    return [m for _, m in consumer.delivered()]


def longest_gap(deliveries: list[tuple[float, str]], outages: list[tuple[float, float]]) -> float:
    """The longest time between two new events handled, not counting time without a quorum (nothing can flow)."""
    firsts: dict[str, float] = {}
    for at, message_id in deliveries:
        firsts.setdefault(message_id, at)
    times = sorted(firsts.values())
    return max((b - a - _overlap(a, b, outages) for a, b in itertools.pairwise(times)), default=0.0)


def _overlap(a: float, b: float, outages: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(b, end) - max(a, start)) for start, end in outages)


async def until(predicate: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {within}s waiting for {what}"
        await asyncio.sleep(0.05)


async def until_async(predicate: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out after {within}s waiting for {what}"
        await asyncio.sleep(0.05)
