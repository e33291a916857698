"""Reads the journal in order, from any position, for the publisher: the backlog stays on disk, not in memory.

While the publisher keeps up, the entries just appended are handed over in memory as well (up to a bound), so
the common case costs no read and no decode; as soon as it falls behind, it reads from disk again.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
from collections.abc import Callable, Iterator

from bridge.journal import Journal
from bridge.records import Entry, Position, Skipped, read_segment

log = logging.getLogger(__name__)

LIVE_TAIL = 4096  # entries held in memory for a publisher that keeps up; past that, it reads from disk


class JournalReader:
    def __init__(self, journal: Journal, on_damage: Callable[[int], None] = lambda _: None) -> None:
        self.journal = journal
        self.position: Position = journal.released
        self._on_damage = on_damage
        self._items: Iterator[Entry | Skipped] | None = None
        self._fd = -1
        self._fd_segment = 0
        self._tail: collections.deque[Entry] = collections.deque()
        self._tail_next: Position | None = None  # where the next appended entry must start to join the tail

    def seek(self, position: Position) -> None:
        self.position = position
        self._items = None
        self._tail.clear()
        self._tail_next = None

    def appended(self, entry: Entry) -> None:
        """The journal just wrote `entry`: keep it if it follows what we hold or were about to read."""
        if entry.start == self._tail_next and len(self._tail) < LIVE_TAIL:
            self._tail.append(entry)
            self._tail_next = entry.end
        else:
            self._tail_next = None  # a gap (a new segment, or we fell behind): disk takes over from here

    def read(self, limit: int) -> list[Entry]:
        """Up to `limit` entries after the current position; fewer when the reader has caught up."""
        entries: list[Entry] = []
        while len(entries) < limit:
            if self._tail:
                entry = self._tail.popleft()
                entries.append(entry)
                self.position = entry.end
                continue
            item = self._next()
            if item is None:
                self._tail_next = self.position  # caught up with the disk: follow appends in memory
                break
            if isinstance(item, Skipped):
                self._skip(item)
                continue
            entries.append(item)
            self.position = item.end
        return entries

    def _next(self) -> Entry | Skipped | None:
        while True:
            if self._items is not None:
                item = next(self._items, None)
                if item is not None:
                    return item
                self._items = None
            segment, offset = self.position
            size = self.journal.sizes.get(segment)
            if size is None:
                later = [s for s in self.journal.sizes if s > segment]
                if not later:
                    return None
                if offset:
                    log.error("journal segment %d disappeared while unpublished events were in it", segment)
                self.position = (min(later), 0)
            elif offset < size:
                try:
                    self._items = read_segment(self._open(segment), segment, offset, size)
                except OSError as exc:
                    log.error("cannot read journal segment %s (%s): its unpublished events are lost", segment, exc)
                    self.position = (segment + 1, 0)
            elif segment == self.journal.active:
                return None
            else:
                self.position = (segment + 1, 0)

    def _skip(self, damage: Skipped) -> None:
        segment = self.position[0]
        log.error(
            "journal segment %s: %d damaged bytes at offset %d skipped (disk corruption?); the records around them "
            "are published",
            self.journal.path(segment),
            damage.end - damage.start,
            damage.start,
        )
        self._on_damage(damage.end - damage.start)
        self.position = (segment, damage.end)

    def _open(self, segment: int) -> int:
        if self._fd < 0 or self._fd_segment != segment:
            self.close()
            self._fd = os.open(self.journal.path(segment), os.O_RDONLY | os.O_CLOEXEC)
            self._fd_segment = segment
        return self._fd

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
