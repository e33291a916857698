"""Keeps the journal durable by its fsync policy, and runs its upkeep (checkpoint, directory health)."""

from __future__ import annotations

import asyncio
import logging

from bridge.journal import Journal

log = logging.getLogger(__name__)


class Syncer:
    def __init__(self, journal: Journal, interval: float) -> None:
        self.journal = journal
        self.interval = interval
        self._waiters: list[asyncio.Future[None]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def run(self) -> None:
        policy = self.journal.fsync_policy
        while True:
            await asyncio.sleep(self.interval)  # a period, not a wait for something: nothing signals "time passed"
            self.journal.tick()
            if policy == "interval" and self.journal.dirty:
                await self._sync(flush=True)
            elif policy == "never" and self.journal.dirty:
                await self._sync(flush=False)

    async def flushed(self) -> None:
        """Return once everything appended before the call is fsynced (BRIDGE_JOURNAL_FSYNC=always).

        Callers that arrive while an fsync runs share the next one: one fsync serves a whole group of requests.
        """
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush_groups())
        await future

    async def _flush_groups(self) -> None:
        try:
            while self._waiters:
                group, self._waiters = self._waiters, []
                failure = await self._sync(flush=True)
                for future in group:
                    if future.done():
                        continue
                    if failure is None:
                        future.set_result(None)
                    else:
                        future.set_exception(failure)
        finally:
            self._flushing = None

    async def _sync(self, flush: bool) -> OSError | None:
        try:
            await asyncio.to_thread(self.journal.sync, flush)
        except OSError as exc:
            # After a failed fsync the kernel may have dropped the pages: stop promising until the disk recovers.
            self.journal.fail(f"fsync failed: {exc.strerror}")
            return exc
        return None
