"""A refusal sent before the body was read reaches the client, instead of a connection reset.

The bridge answers 401/413 from the headers and closes the connection. If it closed at once, the body bytes
still arriving would make the kernel reset the connection, and the client would see a write or read error
instead of the status. The bridge drains them for a bounded time (a lingering close, as nginx does).
"""

from __future__ import annotations

import asyncio
import collections
import select
import socket
import time
from pathlib import Path

import httpx
import pytest
from aio_pika.abc import AbstractChannel

from bridge.protocol import LINGER_BYTES, LINGER_SECONDS
from tests.faults.stream import Senders
from tests.support.amqp import collector
from tests.support.bridges import BridgeProcess

pytestmark = pytest.mark.anyio

SECRET = {"X-Secret": "s3cret"}
BIG = b'{"event":"sessionCreated","pad":"' + b"x" * (3 << 20) + b'"}'  # 3 MiB, over the 64 KiB limit


def env_for(amqp_url: str, exchange: str, tmp_path: Path) -> dict[str, str]:
    return {
        "RABBITMQ_URL": amqp_url,
        "BRIDGE_EXCHANGE": exchange,
        "BRIDGE_JOURNAL_DIR": str(tmp_path / "journal"),
        "BRIDGE_WEBHOOK_HEADERS": '["X-Secret: s3cret"]',
        "BRIDGE_ALLOW_UNAUTHENTICATED": "",
        "BRIDGE_MAX_BODY_BYTES": "64KiB",
        "BRIDGE_LOG_LEVEL": "WARNING",
    }


async def refused(url: str, headers: dict[str, str]) -> int | str:
    """One 3 MiB POST on a connection of its own: the status, or the error the client saw instead."""
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.post(url, content=BIG, headers={"content-type": "application/json", **headers})
            return response.status_code
    except httpx.TransportError as exc:
        return type(exc).__name__


async def test_200_oversized_and_unauthorised_bodies_under_load_all_read_their_status(
    amqp_url: str, exchange_name: str, tmp_path: Path, channel: AbstractChannel
) -> None:
    inbox = await collector(channel, exchange_name, "#")
    bridge = await BridgeProcess(env_for(amqp_url, exchange_name, tmp_path), tmp_path / "bridge.log").start().ready()
    outcomes: collections.Counter[int | str] = collections.Counter()
    try:
        async with Senders(bridge.webhook, count=4, rate=500, headers=SECRET) as load:
            await load.until(100)
            gate = asyncio.Semaphore(20)

            async def one(n: int) -> None:
                async with gate:
                    outcomes[await refused(bridge.webhook, SECRET if n % 2 else {"X-Secret": "guess"})] += 1

            await asyncio.gather(*(one(n) for n in range(200)))
        accepted = len(load.accepted)
        published = await inbox.take(accepted, timeout=30)
        published += await inbox.rest(quiet=0.3)
    finally:
        bridge.stop()
    assert outcomes == {413: 100, 401: 100}, outcomes
    assert load.statuses.keys() == {200}
    assert len({m.message_id for m in published}) == accepted  # the refused bodies published nothing


async def test_the_drain_is_bounded_in_bytes_and_in_time(amqp_url: str, exchange_name: str, tmp_path: Path) -> None:
    bridge = await BridgeProcess(env_for(amqp_url, exchange_name, tmp_path), tmp_path / "bridge.log").start().ready()
    try:
        flood = await asyncio.to_thread(send_until_closed, bridge.port, b"X-Secret: s3cret", pace=0.0)
        trickle = await asyncio.to_thread(send_until_closed, bridge.port, b"X-Secret: guess", pace=0.1)
    finally:
        bridge.stop()
    answer, sent, took = flood
    assert answer.startswith(b"HTTP/1.1 413 "), answer
    assert b"connection: close" in answer.lower()
    assert LINGER_BYTES <= sent < LINGER_BYTES + (32 << 20)  # drained up to the bound, plus socket buffers
    answer, sent, took = trickle
    assert answer.startswith(b"HTTP/1.1 401 "), answer
    assert LINGER_SECONDS - 0.5 < took < LINGER_SECONDS + 10


def send_until_closed(port: int, header: bytes, pace: float) -> tuple[bytes, int, float]:
    """Announce a huge body and send it (64 KiB at a time, or 100 bytes every `pace` seconds) until the bridge
    closes the connection: what it answered, how much got out, and for how long."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s\r\n"
            b"Content-Length: 10000000000\r\n\r\n" % header
        )
        sock.setblocking(False)
        chunk = b"x" * (100 if pace else 65536)
        answer, sent, started = b"", 0, time.monotonic()
        while time.monotonic() - started < 60:
            readable, writable, _ = select.select([sock], [sock], [], 1.0)
            try:
                if readable:
                    answer += sock.recv(65536)  # b"" once the bridge shut its side: keep sending regardless
                if writable:
                    sent += sock.send(chunk)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:  # the bridge closed the connection: broken pipe or reset
                break
            if pace:
                select.select([], [], [], pace)  # the trickle itself: a client this slow is what is measured
        return answer, sent, time.monotonic() - started
