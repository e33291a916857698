"""The bridge against one RabbitMQ node and against a 3-node cluster, a quorum queue on both, the same loads.

Both are nodes of our own (tests/support/cluster.py: own names, ports and data, removed afterwards), never the
shared broker, so the only difference is replication: on the cluster every message is written by a majority
of three nodes before the broker confirms it. The bridge gets every node's address, as a cluster user sets it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bench.broker import Broker
from bench.contenders import by_name, server_for
from bench.runs import brief, closed, fixed_rate, say, warm_up
from tests.support.cluster import Cluster

SIZES = (1, 3)


async def cluster(work: Path, loads: dict[str, Any], seconds: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for size in SIZES:
        nodes = await asyncio.to_thread(Cluster(size).start)
        try:
            results[str(size)] = await _runs(nodes, work, loads, seconds)
        finally:
            await asyncio.to_thread(nodes.remove)
    for name, spec in loads.items():
        # Closed loads: delivered/s (3 nodes / 1 node). The fixed rate: end-to-end p99 (1 node / 3 nodes), so that
        # below 1 means slower on the cluster either way.
        key = "rate" if spec["kind"] == "closed" else "e2e_p99_ms"
        one, three = (results[str(size)].get(name, {}).get(key) for size in SIZES)
        if one and three:
            results.setdefault("ratio", {})[name] = three / one if key == "rate" else one / three
    return results


async def _runs(nodes: Cluster, work: Path, loads: dict[str, Any], seconds: float) -> dict[str, Any]:
    size = len(nodes.nodes)
    results: dict[str, Any] = {}
    broker = await Broker(nodes.nodes[0].url).open()
    try:
        async with broker.sink(contract=True, quorum=True) as sink:
            bridge = server_for(by_name("bridge"), sink.exchange, work, amqp_url=nodes.urls(), tag=f"-nodes{size}")
            await bridge.start()
            try:
                await warm_up(bridge.webhook, [bridge], sink, work)
                for name, spec in loads.items():
                    if spec["kind"] == "closed":
                        results[name] = await closed(bridge.webhook, [bridge], sink, spec["connections"], seconds, work)
                    else:
                        results[name] = await fixed_rate(bridge.webhook, [bridge], sink, spec["rate"], seconds, work)
                    say(f"  {size} node(s) {name}: {brief(results[name])}")
            finally:
                await bridge.stop()
    finally:
        await broker.close()
    return results
