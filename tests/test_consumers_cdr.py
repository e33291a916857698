"""The CDR archive: OpenVidu's CDR format, daily files, each event once whatever the redeliveries."""

from __future__ import annotations

import collections
from collections.abc import Callable
from datetime import date
from pathlib import Path

import orjson
import pytest
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from consumers.cdr import ArchiveSettings, CdrFiles, cdr_line, create_archive, day_of
from consumers.runner import Runner
from consumers.settings import Settings
from consumers.testing import event
from tests.consumer_support.running import eventually, publish, running, until_drained
from tests.consumer_support.sessions import interleaved, session_event
from tests.consumer_support.webhooks import bridge, replay

pytest_plugins = ["tests.consumer_support.fixtures"]


def test_a_cdr_line_is_the_event_under_its_name(openvidu_events: dict, livekit_events: dict) -> None:
    line = cdr_line(event(openvidu_events["participantJoined"]))
    assert line.endswith(b"\n")
    record = orjson.loads(line)
    expected = {k: v for k, v in orjson.loads(openvidu_events["participantJoined"]).items() if k != "event"}
    assert record == {"participantJoined": expected}
    assert list(record["participantJoined"]) == list(expected)  # the sender's key order
    recording = orjson.loads(cdr_line(event(openvidu_events["recordingStatusChanged"])))
    assert recording["recordingStatusChanged"]["duration"] == 600.183
    room = orjson.loads(cdr_line(event(livekit_events["room_finished"])))
    assert set(room) == {"room_finished"}
    assert room["room_finished"]["id"] == "EV_Nb5mQ9wE2rTy"
    assert day_of(event(livekit_events["room_finished"])) == date(2024, 6, 10)


def test_daily_files_take_each_line_once_even_after_a_restart(tmp_path: Path) -> None:
    files = CdrFiles(tmp_path)
    files.open()
    day = date(2024, 6, 10)
    assert files.write(day, b'{"a":{}}\n')
    assert not files.write(day, b'{"a":{}}\n')
    files.close()
    # A crash tore the last line: it is cut off, and the redelivered event written whole.
    path = tmp_path / "CDR.2024-06-10.log"
    path.write_bytes(path.read_bytes() + b'{"b":{"torn')
    again = CdrFiles(tmp_path)
    again.open()
    assert not again.write(day, b'{"a":{}}\n')
    assert again.write(day, b'{"b":{"torn":1}}\n')
    again.close()
    assert path.read_bytes() == b'{"a":{}}\n{"b":{"torn":1}}\n'


def test_archives_sharing_a_directory_write_each_line_once(tmp_path: Path) -> None:
    first, second = CdrFiles(tmp_path), CdrFiles(tmp_path)  # two processes of a partitioned archive
    first.open()
    second.open()
    day = date(2024, 6, 10)
    assert first.write(day, b'{"a":{}}\n')
    assert not second.write(day, b'{"a":{}}\n')  # the other one wrote it: a redelivery after a hand-over
    assert second.write(day, b'{"b":{}}\n')
    assert not first.write(day, b'{"b":{}}\n')
    assert first.write(day, b'{"c":{}}\n')
    first.close()
    second.close()
    assert (tmp_path / "CDR.2024-06-10.log").read_bytes() == b'{"a":{}}\n{"b":{}}\n{"c":{}}\n'


@pytest.mark.anyio
async def test_end_to_end_every_event_once_in_cdr_format(
    amqp: AbstractRobustConnection,
    amqp_url: str,
    consumer_settings: Settings,
    fresh_name: Callable[[str], str],
    tmp_path: Path,
    openvidu_events: dict,
    livekit_events: dict,
) -> None:
    directory = tmp_path / "cdr"
    archive = create_archive(ArchiveSettings(directory), name=fresh_name("cdr"))
    bodies = replay(openvidu_events, livekit_events)
    path = directory / "CDR.2024-06-10.log"
    sentinel = b'{"sessionId":"ses_last","timestamp":1718020000000,"event":"sessionCreated"}'
    async with (
        running(consumer_settings, archive) as runner,
        bridge(amqp_url, consumer_settings.exchange, tmp_path) as poster,
    ):
        await poster.post_all(bodies)
        await poster.post_all(bodies)  # OpenVidu's resends and the bridge's redeliveries: same bytes, same ids
        await poster.post(sentinel)  # published after every copy above

        async with amqp.channel() as channel:
            assert await until_drained([runner], channel)  # every copy handled, sessions being handled at once
    lines = [line for line in path.read_bytes().splitlines() if b"ses_last" not in line]
    assert len(lines) == len(bodies) == 33
    assert len(set(lines)) == len(lines)
    written = [orjson.loads(line) for line in lines]
    expected = [{orjson.loads(b)["event"]: {k: v for k, v in orjson.loads(b).items() if k != "event"}} for b in bodies]
    assert sorted(written, key=repr) == sorted(expected, key=repr)
    # Sessions are archived at once, each in the order of its events.
    assert [line for line in written if _session(line) == "ses_Jd8tUyvhXO"] == [
        line for line in expected if _session(line) == "ses_Jd8tUyvhXO"
    ]
    assert [line for line in written if _session(line) == "daily-standup"] == [
        line for line in expected if _session(line) == "daily-standup"
    ]


def _session(line: dict[str, dict[str, object]]) -> object:
    (fields,) = line.values()
    room = fields.get("room")
    return fields.get("sessionId") or (room.get("name") if isinstance(room, dict) else None)


@pytest.mark.anyio
async def test_two_processes_with_partitions_share_the_directory_each_session_in_order(
    consumer_settings: Settings,
    partitioned_name: Callable[..., str],
    channel: AbstractChannel,
    tmp_path: Path,
) -> None:
    name, settings = partitioned_name(), ArchiveSettings(tmp_path / "cdr", partitions=2)
    events = interleaved(sessions=12, count=240)
    path = tmp_path / "cdr" / "CDR.2024-06-10.log"
    one, two = create_archive(settings, name=name), create_archive(settings, name=name)
    async with running(consumer_settings, one) as first, running(consumer_settings, two) as second:
        assert await eventually(lambda: all(_holds(runner) == 1 for runner in (first, second)), timeout=20)
        for session, seq in events:
            await publish(channel, consumer_settings.exchange, session_event(session, seq))
        assert await eventually(lambda: path.exists() and len(path.read_bytes().splitlines()) == 240, timeout=30)

    archived: dict[str, list[int]] = collections.defaultdict(list)
    for line in path.read_bytes().splitlines():
        fields = orjson.loads(line)["participantJoined"]
        archived[fields["sessionId"]].append(fields["seq"])
    published: dict[str, list[int]] = collections.defaultdict(list)
    for session, seq in events:
        published[session].append(seq)
    assert archived == published


def _holds(runner: Runner) -> int:
    claimer = runner.workers[0].claimer if runner.workers else None
    return len(claimer.held) if claimer is not None else 0
