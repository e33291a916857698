"""One contender under each load: start it, warm it up, measure, verify what reached the broker, stop it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bench import load
from bench.bodies import Bodies
from bench.broker import Broker, Sink, settle, wait_for_count
from bench.contenders import Contender, Server, guarded, server_for
from bench.measure import ProcessWatch, Usage, percentile
from bench.profile import Profiler

DELIVERY_WITHIN = 180.0  # seconds a backlog may take to reach the queue before the run counts as failed


@contextlib.asynccontextmanager
async def running(contender: Contender, broker: Broker, work: Path) -> AsyncIterator[tuple[Server, Sink | None]]:
    async with contextlib.AsyncExitStack() as stack:
        sink = await stack.enter_async_context(broker.sink(contract=contender.kind == "bridge"))
        server = server_for(contender, sink.exchange, work)
        stack.push_async_callback(server.stop)
        await server.start()
        yield server, (sink if contender.publishes else None)


async def contender_runs(
    contender: Contender, broker: Broker, work: Path, loads: dict[str, Any], seconds: float, profile: bool = False
) -> dict[str, Any]:
    results: dict[str, Any] = {"about": contender.about}
    async with running(contender, broker, work) as (server, sink):
        await warm_up(server.webhook, [server], sink, work)
        for name in contender.loads:
            if name not in loads:
                continue
            spec = loads[name]
            profiler = (
                await Profiler(server.pid, work / "profiles" / f"{contender.name}-{name}.raw").start()
                if profile
                else None
            )
            if spec["kind"] == "closed":
                results[name] = await closed(server.webhook, [server], sink, spec["connections"], seconds, work)
            else:
                results[name] = await fixed_rate(server.webhook, [server], sink, spec["rate"], seconds, work)
            if profiler is not None:
                await profiler.stop()
            server.check_alive()
            say(f"  {contender.name} {name}: {brief(results[name])}")
    return results


async def warm_up(url: str, servers: list[Server], sink: Sink | None, work: Path) -> None:
    """A second of load so imports, caches and the broker channel are warm, then an empty queue."""
    await guarded(load.wrk(url, 8, 1, load.base_stamp(), work), servers)
    if sink is not None:
        await guarded(settle(sink, quiet=0.5), servers)
        await sink.purge()


async def closed(
    url: str, servers: list[Server], sink: Sink | None, connections: int, seconds: float, work: Path
) -> dict[str, Any]:
    """wrk with `connections` connections; the rate counts only what is in the queue, by when it is there."""
    if sink is not None:
        await sink.purge()
    watch = ProcessWatch([s.pid for s in servers]).start()
    run = await guarded(load.wrk(url, connections, seconds, load.base_stamp(), work), servers)
    done, delivered = run.ended, None
    if sink is not None:
        count, done = await guarded(wait_for_count(sink, run.ok, DELIVERY_WITHIN, every=0.02), servers)
        delivered = count >= run.ok
    usage = await watch.stop()
    result: dict[str, Any] = {
        "connections": connections,
        "ok": run.ok,
        "errors": run.errors,
        "answered_rps": run.ok / run.seconds,
        "rate": run.ok / (done - run.started) if delivered is not False else 0.0,
        "p50_ms": run.p50_ms,
        "p99_ms": run.p99_ms,
        "max_ms": run.max_ms,
        "delivery_lag_s": done - run.ended,
        **_usage(usage, run.ok),
    }
    if sink is not None:
        # wrk drops the requests still in flight when its time is up (at most one per connection): the server
        # may have accepted and published them, so the queue may hold up to `sent - ok` more than the 200s.
        final = await settle(sink)
        result |= {"in_queue": final, "lost": max(0, run.ok - final), "beyond_sent": max(0, final - run.sent)}
    return result


async def fixed_rate(
    url: str, servers: list[Server], sink: Sink | None, rate: float, seconds: float, work: Path
) -> dict[str, Any]:
    """Open-loop load at `rate`; every body is consumed and matched to its request for e2e latency and loss."""
    bodies = Bodies(load.base_stamp())
    arrivals = Arrivals(bodies)
    if sink is not None:
        await sink.purge()
        await sink.consume(arrivals.add)
    watch = ProcessWatch([s.pid for s in servers]).start()
    run = await guarded(load.open_loop(url, rate, seconds, bodies.base, work), servers)
    result: dict[str, Any] = {
        "rate": rate,
        "total": run.total,
        "ok": run.ok,
        "statuses": run.statuses,
        "p50_ms": run.p50_ms,
        "p99_ms": run.p99_ms,
        "p999_ms": run.p999_ms,
        "max_ms": run.max_ms,
        "generator_lag_p99_ms": run.lag_p99_ms,
        "connections_used": run.connections,
    }
    if sink is not None:
        wanted = set(range(run.total)) - set(run.not_ok)
        await guarded(arrivals.wait_for(wanted, DELIVERY_WITHIN), servers)
        usage = await watch.stop()
        await asyncio.sleep(0.5)  # late duplicates
        await sink.stop_consuming()
        result |= arrivals.verdict(run, wanted)
    else:
        usage = await watch.stop()
    return result | _usage(usage, run.ok)


class Arrivals:
    """What a consumer handler received: the first arrival time of each sequence number, and duplicates."""

    def __init__(self, bodies: Bodies) -> None:
        self.bodies = bodies
        self.first: dict[int, int] = {}
        self.total = 0
        self._missing: set[int] = set()
        self._complete = asyncio.Event()

    def add(self, body: bytes) -> None:
        self.total += 1
        seq = self.bodies.seq_of(body)
        if seq not in self.first:
            self.first[seq] = time.monotonic_ns()
            self._missing.discard(seq)
            if not self._missing:
                self._complete.set()

    async def wait_for(self, wanted: set[int], within: float) -> None:
        """Until every one of `wanted` arrived, or `within` seconds passed (what is missing then is lost)."""
        self._missing = wanted - self.first.keys()
        self._complete.clear()
        if self._missing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._complete.wait(), within)

    def verdict(self, run: load.Open, wanted: set[int]) -> dict[str, Any]:
        e2e = sorted((self.first[s] - run.launched_ns[s]) / 1e6 for s in wanted if s in self.first)
        return {
            "e2e_p50_ms": percentile(e2e, 50),
            "e2e_p99_ms": percentile(e2e, 99),
            "e2e_max_ms": percentile(e2e, 100),
            "lost": len(wanted - self.first.keys()),
            "duplicates": self.total - len(self.first),
            "delivered_not_ok": len(self.first.keys() - wanted),  # answered 503 (or not at all) yet published
        }


def _usage(usage: Usage, events: int) -> dict[str, Any]:
    broker = usage.broker_cpu_seconds
    return {
        "cpu_s": usage.cpu_seconds,
        "cpu_s_per_1k": usage.cpu_seconds / events * 1000 if events else 0.0,
        "rss_max_mib": usage.rss_max / (1 << 20),
        "broker_cpu_s_per_1k": broker / events * 1000 if events and broker is not None else None,
        "machine_busy": usage.machine_busy,
    }


def brief(r: dict[str, Any]) -> str:
    parts = [f"{r['rate']:.0f}/s" if "connections" in r else f"{r['ok']}/{r['total']} ok"]
    parts.append(f"p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms")
    if "e2e_p99_ms" in r:
        parts.append(f"e2e p99 {r['e2e_p99_ms']:.1f} ms")
    if "lost" in r:
        parts.append(f"lost {r['lost']}")
    parts.append(f"cpu {r['cpu_s_per_1k']:.3f} s/1k rss {r['rss_max_mib']:.0f} MiB busy {r['machine_busy']:.0%}")
    return ", ".join(parts)


_T0 = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - _T0:6.1f}s] {text}", flush=True)
