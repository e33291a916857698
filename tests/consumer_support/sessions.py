"""Events of many interleaved sessions, and a handler that records how they were handled (for the order tests)."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import random
import time

import orjson

from consumers import Event, Retry
from tests.consumer_support.running import until_count


def session_event(session: str, seq: int, event: str = "participantJoined") -> bytes:
    """A realistic OpenVidu body of `session`, numbered `seq` in the order it is published."""
    return orjson.dumps(
        {"sessionId": session, "uniqueSessionId": f"{session}_1", "timestamp": 1_718_012_345_678 + seq, "seq": seq}
        | {"participantId": f"con_{seq:06d}", "connectionId": f"con_{seq:06d}", "event": event}
    )


def interleaved(sessions: int, count: int, seed: int = 7) -> list[tuple[str, int]]:
    """`count` (session, seq) pairs over `sessions` sessions, in a random interleaving."""
    pick = random.Random(seed)
    return [(f"ses_{pick.randrange(sessions):03d}", seq) for seq in range(count)]


@dataclasses.dataclass(frozen=True)
class Handled:
    session: str
    seq: int
    attempt: int
    started: float
    ended: float


class SessionRecorder:
    """Records every handling; optionally sleeps, blocks on a gate, or fails chosen attempts."""

    def __init__(self, work: float = 0.0) -> None:
        self.work = work  # seconds of "work" per event, varied by seq so that sessions overtake each other
        self.handled: list[Handled] = []
        self.started: list[tuple[str, int, int]] = []
        self.gates: dict[int, asyncio.Event] = {}  # seq -> wait for this before finishing
        self.failures: dict[int, int] = {}  # seq -> how many first attempts fail with Retry
        self.running = 0
        self.most_running = 0
        self.overlaps = 0  # two events of one session running at once: must stay 0
        self._active: collections.Counter[str] = collections.Counter()
        self._changed = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        session, seq = event.data["sessionId"], event.data["seq"]
        started = time.monotonic()
        self.started.append((session, seq, event.attempt))
        self._changed.set()
        self._active[session] += 1
        self.overlaps += self._active[session] > 1
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self.work:
                await asyncio.sleep(self.work * (0.5 + (seq * 7919 % 100) / 100))
            if seq in self.gates:
                await self.gates[seq].wait()
            if event.attempt <= self.failures.get(seq, 0):
                raise Retry(f"attempt {event.attempt} of {seq} fails on purpose")
        finally:
            self.running -= 1
            self._active[session] -= 1
            self.handled.append(Handled(session, seq, event.attempt, started, time.monotonic()))
            self._changed.set()

    async def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        return await until_count(self._changed, lambda: len(self.handled), count, timeout)

    async def wait_started(self, seq: int, timeout: float = 30.0) -> bool:
        return await until_count(self._changed, lambda: int(any(s == seq for _, s, _ in self.started)), 1, timeout)

    def order(self) -> dict[str, list[int]]:
        """Each session's seqs in the order of their first handling."""
        firsts: dict[str, list[int]] = collections.defaultdict(list)
        seen: set[int] = set()
        for session, seq, _ in self.started:
            if seq not in seen:
                seen.add(seq)
                firsts[session].append(seq)
        return dict(firsts)
