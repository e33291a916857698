"""The session tracker: live and past sessions, participants, streams and recordings, in SQLite or PostgreSQL.

Understands OpenVidu 2 sessions and OpenVidu 3 (LiveKit) rooms alike; correct under duplicates, redeliveries
and, on PostgreSQL, several processes on several hosts (see store.py). While it runs, a read-only page and JSON
API are served (see web.py); `consumers sessions report` reads the same database.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from consumers.consumer import Consumer
from consumers.event import Event
from consumers.sessions import engines, livekit, openvidu, web
from consumers.sessions.settings import TrackerSettings
from consumers.sessions.store import SessionStore

__all__ = ["TrackerSettings", "create_tracker", "tracker"]


def create_tracker(settings: TrackerSettings, name: str = "session-tracker") -> Consumer:
    opened: list[SessionStore] = []  # the store while the tracker runs

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        async with engines.opened(settings.db) as store:
            with engines.reading(settings.db) as reader:
                async with web.serving(web.create_app(reader), settings.http_host, settings.http_port):
                    opened.append(store)
                    try:
                        yield
                    finally:
                        opened.clear()

    # Each session's events in order; with partitions, any number of processes (one database).
    consumer = Consumer(name, concurrency=8, order="session", partitions=settings.partitions, lifespan=lifespan)

    @consumer.on(*openvidu.EVENTS, *livekit.EVENTS)
    async def track(event: Event) -> None:
        rows = livekit.rows(event) if event.source == "livekit" else openvidu.rows(event.type, event.data)
        await opened[0].apply(event.message_id, rows)

    return consumer


tracker = create_tracker(TrackerSettings.from_env(os.environ))
