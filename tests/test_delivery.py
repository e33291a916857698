"""The promise: what was answered 200 reaches the broker, in order, through outages and crashes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from aio_pika.abc import AbstractChannel

from bridge.settings import Settings
from tests.support.amqp import collector
from tests.support.bridges import BridgeProcess, serve, wait_for_status, wait_until
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}


def event(n: int, kind: str = "participantJoined") -> bytes:
    return b'{"sessionId":"ses_T","timestamp":%d,"n":%d,"event":"%s"}' % (1_700_000_000_000 + n, n, kind.encode())


def numbers(bodies: list[bytes]) -> list[int]:
    return [int(b.split(b'"n":')[1].split(b",")[0]) for b in bodies]


def first_copies(values: list[int]) -> list[int]:
    seen: set[int] = set()
    return [v for v in values if not (v in seen or seen.add(v))]  # type: ignore[func-returns-value]


async def test_broker_unreachable_then_back_loses_nothing_and_keeps_order(
    amqp_url: str, exchange_name: str, tmp_path: Path, channel: AbstractChannel, tcp_proxy: Callable[[], TcpProxy]
) -> None:
    inbox = await collector(channel, exchange_name, "#")
    proxy = tcp_proxy()
    settings = Settings(
        allow_unauthenticated=True, rabbitmq_url=proxy.url(amqp_url), exchange=exchange_name, journal_dir=tmp_path / "j"
    )
    async with serve(settings) as bridge, httpx.AsyncClient() as client:
        await wait_until(lambda: bridge.ingress.publisher.state.value == "connected", what="the first connection")
        for n in range(0, 100):
            assert (await client.post(bridge.webhook, content=event(n), headers=JSON)).status_code == 200
        proxy.cut()
        for n in range(100, 300):  # accepted while the broker is unreachable
            assert (await client.post(bridge.webhook, content=event(n), headers=JSON)).status_code == 200
        assert bridge.ingress.journal.pending > 0
        proxy.restore()
        for n in range(300, 400):
            assert (await client.post(bridge.webhook, content=event(n), headers=JSON)).status_code == 200
        await wait_until(lambda: bridge.ingress.journal.pending == 0, within=30, what="the backlog to drain")
        got = numbers([m.body for m in await inbox.take(400)])
        got += numbers([m.body for m in await inbox.rest(quiet=0.3)])
    assert set(got) == set(range(400))
    assert first_copies(got) == list(range(400))


async def test_confirm_mode_answers_after_the_broker_confirmed_and_503_when_it_cannot(
    amqp_url: str, exchange_name: str, tmp_path: Path, channel: AbstractChannel, tcp_proxy: Callable[[], TcpProxy]
) -> None:
    inbox = await collector(channel, exchange_name, "#")
    proxy = tcp_proxy()
    settings = Settings(
        allow_unauthenticated=True,
        rabbitmq_url=proxy.url(amqp_url),
        exchange=exchange_name,
        journal_dir=tmp_path / "j",
        ack="confirm",
        confirm_timeout=1.0,
    )
    async with serve(settings) as bridge, httpx.AsyncClient() as client:
        response = await client.post(bridge.webhook, content=event(1), headers=JSON)
        assert response.status_code == 200
        assert bridge.ingress.journal.pending == 0  # confirmed before the answer
        assert [m.body for m in await inbox.take(1)] == [event(1)]

        proxy.cut()
        started = time.monotonic()
        response = await client.post(bridge.webhook, content=event(2), headers=JSON)
        assert response.status_code == 503
        assert response.headers["retry-after"].isdigit()
        assert time.monotonic() - started < 5
        proxy.restore()  # the refused event stays journaled and is still delivered
        await wait_until(lambda: bridge.ingress.journal.pending == 0, within=30, what="the journal to drain")
        assert [m.body for m in await inbox.take(1)] == [event(2)]


async def test_sigkill_mid_stream_then_restart_on_the_same_journal_loses_nothing(
    amqp_url: str, exchange_name: str, tmp_path: Path, channel: AbstractChannel, tcp_proxy: Callable[[], TcpProxy]
) -> None:
    inbox = await collector(channel, exchange_name, "#")
    proxy = tcp_proxy()
    env = {
        "RABBITMQ_URL": proxy.url(amqp_url),
        "BRIDGE_EXCHANGE": exchange_name,
        "BRIDGE_JOURNAL_DIR": str(tmp_path / "journal"),
    }
    first = await BridgeProcess(env, tmp_path / "bridge.log").start().ready()
    accepted: list[int] = []
    try:
        async with httpx.AsyncClient() as client:
            for n in range(200):
                if n == 100:
                    proxy.cut()  # what follows is only in the journal when the process dies
                if (await client.post(first.webhook, content=event(n), headers=JSON)).status_code == 200:
                    accepted.append(n)
        first.kill()
    finally:
        first.stop()
    proxy.restore()
    second = await BridgeProcess(env, tmp_path / "bridge.log").start().ready()
    try:
        got = numbers([m.body for m in await inbox.take(len(accepted), timeout=30)])
        got += numbers([m.body for m in await inbox.rest(quiet=0.3)])
    finally:
        second.stop()
    assert accepted == list(range(200))
    assert set(got) == set(accepted)
    assert first_copies(got) == accepted


async def test_sigterm_fails_readiness_serves_through_the_grace_then_exits_0_with_everything_delivered(
    amqp_url: str, exchange_name: str, tmp_path: Path, channel: AbstractChannel
) -> None:
    inbox = await collector(channel, exchange_name, "#")
    env = {
        "RABBITMQ_URL": amqp_url,
        "BRIDGE_EXCHANGE": exchange_name,
        "BRIDGE_JOURNAL_DIR": str(tmp_path / "journal"),
        "BRIDGE_SHUTDOWN_GRACE": "1.5",
    }
    bridge = await BridgeProcess(env, tmp_path / "bridge.log").start().ready()
    statuses: list[int] = []
    try:
        async with httpx.AsyncClient() as client:
            for n in range(50):
                statuses.append((await client.post(bridge.webhook, content=event(n), headers=JSON)).status_code)
            bridge.signal(signal.SIGTERM)
            await wait_for_status(client, bridge.url + "/readyz", 503, within=5)
            n = 50
            signalled = time.monotonic()
            while time.monotonic() - signalled < 1.0:  # well inside the grace period
                statuses.append((await client.post(bridge.webhook, content=event(n), headers=JSON)).status_code)
                n += 1
        code = await asyncio.to_thread(bridge.wait, 30)
    finally:
        bridge.stop()
    assert code == 0, bridge.log()
    assert set(statuses) == {200}
    got = numbers([m.body for m in await inbox.take(len(statuses), timeout=20)])
    assert first_copies(got) == list(range(len(statuses)))
    assert "SIGTERM received" in bridge.log()


async def test_in_the_grace_period_each_answer_waits_for_the_broker_and_is_200_even_when_it_never_comes(
    amqp_url: str, exchange_name: str, tmp_path: Path, channel: AbstractChannel, tcp_proxy: Callable[[], TcpProxy]
) -> None:
    # Behind a load balancer the sender's next event goes to another instance: it must come after this one.
    inbox = await collector(channel, exchange_name, "#")
    proxy = tcp_proxy()
    env = {
        "RABBITMQ_URL": proxy.url(amqp_url),
        "BRIDGE_EXCHANGE": exchange_name,
        "BRIDGE_JOURNAL_DIR": str(tmp_path / "journal"),
        "BRIDGE_SHUTDOWN_GRACE": "60",
        "BRIDGE_CONFIRM_TIMEOUT": "2",
    }
    bridge = await BridgeProcess(env, tmp_path / "bridge.log").start().ready()
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            bridge.signal(signal.SIGTERM)
            await wait_for_status(client, bridge.url + "/readyz", 503, within=5)
            proxy.freeze()
            answer = asyncio.create_task(client.post(bridge.webhook, content=event(0), headers=JSON))
            done, _ = await asyncio.wait([answer], timeout=1.0)
            assert not done, "answered before the broker confirmed"
            proxy.restore()
            assert (await asyncio.wait_for(answer, 10)).status_code == 200
            assert numbers([m.body for m in await inbox.take(1, timeout=10)]) == [0]
            proxy.freeze()
            started = time.monotonic()
            assert (await client.post(bridge.webhook, content=event(1), headers=JSON)).status_code == 200
            assert (
                time.monotonic() - started >= 1.5
            )  # it waited for the confirm timeout, then answered from the journal
            proxy.restore()
            assert numbers([m.body for m in await inbox.take(1, timeout=20)]) == [1]
    finally:
        bridge.stop()


async def test_a_second_process_on_the_same_journal_exits_at_once_with_a_clear_error(
    amqp_url: str, exchange_name: str, tmp_path: Path
) -> None:
    env = {"RABBITMQ_URL": amqp_url, "BRIDGE_EXCHANGE": exchange_name, "BRIDGE_JOURNAL_DIR": str(tmp_path / "j")}
    first = await BridgeProcess(env, tmp_path / "first.log").start().ready()
    try:
        second = BridgeProcess(env, tmp_path / "second.log").start()
        code = await asyncio.to_thread(second.wait, 10)
    finally:
        first.stop()
    assert code == 1
    assert "is in use by another bridge process" in second.log()
    assert "Traceback" not in second.log()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BRIDGE_PUBLISH_WINDOW", "many", "BRIDGE_PUBLISH_WINDOW must be a whole number"),
        ("RABBITMQ_URL", "http://nope", "RABBITMQ_URL must start with amqp:// or amqps://"),
        ("RABBITMQ_URL", "guest:secret@localhost", "RABBITMQ_URL must start with amqp:// or amqps://"),
        ("BRIDGE_EXCHANGE", "amq.topic", "BRIDGE_EXCHANGE must be a plain name"),
        ("BRIDGE_JOURNAL_FSYNC", "sometimes", "BRIDGE_JOURNAL_FSYNC must be one of always, interval, never"),
        ("BRIDGE_WEBHOOK_HEADERS", '["Authorization Basic"]', 'entry 0 is not of the form "Name: value"'),
        (
            "BRIDGE_WEBHOOK_HEADERS",
            '["X-Secret: tab\\u0001"]',
            "BRIDGE_WEBHOOK_HEADERS entry 0 (X-Secret) holds a control",
        ),
        ("BRIDGE_WEBHOOK_HEADERS", '["X-Secret: \\u20ac"]', "entry 0 (X-Secret) holds a character outside ISO-8859-1"),
        ("BRIDGE_JOURNAL_MAX_BYTES", "lots", "BRIDGE_JOURNAL_MAX_BYTES must be a positive size"),
    ],
)
async def test_a_bad_setting_stops_the_process_at_start_with_a_clear_message(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    bridge = BridgeProcess({name: value, "BRIDGE_JOURNAL_DIR": str(tmp_path / "j")}, tmp_path / "b.log").start()
    code = await asyncio.to_thread(bridge.wait, 10)
    assert code == 2
    assert message in bridge.log()
    assert "Traceback" not in bridge.log()


async def test_fsync_always_answers_after_a_flush_that_concurrent_requests_share(
    amqp_url: str,
    exchange_name: str,
    tmp_path: Path,
    channel: AbstractChannel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox = await collector(channel, exchange_name, "#")
    flushes: list[float] = []
    real = os.fdatasync

    def slow_disk(fd: int) -> None:
        time.sleep(0.02)  # a disk that takes 20 ms to flush, in the syncer's worker thread
        real(fd)
        flushes.append(time.monotonic())

    monkeypatch.setattr(os, "fdatasync", slow_disk)
    settings = Settings(
        allow_unauthenticated=True,
        rabbitmq_url=amqp_url,
        exchange=exchange_name,
        journal_dir=tmp_path / "j",
        journal_fsync="always",
    )
    async with serve(settings) as bridge, httpx.AsyncClient() as client:

        async def post(n: int) -> tuple[int, float]:
            response = await client.post(bridge.webhook, content=event(n), headers=JSON)
            return response.status_code, time.monotonic()

        answers = await asyncio.gather(*(post(n) for n in range(40)))
        got = await inbox.take(40)
    assert {status for status, _ in answers} == {200}
    assert all(any(flushed <= answered for flushed in flushes) for _, answered in answers)  # flushed before 200
    assert 0 < len(flushes) < 40  # grouped: far fewer flushes than requests
    assert sorted(numbers([m.body for m in got])) == list(range(40))
