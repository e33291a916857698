"""The journal's on-disk record: a framed, checksummed event, and the scanner that finds records in bytes.

    record  = magic "OVJ2" | crc32(payload) u32 | len(payload) u32 | payload
    payload = received_at_ms u64 | source u8 | len(routing_key) u8 | len(message_id) u8 | len(session) u8
              | routing_key | message_id | session | body

The magic lets a reader find the next record after a damaged one; the checksum tells a torn or corrupted
record from a whole one. Records of the first version ("OVJ1", written before events carried a session key)
have no session field: their key is computed from the body when they are read.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import struct
import zlib
from collections.abc import Iterator

from bridge.sessions import session_of_body

MAGIC = b"OVJ2"
MAGIC_V1 = b"OVJ1"
_MAGIC_PREFIX = b"OVJ"  # what a reader looks for to resynchronise after damage: either version
HEADER = struct.Struct("<4sII")
META = struct.Struct("<QBBBB")
META_V1 = struct.Struct("<QBBB")
MAX_PAYLOAD = 64 << 20
_CHUNK = 1 << 20

Position = tuple[int, int]
"""(segment number, byte offset): totally ordered, like the journal itself."""


class Source(enum.IntEnum):
    OPENVIDU = 1
    LIVEKIT = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    start: Position
    end: Position
    routing_key: str
    message_id: str
    source: Source
    received_at_ms: int
    body: bytes
    session: str  # the x-session header: see bridge/sessions.py


def encode(routing_key: str, message_id: str, source: Source, received_at_ms: int, body: bytes, session: str) -> bytes:
    key, mid, ses = routing_key.encode(), message_id.encode(), session.encode()
    meta = META.pack(received_at_ms, source, len(key), len(mid), len(ses)) + key + mid + ses
    crc = zlib.crc32(body, zlib.crc32(meta))
    return HEADER.pack(MAGIC, crc, len(meta) + len(body)) + meta + body


class Damage(enum.Enum):
    NONE = "none"
    INCOMPLETE = "incomplete"  # the buffer ends inside a record: read more, or it is a torn tail
    CORRUPT = "corrupt"  # bytes that are not a whole, valid record


@dataclasses.dataclass(frozen=True, slots=True)
class Skipped:
    """A damaged stretch of a segment: [start, end) in bytes."""

    start: int
    end: int


def scan(buf: bytes, segment: int, base: int, final: bool) -> Iterator[Entry | Skipped]:
    """Yield the whole records in buf (which begins at byte `base` of `segment`) and the damaged stretches between.

    When buf is not `final` (more bytes follow on disk), stop at the first record that runs past its end: the
    caller reads on from there. When it is final, whatever does not parse up to the end is damage.
    """
    view = memoryview(buf)
    pos, size = 0, len(buf)
    while pos < size:
        damage, entry = _decode_at(view, pos, segment, base)
        if entry is not None:
            yield entry
            pos = entry.end[1] - base
            continue
        if damage is Damage.CORRUPT or final:
            # Resynchronise on the next magic that starts a whole record (or, mid-file, may start one).
            found = buf.find(_MAGIC_PREFIX, pos + 1)
            while found != -1 and not _plausible(view, found, segment, base, final):
                found = buf.find(_MAGIC_PREFIX, found + 1)
            if found != -1:
                yield Skipped(base + pos, base + found)
                pos = found
                continue
        if final:
            yield Skipped(base + pos, base + size)
        return


def _plausible(view: memoryview, pos: int, segment: int, base: int, final: bool) -> bool:
    damage = _decode_at(view, pos, segment, base)[0]
    return damage is Damage.NONE or (damage is Damage.INCOMPLETE and not final)


def _decode_at(view: memoryview, pos: int, segment: int, base: int) -> tuple[Damage, Entry | None]:
    if len(view) - pos < HEADER.size:
        return Damage.INCOMPLETE, None
    magic, crc, length = HEADER.unpack_from(view, pos)
    meta = META if magic == MAGIC else META_V1 if magic == MAGIC_V1 else None
    if meta is None or length > MAX_PAYLOAD or length < meta.size:
        return Damage.CORRUPT, None
    start, stop = pos + HEADER.size, pos + HEADER.size + length
    if stop > len(view):
        return Damage.INCOMPLETE, None
    payload = view[start:stop]
    if zlib.crc32(payload) != crc:
        return Damage.CORRUPT, None
    if meta is META:
        received_at_ms, source, key_len, mid_len, session_len = META.unpack_from(payload)
    else:
        (received_at_ms, source, key_len, mid_len), session_len = META_V1.unpack_from(payload), 0
    key_end = meta.size + key_len
    mid_end = key_end + mid_len
    session_end = mid_end + session_len
    try:
        routing_key = str(payload[meta.size : key_end], "utf-8")
        body = bytes(payload[session_end:])
        kind = Source(source)
        if meta is META:
            session = str(payload[mid_end:session_end], "utf-8")
        else:
            session = session_of_body(body, routing_key, livekit=kind is Source.LIVEKIT)
        entry = Entry(
            start=(segment, base + pos),
            end=(segment, base + stop),
            routing_key=routing_key,
            message_id=str(payload[key_end:mid_end], "utf-8"),
            source=kind,
            received_at_ms=received_at_ms,
            body=body,
            session=session,
        )
    except ValueError:  # garbage that happens to pass the checksum: damage all the same
        return Damage.CORRUPT, None
    return Damage.NONE, entry


def read_segment(fd: int, segment: int, start: int, end: int) -> Iterator[Entry | Skipped]:
    """Every record and damaged stretch of one segment between two offsets, read a chunk at a time."""
    position, want = start, _CHUNK
    while position < end:
        buf = os.pread(fd, min(want, end - position), position)
        if not buf:
            return
        final = position + len(buf) >= end or len(buf) < min(want, end - position)
        before = position
        for item in scan(buf, segment, position, final):
            yield item
            position = item.end[1] if isinstance(item, Entry) else item.end
        want = want * 2 if position == before else _CHUNK  # a record larger than one chunk: read more at once
