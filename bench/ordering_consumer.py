"""The consumer `python -m bench` runs (as real `consumers run` processes) to measure per-session order at scale.

Configured by the environment the harness sets (bench/ordering.py). Each event takes BENCH_WORK seconds (an
outside API call, say); each handling first appends `monotonic_ns pid session seq` to BENCH_MARKS, one whole
line per write on an O_APPEND file, so the lines of several processes interleave in the order they were written.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Literal, cast

from consumers import Consumer, Event

_partitions = os.environ.get("BENCH_PARTITIONS")
consumer = Consumer(
    os.environ.get("BENCH_CONSUMER", "bench-ordering"),
    concurrency=int(os.environ.get("BENCH_CONCURRENCY", "1")),
    order=cast(Literal["queue", "session"], os.environ.get("BENCH_ORDER", "queue")),
    partitions=int(_partitions) if _partitions else None,
)
_marks = os.open(os.environ.get("BENCH_MARKS", "ordering.marks"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
_work = float(os.environ.get("BENCH_WORK", "0.02"))


@consumer.on("participantJoined")
async def handle(event: Event) -> None:
    mark = f"{time.monotonic_ns()} {os.getpid()} {event.data['sessionId']} {event.data['seq']}\n"
    os.write(_marks, mark.encode())
    await asyncio.sleep(_work)
