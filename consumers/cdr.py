"""The CDR archive: every event, one line each, in daily files of OpenVidu's own CDR format.

OpenVidu 2 writes its Call Detail Record as `CDR.<date>_<time>.log`, one JSON object per line:
`{"<event>": {…the event's fields…}}` (the webhook body without its `event` key). This consumer writes
`CDR.<date>.log` (UTC day of the event itself, so a redelivery lands in the file of its first copy) in the
same shape, for OpenVidu 3 (LiveKit) events too, so tools that read OpenVidu CDR files read these.

Idempotent across redeliveries: a line already in its day's file is not written again. A line is flushed to
disk before its message is acked, and a line torn by a crash is cut off when the file is next opened.

Several processes may share the directory (CDR_PARTITIONS, with a directory on one host or a file system with
working flock): each append happens under an exclusive flock of its daily file, after reading what the others
appended since, so a line is in the file once whoever wrote it; with partitions each session's events are
handled one at a time, so its lines are in the order of its events.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path

import orjson

from consumers.consumer import Consumer
from consumers.errors import ConfigError
from consumers.event import Event


@dataclasses.dataclass(frozen=True)
class ArchiveSettings:
    directory: Path = Path("data/cdr")
    partitions: int | None = None  # shared by every process of the archive; None: one process

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ArchiveSettings:
        return cls(
            directory=Path(env.get("CDR_DIR", "").strip() or cls.directory),
            partitions=_partitions(env, "CDR_PARTITIONS"),
        )


def cdr_line(event: Event) -> bytes:
    fields = {key: value for key, value in event.data.items() if key != "event"}
    return orjson.dumps({event.type: fields}) + b"\n"


def day_of(event: Event) -> date:
    return (event.occurred_at or event.received_at or datetime.now(UTC)).date()


class DailyFile:
    """One day's file, open for appending, with a digest of each line it holds (by whichever process)."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self.lines: set[bytes] = set()
        self.read = 0  # bytes of the file whose lines are in `lines`
        with self._locked():
            self._catch_up()

    def append(self, line: bytes) -> bool:
        digest = _digest(line)
        with self._locked():
            self._catch_up()
            if digest in self.lines:
                return False
            os.write(self.fd, line)  # one write of a whole line to an O_APPEND file
            os.fdatasync(self.fd)  # on disk before the ack
            self.read += len(line)
        self.lines.add(digest)
        return True

    def close(self) -> None:
        os.close(self.fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fcntl.flock(self.fd, fcntl.LOCK_EX)  # a few microseconds uncontended: one writer at a time
        try:
            yield
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def _catch_up(self) -> None:
        """Take in the lines appended since we last looked; cut off a line torn by a crash (under the lock,
        nobody is writing, so a line without its newline can only be a torn one)."""
        size = os.fstat(self.fd).st_size
        if size <= self.read:
            return
        data = os.pread(self.fd, size - self.read, self.read)
        end = data.rfind(b"\n") + 1
        if end != len(data):
            os.ftruncate(self.fd, self.read + end)  # its message was not acked and comes again
        self.lines.update(_digest(line + b"\n") for line in data[:end].splitlines())
        self.read += end


class CdrFiles:
    """The daily files of a directory, the most recent few kept open."""

    KEEP_OPEN = 3

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._open: collections.OrderedDict[date, DailyFile] = collections.OrderedDict()

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def write(self, day: date, line: bytes) -> bool:
        """Append `line` to the file of `day`; False when that file already had it."""
        daily = self._open.get(day)
        if daily is None:
            daily = self._open[day] = DailyFile(self.directory / f"CDR.{day.isoformat()}.log")
            while len(self._open) > self.KEEP_OPEN:
                self._open.popitem(last=False)[1].close()
        self._open.move_to_end(day)
        return daily.append(line)

    def close(self) -> None:
        while self._open:
            self._open.popitem()[1].close()


def create_archive(settings: ArchiveSettings, name: str = "cdr-archive") -> Consumer:
    files = CdrFiles(settings.directory)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        files.open()
        try:
            yield
        finally:
            files.close()

    # In order per session (a session's lines follow its events), any number of processes with partitions.
    consumer = Consumer(name, concurrency=8, order="session", partitions=settings.partitions, lifespan=lifespan)

    @consumer.on("*")
    async def archive(event: Event) -> None:
        # A local append and fdatasync: a few hundred microseconds, not worth a thread hop.
        files.write(day_of(event), cdr_line(event))

    return consumer


def _digest(line: bytes) -> bytes:
    return hashlib.blake2b(line, digest_size=16).digest()


def _partitions(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 256:
        raise ConfigError(f"{name} must be a number of partitions from 1 to 256, got {value!r}")
    return int(value)


archive = create_archive(ArchiveSettings.from_env(os.environ))
