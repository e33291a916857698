"""The consumer the cluster scenarios run as a process: `consumers run tests.cluster.cluster_consumer:consumer`.

Each delivery handled is one line of CLUSTER_DELIVERIES, `<unix time> <message_id>`: what the scenario reads to
prove accepted ⊆ delivered, count duplicates and measure the longest time nothing arrived.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from consumers import Consumer, Event

consumer = Consumer(os.environ["CLUSTER_CONSUMER_NAME"], concurrency=16)
DELIVERIES = Path(os.environ["CLUSTER_DELIVERIES"]).open("a", buffering=1)  # a line each, flushed as written


@consumer.on("*")
async def handle(event: Event) -> None:
    DELIVERIES.write(f"{time.time():.3f} {event.message_id}\n")
