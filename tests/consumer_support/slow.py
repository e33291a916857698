"""A consumer for the SIGTERM test, run as `python -m consumers run tests.consumer_support.slow:consumer`.

Its handler takes SLOW_CONSUMER_SECONDS (the work in hand when SIGTERM comes) and writes to
SLOW_CONSUMER_MARKS when it starts and when it finishes.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from consumers import Consumer, Event

consumer = Consumer(os.environ.get("SLOW_CONSUMER_NAME", "slow"))


@consumer.on("sessionCreated")
async def slow(event: Event) -> None:
    mark(f"started {event.data['timestamp']}")
    await asyncio.sleep(float(os.environ.get("SLOW_CONSUMER_SECONDS", "1")))
    mark(f"finished {event.data['timestamp']}")


def mark(line: str) -> None:
    with Path(os.environ.get("SLOW_CONSUMER_MARKS", "marks.log")).open("a") as marks:
        marks.write(line + "\n")
