"""The CDR archive: OpenVidu's CDR format, daily files, each event once whatever the redeliveries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import orjson
import pytest

from consumers.cdr import ArchiveSettings, CdrFiles, cdr_line, create_archive, day_of
from consumers.errors import ConfigError
from consumers.settings import Settings
from consumers.testing import event
from tests.consumer_support.running import eventually, running
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


def test_one_archive_per_directory(tmp_path: Path) -> None:
    first, second = CdrFiles(tmp_path), CdrFiles(tmp_path)
    first.open()
    with pytest.raises(ConfigError, match="CDR_DIR"):
        second.open()
    first.close()
    second.open()
    second.close()


@pytest.mark.anyio
async def test_end_to_end_every_event_once_in_cdr_format(
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
    sentinel = b'{"sessionId":"ses_last","timestamp":1718020000000,"event":"sessionCreated"}'
    async with running(consumer_settings, archive), bridge(amqp_url, consumer_settings.exchange, tmp_path) as poster:
        await poster.post_all(bodies)
        await poster.post_all(bodies)  # OpenVidu's resends and the bridge's redeliveries: same bytes, same ids
        await poster.post(sentinel)
        path = directory / "CDR.2024-06-10.log"
        # Queue order: once the sentinel is written, every copy posted before it was handled.
        assert await eventually(lambda: path.exists() and b"ses_last" in path.read_bytes())
    lines = path.read_bytes().splitlines()
    assert len(lines) == len(bodies) + 1 == 34
    assert len(set(lines)) == len(lines)
    written = [orjson.loads(line) for line in lines]
    expected = [{orjson.loads(b)["event"]: {k: v for k, v in orjson.loads(b).items() if k != "event"}} for b in bodies]
    assert written[:-1] == expected
