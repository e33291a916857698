from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from tests.support.broker import MISSING, delete_topology, rabbitmq_url
from tests.support.proxy import TcpProxy

CORPUS = Path(__file__).resolve().parent / "corpus"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with rabbitmq_url() as url:
        if url is None:
            if os.environ.get("CI") == "true":
                pytest.fail(MISSING)
            pytest.skip(MISSING)
        yield url


@pytest.fixture
def exchange_name(amqp_url: str) -> Iterator[str]:
    """A fresh exchange name per test; the exchanges and queues named after it are deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    delete_topology(amqp_url, name)


@pytest.fixture
async def amqp(amqp_url: str) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        yield connection


@pytest.fixture
async def channel(amqp: AbstractRobustConnection) -> AsyncIterator[AbstractChannel]:
    async with amqp.channel() as channel:
        yield channel


@pytest.fixture
def tcp_proxy(amqp_url: str) -> Iterator[Callable[[], TcpProxy]]:
    """Factory of TCP proxies to the test broker; each is stopped after the test."""
    proxies: list[TcpProxy] = []

    def make() -> TcpProxy:
        proxy = TcpProxy.to_url(amqp_url).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()


@pytest.fixture(scope="session")
def openvidu_events() -> dict[str, bytes]:
    """One real OpenVidu 2 wire body per event type, exactly as sent."""
    return {path.stem: path.read_bytes() for path in sorted(_corpus("events").glob("*.json"))}


@pytest.fixture(scope="session")
def livekit_events() -> dict[str, bytes]:
    """One LiveKit (OpenVidu 3) wire body per event type."""
    return {path.stem: path.read_bytes() for path in sorted(_corpus("livekit-events").glob("*.json"))}


def _corpus(kind: str) -> Path:
    # The corpus is vendored under tests/corpus so a clean checkout has it; ../shared is where it comes from.
    return CORPUS / kind
