"""The write-ahead journal: every accepted event is on local disk before the bridge answers 200.

Segments `<number>.wal` hold records in arrival order; `checkpoint` says how far the broker has confirmed.
A segment is deleted once every record in it is confirmed. One process owns a directory (flock on `LOCK`).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bridge import records
from bridge.records import Entry, Position, Skipped, Source
from bridge.settings import FsyncPolicy

log = logging.getLogger(__name__)

_SEGMENT = re.compile(r"^(\d{12})\.wal$")


class JournalError(Exception):
    """The journal cannot be opened."""


class JournalLocked(JournalError):
    """Another process owns the directory."""


class JournalRefused(Exception):
    """An append was refused; the event was not accepted (503)."""


class JournalFull(JournalRefused):
    pass


class JournalUnavailable(JournalRefused):
    pass


class Journal:
    def __init__(self, directory: Path, *, max_bytes: int, segment_bytes: int, fsync: FsyncPolicy) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = max(min(segment_bytes, max_bytes // 8), 64 << 10)
        self.fsync_policy = fsync
        self.sizes: dict[int, int] = {}  # every segment on disk and its size in bytes
        self.bytes = 0
        self.released: Position = (1, 0)  # every record before this position is confirmed by the broker
        self.pending = 0  # records on disk and not yet released
        self.problem: str | None = None  # why appends are refused right now
        self.on_append: Callable[[Entry], None] = lambda _: None
        self.active = 0
        self._fd = -1
        self._lock_fd = -1
        self._dir_inode = 0
        self._to_sync: collections.deque[int] = collections.deque()  # sealed segments awaiting fsync and close
        self._to_delete: collections.deque[Path] = collections.deque()  # released segments awaiting unlink
        self._dirty = False
        self._dir_dirty = False
        self._checkpointed: Position = (0, 0)
        self._recovery_due = 0.0
        self._recovery_failure = ""

    @classmethod
    def open(cls, directory: Path, *, max_bytes: int, segment_bytes: int, fsync: FsyncPolicy) -> Journal:
        journal = cls(directory, max_bytes=max_bytes, segment_bytes=segment_bytes, fsync=fsync)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            journal._lock()
            journal._recover()
            journal._start_segment()
        except OSError as exc:
            journal.close()
            raise JournalError(f"cannot open the journal in {directory}: {exc.strerror or exc}") from exc
        except JournalError:
            journal.close()
            raise
        return journal

    def path(self, segment: int) -> Path:
        return self.directory / f"{segment:012d}.wal"

    # -- writing (the hot path) --------------------------------------------------------------------------------

    def append(
        self, routing_key: str, message_id: str, source: Source, received_at_ms: int, body: bytes, session: str
    ) -> Position:
        """Write one event; return where it starts. Raises JournalRefused when it cannot keep the event."""
        if self.problem is not None:
            raise JournalUnavailable(self.problem)
        record = records.encode(routing_key, message_id, source, received_at_ms, body, session)
        if self.bytes + len(record) > self.max_bytes:
            raise JournalFull(f"the journal holds {self.bytes} bytes, its limit is {self.max_bytes}")
        segment, offset = self.active, self.sizes[self.active]
        try:
            written = os.write(self._fd, record)
        except OSError as exc:
            self.fail(f"cannot write {self.path(segment)}: {exc.strerror}")
            raise JournalUnavailable(self.problem) from exc
        if written != len(record):  # only a full disk does this to a regular file: take the fragment back
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, offset)
            self.fail(f"short write to {self.path(segment)} (disk full?)")
            raise JournalUnavailable(self.problem)
        self.sizes[segment] = offset + written
        self.bytes += written
        self.pending += 1
        self._dirty = True
        if offset + written >= self.segment_bytes:
            self._roll()
        end = (segment, offset + written)
        self.on_append(Entry((segment, offset), end, routing_key, message_id, source, received_at_ms, body, session))
        return segment, offset

    @property
    def full(self) -> bool:
        """Too close to the limit to promise room for one more large event."""
        return self.bytes + (self.max_bytes >> 6) > self.max_bytes

    def _roll(self) -> None:
        sealed = self._fd
        self._fd = -1
        if self.fsync_policy == "never":
            os.close(sealed)
        else:
            self._to_sync.append(sealed)
        try:
            self._start_segment()
        except OSError as exc:
            self.fail(f"cannot start a new journal segment in {self.directory}: {exc.strerror}")

    def _start_segment(self) -> None:
        segment = max(self.sizes, default=self.released[0] - 1) + 1
        self._fd = os.open(self.path(segment), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
        self.sizes[segment] = 0
        self.active = segment
        self._dir_dirty = True
        self._dir_inode = os.stat(self.directory).st_ino
        if not self.pending:
            self.released = max(self.released, (segment, 0))
            self._drop_released()

    def fail(self, problem: str) -> None:
        if self.problem is None:
            log.error("journal refuses new events: %s", problem)
        self.problem = problem

    # -- releasing ---------------------------------------------------------------------------------------------

    def release(self, upto: Position, count: int) -> None:
        """The broker confirmed every record before `upto` (`count` of them since the last release)."""
        self.pending -= count
        segment, offset = upto
        if segment != self.active and offset >= self.sizes.get(segment, 0):
            upto = (segment + 1, 0)
        self.released = max(self.released, upto)
        self._drop_released()

    def _drop_released(self) -> None:
        for done in [s for s in self.sizes if s < self.released[0]]:
            self._delete(done)

    def _delete(self, segment: int) -> None:
        # Unlinking a full segment frees tens of MiB of extents, which takes milliseconds: the syncer's thread
        # does it, off the event loop. The space counts as free at once.
        self.bytes -= self.sizes.pop(segment)
        self._to_delete.append(self.path(segment))

    def _unlink_released(self) -> None:
        while self._to_delete:
            self._unlink(self._to_delete.popleft())

    @staticmethod
    def _unlink(path: Path) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass  # the directory went away under us; the problem is reported where it is noticed
        except OSError as exc:
            log.warning("cannot delete confirmed journal segment %s: %s", path, exc.strerror)

    # -- background upkeep: called every few milliseconds by the syncer ------------------------------------------

    def tick(self) -> None:
        """Persist the checkpoint, notice a directory that went away, and come back when it returns."""
        if self.released != self._checkpointed:
            self._write_checkpoint()
        if self.problem is None:
            self._check_directory()
        elif time.monotonic() >= self._recovery_due:
            self._recovery_due = time.monotonic() + 1.0
            self._try_recover()

    def sync(self, flush: bool = True) -> None:
        """fsync whatever was written (flush=False: only close sealed segments); runs in a worker thread."""
        # Only this method closes sealed fds, so `fd` stays open even if the loop seals it meanwhile.
        fd, self._dirty = self._fd, False
        if flush and fd >= 0:
            os.fdatasync(fd)
        while self._to_sync:
            sealed = self._to_sync.popleft()
            try:
                if flush:
                    os.fdatasync(sealed)
            finally:
                os.close(sealed)
        if flush and self._dir_dirty:
            self._dir_dirty = False
            dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self._unlink_released()

    @property
    def dirty(self) -> bool:
        return self._dirty or bool(self._to_sync) or bool(self._to_delete)

    def _check_directory(self) -> None:
        try:
            moved = os.stat(self.directory).st_ino != self._dir_inode
            gone = self._fd >= 0 and os.fstat(self._fd).st_nlink == 0
        except OSError:
            moved, gone = True, True
        if moved or gone:
            self.fail(f"the journal directory {self.directory} was deleted, replaced or mounted over")

    def _try_recover(self) -> None:
        """Once the directory is back and a probe write succeeds, start a fresh segment and accept again."""
        probe = self.directory / "probe"
        try:
            probe.write_bytes(bytes(4096))
            probe.unlink()
            if self._fd >= 0:
                self._to_sync.append(self._fd)  # the syncer closes it: it may be fsyncing it right now
                self._fd = -1
            self._lock()
            self._start_segment()
        except (OSError, JournalError) as exc:
            reason = str(exc)
            if reason != self._recovery_failure:
                log.error("journal %s still not writable: %s", self.directory, reason)
                self._recovery_failure = reason
            return
        self._recovery_failure = ""
        log.warning("journal accepts events again in %s", self.directory)
        self.problem = None

    # -- opening ----------------------------------------------------------------------------------------------

    def _lock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
        self._lock_fd = os.open(self.directory / "LOCK", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            owner = os.pread(self._lock_fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise JournalLocked(
                f"the journal directory {self.directory} is in use by another bridge process (pid {owner}); "
                "give every bridge process its own BRIDGE_JOURNAL_DIR"
            ) from None
        os.ftruncate(self._lock_fd, 0)
        os.pwrite(self._lock_fd, f"{os.getpid()}\n".encode(), 0)

    def _recover(self) -> None:
        for name in os.listdir(self.directory):
            if match := _SEGMENT.match(name):
                self.sizes[int(match.group(1))] = os.stat(self.directory / name).st_size
        self.bytes = sum(self.sizes.values())
        self.released = self._read_checkpoint() or (min(self.sizes, default=1), 0)
        self._checkpointed = self.released
        for segment in [s for s in self.sizes if s < self.released[0]]:
            self._delete(segment)
        self._unlink_released()
        last = max(self.sizes, default=None)
        for segment in sorted(self.sizes):
            start = self.released[1] if segment == self.released[0] else 0
            for item in self.scan(segment, start):
                if isinstance(item, Entry):
                    self.pending += 1
                elif segment == last and item.end == self.sizes[segment]:
                    self._truncate_torn_tail(segment, item)
        if self.pending:
            log.warning("journal holds %d events not confirmed by the broker: publishing them first", self.pending)

    def _truncate_torn_tail(self, segment: int, torn: Skipped) -> None:
        log.warning(
            "journal segment %s ends with a torn record (%d bytes at offset %d, a write cut short by a crash): "
            "skipped; every record before it is kept",
            self.path(segment),
            torn.end - torn.start,
            torn.start,
        )
        os.truncate(self.path(segment), torn.start)
        self.bytes -= self.sizes[segment] - torn.start
        self.sizes[segment] = torn.start

    def scan(self, segment: int, start: int) -> Iterator[Entry | Skipped]:
        fd = os.open(self.path(segment), os.O_RDONLY | os.O_CLOEXEC)
        try:
            yield from records.read_segment(fd, segment, start, self.sizes[segment])
        finally:
            os.close(fd)

    def _read_checkpoint(self) -> Position | None:
        try:
            segment, offset = (self.directory / "checkpoint").read_text().split()
            return int(segment), int(offset)
        except (OSError, ValueError):
            return None

    def _write_checkpoint(self) -> None:
        target = self.directory / "checkpoint"
        temporary = self.directory / "checkpoint.tmp"
        try:
            temporary.write_text(f"{self.released[0]} {self.released[1]}\n")
            os.replace(temporary, target)
        except OSError:
            return  # the next tick tries again; a stale checkpoint only means duplicates after a crash
        self._checkpointed = self.released

    def close(self) -> None:
        if self._lock_fd >= 0 and self.directory.is_dir():
            self._write_checkpoint()
            if self.fsync_policy != "never":
                with contextlib.suppress(OSError):
                    self.sync()
        self._unlink_released()
        for fd in (*self._to_sync, self._fd, self._lock_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._to_sync.clear()
        self._fd = self._lock_fd = -1
