"""Scenarios 1-4: the broker goes away, hangs, blocks publishers, restarts; every accepted event still arrives."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from bridge.settings import Settings
from tests.faults.stream import Outcome, Senders, audit, verify
from tests.support.bridges import serve, wait_until
from tests.support.own_broker import OwnBroker
from tests.support.proxy import TcpProxy

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def cut_for(proxy: TcpProxy, seconds: float) -> None:
    proxy.cut()
    await asyncio.sleep(seconds)  # the fault's duration is the point of the scenario
    proxy.restore()


async def flap(proxy: TcpProxy, seconds: float) -> None:
    for _ in range(int(seconds)):
        proxy.cut()
        await asyncio.sleep(0.5)
        proxy.restore()
        await asyncio.sleep(0.5)


FAULTS: dict[str, tuple[int, Callable[[TcpProxy], Awaitable[None]]]] = {
    "1. broker cut 5 s": (1, lambda proxy: cut_for(proxy, 5)),
    "1. broker cut 5 s, 4 senders": (4, lambda proxy: cut_for(proxy, 5)),
    "1. broker cut 30 s": (1, lambda proxy: cut_for(proxy, 30)),
    "1. broker flapping every second for 10 s": (1, lambda proxy: flap(proxy, 10)),
}


@pytest.mark.parametrize("scenario", list(FAULTS))
async def test_broker_connection_cut(
    amqp_url: str,
    exchange_name: str,
    tmp_path: Path,
    tcp_proxy: Callable[[], TcpProxy],
    report: Callable[[Outcome], None],
    scenario: str,
) -> None:
    count, fault = FAULTS[scenario]
    proxy = tcp_proxy()
    settings = Settings(
        allow_unauthenticated=True, rabbitmq_url=proxy.url(amqp_url), exchange=exchange_name, journal_dir=tmp_path / "j"
    )
    async with audit(amqp_url, exchange_name) as watcher, serve(settings) as bridge:
        async with Senders(bridge.webhook, count=count, rate=200 / count) as senders:
            await senders.until(100)
            await fault(proxy)
            before_restore = list(senders.accepted)
            recovery = await watcher.until_delivered(before_restore)
            await senders.until(len(senders.accepted) + 100)
        await watcher.until_delivered(senders.accepted)
        await watcher.settle()
    outcome = verify(scenario, senders, watcher.ids, recovery)
    report(outcome)
    assert outcome.refused == 0
    assert senders.connection_errors == 0


async def test_an_unresponsive_broker_is_given_up_on_and_publishing_resumes_elsewhere(
    amqp_url: str,
    exchange_name: str,
    tmp_path: Path,
    tcp_proxy: Callable[[], TcpProxy],
    report: Callable[[Outcome], None],
) -> None:
    proxy = tcp_proxy()
    settings = Settings(
        allow_unauthenticated=True,
        rabbitmq_url=proxy.url(amqp_url),
        exchange=exchange_name,
        journal_dir=tmp_path / "j",
        confirm_timeout=1.0,
    )
    async with audit(amqp_url, exchange_name) as watcher, serve(settings) as bridge:
        async with Senders(bridge.webhook, rate=200) as senders:
            await senders.until(100)
            proxy.blackhole()  # the current connection hangs for ever; a new one would work
            hung_at = len(senders.accepted)
            await senders.until(hung_at + 200)  # accepted meanwhile, into the journal
            recovery = await watcher.until_delivered(senders.accepted[: hung_at + 200], within=30)
        await watcher.until_delivered(senders.accepted)
        await watcher.settle()
        losses = bridge.ingress.metrics.reconnects._value.get()
    outcome = verify("2. broker unresponsive (connection black-holed)", senders, watcher.ids, recovery)
    report(outcome)
    assert losses >= 1  # it gave up on the hung connection rather than waiting on it
    assert outcome.refused == 0


async def test_a_broker_that_blocks_publishers_is_absorbed_by_the_journal(
    exchange_name: str, tmp_path: Path, own_broker: OwnBroker, report: Callable[[Outcome], None]
) -> None:
    settings = Settings(
        allow_unauthenticated=True, rabbitmq_url=own_broker.url, exchange=exchange_name, journal_dir=tmp_path / "j"
    )
    async with audit(own_broker.url, exchange_name) as watcher, serve(settings) as bridge:
        async with Senders(bridge.webhook, rate=200) as senders, httpx.AsyncClient() as client:
            await senders.until(100)
            own_broker.ctl("set_vm_memory_high_watermark", "0")  # a memory alarm: publishers are blocked
            try:
                await wait_until(lambda: bridge.ingress.publisher.state.value == "blocked", within=20, what="a block")
                blocked_at = len(senders.accepted)
                await senders.until(blocked_at + 200)
                ready = await client.get(bridge.url + "/readyz")
                metrics = (await client.get(bridge.url + "/metrics")).text
                assert bridge.ingress.journal.pending >= 150  # held in the journal, not lost, not refused
            finally:
                own_broker.ctl("set_vm_memory_high_watermark", "0.4")
            released = time.monotonic()
            await watcher.until_delivered(senders.accepted[: blocked_at + 200], within=60)
            recovery = time.monotonic() - released
        await watcher.until_delivered(senders.accepted)
        await watcher.settle()
    assert ready.status_code == 200
    assert ready.json()["broker"] == "blocked"
    assert "bridge_broker_blocked 1.0" in metrics
    outcome = verify("3. broker blocks publishers (memory alarm)", senders, watcher.ids, recovery)
    report(outcome)
    assert outcome.refused == 0


async def test_a_whole_broker_restart_loses_nothing_and_the_topology_comes_back(
    exchange_name: str, tmp_path: Path, own_broker: OwnBroker, report: Callable[[Outcome], None]
) -> None:
    settings = Settings(
        allow_unauthenticated=True, rabbitmq_url=own_broker.url, exchange=exchange_name, journal_dir=tmp_path / "j"
    )
    async with audit(own_broker.url, exchange_name) as watcher, serve(settings) as bridge:
        async with Senders(bridge.webhook, rate=200) as senders:
            await senders.until(100)
            await asyncio.to_thread(own_broker.restart)
            restarted = time.monotonic()
            before = list(senders.accepted)
            await watcher.until_delivered(before, within=60)
            recovery = time.monotonic() - restarted
            await senders.until(len(senders.accepted) + 100)
        await watcher.until_delivered(senders.accepted)
        await watcher.settle()
    outcome = verify("4. whole broker restarted", senders, watcher.ids, recovery)
    report(outcome)
    assert outcome.refused == 0
    exchanges = own_broker.ctl("list_exchanges", "name", "type", "arguments")
    assert f"{exchange_name}\ttopic" in exchanges
    assert f"{exchange_name}.unrouted\tfanout" in exchanges
