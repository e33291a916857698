"""Consumers that keep per-session order, at scale: one process at concurrency 1, one with 16 keyed slots, three
sharing partitions, and three with one SIGKILLed mid-run. Every run is checked: every event handled, each
session's first handlings in the order the events were published.

The handler takes 20 ms (an outside API); the events are participantJoined bodies of 40 sessions, interleaved at
random, published with the headers the bridge gives them (`x-session` included) once the consumer is ready.
events/s = events ÷ time from the first handling's start to the last first handling's start.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiormq
import orjson
from pamqp.commands import Basic

from bench.broker import Broker
from bench.runs import say

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = 40
WORK_S = 0.02
PARTITIONS = 12
READY_WITHIN = 60.0


@dataclasses.dataclass(frozen=True)
class Setup:
    key: str
    about: str
    processes: int
    concurrency: int
    order: str
    partitions: int | None = None
    kill: bool = False


SETUPS = (
    Setup("c1", "1 process, concurrency=1", 1, 1, "queue"),
    Setup("keyed16", '1 process, concurrency=16, order="session"', 1, 16, "session"),
    Setup("partitions", f'3 processes, concurrency=16, order="session", partitions={PARTITIONS}', 3, 16, "session",
          PARTITIONS),
    Setup("partitions-kill", "the same, one process SIGKILLed mid-run", 3, 16, "session", PARTITIONS, kill=True),
)  # fmt: skip


async def ordering(broker: Broker, work: Path, events: int) -> dict[str, Any]:
    results: dict[str, Any] = {"events": events, "sessions": SESSIONS, "work_ms": WORK_S * 1000}
    plan = _interleaved(events)
    async with broker.sink(contract=True) as sink:
        for setup in SETUPS:
            name = f"{sink.exchange}.{setup.key}"
            group = Group(setup, broker.url, sink.exchange, name, work / "ordering")
            try:
                results[setup.key] = await group.measure(plan)
            except (TimeoutError, RuntimeError) as exc:  # one set-up failing must not lose the others' numbers
                results[setup.key] = {"error": str(exc)}
            finally:
                await group.stop()
                await _delete(broker, name, setup.partitions)
            say(f"  {setup.about}: {_brief(results[setup.key])}")
    base = results["c1"].get("rate")
    for key in ("keyed16", "partitions", "partitions-kill"):
        if base and results[key].get("rate"):
            results[key]["x_c1"] = results[key]["rate"] / base
    return results


class Group:
    """The processes of one set-up: `consumers run bench.ordering_consumer:consumer`."""

    def __init__(self, setup: Setup, url: str, exchange: str, name: str, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.setup, self.url, self.exchange, self.folder = setup, url, exchange, folder
        self.marks = folder / f"{setup.key}.marks"
        self.marks.unlink(missing_ok=True)
        self.env = {
            **os.environ,
            "RABBITMQ_URL": url,
            "CONSUMER_EXCHANGE": exchange,
            "CONSUMER_STATE_DIR": str(folder / "state"),
            "CONSUMER_RETRY_DELAYS": "1",
            "CONSUMER_LOG_LEVEL": "INFO",
            "BENCH_CONSUMER": name,
            "BENCH_CONCURRENCY": str(setup.concurrency),
            "BENCH_ORDER": setup.order,
            "BENCH_PARTITIONS": str(setup.partitions or ""),
            "BENCH_MARKS": str(self.marks),
            "BENCH_WORK": str(WORK_S),
        }
        self.procs: list[asyncio.subprocess.Process] = []

    def log(self, number: int) -> Path:
        return self.folder / f"{self.setup.key}-{number}.log"

    async def measure(self, plan: list[tuple[str, int]]) -> dict[str, Any]:
        command = [sys.executable, "-m", "consumers", "run", "bench.ordering_consumer:consumer"]
        for number in range(self.setup.processes):
            self.log(number).unlink(missing_ok=True)
            with self.log(number).open("ab") as log:
                proc = await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=self.env, stdout=log, stderr=log)
            self.procs.append(proc)
        await self._until(self._ready, READY_WITHIN, "the consumer to be ready")
        await _publish(self.url, self.exchange, plan)
        takeover = again_before = None
        if self.setup.kill:
            await self._until(lambda: len(self.calls()) >= len(plan) // 3, 120, "a third of the events")
            again_before = len(self.calls())
            killed = time.monotonic()
            self.procs[0].send_signal(signal.SIGKILL)
            await self.procs[0].wait()
            await self._until(self._ready, 60, "the partitions to be taken over")
            takeover = time.monotonic() - killed
        expected = len(plan) * WORK_S / max(1, self.setup.concurrency) * 3 + 60
        await self._until(lambda: len({c[3] for c in self.calls()}) >= len(plan), expected, "every event")
        return _verdict(plan, self.calls(), takeover, again_before)

    def _ready(self) -> bool:
        alive = [n for n, p in enumerate(self.procs) if p.returncode is None]
        texts = [self.log(n).read_text() if self.log(n).exists() else "" for n in alive]
        if not self.setup.partitions:
            return all("consuming queue" in text for text in texts)
        held = sorted(t.count("consuming partition ") - t.count("handed partition ") for t in texts)
        return sum(held) == self.setup.partitions and held[-1] - held[0] <= 1

    def calls(self) -> list[tuple[int, int, str, int]]:
        lines = self.marks.read_text().splitlines() if self.marks.exists() else []
        return [(int(ns), int(pid), session, int(seq)) for ns, pid, session, seq in map(str.split, lines)]

    async def _until(self, check: Any, within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while not check():
            for number, proc in enumerate(self.procs):
                if proc.returncode is not None and not (self.setup.kill and number == 0):
                    lines = self.log(number).read_text().strip().splitlines() or ["(no output)"]
                    raise RuntimeError(f"{self.setup.key}: a consumer exited ({proc.returncode}): {lines[-1]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.setup.key}: waited {within:.0f}s for {what}")
            await asyncio.sleep(0.05)  # polling files other processes write: nothing to wait on but time

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()


def _verdict(
    plan: list[tuple[str, int]], calls: list[tuple[int, int, str, int]], takeover: float | None, before: int | None
) -> dict[str, Any]:
    firsts: dict[str, list[int]] = collections.defaultdict(list)
    starts: list[int] = []
    seen: set[int] = set()
    for ns, _, session, seq in calls:
        if seq not in seen:
            seen.add(seq)
            firsts[session].append(seq)
            starts.append(ns)
    published: dict[str, list[int]] = collections.defaultdict(list)
    for session, seq in plan:
        published[session].append(seq)
    seconds = (starts[-1] - starts[0]) / 1e9 if len(starts) > 1 else 0.0
    result: dict[str, Any] = {
        "handled": len(seen),
        "handled_again": len(calls) - len(seen),
        "in_order": firsts == published,
        "lost": len(plan) - len(seen),
        "seconds": seconds,
        "rate": (len(starts) - 1) / seconds if seconds else None,
        "processes": len({pid for _, pid, _, _ in calls}),
    }
    if takeover is not None:
        result["takeover_s"] = takeover
        result["handled_before_kill"] = before
    return result


def _interleaved(count: int) -> list[tuple[str, int]]:
    pick = random.Random(13)
    return [(f"ses_{pick.randrange(SESSIONS):03d}", seq) for seq in range(count)]


async def _publish(url: str, exchange: str, plan: list[tuple[str, int]]) -> None:
    """Publish every event with the bridge's properties, confirmed, many at a time."""
    connection = await aiormq.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        now_ms = time.time_ns() // 1_000_000
        for start in range(0, len(plan), 200):
            await asyncio.gather(
                *(_one(channel, exchange, session, seq, now_ms) for session, seq in plan[start : start + 200])
            )
    finally:
        await connection.close()


async def _one(channel: aiormq.abc.AbstractChannel, exchange: str, session: str, seq: int, now_ms: int) -> None:
    body = orjson.dumps(
        {"sessionId": session, "uniqueSessionId": f"{session}_1", "timestamp": now_ms + seq, "seq": seq}
        | {"participantId": f"con_{seq:06d}", "connectionId": f"con_{seq:06d}", "event": "participantJoined"}
    )
    properties = Basic.Properties(
        content_type="application/json",
        delivery_mode=2,
        message_id=f"bench-{seq}",
        app_id="openvidu-webhook-bridge",
        headers={"x-source": "openvidu", "x-received-at": now_ms, "x-session": session},
    )
    confirmation = await channel.basic_publish(body, exchange=exchange, routing_key="participantJoined",
                                               properties=properties)  # fmt: skip
    if not isinstance(confirmation, Basic.Ack):
        raise RuntimeError(f"the broker did not take event {seq}: {confirmation!r}")


async def _delete(broker: Broker, name: str, partitions: int | None) -> None:
    """What the consumer declared (its queues, and with partitions its two exchanges)."""
    connection = await aiormq.connect(broker.url)
    try:
        channel = await connection.channel()
        queues = [name, f"{name}.dead", f"{name}.bindings", f"{name}.retry.1s", f"{name}.partitions.retry.1s"]
        queues += [f"{name}.{n}" for n in range(partitions or 0)]
        for queue in queues:
            await channel.queue_delete(queue)
        for exchange in (f"{name}.partitions", f"{name}.members"):
            await channel.exchange_delete(exchange)
    finally:
        with contextlib.suppress(aiormq.exceptions.AMQPError):
            await connection.close()


def _brief(r: dict[str, Any]) -> str:
    if "rate" not in r:
        return str(r)
    parts = [f"{r['rate']:.0f} events/s", f"in order: {r['in_order']}", f"lost {r['lost']}"]
    if "takeover_s" in r:
        parts.append(f"taken over in {r['takeover_s']:.1f}s, {r['handled_again']} handled again")
    return ", ".join(parts)
