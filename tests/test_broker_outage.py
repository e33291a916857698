"""What the bridge says when the broker is not there or refuses its credentials: few lines, the right level, no
password, and /readyz telling an operator the same."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from bridge import outage
from bridge.outage import Outage
from tests.support.bridges import BridgeProcess, free_port

pytestmark = pytest.mark.anyio


def wrong_password(amqp_url: str) -> str:
    parts = urlsplit(amqp_url)
    return parts._replace(netloc=f"{parts.username}:not-the-password@{parts.hostname}:{parts.port or 5672}").geturl()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"not true after {within}s"
        await asyncio.sleep(0.05)


def attempts(bridge: BridgeProcess, at_least: int) -> Callable[[], Awaitable[bool]]:
    """True once the bridge counted `at_least` failed connection attempts."""

    async def check() -> bool:
        async with httpx.AsyncClient() as client:
            text = (await client.get(bridge.url + "/metrics")).text
        match = re.search(r"^bridge_broker_connection_losses_total (\S+)$", text, re.MULTILINE)
        return match is not None and float(match.group(1)) >= at_least

    return check


async def test_refused_credentials_are_one_error_line_and_what_readyz_says(
    amqp_url: str, exchange_name: str, tmp_path: Path
) -> None:
    env = {
        "RABBITMQ_URL": wrong_password(amqp_url),
        "BRIDGE_EXCHANGE": exchange_name,
        "BRIDGE_JOURNAL_DIR": str(tmp_path),
    }
    bridge = BridgeProcess(env, tmp_path / "bridge.log").start()
    try:
        await bridge.ready()  # the journal takes the events meanwhile: ready, and saying why the broker is away

        async def refused() -> bool:
            async with httpx.AsyncClient() as client:
                body = (await client.get(bridge.url + "/readyz")).json()
            return bool(body["broker_problem"] == "the broker refuses the credentials in RABBITMQ_URL")

        await eventually(refused)
        await eventually(attempts(bridge, 4))  # several attempts, all refused
    finally:
        bridge.stop()
    log = bridge.log()
    parts = urlsplit(amqp_url)
    shown = f"{parts.hostname}:{parts.port or 5672}"
    errors = [line for line in log.splitlines() if '"level":"ERROR"' in line]
    assert len(errors) == 1, log
    assert f"the broker at {shown} refuses the credentials in RABBITMQ_URL (ACCESS_REFUSED" in errors[0]
    assert "not-the-password" not in log
    assert "error when creating transport" not in log


async def test_an_unreachable_broker_is_one_warning_without_the_password(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    env = {"RABBITMQ_URL": f"amqp://guest:s3cret@127.0.0.1:{port}/", "BRIDGE_JOURNAL_DIR": str(tmp_path)}
    bridge = BridgeProcess(env, tmp_path / "bridge.log").start()
    try:
        await bridge.ready()
        await eventually(attempts(bridge, 4))
    finally:
        bridge.stop()
    log = bridge.log()
    assert log.count(f"cannot reach the broker at 127.0.0.1:{port} (") == 1, log
    assert "attempts in" not in log  # the next line is due 30 s after the first failure, not at once
    assert "s3cret" not in log
    assert "error when creating transport" not in log
    assert '"level":"ERROR"' not in log


async def test_a_normal_start_logs_at_info(amqp_url: str, exchange_name: str, tmp_path: Path) -> None:
    env = {
        "RABBITMQ_URL": amqp_url,
        "BRIDGE_EXCHANGE": exchange_name,
        "BRIDGE_JOURNAL_DIR": str(tmp_path),
        "BRIDGE_WEBHOOK_HEADERS": '["X-Secret: s"]',  # else the bridge rightly warns that anyone may post
    }
    bridge = BridgeProcess(env, tmp_path / "bridge.log").start()
    try:
        await bridge.ready()
        await eventually(lambda: _logged(bridge, "connected to the broker"))
    finally:
        bridge.stop()
    lines = bridge.log().splitlines()
    assert {orjson.loads(line)["level"] for line in lines} == {"INFO"}, lines
    parts = urlsplit(amqp_url)
    node = f"{parts.hostname}:{parts.port or 5672}"
    assert any(f"connected to the broker at {node}; 0 events to publish" in line for line in lines)


async def _logged(bridge: BridgeProcess, words: str) -> bool:
    return words in bridge.log()


def test_the_outage_clock_starts_at_the_first_failure(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    now = [5000.0]  # a monotonic clock long past zero, as on a machine up for a while
    monkeypatch.setattr(outage.time, "monotonic", lambda: now[0])
    report = Outage()
    report.node = "localhost:5672"
    with caplog.at_level("INFO", logger="bridge.publisher"):
        report.failed("connection refused", refused=False, was_up=False, delay=0.05, pending=0)
        for _ in range(29):
            now[0] += 1.0
            report.failed("connection refused", refused=False, was_up=False, delay=2.0, pending=3)
        now[0] += 1.0
        report.failed("connection refused", refused=False, was_up=False, delay=2.0, pending=3)
        report.connected(pending=3)
    assert [r.getMessage() for r in caplog.records] == [
        "cannot reach the broker at localhost:5672 (connection refused); retrying, 0 events wait",
        "broker still unreachable (connection refused, last at localhost:5672): 31 attempts in 30s, retrying every "
        "2.0s; 3 events wait",
        "connected to the broker at localhost:5672 again after 30s; 3 events to publish",
    ]
    assert report.problem is None
