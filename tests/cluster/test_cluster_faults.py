"""A 3-node cluster loses nodes under a stream of OpenVidu events; every accepted event is still delivered.

A real bridge process and a real consumer process (a quorum queue), both given the three addresses, while two
sequential senders post 300 events/s. Each scenario ends by proving accepted ⊆ delivered by message_id.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cluster.flow import HEARTBEAT, Run, flow
from tests.faults.stream import Outcome
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.timeout(240)]
CONFIRM_TIMEOUT = 5.0  # the bridge's default BRIDGE_CONFIRM_TIMEOUT
FREEZE = 20.0  # longer than net_ticktime (10 s): the other nodes count the frozen one as down


@pytest.fixture
def run(cluster: Cluster, tmp_path: Path, report: Callable[[Outcome], None]) -> Run:
    return functools.partial(flow, cluster, tmp_path, report=report)


async def test_the_node_the_bridge_uses_is_stopped_mid_stream_then_started_again(run: Run) -> None:
    async with run("node of the bridge stopped, started again") as running:
        node = await running.bridge_node()
        await running.do(node.stop)
        await running.more(1500)
        assert await running.bridge_node() is not node
        await running.do(node.start)
        await running.more(900)


async def test_the_node_the_bridge_uses_is_killed(run: Run) -> None:
    async with run("node of the bridge SIGKILLed, started again") as running:
        node = await running.bridge_node()
        await running.do(node.kill)
        await running.more(1500)
        assert await running.bridge_node() is not node
        await running.do(node.start)
        await running.more(900)


async def test_the_node_leading_the_consumers_quorum_queue_is_stopped(run: Run) -> None:
    async with run("leader of the consumer's queue stopped") as running:
        leader = await running.do(lambda: running.cluster.leader(running.consumer.name))
        await running.do(leader.stop)
        await running.more(1500)
        new_leader = await running.do(lambda: running.cluster.leader(running.consumer.name))
        assert new_leader is not leader
        await running.do(leader.start)
        await running.more(900)


async def test_rolling_restart_of_all_three_nodes(run: Run) -> None:
    async with run("rolling restart of the 3 nodes") as running:
        for node in running.cluster.nodes:
            await running.do(node.stop)
            await running.more(600)
            await running.do(node.start)
            await running.more(600)


async def test_two_of_three_nodes_down_then_back(run: Run) -> None:
    async with run("2 of 3 nodes down (no quorum), back") as running:
        first = await running.bridge_node()
        second = next(node for node in running.cluster.nodes if node is not first)
        await running.do(first.stop)
        async with running.without_quorum():
            await running.do(second.stop)
            await running.more(1500)  # answered from the journal: nothing can be confirmed
            assert (await running.ready())["pending_events"] != 0
            for node in (first, second):
                node.launch()
            await running.do(first.started)  # two of three: a quorum again
        await running.do(second.started)
        await running.more(900)


async def test_the_node_the_bridge_uses_is_frozen(run: Run) -> None:
    async with run(f"node of the bridge frozen {FREEZE:.0f} s") as running:
        node = await running.bridge_node()
        node.freeze()
        try:
            # No confirm within the timeout ends the session; closing it waits 2 s at most; connecting 5 s at most.
            await running.bridge_leaves(node, within=CONFIRM_TIMEOUT + 2 + 5 + 3)
            await asyncio.sleep(FREEZE)  # the fault's length is the point of the scenario
        finally:
            node.thaw()
        await running.more(900)


async def test_the_node_the_consumer_uses_is_frozen(run: Run) -> None:
    async with run(f"node of the consumer frozen {FREEZE:.0f} s") as running:
        node = running.consumer_node()
        node.freeze()
        try:
            # Without a frame for 3 heartbeats (aiormq's grace), the consumer gives the connection up.
            await running.consumer_leaves(node, within=(HEARTBEAT + 1) * 3 + 10)
            await running.more(600)
        finally:
            node.thaw()
        await running.more(900)
