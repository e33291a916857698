"""The session tracker's throughput on each engine, side by side in one run: SQLite file vs PostgreSQL.

    .venv/bin/python -m bench.tracker_db                       # local PostgreSQL (postgresql://postgres@127.0.0.1/test)
    .venv/bin/python -m bench.tracker_db --postgres URL --sessions 200 --rounds 3

Two measurements per engine, engines alternating round by round so both see the same machine:
  store     the tracker's write side alone: 8 sessions at a time (the tracker's concurrency), each session's events
            in order, one transaction per event, as the handler does it;
  consumer  the whole tracker in one process (consumers.sessions.create_tracker, a real Runner): every event is
            published to a bench-<random> exchange first, then the tracker starts and drains its queue.
events/s = events ÷ time to apply them all (median of the rounds). PostgreSQL gets a schema per round, dropped
afterwards; the exchange and queues are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aio_pika
import orjson
import psycopg

from consumers import layout, topology
from consumers.database import Database
from consumers.runner import Runner
from consumers.sessions import TrackerSettings, create_tracker, engines, openvidu
from consumers.sessions.store import Reader
from consumers.settings import Settings
from consumers.testing import event
from consumers.topology import Names

CONCURRENCY = 8  # the tracker's


@dataclasses.dataclass(frozen=True)
class Result:
    engine: str
    mode: str
    rates: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def session_bodies(number: int, people: int = 10) -> list[bytes]:
    """One OpenVidu 2 session: created, people join and publish, all leave, destroyed (2 + 3 * people events)."""
    name, t = f"ses_bench{number:05d}", 1_718_000_000_000 + number * 10_000_000
    session = {"sessionId": name, "uniqueSessionId": f"{name}_{t}"}
    bodies = [session | {"timestamp": t, "event": "sessionCreated"}]
    for p in range(people):
        who = session | {"connectionId": f"con_{number}_{p}", "participantId": f"con_{number}_{p}"}
        joined = t + 1000 * p
        bodies.append(who | {"timestamp": joined, "clientData": f"person {p}", "event": "participantJoined"})
        camera = {"streamId": f"str_{number}_{p}", "connection": "OUTBOUND", "videoSource": "CAMERA"}
        bodies.append(who | camera | {"timestamp": joined + 5, "event": "webrtcConnectionCreated"})
        left = {"startTime": joined, "reason": "disconnect", "event": "participantLeft"}
        bodies.append(who | left | {"timestamp": t + 600_000 + p})
    ended = {"startTime": t, "duration": 700, "reason": "lastParticipantLeft", "event": "sessionDestroyed"}
    bodies.append(session | ended | {"timestamp": t + 700_000})
    return [orjson.dumps(body) for body in bodies]


@contextlib.contextmanager
def fresh(engine: str, postgres: str, work: Path) -> Iterator[Database]:
    if engine == "sqlite":
        yield Database("sqlite", str(work / f"{uuid.uuid4().hex}.sqlite3"), "SESSIONS_DB")
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    try:
        separator = "&" if "?" in postgres else "?"
        yield Database("postgres", f"{postgres}{separator}options=-csearch_path%3D{schema}", "SESSIONS_DB")
    finally:
        with psycopg.connect(postgres, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {schema} CASCADE")


async def store_rate(database: Database, sessions: list[list[bytes]]) -> float:
    """The write side alone: CONCURRENCY sessions at a time, each in order."""
    waiting = [[event(body) for body in bodies] for bodies in sessions]
    async with engines.opened(database) as store:

        async def slot() -> None:
            while waiting:
                for seen in waiting.pop():
                    await store.apply(seen.message_id, openvidu.rows(seen.type, seen.data))

        started = time.perf_counter()
        await asyncio.gather(*(slot() for _ in range(CONCURRENCY)))
        return sum(map(len, sessions)) / (time.perf_counter() - started)


async def consumer_rate(database: Database, sessions: list[list[bytes]], amqp: str) -> float:
    """The whole tracker in this process, draining a queue that already holds every event."""
    exchange, name = f"bench-{uuid.uuid4().hex[:10]}", f"bench-tracker-{uuid.uuid4().hex[:8]}"
    settings = Settings(rabbitmq_url=amqp, exchange=exchange, retry_delays=(1.0,))
    tracker = create_tracker(TrackerSettings(db=database, http_port=0), name=name)
    total = sum(map(len, sessions))
    async with declared(amqp, exchange, name, settings.retry_delays, tracker.binding_keys) as publish:
        for bodies in sessions:
            for body in bodies:
                await publish(body)
        runner = Runner(settings, [tracker])
        running = asyncio.create_task(runner.run())
        await asyncio.wait_for(runner.ready.wait(), 60)
        started = time.perf_counter()
        with engines.reading(database) as db:
            await until_applied(db, total)
        elapsed = time.perf_counter() - started
        runner.stop()
        await running
    return total / elapsed


@contextlib.asynccontextmanager
async def declared(
    amqp: str, exchange: str, name: str, delays: tuple[float, ...], keys: frozenset[str]
) -> AsyncIterator[Callable[[bytes], Awaitable[None]]]:
    """The tracker's topology as its runner declares it, so its queue fills before it starts; a publisher."""
    connection = await aio_pika.connect(amqp)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await topology.declare_exchange(connection, exchange)
        topic = await channel.get_exchange(exchange, ensure=False)
        await topology.declare_queues(connection, Names(name), delays)
        await layout.bind(connection, Names(name), exchange, keys)

        async def publish(body: bytes) -> None:
            data = orjson.loads(body)
            message = aio_pika.Message(
                body,
                message_id=hashlib.sha256(body).hexdigest(),
                headers={"x-source": "openvidu", "x-session": data["sessionId"]},
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await topic.publish(message, routing_key=data["event"])

        try:
            yield publish
        finally:
            names = Names(name)
            for queue in (names.queue, names.dead, names.bindings, *(names.retry(d) for d in delays)):
                with contextlib.suppress(Exception):
                    await channel.queue_delete(queue)
            await channel.queue_delete(f"{exchange}.unrouted")
            for made in (exchange, f"{exchange}.unrouted"):
                await channel.exchange_delete(made)


async def until_applied(db: Reader, total: int) -> None:
    """Polled: the tracker signals nothing to a bystander (50 ms, well under the runs' seconds)."""
    while True:
        if int(db.rows("SELECT COUNT(*) AS n FROM processed")[0]["n"]) >= total:
            return
        await asyncio.sleep(0.05)


async def main(args: argparse.Namespace) -> list[Result]:
    sessions = [session_bodies(n) for n in range(args.sessions)]
    results = {(e, m): Result(e, m, []) for m in ("store", "consumer") for e in ("sqlite", "postgres")}
    with tempfile.TemporaryDirectory() as work:
        for round_ in range(args.rounds):
            for engine in ("sqlite", "postgres") if round_ % 2 == 0 else ("postgres", "sqlite"):
                with fresh(engine, args.postgres, Path(work)) as database:
                    results[engine, "store"].rates.append(await store_rate(database, sessions))
                with fresh(engine, args.postgres, Path(work)) as database:
                    results[engine, "consumer"].rates.append(await consumer_rate(database, sessions, args.amqp))
    return list(results.values())


def report(results: list[Result], events: int) -> str:
    lines = [
        f"{events} events per run (OpenVidu 2 sessions of 32 events), median of {len(results[0].rates)} rounds",
        "",
        "| mode | SQLite events/s | PostgreSQL events/s | PostgreSQL ÷ SQLite |",
        "|---|---:|---:|---:|",
    ]
    for mode in ("store", "consumer"):
        sqlite, postgres = (next(r for r in results if (r.engine, r.mode) == (e, mode)) for e in ("sqlite", "postgres"))
        lines.append(
            f"| {mode} | {sqlite.median:,.0f} | {postgres.median:,.0f} | {postgres.median / sqlite.median:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.tracker_db", description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    found = asyncio.run(main(arguments))
    print(report(found, arguments.sessions * len(session_bodies(0))))
