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


def broker_pid() -> int | None:
    """The local RabbitMQ's Erlang VM, when it runs on this machine (read only: it is shared)."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry.name}/comm") as comm:
                if comm.read().strip() == "beam.smp":
                    return int(entry.name)
    return None


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / _TICK, sum(fields) / _TICK


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
    broker_cpu_seconds: float | None  # the broker's Erlang VM over the same interval (it may serve others too)
    machine_busy: float  # share of all cores busy over the interval, anything running included


class ProcessWatch:
    """Samples the RSS of some processes every `every` seconds and their CPU between `start()` and `stop()`.

    Also the broker's CPU and how busy the whole machine was: on 2 shared cores, whether a server was limited by
    its own code or by the CPU left to it is the first question about every number.
    """

    def __init__(self, pids: Sequence[int], every: float = 0.25) -> None:
        self.pids = list(pids)
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self.broker = broker_pid()
        self._cpu0 = 0.0
        self._broker0 = 0.0
        self._machine0 = (0.0, 0.0)
        self.t0 = 0.0
        self._task: asyncio.Task[None] | None = None

    def _broker_cpu(self) -> float | None:
        if self.broker is None:
            return None
        try:
            return cpu_seconds(self.broker)
        except ProcessGone:
            return None

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
        self._broker0 = self._broker_cpu() or 0.0
        self._machine0 = machine_busy_seconds()
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> Usage:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._sample()
        cpu = self._cpu() - self._cpu0
        broker = self._broker_cpu()
        busy, total = (now - then for now, then in zip(machine_busy_seconds(), self._machine0, strict=True))
        return Usage(
            cpu,
            max((rss for _, rss in self.samples), default=0),
            self.samples,
            broker - self._broker0 if broker is not None else None,
            busy / total if total else 0.0,
        )
