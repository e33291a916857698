"""The write-ahead journal on its own: records, segments, release, recovery, damage, locking."""

from __future__ import annotations

import logging
import os
import zlib
from pathlib import Path

import pytest

from bridge import records
from bridge.journal import Journal, JournalFull, JournalLocked, JournalUnavailable
from bridge.reader import JournalReader
from bridge.records import Entry, Skipped, Source


def open_journal(directory: Path, max_bytes: int = 1 << 20, segment_bytes: int = 64 << 10) -> Journal:
    return Journal.open(directory, max_bytes=max_bytes, segment_bytes=segment_bytes, fsync="never")


def body(n: int, pad: int = 0) -> bytes:
    return b'{"event":"sessionCreated","n":%d,"pad":"%s"}' % (n, b"x" * pad)


def fill(journal: Journal, count: int, pad: int = 0, start: int = 0) -> None:
    for n in range(start, start + count):
        journal.append("sessionCreated", f"id-{n}", Source.OPENVIDU, 1_700_000_000_000 + n, body(n, pad), "ses_A")


def read_all(journal: Journal) -> list[Entry]:
    reader = JournalReader(journal)
    try:
        return reader.read(1_000_000)
    finally:
        reader.close()


def test_a_record_round_trips_with_all_its_fields() -> None:
    raw = records.encode("participantJoined", "abc", Source.LIVEKIT, 1234, b'{"event":"participantJoined"}', "rö0m")
    (entry,) = records.scan(raw, 7, 100, final=True)
    assert entry == Entry(
        start=(7, 100),
        end=(7, 100 + len(raw)),
        routing_key="participantJoined",
        message_id="abc",
        source=Source.LIVEKIT,
        received_at_ms=1234,
        body=b'{"event":"participantJoined"}',
        session="rö0m",
    )


def _record_v1(routing_key: str, message_id: str, source: Source, received_at_ms: int, body: bytes) -> bytes:
    """A record as bridges wrote them before records carried the session key."""
    key, mid = routing_key.encode(), message_id.encode()
    meta = records.META_V1.pack(received_at_ms, source, len(key), len(mid)) + key + mid
    crc = zlib.crc32(body, zlib.crc32(meta))
    return records.HEADER.pack(records.MAGIC_V1, crc, len(meta) + len(body)) + meta + body


def test_records_of_the_first_version_are_read_with_the_session_key_taken_from_their_body(tmp_path: Path) -> None:
    openvidu = b'{"sessionId":"ses_Old","timestamp":1,"event":"sessionCreated"}'
    livekit = b'{"event":"egress_ended","egressInfo":{"roomName":"old-room"},"id":"EV_1"}'
    node = b'{"timestamp":1,"id":"media_1","event":"mediaNodeStatusChanged"}'
    journal = open_journal(tmp_path)
    journal.append("sessionCreated", "new", Source.OPENVIDU, 1, openvidu, "ses_New")
    segment = journal.path(journal.active)
    journal.close()
    old = b"".join(
        [
            _record_v1("sessionCreated", "a", Source.OPENVIDU, 1, openvidu),
            _record_v1("egress_ended", "EV_1", Source.LIVEKIT, 2, livekit),
            _record_v1("mediaNodeStatusChanged", "c", Source.OPENVIDU, 3, node),
        ]
    )
    segment.write_bytes(segment.read_bytes() + old)  # a journal left by the previous version, then upgraded

    entries = read_all(open_journal(tmp_path))
    assert [(e.message_id, e.session) for e in entries] == [
        ("new", "ses_New"),
        ("a", "ses_Old"),
        ("EV_1", "old-room"),
        ("c", "mediaNodeStatusChanged"),
    ]
    assert [e.body for e in entries[1:]] == [openvidu, livekit, node]


def test_scan_waits_for_more_bytes_unless_final() -> None:
    raw = records.encode("a", "b", Source.OPENVIDU, 1, b"{}", "s")
    assert list(records.scan(raw[:-3], 1, 0, final=False)) == []
    assert list(records.scan(raw[:-3], 1, 0, final=True)) == [Skipped(0, len(raw) - 3)]


def test_appended_events_are_read_back_in_order_across_segments(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    fill(journal, 500, pad=300)
    assert len(journal.sizes) > 1  # the test is about several segments
    entries = read_all(journal)
    assert [e.message_id for e in entries] == [f"id-{n}" for n in range(500)]
    assert [e.body for e in entries[:2]] == [body(0, 300), body(1, 300)]
    assert journal.pending == 500
    journal.close()


def test_releasing_deletes_fully_confirmed_segments_and_a_restart_resumes_after_the_checkpoint(
    tmp_path: Path,
) -> None:
    journal = open_journal(tmp_path)
    fill(journal, 400, pad=300)
    entries = read_all(journal)
    segments_before = len(journal.sizes)
    journal.release(entries[299].end, 300)
    assert len(journal.sizes) < segments_before
    assert journal.bytes == sum(os.path.getsize(journal.path(s)) for s in journal.sizes)
    journal.tick()  # writes the checkpoint
    journal.close()

    reopened = open_journal(tmp_path)
    assert reopened.pending == 100
    assert [e.message_id for e in read_all(reopened)] == [f"id-{n}" for n in range(300, 400)]
    reopened.close()


def test_a_restart_without_a_checkpoint_replays_everything_still_on_disk(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    fill(journal, 10)
    journal.close()
    (tmp_path / "checkpoint").unlink()
    reopened = open_journal(tmp_path)
    assert [e.message_id for e in read_all(reopened)] == [f"id-{n}" for n in range(10)]
    fill(reopened, 1, start=10)  # new events go after the recovered ones
    assert [e.message_id for e in read_all(reopened)][-1] == "id-10"
    reopened.close()


def test_a_torn_last_record_is_truncated_with_a_log_line_and_nothing_before_it_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = open_journal(tmp_path)
    fill(journal, 20)
    last = journal.path(journal.active)
    journal.close()
    whole = last.read_bytes()
    torn = records.encode("sessionCreated", "torn", Source.OPENVIDU, 1, body(99), "ses_A")[:25]
    last.write_bytes(whole + torn)  # a power cut in the middle of a write

    with caplog.at_level(logging.WARNING):
        reopened = open_journal(tmp_path)
    assert "torn record" in caplog.text
    assert last.stat().st_size == len(whole)
    assert [e.message_id for e in read_all(reopened)] == [f"id-{n}" for n in range(20)]
    reopened.close()


def test_a_corrupted_record_in_the_middle_is_skipped_and_the_rest_of_every_segment_is_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = open_journal(tmp_path)
    fill(journal, 400, pad=300)
    first = min(journal.sizes)
    entries = read_all(journal)
    victim = next(e for e in entries if e.start[0] == first and e.start[1] > 0)
    journal.close()
    with journal.path(first).open("r+b") as segment:  # flip bytes inside one record's body
        segment.seek(victim.end[1] - 10)
        segment.write(b"\x00\xff\x00\xff")

    reopened = open_journal(tmp_path)
    with caplog.at_level(logging.ERROR):
        ids = [e.message_id for e in read_all(reopened)]
    assert ids == [f"id-{n}" for n in range(400) if f"id-{n}" != victim.message_id]
    assert "damaged bytes" in caplog.text
    reopened.close()


def test_a_corrupted_length_field_does_not_hide_the_records_after_it(tmp_path: Path) -> None:
    journal = open_journal(tmp_path, segment_bytes=1 << 20)
    fill(journal, 50)
    entries = read_all(journal)
    victim = entries[10]
    journal.close()
    with journal.path(victim.start[0]).open("r+b") as segment:
        segment.seek(victim.start[1] + 8)  # the length: now it claims to run far past the end of the file
        segment.write((10 << 20).to_bytes(4, "little"))
    reopened = open_journal(tmp_path, segment_bytes=1 << 20)
    ids = [e.message_id for e in read_all(reopened)]
    assert ids == [f"id-{n}" for n in range(50) if n != 10]
    reopened.close()


def test_the_journal_refuses_events_past_its_limit(tmp_path: Path) -> None:
    journal = open_journal(tmp_path, max_bytes=512 << 10)
    with pytest.raises(JournalFull):
        fill(journal, 10_000, pad=300)
    assert journal.bytes <= 512 << 10
    assert journal.full
    pending = journal.pending
    entries = read_all(journal)
    journal.release(entries[-1].end, pending)
    assert not journal.full
    fill(journal, 1)
    journal.close()


def test_a_second_owner_of_the_directory_is_refused(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    with pytest.raises(JournalLocked, match=r"in use by another bridge process \(pid \d+\)"):
        open_journal(tmp_path)
    journal.close()
    open_journal(tmp_path).close()  # released with the first


def test_a_deleted_directory_is_noticed_refused_and_recovered_from(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    journal = open_journal(directory)
    fill(journal, 3)
    for name in os.listdir(directory):
        os.unlink(directory / name)
    directory.rmdir()
    journal.tick()
    assert journal.problem is not None
    with pytest.raises(JournalUnavailable):
        fill(journal, 1)

    directory.mkdir()
    journal._recovery_due = 0  # do not wait for the next one-second retry
    journal.tick()
    assert journal.problem is None
    fill(journal, 1, start=3)
    journal.close()


def test_fsync_policies_sync_what_was_written(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path, max_bytes=1 << 20, segment_bytes=64 << 10, fsync="always")
    fill(journal, 300, pad=300)  # several sealed segments wait for their fsync
    assert journal.dirty
    journal.sync()
    assert not journal.dirty
    journal.close()
