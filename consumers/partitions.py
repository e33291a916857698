"""Which partitions this process consumes: each partition by one process at a time, spread evenly over the
processes running, handed over when one stops or dies.

Ownership: the process that holds a partition's exclusive queue `<partition>.owner` consumes it, on the same
connection. RabbitMQ lets one connection at a time declare an exclusive queue and deletes it when that
connection closes, so two processes never hold one partition, and a process that dies, even SIGKILLed, frees
its partitions at once (its unacked messages go back to the front of their queues, in order). The obvious
tools do not do this on RabbitMQ 3.10: a quorum queue let two processes consume it with `exclusive=True` at
once, and single active consumer makes the first process to subscribe active on every partition.

Membership: each process has an exclusive queue `<name>.member.<id>`, bound to the fanout exchange
`<name>.members`, and says "here" there every HEARTBEAT seconds (at once when it hears a newcomer), "gone"
when it stops. A member not heard from for LATE seconds is probed with a mandatory publish to its queue:
returned unrouted means its connection, and so the process, is gone.

Assignment: with the members sorted by id, member i of n takes the lanes j with j % n == i. Every TICK, and on
any change, a process releases the lanes that are no longer its own (no new messages; those running finish;
those not started go back, in order; then the owner queue goes) and claims its own as they come free.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import aio_pika
import aiormq
import orjson
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, AbstractIncomingMessage, ExchangeType

from consumers.topology import Names

log = logging.getLogger(__name__)

HEARTBEAT = 1.0  # seconds between "here"s
LATE = 1.5  # seconds of silence before a member is probed
TICK = 0.5  # seconds between looks at the assignment
JOIN_WAIT = 1.0  # seconds a newcomer listens before it claims anything: long enough to hear every member

S = TypeVar("S")  # what attach gives for a lane (the worker's subscription), and detach takes back


class Claimer(Generic[S]):
    def __init__(
        self,
        connection: AbstractConnection,
        names: Names,
        lanes: list[str],
        attach: Callable[[str], Awaitable[S]],
        detach: Callable[[S, asyncio.Event], Awaitable[None]],
        broken: Callable[[str], None],
    ) -> None:
        self.id = uuid.uuid4().hex[:16]
        self.names = names
        self.lanes = lanes  # the partitions, then queues left by an earlier layout (layout.py)
        self.held: dict[str, S] = {}
        self._connection = connection
        self._attach = attach
        self._detach = detach
        self._broken = broken
        self._heard: dict[str, float] = {}  # the other members, and when each was last heard from
        self._greet = False
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._never = asyncio.Event()  # a hand-over while running waits for what runs, however long
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def members(self) -> list[str]:
        return sorted({*self._heard, self.id})

    def mine(self) -> list[str]:
        members = self.members
        rank, count = members.index(self.id), len(members)
        return [lane for number, lane in enumerate(self.lanes) if number % count == rank]

    async def start(self) -> None:
        channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._channel = channel
        self._exchange = await channel.declare_exchange(self.names.members, ExchangeType.FANOUT, durable=True)
        queue = await channel.declare_queue(self.names.member(self.id), exclusive=True)
        await queue.bind(self._exchange)
        await queue.consume(self._hear, no_ack=True)
        await self._say("hello")
        self._task = asyncio.create_task(self._run())

    async def stop(self, now: asyncio.Event) -> None:
        """Say "gone", then hand every lane back: the others take each one over as soon as it is free."""
        self._stopping.set()
        self._changed.set()
        if self._task is not None:
            await _unless(asyncio.shield(self._task), now)
            self._task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._say("gone"), 2)
        await asyncio.gather(*(self._release(lane, now) for lane in list(self.held)))
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._channel.close(), 5)

    async def _run(self) -> None:
        try:
            await self._pause(JOIN_WAIT)
            said = time.monotonic()
            while not self._stopping.is_set():
                if self._greet or time.monotonic() - said >= HEARTBEAT:
                    self._greet = False
                    said = time.monotonic()
                    await self._say("here")
                await self._probe_late()
                await self._rebalance()
                await self._pause(TICK)
        except Exception as exc:
            if not self._stopping.is_set():
                self._broken(f"the partitions of {self.names.queue!r} cannot be claimed: {exc!r}")

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)
        self._changed.clear()

    async def _say(self, what: str) -> None:
        assert self._exchange is not None
        body = orjson.dumps({"member": self.id, "say": what})
        await self._exchange.publish(aio_pika.Message(body), routing_key="")

    async def _hear(self, message: AbstractIncomingMessage) -> None:
        try:
            said = orjson.loads(message.body)
            member, what = said["member"], said["say"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        if member == self.id or not isinstance(member, str) or what == "probe":
            return
        if what == "gone":
            if self._heard.pop(member, None) is not None:
                log.info("%s: member %s left", self.names.queue, member)
                self._changed.set()
            return
        if member not in self._heard:
            log.info("%s: member %s joined", self.names.queue, member)
            self._greet = True  # so that a newcomer hears from everyone before it claims
            self._changed.set()
        self._heard[member] = time.monotonic()

    async def _probe_late(self) -> None:
        assert self._channel is not None
        for member, heard in list(self._heard.items()):
            if time.monotonic() - heard < LATE:
                continue
            probe = aio_pika.Message(orjson.dumps({"member": self.id, "say": "probe"}))
            try:
                await self._channel.default_exchange.publish(
                    probe, routing_key=self.names.member(member), mandatory=True
                )
            except aiormq.exceptions.DeliveryError:  # returned: its queue went with its connection
                log.info("%s: member %s is gone", self.names.queue, member)
                del self._heard[member]
                continue
            self._heard[member] = time.monotonic()  # silent but connected (busy): still a member

    async def _rebalance(self) -> None:
        mine = self.mine()
        leaving = [lane for lane in self.held if lane not in mine]
        await asyncio.gather(*(self._release(lane, self._never) for lane in leaving))
        for lane in mine:
            if lane not in self.held and not self._stopping.is_set():
                await self._claim(lane)

    async def _claim(self, lane: str) -> None:
        channel = await self._connection.channel()
        try:
            await channel.declare_queue(Names.owner(lane), exclusive=True)
        except aiormq.exceptions.ChannelLockedResource:
            return  # its holder has not let go yet: next time
        finally:
            if not channel.is_closed:
                await channel.close()
        self.held[lane] = await self._attach(lane)
        members = len(self.members)
        log.info(
            "%s: consuming partition %r (%d of the %d here; %d process%s in all)",
            self.names.queue,
            lane,
            len(self.held),
            len(self.lanes),
            members,
            "" if members == 1 else "es",
        )

    async def _release(self, lane: str, now: asyncio.Event) -> None:
        subscription = self.held.pop(lane)
        await self._detach(subscription, now)
        with contextlib.suppress(Exception):  # a lost connection has deleted it already
            channel = await self._connection.channel()
            await channel.queue_delete(Names.owner(lane))
            await channel.close()
        log.info("%s: handed partition %r over", self.names.queue, lane)


async def _unless(waiting: Awaitable[object], now: asyncio.Event) -> None:
    tasks = [asyncio.ensure_future(waiting), asyncio.ensure_future(now.wait())]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
