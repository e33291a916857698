"""The wire contract end to end: every corpus event POSTed to the real bridge reaches exactly its handlers, whole."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from consumers import Consumer
from consumers.settings import Settings
from tests.consumer_support.running import Recorder, running
from tests.consumer_support.webhooks import bridge, replay

pytest_plugins = ["tests.consumer_support.fixtures"]


@pytest.mark.anyio
async def test_each_event_type_reaches_its_handlers_only(
    amqp_url: str,
    consumer_settings: Settings,
    fresh_name: Callable[[str], str],
    tmp_path: Path,
    openvidu_events: dict,
    livekit_events: dict,
) -> None:
    sessions, recordings, everything = (Consumer(fresh_name(n)) for n in ("sessions", "recordings", "everything"))
    session_events = ("sessionCreated", "sessionDestroyed", "room_started", "room_finished")
    on_sessions = sessions.on(*session_events)(Recorder())
    on_recordings = recordings.on("recordingStatusChanged", "egress_ended")(Recorder())
    on_signals = everything.on("signalSent")(Recorder())
    on_anything_else = everything.on("*")(Recorder())
    bodies = replay(openvidu_events, livekit_events)
    posted = [orjson.loads(body)["event"] for body in bodies]
    before = time.time()

    async with (
        running(consumer_settings, sessions, recordings, everything),
        bridge(amqp_url, consumer_settings.exchange, tmp_path) as poster,
    ):
        await poster.post_all(bodies)
        assert await on_anything_else.wait_for(len(bodies) - 1)
        assert await on_sessions.wait_for(4)
        assert await on_recordings.wait_for(2)
        assert await on_signals.wait_for(1)
        # Nothing more comes: no event reached a handler twice or one it is not bound to.
        assert not await on_anything_else.wait_for(len(bodies), timeout=0.5)

    assert on_sessions.types == [t for t in posted if t in session_events]  # in the order posted
    assert on_recordings.types == ["recordingStatusChanged", "egress_ended"]
    assert on_signals.types == ["signalSent"]
    assert on_anything_else.types == [t for t in posted if t != "signalSent"]
    by_body = {e.body: e for e in on_anything_else.events + on_signals.events}
    assert set(by_body) == set(bodies)  # every body byte for byte
    for body, event in by_body.items():
        data = orjson.loads(body)
        livekit = "createdAt" in data
        assert event.type == data["event"]
        assert event.data == data
        assert event.source == ("livekit" if livekit else "openvidu")
        assert event.message_id == (data["id"] if livekit else hashlib.sha256(body).hexdigest())
        assert event.attempt == 1
        assert event.received_at is not None
        assert before - 1 <= event.received_at.timestamp() <= time.time() + 1
