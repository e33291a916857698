"""Running the bridge for a test: in-process on a free port (fast), or as a real process (signals, crashes)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import httpx
import uvicorn

from bridge.app import BridgeApp, Ingress, create_app
from bridge.journal import Journal
from bridge.protocol import guarded_protocol
from bridge.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def open_journal(settings: Settings) -> Journal:
    return Journal.open(
        settings.journal_dir,
        max_bytes=settings.journal_max_bytes,
        segment_bytes=settings.journal_segment_bytes,
        fsync=settings.journal_fsync,
    )


@dataclasses.dataclass
class Running:
    url: str
    app: BridgeApp
    settings: Settings
    server: uvicorn.Server

    @property
    def ingress(self) -> Ingress:
        ingress: Ingress = self.app.state.ingress
        return ingress

    @property
    def webhook(self) -> str:
        return self.url + self.settings.path


@contextlib.asynccontextmanager
async def serve(settings: Settings, broker: bool = True) -> AsyncIterator[Running]:
    """The bridge app under uvicorn in this event loop, on a socket of its own.

    With `broker`, only once /readyz says the publisher is connected, so its topology (the unrouted queue, …) is
    declared: HTTP answering alone means the publisher may still be on its way. A test whose broker is
    unreachable from the start passes broker=False."""
    journal = open_journal(settings)
    try:
        app = create_app(settings, journal)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        protocol = guarded_protocol(settings.header_timeout)
        config = uvicorn.Config(
            app, lifespan="on", access_log=False, log_config=None, http=protocol, proxy_headers=False
        )
        server = uvicorn.Server(config)
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        task = asyncio.create_task(server.serve(sockets=[sock]))
        await wait_until(lambda: server.started or task.done(), what="the bridge to start")
        if task.done():
            task.result()
        running = Running(f"http://127.0.0.1:{sock.getsockname()[1]}", app, settings, server)
        try:
            if broker:
                await wait_for_broker(running.url)
            yield running
        finally:
            server.should_exit = True
            await task
            sock.close()
    finally:
        journal.close()


async def wait_for_broker(url: str, within: float = 20.0) -> None:
    """Poll `url`/readyz until its body says the publisher is connected to the broker."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as client:
        while (state := (await client.get(url + "/readyz")).json()["broker"]) != "connected":
            if time.monotonic() > deadline:
                raise AssertionError(f"the bridge's publisher is still {state} after {within}s")
            await asyncio.sleep(0.02)


async def wait_until(predicate: Callable[[], object], within: float = 10.0, what: str = "a condition") -> None:
    """Poll `predicate` until it is true, failing after `within` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.01)


async def wait_for_status(client: httpx.AsyncClient, url: str, status: int, within: float = 20.0) -> None:
    """Poll GET `url` until it answers `status`."""
    deadline = time.monotonic() + within
    while (last := (await client.get(url)).status_code) != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} still answers {last}, not {status}, after {within}s")
        await asyncio.sleep(0.05)


class BridgeProcess:
    """`python -m bridge` as a child process with the given environment (open to unauthenticated OpenVidu 2
    events unless `env` says otherwise: tests on loopback)."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.port = int(env.get("BRIDGE_PORT") or free_port())
        local = {"BRIDGE_HOST": "127.0.0.1", "BRIDGE_ALLOW_UNAUTHENTICATED": "true"}
        self.env = {**os.environ, **local, **env, "BRIDGE_PORT": str(self.port)}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook(self) -> str:
        return self.url + self.env.get("BRIDGE_PATH", "/webhook")

    def start(self) -> BridgeProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "bridge"], env=self.env, stdout=log, stderr=log)
        log.close()
        return self

    async def ready(self, within: float = 20.0) -> BridgeProcess:
        async with httpx.AsyncClient() as client:

            async def probe() -> bool:
                try:
                    return (await client.get(self.url + "/readyz", timeout=1.0)).status_code == 200
                except httpx.HTTPError:
                    return False

            deadline = time.monotonic() + within
            while not await probe():
                if self.proc is not None and self.proc.poll() is not None:
                    raise AssertionError(f"bridge exited with {self.proc.returncode}:\n{self.log()}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"bridge not ready after {within}s:\n{self.log()}")
                await asyncio.sleep(0.02)
        return self

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait(10)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
