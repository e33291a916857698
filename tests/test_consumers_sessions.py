"""The session tracker: OpenVidu 2 sessions and LiveKit rooms, right under duplicates and late redeliveries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers import cli
from consumers.database import Database
from consumers.runner import Runner
from consumers.sessions import TrackerSettings, create_tracker, engines, queries, report
from consumers.settings import Settings
from tests.consumer_support import tracker_db
from tests.consumer_support.running import eventually, running, until_drained
from tests.consumer_support.tracker_db import dump, fill
from tests.consumer_support.webhooks import bridge, replay
from tests.support.bridges import free_port

pytest_plugins = ["tests.consumer_support.fixtures", "tests.consumer_support.databases"]

OV2_SESSION = "ses_Jd8tUyvhXO_1718012345678"
ROOM = "RM_ZkH6sBqTwXyA"


@pytest.fixture
def corpus(openvidu_events: dict, livekit_events: dict) -> list[bytes]:
    return replay(openvidu_events, livekit_events)


@pytest.fixture
def in_order(new_database: Callable[..., Database], corpus: list[bytes]) -> dict[str, list[tuple[object, ...]]]:
    database = new_database()
    assert all(asyncio.run(fill(database, corpus)))
    return dump(database)


@pytest.mark.anyio
async def test_what_the_corpus_leaves_in_the_database(
    new_database: Callable[..., Database], corpus: list[bytes]
) -> None:
    database = new_database()
    await fill(database, corpus)
    assert await fill(database, corpus[:1]) == [False]  # the same message_id again changes nothing
    with engines.reading(database) as db:
        (ov2,) = queries.find(db, "ses_Jd8tUyvhXO")
        (room,) = queries.find(db, "daily-standup")
        live = queries.live(db)
    assert (ov2["key"], ov2["live"], ov2["duration_seconds"], ov2["end_reason"]) == (
        OV2_SESSION,
        False,
        705,
        "lastParticipantLeft",
    )
    (alice,) = ov2["participants"]
    assert (alice["id"], alice["identity"], alice["reason"]) == (
        "con_EIeO06zgMz",
        '{"clientData":"Alice"}',
        "disconnect",
    )
    assert alice["duration_seconds"] == pytest.approx(698.908)
    assert [(s["role"], s["participant"], s["receiving_from"]) for s in ov2["streams"]] == [
        ("subscriber", "con_ThN5Rgi8Y8", "con_EIeO06zgMz")
    ]
    (recording,) = ov2["recordings"]
    assert (recording["status"], recording["duration_seconds"], recording["size"]) == ("ready", 600.183, 48213577)

    assert (room["key"], room["source"], room["live"]) == (ROOM, "livekit", False)
    assert room["duration_seconds"] == pytest.approx(1025.877)  # creationTimeMs to room_finished
    people = {p["identity"]: p for p in room["participants"]}
    assert set(people) == {"alice", "bob"}
    assert people["alice"]["reason"] == "CLIENT_INITIATED"
    assert people["bob"]["reason"] == "JOIN_FAILURE"  # connection aborted
    (egress,) = room["recordings"]
    assert egress["status"] == "EGRESS_COMPLETE"
    assert egress["files"][0].endswith("daily-standup-2024-06-10T094002.mp4")

    assert [s["name"] for s in live] == ["live-show"]  # an ingress room with no room_started/finished seen
    assert live[0]["participants_now"] == 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_order_and_any_duplicates_end_in_the_same_state(
    new_database: Callable[..., Database], corpus: list[bytes], in_order: dict, data: st.DataObject
) -> None:
    # Retries reorder events and redeliveries repeat them; the merged state must not care.
    shuffled = data.draw(st.permutations(corpus))
    repeated = data.draw(st.lists(st.sampled_from(corpus), max_size=10))
    database = new_database()
    asyncio.run(fill(database, [*shuffled, *repeated]))
    assert dump(database) == in_order


@pytest.mark.anyio
async def test_a_late_earlier_status_never_overwrites_a_later_one(
    new_database: Callable[..., Database], openvidu_events: dict
) -> None:
    # Not a duplicate (another message_id): an event that failed once and came back from its retry late.
    database = new_database()
    await fill(database, [openvidu_events["recordingStatusChanged"]])
    await fill(database, [openvidu_events["recordingStopped"]], message_id="late")
    await fill(database, [openvidu_events["recordingStarted"]], message_id="later")
    with engines.reading(database) as db:
        (session,) = queries.find(db, OV2_SESSION)
    assert [(r["status"], r["size"]) for r in session["recordings"]] == [("ready", 48213577)]


@pytest.mark.anyio
async def test_report_text(new_database: Callable[..., Database], tmp_path: Path, corpus: list[bytes]) -> None:
    database = new_database()
    await fill(database, corpus)
    lines: list[str] = []
    assert report.main(database, None, as_json=False, write=lines.append) == 0
    assert lines[0] == "live now: 1 session(s)"
    assert any("live-show [livekit RM_Lv7sHw2QcK9p]" in line for line in lines)
    lines.clear()
    assert report.main(database, "ses_Jd8tUyvhXO", as_json=False, write=lines.append) == 0
    assert "lasted 11m45s" in lines[0]
    assert any('{"clientData":"Alice"} (con_EIeO06zgMz)' in line and "11m39s" in line for line in lines)
    assert any("recording ses_Jd8tUyvhXO: ready  10m00s" in line for line in lines)
    lines.clear()
    assert report.main(database, "nobody", as_json=False, write=lines.append) == 1
    missing = Database("sqlite", str(tmp_path / "missing.sqlite3"), "SESSIONS_DB")
    assert report.main(missing, None, as_json=False, write=lines.append) == 1


@pytest.mark.anyio
async def test_end_to_end_through_the_bridge_with_its_page_and_report(
    amqp: AbstractRobustConnection,
    amqp_url: str,
    consumer_settings: Settings,
    fresh_name: Callable[[str], str],
    tmp_path: Path,
    new_database: Callable[..., Database],
    corpus: list[bytes],
    in_order: dict,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    database = new_database()
    port = free_port()
    tracker = create_tracker(TrackerSettings(db=database, http_port=port), name=fresh_name("sessions"))
    sentinel = (
        b'{"sessionId":"ses_last","uniqueSessionId":"ses_last_1","timestamp":1718020000000,"event":"sessionCreated"}'
    )
    async with (
        running(consumer_settings, tracker) as runner,
        bridge(amqp_url, consumer_settings.exchange, tmp_path) as poster,
    ):
        await poster.post_all(corpus)
        await poster.post_all(corpus)  # every event twice, as after a bridge crash
        await poster.post(sentinel)
        assert await eventually(lambda: tracker_db.has(database, "ses_last"))

        async with amqp.channel() as channel:
            assert await until_drained([runner], channel)  # sessions are handled at once: every copy, not just the last
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            live = (await client.get("/api/live")).json()["sessions"]
            detail = (await client.get("/api/sessions/ses_Jd8tUyvhXO")).json()["sessions"]
            missing = await client.get("/api/sessions/nobody")
            page = await client.get("/")
    everything = dump(database)
    everything["sessions"] = [row for row in everything["sessions"] if row[0] != "ses_last_1"]
    assert everything == in_order
    assert {s["name"] for s in live} == {"live-show", "ses_last"}
    assert detail[0]["duration_seconds"] == 705
    assert missing.status_code == 404
    assert "live-show" in page.text
    monkeypatch.setenv("SESSIONS_DB", database.location)
    assert cli.main(["sessions", "report", "daily-standup"]) == 0
    assert "daily-standup [livekit RM_ZkH6sBqTwXyA]" in capsys.readouterr().out


@pytest.mark.anyio
async def test_two_tracker_processes_with_partitions_share_one_database(
    amqp: AbstractRobustConnection,
    amqp_url: str,
    consumer_settings: Settings,
    partitioned_name: Callable[..., str],
    tmp_path: Path,
    new_database: Callable[..., Database],
    corpus: list[bytes],
    in_order: dict,
) -> None:
    database, name = new_database(), partitioned_name()
    settings = TrackerSettings(db=database, http_port=0, partitions=2)
    sentinel = (
        b'{"sessionId":"ses_last","uniqueSessionId":"ses_last_1","timestamp":1718020000000,"event":"sessionCreated"}'
    )
    async with (
        running(consumer_settings, create_tracker(settings, name=name)) as one,
        running(consumer_settings, create_tracker(settings, name=name)) as two,
        bridge(amqp_url, consumer_settings.exchange, tmp_path) as poster,
    ):
        assert await eventually(lambda: all(_holds(r) == 1 for r in (one, two)), timeout=20)
        await poster.post_all(corpus)
        await poster.post_all(corpus)
        await poster.post(sentinel)
        assert await eventually(lambda: tracker_db.has(database, "ses_last"))

        async with amqp.channel() as channel:
            assert await until_drained([one, two], channel)
    everything = dump(database)
    everything["sessions"] = [row for row in everything["sessions"] if row[0] != "ses_last_1"]
    assert everything == in_order


def _holds(runner: Runner) -> int:
    claimer = runner.workers[0].claimer if runner.workers else None
    return len(claimer.held) if claimer is not None else 0
