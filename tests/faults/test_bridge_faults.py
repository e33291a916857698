"""Scenarios 5-7: the bridge is killed, stopped under load, or loses its disk; every accepted event still arrives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from bridge import records
from bridge.settings import Settings
from tests.faults.stream import Outcome, Senders, audit, verify
from tests.support.bridges import BridgeProcess, free_port, serve, wait_for_status, wait_until
from tests.support.proxy import TcpProxy

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def bridge_env(amqp_url: str, exchange: str, journal: Path, **extra: str) -> dict[str, str]:
    return {
        "RABBITMQ_URL": amqp_url,
        "BRIDGE_EXCHANGE": exchange,
        "BRIDGE_JOURNAL_DIR": str(journal),
        "BRIDGE_PORT": str(free_port()),
        "BRIDGE_LOG_LEVEL": "WARNING",
        **extra,
    }


async def test_sigkill_at_random_points_then_restart_loses_nothing_and_keeps_order(
    amqp_url: str, exchange_name: str, tmp_path: Path, report: Callable[[Outcome], None]
) -> None:
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    env = bridge_env(amqp_url, exchange_name, tmp_path / "journal")
    log = tmp_path / "bridge.log"
    bridge = await BridgeProcess(env, log).start().ready()
    downtimes = []
    try:
        async with audit(amqp_url, exchange_name) as watcher:
            async with Senders(bridge.webhook, rate=300) as senders:
                for _ in range(10):
                    await asyncio.sleep(rng.uniform(0.05, 0.8))  # a random point in the stream is the fault
                    killed = time.monotonic()
                    bridge.kill()
                    bridge = await BridgeProcess(env, log).start().ready()
                    downtimes.append(time.monotonic() - killed)
                await senders.until(len(senders.accepted) + 100)
            await watcher.until_delivered(senders.accepted)
            await watcher.settle()
    finally:
        bridge.stop()
    outcome = verify(f"5. bridge SIGKILL x10 (seed {seed}; restart)", senders, watcher.ids, max(downtimes))
    report(outcome)
    assert outcome.refused == 0


async def test_sigterm_under_load_answers_only_200_through_the_grace_and_loses_nothing(
    amqp_url: str, exchange_name: str, tmp_path: Path, report: Callable[[Outcome], None]
) -> None:
    env = bridge_env(amqp_url, exchange_name, tmp_path / "journal", BRIDGE_SHUTDOWN_GRACE="2")
    bridge = await BridgeProcess(env, tmp_path / "bridge.log").start().ready()
    try:
        async with audit(amqp_url, exchange_name) as watcher:
            async with Senders(bridge.webhook, count=4, rate=400) as senders, httpx.AsyncClient() as client:
                await senders.until(200)
                bridge.signal(signal.SIGTERM)
                signalled_at = time.monotonic()
                await wait_for_status(client, bridge.url + "/readyz", 503, within=1)
                signalled = len(senders.accepted)
                await senders.until(signalled + 300, within=1.5)  # still inside the 2 s grace
            code = await asyncio.to_thread(bridge.wait, 30)
            stopped_in = time.monotonic() - signalled_at
            await watcher.until_delivered(senders.accepted)
            await watcher.settle()
    finally:
        bridge.stop()
    assert code == 0
    outcome = verify("6. bridge SIGTERM under load, 4 senders (exit)", senders, watcher.ids, stopped_in)
    report(outcome)
    assert outcome.refused == 0
    assert senders.connection_errors == 0


async def test_a_full_journal_answers_503_with_retry_after_and_recovers_once_drained(
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
        journal_max_bytes=512 << 10,
        max_body_bytes=64 << 10,
    )
    async with audit(amqp_url, exchange_name) as watcher, serve(settings) as bridge:
        async with Senders(bridge.webhook, rate=1000) as senders, httpx.AsyncClient() as client:
            await senders.until(50)
            proxy.cut()
            await wait_until(lambda: senders.statuses[503] > 0, within=30, what="a 503 from a full journal")
            # Larger than any room a refused event can have left (the senders' events are under 1 KiB): refused
            # whatever the exact record sizes.
            big = b'{"event":"sessionCreated","pad":"%s"}' % (b"x" * (16 << 10))
            response = await client.post(bridge.webhook, content=big, headers={"content-type": "application/json"})
            readiness = await client.get(bridge.url + "/readyz")
            proxy.restore()
            restored = time.monotonic()
            await wait_for_status(client, bridge.url + "/readyz", 200, within=30)
            recovery = time.monotonic() - restored
            accepted_when_full = len(senders.accepted)
            await senders.until(accepted_when_full + 100)
        await watcher.until_delivered(senders.accepted)
        await watcher.settle()
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert readiness.status_code == 503
    assert readiness.json()["problem"] == "journal full"
    outcome = verify("7. journal full (512 KiB), broker cut", senders, watcher.ids, recovery)
    report(outcome)
    assert outcome.refused > 0


@pytest.fixture
def mount_point(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Mount a small tmpfs of the test's own (root only) and unmount it afterwards."""
    mounted: list[Path] = []

    def mount(path: Path, size: str = "4m", options: str = "") -> Path:
        path.mkdir(parents=True, exist_ok=True)
        option = f"size={size}" + (f",{options}" if options else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", option, "tmpfs", str(path)], capture_output=True)
        if done.returncode != 0:
            message = f"cannot mount a tmpfs (root needed): {done.stderr.decode().strip()}"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


async def test_a_full_disk_gives_503_and_a_log_line_then_recovers_when_space_returns(
    amqp_url: str,
    exchange_name: str,
    tmp_path: Path,
    mount_point: Callable[..., Path],
    caplog: pytest.LogCaptureFixture,
    report: Callable[[Outcome], None],
) -> None:
    disk = mount_point(tmp_path / "disk", size="2m")
    settings = Settings(
        allow_unauthenticated=True, rabbitmq_url=amqp_url, exchange=exchange_name, journal_dir=disk / "journal"
    )
    async with audit(amqp_url, exchange_name) as watcher, serve(settings) as bridge:
        async with Senders(bridge.webhook, rate=300) as senders, httpx.AsyncClient() as client:
            await senders.until(50)
            ballast = disk / "ballast"
            with contextlib.suppress(OSError):
                ballast.write_bytes(bytes(2 << 20))  # fills the disk (ENOSPC cuts it short)
            await wait_until(lambda: senders.statuses[503] > 0, within=20, what="a 503 from a full disk")
            assert (await client.get(bridge.url + "/healthz")).status_code == 200
            assert (await client.get(bridge.url + "/readyz")).status_code == 503
            ballast.unlink()
            freed = time.monotonic()
            await wait_for_status(client, bridge.url + "/readyz", 200, within=10)
            recovery = time.monotonic() - freed
            await senders.until(len(senders.accepted) + 100)
        await watcher.until_delivered(senders.accepted)
        await watcher.settle()
    assert "journal refuses new events" in caplog.text
    outcome = verify("7. journal disk full (ENOSPC)", senders, watcher.ids, recovery)
    report(outcome)
    assert outcome.refused > 0


async def test_a_read_only_or_deleted_journal_directory_gives_503_and_a_log_line_without_a_crash(
    amqp_url: str,
    exchange_name: str,
    tmp_path: Path,
    mount_point: Callable[..., Path],
    caplog: pytest.LogCaptureFixture,
    report: Callable[[Outcome], None],
) -> None:
    journal = tmp_path / "journal"
    settings = Settings(allow_unauthenticated=True, rabbitmq_url=amqp_url, exchange=exchange_name, journal_dir=journal)
    caplog.set_level(logging.WARNING)
    async with audit(amqp_url, exchange_name) as watcher, serve(settings) as bridge:
        async with Senders(bridge.webhook, rate=300) as senders, httpx.AsyncClient() as client:
            await senders.until(50)
            mount_point(journal, options="ro")  # from the path's point of view the directory is read-only now
            await wait_until(lambda: senders.statuses[503] > 0, within=10, what="a 503 from a read-only journal")
            await wait_until(lambda: "Read-only file system" in caplog.text, what="the recovery attempt's log line")
            assert "mounted over" in caplog.text
            await asyncio.to_thread(subprocess.run, ["umount", str(journal)], check=True)
            await wait_for_status(client, bridge.url + "/readyz", 200, within=10)
            await senders.until(len(senders.accepted) + 50)

            shutil.rmtree(journal)  # now the directory disappears altogether
            refused = senders.statuses[503]
            await wait_until(lambda: senders.statuses[503] > refused, within=10, what="a 503 without a journal")
            assert (await client.get(bridge.url + "/healthz")).status_code == 200
            journal.mkdir()
            restored = time.monotonic()
            await wait_for_status(client, bridge.url + "/readyz", 200, within=10)
            recovery = time.monotonic() - restored
            await senders.until(len(senders.accepted) + 50)
        await watcher.until_delivered(senders.accepted)
        await watcher.settle()
    outcome = verify("7. journal read-only, then deleted", senders, watcher.ids, recovery)
    report(outcome)
    assert "Traceback" not in caplog.text


async def test_a_corrupted_record_mid_segment_costs_only_itself(
    amqp_url: str, exchange_name: str, tmp_path: Path, tcp_proxy: Callable[[], TcpProxy]
) -> None:
    proxy = tcp_proxy()
    proxy.cut()  # everything stays in the journal
    journal = tmp_path / "journal"
    env = bridge_env(proxy.url(amqp_url), exchange_name, journal, BRIDGE_JOURNAL_SEGMENT_BYTES="64KiB")
    bridge = await BridgeProcess(env, tmp_path / "bridge.log").start().ready()
    async with Senders(bridge.webhook, rate=2000) as senders:
        await senders.until(600)
    bridge.kill()
    segments = sorted(journal.glob("*.wal"))
    assert len(segments) >= 3
    middle = segments[1].read_bytes()
    victim = middle.index(records.MAGIC, len(middle) // 2)
    with segments[1].open("r+b") as segment:
        segment.seek(victim + 40)
        segment.write(b"\xde\xad\xbe\xef")

    proxy.restore()
    async with audit(amqp_url, exchange_name) as watcher:
        restarted = await BridgeProcess(env, tmp_path / "bridge.log").start().ready()
        try:
            await wait_until(lambda: len(set(watcher.ids)) >= len(senders.accepted) - 1, within=30, what="delivery")
            await watcher.settle()
        finally:
            restarted.stop()
    missing = {sent.message_id for sent in senders.accepted} - set(watcher.ids)
    assert len(missing) == 1  # the damaged record, and only it
    assert "damaged bytes" in restarted.log()
