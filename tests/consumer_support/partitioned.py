"""A partitioned consumer for tests that run it as real processes (`consumers run`), configured by environment.

Each handling appends one line `pid session seq attempt` to PARTITIONED_MARKS as it starts (O_APPEND: the
lines of several processes interleave whole, in the order they were written), then works for
PARTITIONED_WORK seconds.
"""

from __future__ import annotations

import asyncio
import os

from consumers import Consumer, Event

consumer = Consumer(
    os.environ.get("PARTITIONED_NAME", "test-partitioned"),
    concurrency=int(os.environ.get("PARTITIONED_CONCURRENCY", "8")),
    order="session",
    partitions=int(os.environ.get("PARTITIONED_PARTITIONS", "6")),
)
_marks = os.open(os.environ.get("PARTITIONED_MARKS", "marks.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
_work = float(os.environ.get("PARTITIONED_WORK", "0.02"))


@consumer.on("participantJoined")
async def handle(event: Event) -> None:
    line = f"{os.getpid()} {event.data['sessionId']} {event.data['seq']} {event.attempt}\n"
    os.write(_marks, line.encode())
    await asyncio.sleep(_work)
