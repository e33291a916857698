"""Per-key order with concurrency across keys: how `order="session"` runs the messages in hand.

Items of one key run one at a time, in the order they were put; items of different keys run at once, as many
as the worker's slots allow (the slots are shared by the schedulers of all its subscriptions: one per queue or
partition). Each item takes a slot for its run only, and slots are handed out first come, first served, so a
session with many events queued takes turns with the others instead of keeping a slot. A run may ask to run
again after a delay (a retry held in place): its key waits, and its slot goes to the others meanwhile.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Slots:
    """`size` slots shared by several schedulers, handed over in the order they were asked for."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._waiters: collections.deque[tuple[object, asyncio.Future[bool]]] = collections.deque()

    async def take(self, owner: object) -> bool:
        """Wait for a slot: True once it is ours, False if `owner` withdrew first (see `withdraw`)."""
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return True
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.append((owner, waiter))
        return await waiter

    def give(self) -> None:
        while self._waiters:
            _, waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)  # straight to the next in line: nobody can jump the queue
                return
        self.free += 1

    def withdraw(self, owner: object) -> None:
        """Every wait of `owner` ends now, without a slot."""
        for who, waiter in self._waiters:
            if who is owner and not waiter.done():
                waiter.set_result(False)
        self._waiters = collections.deque(w for w in self._waiters if w[0] is not owner)


class KeyedScheduler(Generic[T]):
    """`run(item)` for each item put, per key in order; `run` returns None when done, or seconds to wait
    before running the same item again. `give_back(item)` takes the items not run when the scheduler is
    released; it is called in order for each key."""

    def __init__(
        self,
        slots: Slots,
        run: Callable[[T], Awaitable[float | None]],
        give_back: Callable[[T], Awaitable[None]],
    ) -> None:
        self._slots = slots
        self._run = run
        self._give_back = give_back
        self._keys: dict[Hashable, collections.deque[T]] = {}
        self._count = 0  # items in all the deques: read from other threads (metrics), so a plain int
        self._tasks: set[asyncio.Task[None]] = set()
        self._released = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()

    @property
    def in_hand(self) -> int:
        return self._count

    @property
    def keys(self) -> int:
        return len(self._keys)

    def put(self, key: Hashable, item: T) -> None:
        self._count += 1
        items = self._keys.get(key)
        if items is not None:
            items.append(item)  # its key is running or waiting: it follows
            return
        self._keys[key] = collections.deque([item])
        self._empty.clear()
        task = asyncio.get_running_loop().create_task(self._drive(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def release(self) -> None:
        """Start nothing more: give back what has not run (each key in order) and wait for what runs."""
        self._released.set()
        self._slots.withdraw(self)
        await self._empty.wait()

    async def _drive(self, key: Hashable) -> None:
        items = self._keys[key]
        try:
            while items and not self._released.is_set():
                if not await self._slots.take(self):
                    break
                try:
                    again = await self._run(items[0])
                finally:
                    self._slots.give()
                if again is None:
                    items.popleft()
                    self._count -= 1
                elif not await self._pause(again):
                    break
            while items:  # released: back to the broker, in order
                await self._give_back(items.popleft())
                self._count -= 1
        finally:
            del self._keys[key]
            if not self._keys:
                self._empty.set()

    async def _pause(self, seconds: float) -> bool:
        """Wait `seconds`, holding the key; False when released meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._released.wait(), seconds)
        return not self._released.is_set()
