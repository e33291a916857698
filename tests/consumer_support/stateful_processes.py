"""Consumers for tests that run them as real processes (`consumers run`) sharing one PostgreSQL database.

`tracker`: the session tracker under the name STATEFUL_NAME (its database: SESSIONS_DB).
`once`: a once=True handler (its store: CONSUMER_STORE) that appends `pid message_id` to STATEFUL_MARKS for each
run (O_APPEND: lines of several processes interleave whole) and then works STATEFUL_WORK seconds, so that copies
of one message on two processes are in hand at once.
"""

from __future__ import annotations

import asyncio
import os

from consumers import Consumer, Event
from consumers.sessions import TrackerSettings, create_tracker

NAME = os.environ.get("STATEFUL_NAME", "test-stateful")
tracker = create_tracker(TrackerSettings.from_env(os.environ), name=NAME)

once = Consumer(NAME, concurrency=8)
_marks = os.open(os.environ.get("STATEFUL_MARKS", "marks.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
_work = float(os.environ.get("STATEFUL_WORK", "0.05"))


@once.on("sessionDestroyed", once=True)
async def bill(event: Event) -> None:
    os.write(_marks, f"{os.getpid()} {event.message_id}\n".encode())
    await asyncio.sleep(_work)
