"""Several processes on one PostgreSQL database: the tracker's state and once=True handlers as if one process.

Two processes consume one queue (no partitions), so each gets about half of every session's events, at the same
time as the other: what the issue of state on several hosts is about.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from aio_pika.abc import AbstractChannel

from consumers.database import Database
from consumers.sessions import report
from consumers.settings import Settings
from tests.consumer_support import scenes
from tests.consumer_support.running import eventually, publish, terminate
from tests.consumer_support.tracker_db import dump, fill

pytest_plugins = ["tests.consumer_support.fixtures", "tests.consumer_support.databases"]
pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
SESSION = "ses_Pl4nN1ngQ3"


class Processes:
    """`consumers run tests.consumer_support.stateful_processes:<target>` as real processes."""

    def __init__(self, settings: Settings, name: str, tmp: Path, url: str, target: str) -> None:
        self.tmp, self.target = tmp, target
        self.marks = tmp / "marks.log"
        self.env = {
            **os.environ,
            "RABBITMQ_URL": settings.rabbitmq_url,
            "CONSUMER_EXCHANGE": settings.exchange,
            "CONSUMER_RETRY_DELAYS": ",".join(map(str, settings.retry_delays)),  # those the fixture deletes
            "CONSUMER_STATE_DIR": str(tmp / "state"),
            "CONSUMER_STORE": url,
            "SESSIONS_DB": url,
            "SESSIONS_HTTP_PORT": "0",
            "STATEFUL_NAME": name,
            "STATEFUL_MARKS": str(self.marks),
        }
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, count: int) -> None:
        for number in range(count):
            command = [
                sys.executable,
                "-m",
                "consumers",
                "run",
                f"tests.consumer_support.stateful_processes:{self.target}",
            ]
            with self.log(number).open("ab") as log:
                proc = await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=self.env, stdout=log, stderr=log)
            self.procs.append(proc)
        consuming = await eventually(lambda: all("consuming queue" in self.text(n) for n in range(count)), timeout=30)
        assert consuming, [self.text(n)[-2000:] for n in range(count)]

    def log(self, number: int) -> Path:
        return self.tmp / f"{self.target}-{number}.log"

    def text(self, number: int) -> str:
        return self.log(number).read_text() if self.log(number).exists() else ""

    def outcomes(self) -> list[collections.Counter[str]]:
        """Per process: how many messages it settled, by outcome (from its one log line per message)."""
        counts = []
        for number in range(len(self.procs)):
            lines = [orjson.loads(line) for line in self.text(number).splitlines() if line.startswith("{")]
            counts.append(collections.Counter(line["outcome"] for line in lines if "outcome" in line))
        return counts

    def settled(self) -> int:
        return sum(sum(c.values()) for c in self.outcomes())

    async def stop(self) -> None:
        await terminate(self.procs)


@pytest.mark.parametrize("delivery", ["in order", "shuffled, with redeliveries"])
async def test_two_tracker_processes_on_one_database_end_as_one_process(
    delivery: str,
    consumer_settings: Settings,
    fresh_name: Callable[..., str],
    channel: AbstractChannel,
    postgres: Callable[[], str],
    tmp_path: Path,
) -> None:
    bodies = scenes.planning(time.time() - 7200)
    sent = list(bodies)
    if delivery != "in order":
        pick = random.Random(15)
        sent = pick.sample(bodies, len(bodies)) + pick.sample(bodies, len(bodies) // 3)
    alone = Database("postgres", postgres(), "SESSIONS_DB")
    await fill(alone, bodies)  # one process, every event once, in order

    shared = Database("postgres", postgres(), "SESSIONS_DB")
    processes = Processes(consumer_settings, fresh_name("tracker"), tmp_path, shared.location, "tracker")
    try:
        await processes.start(2)
        for body in sent:
            await publish(channel, consumer_settings.exchange, body)
        assert await eventually(lambda: processes.settled() == len(sent), timeout=60), processes.outcomes()
    finally:
        await processes.stop()

    counts = processes.outcomes()
    sys.stdout.write(f"\n{delivery}: {len(sent)} messages ({len(bodies)} events), settled per process: {counts}\n")
    assert all(c["ack"] > 0 for c in counts)  # both processes took part
    assert sum(c["ack"] for c in counts) == len(sent)
    assert dump(shared) == dump(alone)
    assert _report(shared) == _report(alone)


async def test_one_message_id_on_two_processes_runs_the_handler_once(
    consumer_settings: Settings,
    fresh_name: Callable[..., str],
    channel: AbstractChannel,
    postgres: Callable[[], str],
    tmp_path: Path,
) -> None:
    processes = Processes(consumer_settings, fresh_name("once"), tmp_path, postgres(), "once")
    ids = [uuid.uuid4().hex for _ in range(40)]
    try:
        await processes.start(2)
        for message_id in ids:
            body = orjson.dumps({"sessionId": f"ses_{message_id}", "event": "sessionDestroyed"})
            for _ in range(2):  # the same id twice in a row: the broker hands the copies to both processes
                await publish(channel, consumer_settings.exchange, body, message_id=message_id)
        assert await eventually(lambda: processes.settled() == 2 * len(ids), timeout=60), processes.outcomes()
    finally:
        await processes.stop()

    runs = [line.split() for line in processes.marks.read_text().splitlines()]
    counts = processes.outcomes()
    sys.stdout.write(f"\n{2 * len(ids)} messages, {len(ids)} ids: {len(runs)} runs, settled per process: {counts}\n")
    assert sorted(message_id for _, message_id in runs) == sorted(ids)  # each id ran once, none was lost
    assert len({pid for pid, _ in runs}) == 2
    assert sum(c["duplicate"] for c in counts) == len(ids)
    assert all(c["duplicate"] > 0 for c in counts)  # copies did land on both processes


def _report(database: Database) -> dict:
    lines: list[str] = []
    assert report.main(database, SESSION, as_json=True, write=lines.append) == 0
    return orjson.loads("\n".join(lines))
