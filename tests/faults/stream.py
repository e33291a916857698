"""The instrument of every fault scenario: senders that post unique OpenVidu events the way OpenVidu does, and an
audit queue that records what reached the broker; `verify` proves accepted ⊆ delivered and checks order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import itertools
import re
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType

import aio_pika
import httpx
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection, AbstractRobustQueue

from tests.support.amqp import declare_exchange

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "events"
_TIMESTAMP = re.compile(rb'"timestamp":\d+')
# A realistic mix: what one session produces, in the proportions OpenVidu sends them.
MIX = [
    "sessionCreated",
    "participantJoined",
    "webrtcConnectionCreated",
    "webrtcConnectionCreated",
    "signalSent",
    "recordingStatusChanged",
    "webrtcConnectionDestroyed",
    "webrtcConnectionDestroyed",
    "participantLeft",
    "sessionDestroyed",
]


@dataclasses.dataclass(frozen=True)
class Sent:
    sender: int
    seq: int
    message_id: str


def body_for(sender: int, seq: int) -> bytes:
    template = (CORPUS / f"{MIX[seq % len(MIX)]}.json").read_bytes()
    unique = 1_800_000_000_000 + sender * 1_000_000_000 + seq
    return _TIMESTAMP.sub(b'"timestamp":%d' % unique, template, count=1)


class Senders:
    """`count` sequential senders, each one request at a time, like OpenVidu 2's single sender thread.

    On a connection error a sender resends the same bytes (as OpenVidu 2.18+ does), so a crash between our
    write and our answer shows up as a duplicate, never as a loss.
    """

    def __init__(self, url: str, count: int = 1, rate: float = 200.0, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.count = count
        self.interval = 1.0 / rate
        self.headers = {"content-type": "application/json", **(headers or {})}
        self.accepted: list[Sent] = []
        self.statuses: collections.Counter[int] = collections.Counter()
        self.connection_errors = 0
        self.slowest = 0.0  # the longest one event took to be answered, retries included
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Senders:
        self._tasks = [asyncio.create_task(self._send(index)) for index in range(self.count)]
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stopping.set()
        await asyncio.gather(*self._tasks)

    async def until(self, accepted: int, within: float = 60.0) -> None:
        """Wait until at least `accepted` events were answered 200."""
        deadline = time.monotonic() + within
        while len(self.accepted) < accepted:
            assert time.monotonic() < deadline, f"only {len(self.accepted)} of {accepted} accepted in {within}s"
            await asyncio.sleep(0.01)

    async def _send(self, sender: int) -> None:
        async with httpx.AsyncClient(timeout=15.0) as client:
            seq = 0
            next_at = time.monotonic()
            while not self._stopping.is_set():
                body = body_for(sender, seq)
                await self._post_until_answered(client, sender, seq, body)
                seq += 1
                next_at += self.interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))  # pacing to the offered rate

    async def _post_until_answered(self, client: httpx.AsyncClient, sender: int, seq: int, body: bytes) -> None:
        started = time.monotonic()
        while not self._stopping.is_set():
            try:
                response = await client.post(self.url, content=body, headers=self.headers)
            except httpx.TransportError:
                self.connection_errors += 1
                await asyncio.sleep(0.02)  # back off a little, as a sender whose peer is down would
                continue
            self.statuses[response.status_code] += 1
            self.slowest = max(self.slowest, time.monotonic() - started)
            if response.status_code == 200:
                self.accepted.append(Sent(sender, seq, hashlib.sha256(body).hexdigest()))
            return


class Audit:
    """A durable queue bound with '#' that records the message_id of everything the exchange routed."""

    def __init__(self, amqp_url: str, exchange: str) -> None:
        self.amqp_url = amqp_url
        self.exchange = exchange
        self.queue_name = f"{exchange}.audit"
        self.ids: list[str] = []
        self._arrived = asyncio.Event()
        self._connection: AbstractRobustConnection | None = None
        self._queue: AbstractRobustQueue
        self._tag = ""

    async def start(self) -> Audit:
        self._connection = await aio_pika.connect_robust(self.amqp_url)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=1000)
        await declare_exchange(channel, self.exchange)
        self._queue = await channel.declare_queue(self.queue_name, durable=True)
        await self._queue.bind(self.exchange, routing_key="#")
        self._tag = await self._queue.consume(self._on_message)
        return self

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        assert message.message_id is not None
        self.ids.append(message.message_id)
        await message.ack()
        self._arrived.set()

    async def until_delivered(self, wanted: Sequence[Sent], within: float = 90.0) -> float:
        """Seconds until every wanted event was routed; fails after `within`."""
        started = time.monotonic()
        missing = {sent.message_id for sent in wanted}
        seen = 0
        while True:
            missing.difference_update(self.ids[seen:])
            seen = len(self.ids)
            if not missing:
                return time.monotonic() - started
            left = within - (time.monotonic() - started)
            assert left > 0, f"{len(missing)} accepted events never reached the broker"
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    async def settle(self, quiet: float = 0.5) -> None:
        """Let late duplicates arrive: return once `quiet` seconds pass without a message."""
        while True:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), quiet)
            except TimeoutError:
                return

    async def close(self) -> None:
        if self._connection is None:
            return
        with contextlib.suppress(Exception):
            # Cancel first: a robust channel whose consumer the broker cancels would declare the queue again.
            await self._queue.cancel(self._tag)
            channel = await self._connection.channel()
            await channel.queue_delete(self.queue_name)
        await self._connection.close()


@contextlib.asynccontextmanager
async def audit(amqp_url: str, exchange: str) -> AsyncIterator[Audit]:
    watcher = await Audit(amqp_url, exchange).start()
    try:
        yield watcher
    finally:
        await watcher.close()


@dataclasses.dataclass
class Outcome:
    scenario: str
    accepted: int
    delivered: int
    duplicates: int
    recovery: float
    out_of_order: int
    refused: int

    def row(self) -> str:
        return (
            f"| {self.scenario} | {self.accepted} | {self.delivered} | {self.duplicates} | "
            f"{self.recovery:.2f} s | {self.out_of_order} | {self.refused} |"
        )


def verify(scenario: str, senders: Senders, ids: list[str], recovery: float, ordered: bool = True) -> Outcome:
    """accepted ⊆ delivered by message_id, the duplicates counted, and each sender's order of first copies kept."""
    accepted = {sent.message_id: sent for sent in senders.accepted}
    delivered = set(ids)
    missing = set(accepted) - delivered
    assert not missing, f"{scenario}: {len(missing)} of {len(accepted)} accepted events were lost"
    first_copies = list(dict.fromkeys(i for i in ids if i in accepted))
    out_of_order = 0
    for sender in range(senders.count):
        seqs = [accepted[i].seq for i in first_copies if accepted[i].sender == sender]
        out_of_order += sum(1 for a, b in itertools.pairwise(seqs) if b < a)
    if ordered:
        assert out_of_order == 0, f"{scenario}: {out_of_order} events arrived before an earlier one"
    refused = sum(count for status, count in senders.statuses.items() if status != 200)
    duplicates = sum(1 for i in ids if i in accepted) - len(accepted)
    return Outcome(scenario, len(accepted), len(accepted) - len(missing), duplicates, recovery, out_of_order, refused)
