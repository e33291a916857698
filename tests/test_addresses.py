"""Several broker addresses in RABBITMQ_URL: parsing, the order sessions take them in, and failover between them."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from aio_pika.abc import AbstractChannel

from bridge import addresses as bridge_addresses
from bridge.settings import ConfigError, Settings
from consumers import Consumer, Event, cli
from consumers import addresses as consumer_addresses
from consumers.settings import Settings as ConsumerSettings
from tests.consumer_support.running import publish, running
from tests.faults.stream import Senders, audit, verify
from tests.support.bridges import serve, wait_until
from tests.support.proxy import TcpProxy

pytest_plugins = ["tests.consumer_support.fixtures"]

THREE = "amqp://u:s3cret@10.0.0.1:5672/prod, amqp://u:s3cret@10.0.0.2/prod ,amqps://u:s3cret@rabbit-3:5671/prod"
BOTH = pytest.mark.parametrize("module", [bridge_addresses, consumer_addresses], ids=["bridge", "consumers"])


@BOTH
def test_one_url_or_several_separated_by_commas(module: object) -> None:
    parse = module.parse  # type: ignore[attr-defined]
    assert parse("amqp://guest:guest@localhost:5672/") == ("amqp://guest:guest@localhost:5672/",)
    assert parse(THREE) == (
        "amqp://u:s3cret@10.0.0.1:5672/prod",
        "amqp://u:s3cret@10.0.0.2/prod",
        "amqps://u:s3cret@rabbit-3:5671/prod",
    )


@BOTH
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "one amqp:// URL or several"),
        ("amqp://u:s3cret@a/,", "none empty"),
        ("amqp://u:s3cret@a/,,amqp://u:s3cret@b/", "none empty"),
        ("http://u:s3cret@a/", "must start with amqp:// or amqps://"),
        ("amqp://u:s3cret@a/,u:s3cret@b:5672", "RABBITMQ_URL (address 2) must start with amqp://"),
        ("amqp://u:s3cret@a:port/", "not a valid URL"),
        ("amqp://u:s3cret@:5672/", "names no host"),
    ],
)
def test_a_bad_address_list_names_the_variable_and_the_address_but_never_the_password(
    module: object, value: str, message: str
) -> None:
    with pytest.raises(ValueError, match="RABBITMQ_URL") as caught:
        module.parse(value)  # type: ignore[attr-defined]
    assert message in str(caught.value)
    assert "s3cret" not in str(caught.value)


@BOTH
def test_a_node_is_shown_as_host_and_port_only(module: object) -> None:
    node = module.node  # type: ignore[attr-defined]
    assert node("amqp://u:s3cret@10.0.0.1:5673/prod") == "10.0.0.1:5673"
    assert node("amqp://u:s3cret@rabbit/") == "rabbit:5672"
    assert node("amqps://u:s3cret@rabbit/") == "rabbit:5671"
    assert node("amqp://u:s3cret@[fd00::1]:5672/") == "[fd00::1]:5672"


@BOTH
def test_sessions_go_round_robin_from_a_random_first_address(module: object) -> None:
    urls = module.parse(THREE)  # type: ignore[attr-defined]
    rotation = module.Addresses(urls, start=1)  # type: ignore[attr-defined]
    assert [rotation.take() for _ in range(5)] == [urls[1], urls[2], urls[0], urls[1], urls[2]]
    firsts = collections.Counter(module.Addresses(urls).take() for _ in range(300))  # type: ignore[attr-defined]
    assert set(firsts) == set(urls)  # many processes spread over the nodes
    assert module.Addresses(urls[:1]).take() == urls[0]  # type: ignore[attr-defined]


def test_the_bridge_refuses_a_bad_list_at_start_with_exit_2_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="RABBITMQ_URL"):
        Settings.from_env({"RABBITMQ_URL": "amqp://a/,http://b/", "BRIDGE_ALLOW_UNAUTHENTICATED": "true"})
    env = {"RABBITMQ_URL": "amqp://u:s3cret@a/,", "BRIDGE_ALLOW_UNAUTHENTICATED": "true", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "bridge"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "RABBITMQ_URL" in done.stderr
    assert "s3cret" not in done.stderr


def test_the_consumers_refuse_a_bad_list_with_exit_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RABBITMQ_URL", "amqp://u:s3cret@a/,ftp://u:s3cret@b/")
    assert cli.main(["tail"]) == 2
    err = capsys.readouterr().err
    assert "RABBITMQ_URL (address 2)" in err
    assert "s3cret" not in err


@pytest.fixture
def two_nodes(amqp_url: str, tcp_proxy: Callable[[], TcpProxy]) -> tuple[TcpProxy, TcpProxy]:
    """Two addresses of the same broker, each behind a proxy that a test can break."""
    return tcp_proxy(), tcp_proxy()


def node_of(proxy: TcpProxy) -> str:
    return f"127.0.0.1:{proxy.port}"


@pytest.mark.anyio
async def test_the_bridge_moves_to_the_next_address_when_its_node_goes_away(
    amqp_url: str,
    exchange_name: str,
    tmp_path: Path,
    two_nodes: tuple[TcpProxy, TcpProxy],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    urls = ",".join(proxy.url(amqp_url) for proxy in two_nodes)
    settings = Settings(allow_unauthenticated=True, rabbitmq_url=urls, exchange=exchange_name, journal_dir=tmp_path)
    nodes = {node_of(proxy): proxy for proxy in two_nodes}
    async with audit(amqp_url, exchange_name) as watcher, serve(settings) as bridge, httpx.AsyncClient() as client:
        publisher = bridge.ingress.publisher
        await wait_until(lambda: publisher.state.value == "connected", what="the first session")
        first = publisher.node
        assert (await client.get(bridge.url + "/readyz")).json()["broker_node"] == first
        async with Senders(bridge.webhook, rate=300) as senders:
            await senders.until(50)
            nodes[first].cut()  # stays cut: only the other address works
            await wait_until(lambda: publisher.node != first and publisher.state.value == "connected", within=10)
            await senders.until(len(senders.accepted) + 50)
        await watcher.until_delivered(senders.accepted, within=20)
        ready = (await client.get(bridge.url + "/readyz")).json()
    verify("bridge failover", senders, watcher.ids, 0.0)
    assert ready["broker_node"] == publisher.node != first
    lines = [r.getMessage() for r in caplog.records if r.name == "bridge.publisher"]
    assert any(f"connected to the broker at {publisher.node}" in line for line in lines)
    assert not any("guest:guest" in line or "@127" in line for line in lines)


async def send(channel: AbstractChannel, exchange: str, n: int) -> str:
    message_id = f"failover-{n}"
    body = b'{"event":"sessionCreated","sessionId":"s%d","timestamp":%d}' % (n, n)
    await publish(channel, exchange, body, message_id=message_id)
    return message_id


@pytest.mark.anyio
async def test_a_consumer_whose_node_goes_away_reconnects_to_the_other_and_loses_nothing(
    amqp_url: str,
    consumer_settings: ConsumerSettings,
    fresh_name: Callable[..., str],
    two_nodes: tuple[TcpProxy, TcpProxy],
    channel: AbstractChannel,
) -> None:
    urls = ",".join(proxy.url(amqp_url) for proxy in two_nodes)
    settings = dataclasses.replace(consumer_settings, rabbitmq_url=urls)
    consumer = Consumer(fresh_name("failover"))
    seen: list[str] = []
    arrived = asyncio.Event()

    @consumer.on("sessionCreated")
    async def handle(event: Event) -> None:
        seen.append(event.message_id)
        arrived.set()

    nodes = {node_of(proxy): proxy for proxy in two_nodes}
    async with running(settings, consumer) as runner:
        first = runner.node
        sent = [await send(channel, settings.exchange, n) for n in range(20)]
        sessions = runner.sessions
        nodes[first].cut()
        await wait_until(lambda: runner.sessions > sessions and runner.ready.is_set(), within=10)
        assert runner.node != first
        sent += [await send(channel, settings.exchange, n) for n in range(20, 40)]
        await wait_until(lambda: set(sent) <= set(seen), within=10, what="every event handled")
