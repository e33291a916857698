"""Replay the whole corpus through the real bridge into the three shipped consumers, and show what they made.

    python -m tests.consumer_support.replay [TIMES]

Every body of tests/corpus/events and tests/corpus/livekit-events is POSTed TIMES times (default 2: the
second copy is what OpenVidu's resends and the bridge's redeliveries look like) to an in-process bridge; the
CDR archive, session tracker and recording notifier run in-process on a throwaway exchange and directories,
and the notifier POSTs to a local receiver. Prints the CDR lines, the tracker's report and the POSTs.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import orjson

from consumers.cdr import ArchiveSettings, create_archive
from consumers.database import Database
from consumers.notifier import NotifierSettings, create_notifier
from consumers.sessions import TrackerSettings, create_tracker, report
from consumers.settings import Settings
from tests.conftest import CORPUS
from tests.consumer_support.fixtures import delete_exchange, delete_queues
from tests.consumer_support.receiver import receiving
from tests.consumer_support.running import eventually, running, until_drained
from tests.consumer_support.webhooks import bridge, replay
from tests.support.bridges import free_port
from tests.support.broker import LOCAL_URL


async def run(work: Path, times: int) -> None:
    exchange, tag = f"replay-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:6]
    openvidu = {p.stem: p.read_bytes() for p in sorted((CORPUS / "events").glob("*.json"))}
    livekit = {p.stem: p.read_bytes() for p in sorted((CORPUS / "livekit-events").glob("*.json"))}
    bodies = replay(openvidu, livekit)
    sentinel = b'{"sessionId":"ses_end","timestamp":1718020000000,"event":"sessionCreated"}'
    settings = Settings(rabbitmq_url=LOCAL_URL, exchange=exchange, state_dir=work / "state")
    names = [f"replay-cdr-{tag}", f"replay-sessions-{tag}", f"replay-notifier-{tag}"]
    try:
        async with receiving() as receiver:
            consumers = [
                create_archive(ArchiveSettings(work / "cdr"), name=names[0]),
                create_tracker(TrackerSettings(db=_database(work), http_port=free_port()), name=names[1]),
                create_notifier(NotifierSettings(url=receiver.url), name=names[2]),
            ]
            async with running(settings, *consumers) as runner, bridge(LOCAL_URL, exchange, work) as poster:
                for _ in range(times):
                    await poster.post_all(bodies)
                await poster.post(sentinel)
                cdr = work / "cdr" / "CDR.2024-06-10.log"
                await eventually(lambda: cdr.exists() and b"ses_end" in cdr.read_bytes(), timeout=30)
                connection = await aio_pika.connect(LOCAL_URL)
                async with connection, connection.channel() as channel:
                    await until_drained([runner], channel)  # sessions are handled at once: all, not just the last
                await eventually(lambda: len(receiver.received) >= 2, timeout=30)
                await receiver.wait_for(3, timeout=2.0)  # a third would be a duplicate notification
    finally:
        await delete_queues(LOCAL_URL, names, settings.retry_delays)
        await delete_exchange(LOCAL_URL, exchange)
    _show(work, bodies, times, receiver.received)


def _show(work: Path, bodies: list[bytes], times: int, received: list[tuple[dict[str, str], dict[str, Any]]]) -> None:
    say = sys.stdout.write
    lines = [line for path in sorted((work / "cdr").glob("CDR.*.log")) for line in path.read_bytes().splitlines()]
    say(f"posted {len(bodies)} bodies x{times} + 1 sentinel = {len(bodies) * times + 1} requests, all 200\n")
    say(f"CDR: {len(lines)} lines ({len(set(lines))} distinct) in {[p.name for p in (work / 'cdr').glob('CDR.*')]}\n")
    for line in lines:
        say(f"  {line[:110].decode()}{'…' if len(line) > 110 else ''}\n")
    say("tracker report:\n")
    report.main(_database(work), None, as_json=False, write=lambda text: say(f"  {text}\n"))
    for term in ("ses_Jd8tUyvhXO", "daily-standup"):
        report.main(_database(work), term, as_json=False, write=lambda text: say(f"  {text}\n"))
    say(f"notifier: {len(received)} POSTs received\n")
    for _, body in received:
        say(f"  {orjson.dumps(body).decode()}\n")


def _database(work: Path) -> Database:
    return Database("sqlite", str(work / "sessions.sqlite3"), "SESSIONS_DB")


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    times = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    with tempfile.TemporaryDirectory() as work:
        asyncio.run(run(Path(work), times))


if __name__ == "__main__":
    main()
