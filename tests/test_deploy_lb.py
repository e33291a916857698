"""Scaling behind the shipped load balancer: two real bridges + deploy/haproxy/haproxy.cfg on loopback + RabbitMQ.

The haproxy configuration is used as shipped; only its environment changes (addresses of the loopback bridges),
exactly as docker-compose.yml and the systemd drop-in set it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from aio_pika.abc import AbstractChannel

from tests.support.amqp import Collector, collector
from tests.support.bridges import BridgeProcess
from tests.support.haproxy import Haproxy, haproxy_binary

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
JSON = {"content-type": "application/json"}
GRACE = 4.0  # BRIDGE_SHUTDOWN_GRACE of the test bridges: haproxy must take one out well before this ends


def bridge_env(amqp_url: str, exchange: str, journal: Path) -> dict[str, str]:
    return {
        "RABBITMQ_URL": amqp_url,
        "BRIDGE_EXCHANGE": exchange,
        "BRIDGE_JOURNAL_DIR": str(journal),
        "BRIDGE_SHUTDOWN_GRACE": str(GRACE),
        "BRIDGE_DRAIN_TIMEOUT": "5",
        "BRIDGE_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def stack(amqp_url: str, exchange_name: str, tmp_path: Path) -> Iterator[tuple[list[BridgeProcess], Haproxy]]:
    haproxy_binary()
    bridges = [
        BridgeProcess(bridge_env(amqp_url, exchange_name, tmp_path / f"journal-{n}"), tmp_path / f"bridge-{n}.log")
        for n in (1, 2)
    ]
    lb = Haproxy(bridges, tmp_path / "haproxy.log")
    try:
        yield bridges, lb
    finally:
        lb.stop()
        for bridge in bridges:
            bridge.stop()


@contextlib.asynccontextmanager
async def running(stack: tuple[list[BridgeProcess], Haproxy]) -> AsyncIterator[httpx.AsyncClient]:
    bridges, lb = stack
    for bridge in bridges:
        bridge.start()
    for bridge in bridges:
        await bridge.ready()
    lb.start()
    async with httpx.AsyncClient(timeout=20.0) as client:
        await lb.all_up(client)
        yield client


class Sender:
    """One event at a time, as OpenVidu 2 sends them: every body unique, every answer recorded."""

    def __init__(self, client: httpx.AsyncClient, url: str, corpus: dict[str, bytes]) -> None:
        self.client, self.url = client, url
        self.templates = [orjson.loads(body) for body in corpus.values()]
        self.answers: list[int] = []
        self.accepted: set[bytes] = set()

    def body(self, n: int) -> bytes:
        event = dict(self.templates[n % len(self.templates)])
        event["timestamp"] = 1_718_000_000_000 + n  # keys keep their wire order; `event` stays last
        return orjson.dumps(event)

    async def send(self, count: int = 1, pace: float = 0.0) -> None:
        for _ in range(count):
            body = self.body(len(self.answers))
            response = await self.client.post(self.url, content=body, headers=JSON)
            self.answers.append(response.status_code)
            if response.status_code == 200:
                self.accepted.add(body)
            if pace:
                await asyncio.sleep(pace)  # pacing the sender, not waiting for an outcome


async def active_bridge(lb: Haproxy, client: httpx.AsyncClient, bridges: list[BridgeProcess]) -> BridgeProcess:
    """The instance that has been answering: with `balance source`, one sender sticks to one instance."""
    servers = await lb.servers(client)
    answered = {name: int(row["hrsp_2xx"] or 0) for name, row in servers.items()}
    busiest = max(answered, key=lambda name: answered[name])
    assert answered[busiest] > 0, servers
    return bridges[int(busiest.removeprefix("bridge")) - 1]


async def delivered(inbox: Collector, expected: set[bytes], within: float = 30.0) -> set[bytes]:
    """Bodies taken from the queue until every expected one arrived or `within` passed (duplicates allowed)."""
    seen: set[bytes] = set()
    deadline = time.monotonic() + within
    while not expected <= seen and time.monotonic() < deadline:
        batch = await inbox.take(max(len(expected - seen), 1), timeout=max(deadline - time.monotonic(), 0.1))
        seen.update(message.body for message in batch)
    return seen


async def test_sigterm_of_a_replica_mid_stream_loses_no_event_and_the_sender_sees_only_200(
    stack: tuple[list[BridgeProcess], Haproxy],
    exchange_name: str,
    channel: AbstractChannel,
    openvidu_events: dict[str, bytes],
) -> None:
    bridges, lb = stack
    inbox = await collector(channel, exchange_name, "#")
    async with running(stack) as client:
        sender = Sender(client, lb.webhook, openvidu_events)
        await sender.send(50)
        victim = await active_bridge(lb, client, bridges)
        victim_name = f"bridge{bridges.index(victim) + 1}"
        down_while_serving: list[bool] = []

        async def watch_haproxy() -> None:
            # Record whether haproxy took the instance out while it was still serving (its grace period).
            while not down_while_serving:
                status = (await lb.servers(client))[victim_name]["status"]
                if status.startswith(("DOWN", "NOLB", "MAINT")):
                    down_while_serving.append(victim.proc is not None and victim.proc.poll() is None)
                await asyncio.sleep(0.05)

        victim.signal(signal.SIGTERM)
        stopped = time.monotonic()
        watcher = asyncio.create_task(watch_haproxy())
        while victim.proc is not None and victim.proc.poll() is None and time.monotonic() - stopped < GRACE + 15:
            await sender.send(pace=0.005)
        await sender.send(50)  # and after it is gone, everything goes to the survivor
        await asyncio.wait_for(watcher, timeout=5)

    assert victim.wait(5) == 0, victim.log()
    assert down_while_serving == [True], f"haproxy did not take the stopping bridge out in its grace:\n{lb.log()}"
    assert set(sender.answers) == {200}, (sorted(set(sender.answers)), lb.log())
    survivor = bridges[1 - bridges.index(victim)]
    assert survivor.proc is not None
    assert survivor.proc.poll() is None, "the surviving bridge must still be running"
    got = await delivered(inbox, sender.accepted)
    assert len(sender.accepted) == len(sender.answers) > 100
    assert sender.accepted - got == set(), f"{len(sender.accepted - got)} accepted events never arrived"


async def test_sigkill_of_a_replica_is_retried_on_the_other_and_its_journal_delivers_after_restart(
    stack: tuple[list[BridgeProcess], Haproxy],
    exchange_name: str,
    channel: AbstractChannel,
    openvidu_events: dict[str, bytes],
) -> None:
    """A crash gives haproxy no warning: `retry-on conn-failure empty-response` + redispatch keep the sender on 200."""
    bridges, lb = stack
    inbox = await collector(channel, exchange_name, "#")
    async with running(stack) as client:
        sender = Sender(client, lb.webhook, openvidu_events)
        await sender.send(50)
        victim = await active_bridge(lb, client, bridges)
        victim.kill()  # SIGKILL: no grace, no drain; haproxy's health checks still say UP for a moment
        await sender.send(100)
        servers = await lb.servers(client)
        # The journal of the killed instance still holds whatever it accepted but had not had confirmed yet.
        victim.start()
        await victim.ready()
        await sender.send(20)

    assert set(sender.answers) == {200}, (sorted(set(sender.answers)), lb.log())
    assert sum(int(row["wredis"] or 0) for row in servers.values()) > 0, servers  # the retries were redispatched
    got = await delivered(inbox, sender.accepted)
    assert sender.accepted - got == set(), f"{len(sender.accepted - got)} accepted events never arrived"
