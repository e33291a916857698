"""The CDR archive: every event, one line each, in daily files of OpenVidu's own CDR format.

OpenVidu 2 writes its Call Detail Record as `CDR.<date>_<time>.log`, one JSON object per line:
`{"<event>": {…the event's fields…}}` (the webhook body without its `event` key). This consumer writes
`CDR.<date>.log` (UTC day of the event itself, so a redelivery lands in the file of its first copy) in the
same shape, for OpenVidu 3 (LiveKit) events too, so tools that read OpenVidu CDR files read these.

Idempotent across redeliveries: a line already in its day's file is not written again. A line is flushed to
disk before its message is acked, and a line torn by a crash is cut off when the file is next opened.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path

import orjson

from consumers.consumer import Consumer
from consumers.errors import ConfigError
from consumers.event import Event


@dataclasses.dataclass(frozen=True)
class ArchiveSettings:
    directory: Path = Path("data/cdr")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ArchiveSettings:
        return cls(directory=Path(env.get("CDR_DIR", "").strip() or cls.directory))


def cdr_line(event: Event) -> bytes:
    fields = {key: value for key, value in event.data.items() if key != "event"}
    return orjson.dumps({event.type: fields}) + b"\n"


def day_of(event: Event) -> date:
    return (event.occurred_at or event.received_at or datetime.now(UTC)).date()


class DailyFile:
    """One day's file, open for appending, with a digest of each line it holds."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        with open(self.fd, "rb", closefd=False) as existing:
            data = existing.read()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            os.ftruncate(self.fd, end)  # a line torn by a crash: its message was not acked and comes again
        self.lines = {_digest(line + b"\n") for line in data[:end].splitlines()}

    def append(self, line: bytes) -> bool:
        digest = _digest(line)
        if digest in self.lines:
            return False
        os.write(self.fd, line)  # one write of a whole line to an O_APPEND file
        os.fdatasync(self.fd)  # on disk before the ack
        self.lines.add(digest)
        return True

    def close(self) -> None:
        os.close(self.fd)


class CdrFiles:
    """The daily files of a directory, the most recent few kept open; one process writes them at a time."""

    KEEP_OPEN = 3

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._open: collections.OrderedDict[date, DailyFile] = collections.OrderedDict()
        self._lock: int | None = None

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            self._lock = None
            raise ConfigError(f"another CDR archive is writing to {self.directory} (CDR_DIR)") from None

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
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def create_archive(settings: ArchiveSettings, name: str = "cdr-archive") -> Consumer:
    files = CdrFiles(settings.directory)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        files.open()
        try:
            yield
        finally:
            files.close()

    consumer = Consumer(name, lifespan=lifespan)

    @consumer.on("*")
    async def archive(event: Event) -> None:
        # A local append and fdatasync: a few hundred microseconds, not worth a thread hop.
        files.write(day_of(event), cdr_line(event))

    return consumer


def _digest(line: bytes) -> bytes:
    return hashlib.blake2b(line, digest_size=16).digest()


archive = create_archive(ArchiveSettings.from_env(os.environ))
