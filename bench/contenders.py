"""The contenders, each a separate server process on loopback, started, watched and stopped by the harness."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import socket
import sys
import time
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import httpx

from bench.measure import ProcessGone

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


@dataclasses.dataclass(frozen=True)
class Contender:
    name: str
    kind: str  # ceiling | naive | bridge
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    loads: tuple[str, ...] = ("seq", "c32", "rate")
    about: str = ""

    @property
    def publishes(self) -> bool:
        return self.kind != "ceiling"


QUIET = {"BRIDGE_LOG_LEVEL": "WARNING"}
CONTENDERS = (
    Contender("ceiling", "ceiling", about="Starlette handler: read the body, answer 200"),
    Contender("naive", "naive", about="Starlette + aio-pika, awaits the confirm per request"),
    Contender("bridge", "bridge", QUIET, about="bridge, BRIDGE_ACK=journal (default), log level WARNING"),
    Contender(
        "bridge-confirm",
        "bridge",
        {**QUIET, "BRIDGE_ACK": "confirm"},
        about="bridge, BRIDGE_ACK=confirm, log level WARNING",
    ),
    Contender(
        "bridge-info",
        "bridge",
        {"BRIDGE_LOG_LEVEL": "INFO"},
        loads=("seq", "c32"),
        about="bridge, default log level INFO (one JSON line per request, to a file)",
    ),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """A child process listening on `port`, ready once GET /readyz answers 200."""

    def __init__(
        self, name: str, argv: Sequence[str], port: int, log: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.port = port
        self.log = log
        self.env = {**os.environ, **(env or {})}
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook(self) -> str:
        return self.url + "/webhook"

    async def start(self, within: float = 30.0) -> Server:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(*self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=log)
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log}")
                try:
                    if (await client.get(self.url + "/readyz")).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not ready after {within}s; see {self.log}")
                await asyncio.sleep(0.05)

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.returncode is not None:
            raise ProcessGone(f"{self.name} exited with {self.proc.returncode} during the run; see {self.log}")

    async def stop(self, within: float = 15.0) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


async def guarded(awaitable: Awaitable[T], servers: Sequence[Server]) -> T:
    """Await `awaitable`, but fail at once if one of `servers` exits meanwhile (rather than wait for a timeout)."""
    work = asyncio.ensure_future(awaitable)
    exits = {asyncio.ensure_future(s.proc.wait()): s for s in servers if s.proc is not None}
    try:
        await asyncio.wait([work, *exits], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for exit_ in exits:
            exit_.cancel()
    if work.done():
        return work.result()
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await work
    gone = next(s for e, s in exits.items() if e.done() and not e.cancelled())
    raise ProcessGone(f"{gone.name} exited with {gone.proc.returncode if gone.proc else '?'}; see {gone.log}")


def server_for(contender: Contender, exchange: str, work: Path, amqp_url: str = AMQP_URL, tag: str = "") -> Server:
    port = free_port()
    name = contender.name + tag
    log = work / "logs" / f"{name}.log"
    if contender.kind != "bridge":
        argv = [sys.executable, "-m", "bench.apps", contender.kind, "--port", str(port)]
        return Server(name, [*argv, "--amqp", amqp_url, "--exchange", exchange], port, log)
    journal = work / "journals" / name
    shutil.rmtree(journal, ignore_errors=True)  # a journal left by an earlier run would publish into this one
    env = {
        "RABBITMQ_URL": amqp_url,
        "BRIDGE_HOST": "127.0.0.1",
        "BRIDGE_PORT": str(port),
        "BRIDGE_EXCHANGE": exchange,
        "BRIDGE_JOURNAL_DIR": str(journal),
        "BRIDGE_ALLOW_UNAUTHENTICATED": "true",  # loopback only; wrk posts without a header
        "BRIDGE_SHUTDOWN_GRACE": "0",
        "BRIDGE_DRAIN_TIMEOUT": "2",
        **contender.env,
    }
    return Server(name, [sys.executable, "-m", "bridge"], port, log, env)


def by_name(name: str) -> Contender:
    return next(c for c in CONTENDERS if c.name == name)
