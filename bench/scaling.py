"""1 vs 2 bridge processes behind haproxy at 32 connections, each bridge with its own journal, one exchange."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.broker import Broker
from bench.contenders import Server, by_name, server_for
from bench.haproxy import haproxy
from bench.measure import cpu_seconds
from bench.runs import brief, closed, say, warm_up


async def scaling(broker: Broker, work: Path, seconds: float, connections: int = 32) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with broker.sink(contract=True) as sink:
        bridges = [server_for(by_name("bridge"), sink.exchange, work, tag=f"-{i}") for i in (1, 2)]
        try:
            for count in (1, 2):
                await bridges[count - 1].start()
                front = await haproxy([b.port for b in bridges[:count]], work).start()
                try:
                    await warm_up(front.webhook, [front, *bridges[:count]], sink, work)
                    results[str(count)] = await _measure(front, bridges[:count], sink, connections, seconds, work)
                finally:
                    await front.stop()
                say(f"  {count} bridge(s) behind haproxy: {brief(results[str(count)])}")
        finally:
            for bridge in bridges:
                await bridge.stop()
    return results


async def _measure(
    front: Server, bridges: list[Server], sink: Any, connections: int, seconds: float, work: Path
) -> dict[str, Any]:
    haproxy_cpu = cpu_seconds(front.pid)
    result = await closed(front.webhook, bridges, sink, connections, seconds, work)
    result["haproxy_cpu_s_per_1k"] = (cpu_seconds(front.pid) - haproxy_cpu) / max(result["ok"], 1) * 1000
    return result
