"""What a server process costs, read from /proc: resident memory over time and CPU seconds; and percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import Sequence

_TICK = os.sysconf("SC_CLK_TCK")


class ProcessGone(RuntimeError):
    """A measured process exited under the benchmark (this machine is shared: someone may have killed it)."""


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
    except FileNotFoundError:
        raise ProcessGone(f"process {pid} exited during the measurement") from None
    return (int(fields[11]) + int(fields[12])) / _TICK  # fields 14 and 15 of proc(5), counted after "(comm)"


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence; 0 when empty."""
    if not ordered:
        return 0.0
    rank = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return float(ordered[rank])


@dataclasses.dataclass
class Usage:
    cpu_seconds: float
    rss_max: int
    rss_samples: list[tuple[float, int]]  # (seconds since start, bytes)


class ProcessWatch:
    """Samples the RSS of some processes every `every` seconds and their CPU between `start()` and `stop()`."""

    def __init__(self, pids: Sequence[int], every: float = 0.25) -> None:
        self.pids = list(pids)
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self._cpu0 = 0.0
        self.t0 = 0.0
        self._task: asyncio.Task[None] | None = None

    def _cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def _sample(self) -> None:
        with contextlib.suppress(OSError):
            self.samples.append((time.monotonic() - self.t0, sum(rss_bytes(pid) for pid in self.pids)))

    async def _run(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(self.every)

    def start(self) -> ProcessWatch:
        self.t0 = time.monotonic()
        self._cpu0 = self._cpu()
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> Usage:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._sample()
        cpu = self._cpu() - self._cpu0
        return Usage(cpu, max((rss for _, rss in self.samples), default=0), self.samples)
