"""The consumer the consumer-fault scenario runs as a process: `consumers run tests.faults.fault_consumer:consumer`.

Every call is written to FAULT_MARKS as `<message_id> <attempt> <outcome>`. The event's place in the sender's
stream (its timestamp's last digits) decides the rest: number 99 is slow on its first delivery (the handler in
hand when the process is killed), numbers ending in 13 are poison (they always fail), and numbers ending in 7
fail their first attempt (so they wait in the retry queue).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from consumers import Consumer, Event, Retry

consumer = Consumer(os.environ["FAULT_CONSUMER_NAME"])
MARKS = Path(os.environ["FAULT_MARKS"])


@consumer.on("*")
async def handle(event: Event) -> None:
    number = int(event.data.get("timestamp", 0)) % 1000
    first_delivery = not seen(event)
    mark(event, "start")
    if number == 99 and first_delivery:
        await asyncio.sleep(60)  # the process is killed before this ends
    if number % 100 == 13:
        mark(event, "poison")
        raise RuntimeError("poison")
    if number % 10 == 7 and event.attempt == 1:
        mark(event, "retry")
        raise Retry("first attempts of these fail")
    mark(event, "done")


def seen(event: Event) -> bool:
    return MARKS.exists() and f"{event.message_id} " in MARKS.read_text()


def mark(event: Event, outcome: str) -> None:
    with MARKS.open("a") as marks:
        marks.write(f"{event.message_id} {event.attempt} {outcome}\n")
