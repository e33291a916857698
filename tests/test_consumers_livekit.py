"""LiveKit as LiveKit sends it: one file counted once, participants that are no one, and the other facts that bite.

Bodies come from tests/consumer_support/livekit_wire.py (built and signed with LiveKit's own libraries).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from consumers import cli, livekit
from consumers.database import Database
from consumers.notifier import NotifierSettings, create_notifier, notification
from consumers.sessions import TrackerSettings, create_tracker
from consumers.settings import Settings
from consumers.testing import event, sample
from tests.consumer_support import livekit_wire as wire
from tests.consumer_support.receiver import receiving
from tests.consumer_support.running import eventually, running
from tests.consumer_support.tracker_db import fill
from tests.consumer_support.webhooks import bridge
from tests.support.bridges import free_port

pytest_plugins = ["tests.consumer_support.fixtures"]

HOOKS = wire.scenario()
ENDED = next(h for h in HOOKS if h.name == "egress_ended")


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_every_fixture_is_accepted_by_livekits_own_webhook_receiver() -> None:
    for hook in HOOKS:
        assert wire.genuine(hook) == hook.event, hook.name
    assert {hook.body.count(b", ") > 0 for hook in HOOKS} == {True, False}  # both compact and spaced forms


def test_a_file_in_both_file_and_file_results_counts_once() -> None:
    recording = event(ENDED.body).egress
    assert recording is not None
    assert b'"file":{' in ENDED.body
    assert b'"fileResults":[{' in ENDED.body
    assert [(f.filename, f.size) for f in recording.files] == [(wire.FILE["filename"], wire.FILE["size"])]
    assert recording.locations == (wire.FILE["location"],)
    notified = notification(event(ENDED.body))
    assert notified is not None
    assert (notified["size_bytes"], notified["files"]) == (wire.FILE["size"], [wire.FILE["location"]])
    assert notified["duration_seconds"] == pytest.approx(612.5)
    assert notified["occurred_at"] == iso(wire.T0 + 625)  # createdAt is whole seconds


def test_files_count_by_filename_or_location_and_a_different_file_still_adds_up() -> None:
    one = {"filename": "a.mp4", "size": "10"}
    only_old = livekit.egress({"egressInfo": {"egressId": "EG_1", "file": one}})
    assert only_old is not None
    assert [f.filename for f in only_old.files] == ["a.mp4"]  # before 2023 egress filled only `file`
    same_place = {"egressId": "EG_2", "fileResults": [{"location": "s3://b/a.mp4", "size": "10"}]}
    moved = livekit.egress({"egressInfo": same_place | {"file": {"location": "s3://b/a.mp4", "size": "10"}}})
    assert moved is not None
    assert len(moved.files) == 1
    two = livekit.egress({"egressInfo": {"egressId": "EG_3", "fileResults": [one], "file": {"filename": "b.mp4"}}})
    assert two is not None
    assert [f.filename for f in two.files] == ["a.mp4", "b.mp4"]


def test_participant_kind_absent_means_standard_and_services_are_not_people() -> None:
    people = {h.event.participant.identity: event(h.body).participant for h in HOOKS if h.name == "participant_joined"}
    kinds = {identity: (p.kind, p.person) for identity, p in people.items() if p is not None}
    assert kinds == {
        "teacher": ("STANDARD", True),
        wire.EGRESS_ID: ("EGRESS", False),
        "agent-notes": ("AGENT", False),
        "sip_+4930123456": ("SIP", False),
    }
    assert b'"kind"' not in next(h for h in HOOKS if h.name == "participant_joined").body  # STANDARD: the zero value
    assert sample("participant_joined").participant.kind == "STANDARD"  # type: ignore[union-attr]


def test_an_older_database_gains_the_kind_column_with_the_kinds_it_kept_in_details(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE participants (session TEXT NOT NULL, id TEXT NOT NULL, identity TEXT, name TEXT,"
        " joined_at INTEGER, left_at INTEGER, reason TEXT, details TEXT, PRIMARY KEY (session, id));"
        """INSERT INTO participants VALUES ('RM_1', 'PA_1', 'EG_1', NULL, 1, NULL, NULL, '{"kind":"EGRESS"}');"""
        "INSERT INTO participants VALUES ('RM_1', 'PA_2', 'alice', NULL, 1, NULL, NULL, NULL);"
    )
    old.close()
    asyncio.run(fill(Database("sqlite", str(path), "SESSIONS_DB"), []))  # opening it upgrades it
    db = sqlite3.connect(path)
    assert db.execute("SELECT id, kind FROM participants ORDER BY id").fetchall() == [
        ("PA_1", "EGRESS"),
        ("PA_2", None),
    ]
    db.close()


@pytest.mark.anyio
async def test_a_recorded_room_through_the_bridge_to_the_tracker_and_the_notifier(
    amqp_url: str,
    consumer_settings: Settings,
    fresh_name: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    database, port = Database("sqlite", str(tmp_path / "sessions.sqlite3"), "SESSIONS_DB"), free_port()
    tracker = create_tracker(TrackerSettings(db=database, http_port=port), name=fresh_name("sessions"))
    first_half = HOOKS.index(next(h for h in HOOKS if h.name == "participant_left"))
    async with (
        receiving() as receiver,
        running(
            consumer_settings, tracker, create_notifier(NotifierSettings(url=receiver.url), name=fresh_name("notify"))
        ),
        bridge(amqp_url, consumer_settings.exchange, tmp_path) as poster,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):

        async def post(hooks: list[wire.Webhook]) -> None:
            for hook in hooks:
                headers = {"Content-Type": "application/webhook+json", "Authorization": hook.token}
                response = await poster.client.post(poster.running.webhook, content=hook.body, headers=headers)
                assert response.status_code == 200, (hook.name, response.text)

        async def room() -> dict[str, Any]:
            response = await client.get(f"/api/sessions/{wire.ROOM.name}")
            return response.json()["sessions"][0] if response.status_code == 200 else {}

        await post(HOOKS[:first_half])
        during = await eventually(
            lambda: _when(room(), lambda r: len(r.get("participants", ())) == 4 and len(r["streams"]) == 2), timeout=30
        )
        await post(HOOKS[first_half:])
        after = await eventually(
            lambda: _when(room(), lambda r: r["recordings"][0]["status"] == "EGRESS_COMPLETE"), timeout=30
        )
        assert await receiver.wait_for(1)
        monkeypatch.setenv("SESSIONS_DB", database.location)
        assert cli.main(["sessions", "report", "--json", wire.ROOM.name]) == 0
        printed = orjson.loads(capsys.readouterr().out)["sessions"][0]

    # While the class runs: four participants shown, one of them a person in the room (the teacher).
    assert (during["live"], during["participants_now"], during["participants_total"]) == (True, 1, 1)
    kinds = {p["identity"]: (p["kind"], p["person"]) for p in during["participants"]}
    assert kinds == {
        "teacher": ("STANDARD", True),
        wire.EGRESS_ID: ("EGRESS", False),
        "agent-notes": ("AGENT", False),
        "sip_+4930123456": ("SIP", False),
    }

    # After: the room ended when room_finished said, though egress_ended came later; the file counted once.
    assert (after["live"], after["ended_at"], after["participants_total"]) == (False, iso(wire.T0 + 620), 1)
    assert after["participants_now"] == 0
    (recording,) = after["recordings"]
    assert (recording["size"], recording["files"]) == (wire.FILE["size"], [wire.FILE["location"]])
    assert recording["duration_seconds"] == pytest.approx(612.5)
    # Each of the teacher's tracks ended with its own track_unpublished, at the second she left.
    streams = {s["kind"]: (s["participant"], s["started_at"], s["ended_at"]) for s in after["streams"]}
    assert streams == {
        "CAMERA": (wire.TEACHER.sid, iso(wire.T0 + 20), iso(wire.T0 + 600)),
        "MICROPHONE": (wire.TEACHER.sid, iso(wire.T0 + 21), iso(wire.T0 + 600)),
    }
    assert {p["identity"]: p["left_at"] for p in after["participants"]}["teacher"] == iso(wire.T0 + 600)
    assert printed == after  # `consumers sessions report --json` prints the document the page serves

    [(_, notified)] = receiver.received
    assert (notified["status"], notified["recording_id"], notified["session"]) == (
        "ready",
        wire.EGRESS_ID,
        "recorded-class",
    )
    assert (notified["size_bytes"], notified["files"]) == (wire.FILE["size"], [wire.FILE["location"]])


async def _when(document: Any, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    found: dict[str, Any] = await document
    return found if found and done(found) else None
