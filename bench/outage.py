"""The outage run: the bridge at a fixed offered rate, its broker cut for a minute through a proxy, then restored.

The shared broker is never touched: only the bridge's own connection goes through the proxy, while the
consumer that checks delivery talks to the broker directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from pathlib import Path
from typing import Any

import httpx

from bench import load
from bench.bodies import Bodies
from bench.broker import Broker
from bench.contenders import Contender, by_name, guarded, server_for
from bench.measure import ProcessWatch, percentile
from bench.proxy import Proxy
from bench.runs import DELIVERY_WITHIN, Arrivals, say

RSS_FLAT_MIB = 10.0  # growth during the cut above this is a backlog held in memory, not on disk


@dataclasses.dataclass
class Timeline:
    warm: float = 5.0
    cut: float = 60.0
    after: float = 20.0

    @property
    def seconds(self) -> float:
        return self.warm + self.cut + self.after


async def outage(broker: Broker, work: Path, timeline: Timeline, rate: float = 1000) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        proxy = await Proxy.start(broker.url)
        stack.push_async_callback(proxy.stop)
        sink = await stack.enter_async_context(broker.sink(contract=True))
        base = by_name("bridge")
        contender = Contender("bridge-outage", "bridge", {**base.env, "BRIDGE_CONFIRM_TIMEOUT": "2"})
        bridge = server_for(contender, sink.exchange, work, amqp_url=proxy.url(broker.url))
        stack.push_async_callback(bridge.stop)
        await bridge.start()
        bodies = Bodies(load.base_stamp())
        arrivals = Arrivals(bodies)
        await sink.consume(arrivals.add)
        watch = ProcessWatch([bridge.pid], every=1.0).start()
        backlog_watch = BacklogWatch(work / "journals" / contender.name, bridge.url + "/readyz", watch.t0).start()
        stack.push_async_callback(backlog_watch.stop)
        generator = asyncio.create_task(load.open_loop(bridge.webhook, rate, timeline.seconds, bodies.base, work))
        stack.callback(generator.cancel)
        await guarded(asyncio.sleep(0.5 + timeline.warm), [bridge])  # the generator needs ~0.5 s to start
        say(f"  outage: cutting the bridge's broker connection for {timeline.cut:.0f}s")
        cut_at = time.monotonic_ns()
        await proxy.command("cut")
        await guarded(asyncio.sleep(timeline.cut), [bridge])
        restored_at = time.monotonic_ns()
        await proxy.command("restore")
        say("  outage: restored")
        run = await guarded(generator, [bridge])
        wanted = set(range(run.total)) - set(run.not_ok)
        await guarded(arrivals.wait_for(wanted, DELIVERY_WITHIN), [bridge])
        usage = await watch.stop()
        await asyncio.sleep(0.5)  # late duplicates
        await sink.stop_consuming()
    t0_ns = int(watch.t0 * 1e9)
    cut_s, restored_s = (cut_at - t0_ns) / 1e9, (restored_at - t0_ns) / 1e9
    during = [rss for t, rss in usage.rss_samples if cut_s <= t <= restored_s]
    before = [rss for t, rss in usage.rss_samples if t <= cut_s]
    rss_at_cut = before[-1] if before else (during[0] if during else 0)
    growth = (max(during, default=rss_at_cut) - rss_at_cut) / (1 << 20)
    backlog = [s for s in wanted if cut_at <= run.launched_ns[s] < restored_at]
    held = [s for s in wanted if run.launched_ns[s] < restored_at and s in arrivals.first]
    after_restore = sorted(arrivals.first[s] - restored_at for s in backlog if s in arrivals.first)
    return {
        "rate": rate,
        "cut_s": timeline.cut,
        "total": run.total,
        "statuses": run.statuses,
        "backlog_events": len(backlog),
        "p50_ms": run.p50_ms,
        "p99_ms": run.p99_ms,
        "max_ms": run.max_ms,
        "rss_at_cut_mib": rss_at_cut / (1 << 20),
        "rss_growth_during_cut_mib": growth,
        "rss_flat": growth <= RSS_FLAT_MIB,
        "journal_peak_mib": max((b for _, b in backlog_watch.disk), default=0) / (1 << 20),
        "pending_peak": max((n for _, n in backlog_watch.pending), default=0),
        "first_backlog_event_after_restore_s": after_restore[0] / 1e9 if after_restore else None,
        "drain_s": max((arrivals.first[s] - restored_at for s in held), default=0) / 1e9,
        "lost": len(wanted - arrivals.first.keys()),
        "duplicates": arrivals.total - len(arrivals.first),
        "cut_at_s": cut_s,
        "restored_at_s": restored_s,
        "rss_mib": [(round(t, 2), round(rss / (1 << 20), 2)) for t, rss in usage.rss_samples],
        "journal_mib": [(round(t, 2), round(b / (1 << 20), 2)) for t, b in backlog_watch.disk],
        "pending_events": [(round(t, 2), n) for t, n in backlog_watch.pending],
        "e2e_p99_ms_outside_cut": _e2e_p99(run, arrivals, wanted, cut_at, restored_at),
    }


def _e2e_p99(run: load.Open, arrivals: Arrivals, wanted: set[int], cut_at: int, restored_at: int) -> float:
    """End-to-end p99 of the events sent while the broker was reachable (before the cut)."""
    e2e = sorted(
        (arrivals.first[s] - run.launched_ns[s]) / 1e6
        for s in wanted
        if s in arrivals.first and run.launched_ns[s] < cut_at
    )
    return percentile(e2e, 99)


class BacklogWatch:
    """Where the backlog lives, every second: the journal's files on disk and the bridge's pending events."""

    def __init__(self, directory: Path, readyz: str, t0: float, every: float = 1.0) -> None:
        self.directory = directory
        self.readyz = readyz
        self.t0 = t0
        self.every = every
        self.disk: list[tuple[float, int]] = []
        self.pending: list[tuple[float, int]] = []
        self._task: asyncio.Task[None] | None = None

    def _size(self) -> int:
        with contextlib.suppress(OSError):
            return sum(p.stat().st_size for p in self.directory.glob("*.wal"))
        return 0

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                now = time.monotonic() - self.t0
                self.disk.append((now, self._size()))
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    self.pending.append((now, int((await client.get(self.readyz)).json()["pending_events"])))
                await asyncio.sleep(self.every)

    def start(self) -> BacklogWatch:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
