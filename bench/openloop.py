"""The fixed-rate load generator, run as its own process: `python -m bench.openloop URL --rate R --seconds S ...`.

Open loop: request `seq` is due at t0 + seq/rate whatever happened before, so a stalled server is charged for the
requests it kept waiting (no coordinated omission). Latency runs from the moment the generator launches the
request, which is its due time plus the event loop's timer lateness (about 1 ms at most, reported as `lag`, the
generator's own noise, not the server's); a wait for a free connection counts. A request goes out on an idle
keep-alive connection, or a new one (up to --max-connections), or waits for one. Writes a JSON result: the
launch time of every request (CLOCK_MONOTONIC ns, shared by every process of the machine), its status, latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import uvloop

from bench.bodies import Bodies


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time; answers are tiny and parsed by hand."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.answer: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionError("connection lost"))

    def send(self, request: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.answer

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.answer is None:
            return
        head = bytes(self.buffer[:end]).lower()
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip() == b"close":
                self.closed = True
        if len(self.buffer) < end + 4 + length:
            return
        del self.buffer[: end + 4 + length]
        if not self.answer.done():
            self.answer.set_result(int(head[9:12]))


class Generator:
    def __init__(self, url: str, rate: float, seconds: float, base: int, max_connections: int) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
        self.rate, self.total, self.max_connections = rate, int(rate * seconds), max_connections
        self.bodies = Bodies(base)
        self.idle: list[Connection] = []
        self.opened = 0
        self.waiting: collections.deque[asyncio.Future[Connection]] = collections.deque()
        self.statuses = [0] * self.total  # 0: no answer; -1: connection error
        self.latency_us = [0] * self.total
        self.launched_ns = [0] * self.total
        self.lag_us = [0] * self.total  # how late the generator's timer launched each request
        self.t0 = 0

    def request(self, seq: int) -> bytes:
        body = self.bodies.body(seq)
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def connection(self) -> Connection:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
            self.opened -= 1
        if self.opened < self.max_connections:
            self.opened += 1
            try:
                _, conn = await asyncio.get_running_loop().create_connection(Connection, self.host, self.port)
            except OSError:
                self.opened -= 1
                raise
            return conn
        waiter: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        return await waiter

    def release(self, conn: Connection) -> None:
        if conn.closed:
            self.opened -= 1
            if conn.transport is not None:
                conn.transport.close()
            return
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self.idle.append(conn)

    async def one(self, seq: int, launched: int) -> None:
        conn: Connection | None = None
        try:
            conn = await self.connection()
            self.statuses[seq] = await conn.send(self.request(seq))
        except OSError:
            self.statuses[seq] = -1
            if conn is not None:
                conn.closed = True
        self.latency_us[seq] = (time.monotonic_ns() - launched) // 1000
        if conn is not None:
            self.release(conn)

    async def run(self, drain_seconds: float) -> None:
        period = 1_000_000_000 / self.rate
        tasks = set()
        self.t0 = time.monotonic_ns() + 50_000_000
        for seq in range(self.total):
            due = self.t0 + int(seq * period)
            wait = due - time.monotonic_ns()
            if wait > 0:
                await asyncio.sleep(wait / 1e9)
            launched = time.monotonic_ns()
            self.launched_ns[seq], self.lag_us[seq] = launched, (launched - due) // 1000
            task = asyncio.create_task(self.one(seq, launched))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=drain_seconds)

    def result(self) -> dict[str, object]:
        counts = collections.Counter(self.statuses)
        answered = [us for us, status in zip(self.latency_us, self.statuses, strict=True) if status > 0]
        return {
            "launched_ns": self.launched_ns,
            "total": self.total,
            "statuses": {str(k): v for k, v in sorted(counts.items())},
            "not_ok": [seq for seq, status in enumerate(self.statuses) if status != 200],
            "latency_us": sorted(answered),
            "lag_us": sorted(self.lag_us),
            "connections": self.opened,
        }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.openloop")
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--base", type=int, required=True)
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    generator = Generator(args.url, args.rate, args.seconds, args.base, args.max_connections)
    uvloop.run(generator.run(drain_seconds=15))
    args.out.write_bytes(orjson.dumps(generator.result()))
    sys.exit(0)


if __name__ == "__main__":
    main()
