"""The bridge's topology on a cluster: the unrouted queue is a quorum queue, declared once per process."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from aio_pika.abc import AbstractChannel

from bridge.settings import Settings
from tests.support.amqp import Collector
from tests.support.bridges import serve, wait_until
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.anyio
BODY = b'{"event":"somethingNobodyListensTo","n":1}'
JSON = {"content-type": "application/json"}


def settings_for(url: str, exchange: str, tmp_path: Path) -> Settings:
    return Settings(rabbitmq_url=url, exchange=exchange, journal_dir=tmp_path / "journal", allow_unauthenticated=True)


async def test_the_unrouted_queue_is_a_quorum_queue(
    amqp_url: str, exchange_name: str, tmp_path: Path, channel: AbstractChannel
) -> None:
    async with serve(settings_for(amqp_url, exchange_name, tmp_path)) as bridge:
        await wait_until(lambda: bridge.ingress.publisher.state.value == "connected", what="the publisher")
    # Declaring it as a classic queue now would fail (PRECONDITION_FAILED) if the bridge had made one.
    declared = await channel.declare_queue(
        f"{exchange_name}.unrouted",
        durable=True,
        arguments={"x-queue-type": "quorum", "x-max-length": 100_000, "x-overflow": "drop-head"},
    )
    assert declared.name == f"{exchange_name}.unrouted"


async def test_an_existing_classic_unrouted_queue_is_used_as_it_is_with_a_line_on_how_to_migrate(
    amqp_url: str,
    exchange_name: str,
    tmp_path: Path,
    channel: AbstractChannel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    classic = await channel.declare_queue(
        f"{exchange_name}.unrouted", durable=True, arguments={"x-max-length": 100_000, "x-overflow": "drop-head"}
    )
    inbox = await Collector(classic).start()
    async with serve(settings_for(amqp_url, exchange_name, tmp_path)) as bridge, httpx.AsyncClient() as client:
        assert (await client.post(bridge.webhook, content=BODY, headers=JSON)).status_code == 200
        messages = await inbox.take(1)
    assert [m.body for m in messages] == [BODY]
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "bridge.topology"]
    assert len(lines) == 1
    assert "is a classic queue" in lines[0]
    assert f"rabbitmqctl delete_queue {exchange_name}.unrouted" in lines[0]


async def test_later_sessions_only_check_the_topology_and_declare_it_again_when_it_is_gone(
    amqp_url: str,
    exchange_name: str,
    tmp_path: Path,
    channel: AbstractChannel,
    tcp_proxy: Callable[[], TcpProxy],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="bridge")
    proxy = tcp_proxy()
    async with serve(settings_for(proxy.url(amqp_url), exchange_name, tmp_path)) as bridge:
        publisher = bridge.ingress.publisher

        async def next_session(before: int) -> None:
            proxy.cut()
            await wait_until(lambda: publisher.state.value != "connected", what="the session to end")
            proxy.restore()
            await wait_until(lambda: publisher.state.value == "connected" and proxy.accepted > before, within=10)

        await wait_until(lambda: publisher.state.value == "connected", what="the first session")
        await next_session(proxy.accepted)
        await channel.queue_delete(f"{exchange_name}.unrouted")  # as if the broker had been reset
        await next_session(proxy.accepted)
        inbox = await Collector(await channel.get_queue(f"{exchange_name}.unrouted")).start()
        async with httpx.AsyncClient() as client:
            assert (await client.post(bridge.webhook, content=BODY, headers=JSON)).status_code == 200
        assert [m.body for m in await inbox.take(1)] == [BODY]
    assert publisher.declarations == 2


async def test_a_broker_that_refuses_every_publish_is_retried_with_a_growing_delay_not_in_a_loop(
    amqp_url: str,
    exchange_name: str,
    tmp_path: Path,
    channel: AbstractChannel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # What a quorum queue without a majority does, made on one broker: a full queue that rejects publishes (nack).
    full = await channel.declare_queue(
        f"{exchange_name}.full", durable=True, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
    )
    async with serve(settings_for(amqp_url, exchange_name, tmp_path)) as bridge, httpx.AsyncClient() as client:
        await wait_until(lambda: bridge.ingress.publisher.state.value == "connected", what="the publisher")
        await full.bind(exchange_name, routing_key="#")
        started = time.monotonic()
        assert (await client.post(bridge.webhook, content=BODY, headers=JSON)).status_code == 200

        def refusals() -> int:
            return sum("refused a message" in r.getMessage() for r in caplog.records)

        await wait_until(lambda: refusals() >= 6, within=20, what="six refused sessions")
        # 0.05 + 0.1 + 0.2 + 0.4 + 0.8 s between them (±20 %): not a reconnect every 50 ms.
        assert time.monotonic() - started >= 1.2
        await full.delete(if_unused=False, if_empty=False)
        await wait_until(lambda: bridge.ingress.journal.pending == 0, within=10, what="the event to be published")
