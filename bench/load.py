"""The load generators, driven from the harness: wrk for closed-loop runs, bench.openloop for a fixed rate."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench.bodies import write_lua_table
from bench.measure import percentile

LUA = Path(__file__).resolve().parent / "wrk.lua"


def base_stamp() -> int:
    """First timestamp of a run: now, in ms, like the timestamps OpenVidu puts in its events."""
    return time.time_ns() // 1_000_000


@dataclasses.dataclass
class Closed:
    """A wrk run: `ok` requests answered 2xx, `sent` requests written (the difference was in flight at the end)."""

    seconds: float
    ok: int
    sent: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    started: float  # monotonic time wrk was launched
    ended: float  # monotonic time wrk exited


async def wrk(url: str, connections: int, seconds: float, base: int, work: Path) -> Closed:
    table = work / "bodies.tsv"
    if not table.exists():
        write_lua_table(table)
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(LUA), url]
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv, "--", str(table), str(base), "1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await proc.communicate()
    except asyncio.CancelledError:
        proc.kill()
        raise
    ended = time.monotonic()
    line = next((ln for ln in out.decode().splitlines() if ln.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err.decode()} {out.decode()}")
    r = json.loads(line[6:])
    errors = r["non2xx"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    return Closed(
        seconds=r["duration_us"] / 1e6,
        ok=r["requests"] - r["non2xx"],
        sent=r["sent"],
        errors=errors,
        p50_ms=r["p50_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        max_ms=r["max_us"] / 1000,
        started=started,
        ended=ended,
    )


@dataclasses.dataclass
class Open:
    """A fixed-rate run: the status and launch time of every request (by sequence number), and latencies."""

    launched_ns: list[int]
    total: int
    ok: int
    not_ok: list[int]
    statuses: dict[str, int]
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    lag_p99_ms: float
    connections: int


async def open_loop(url: str, rate: float, seconds: float, base: int, work: Path) -> Open:
    out = work / "openloop.json"
    argv = [sys.executable, "-m", "bench.openloop", url, "--rate", str(rate), "--seconds", str(seconds)]
    proc = await asyncio.create_subprocess_exec(*argv, "--base", str(base), "--out", str(out))
    try:
        await proc.wait()
    except asyncio.CancelledError:
        proc.kill()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"bench.openloop failed with {proc.returncode}")
    r: dict[str, Any] = orjson.loads(out.read_bytes())
    latency, lag = r["latency_us"], r["lag_us"]
    return Open(
        launched_ns=r["launched_ns"],
        total=r["total"],
        ok=r["statuses"].get("200", 0),
        not_ok=r["not_ok"],
        statuses=r["statuses"],
        p50_ms=percentile(latency, 50) / 1000,
        p99_ms=percentile(latency, 99) / 1000,
        p999_ms=percentile(latency, 99.9) / 1000,
        max_ms=percentile(latency, 100) / 1000,
        lag_p99_ms=percentile(lag, 99) / 1000,
        connections=r["connections"],
    )
