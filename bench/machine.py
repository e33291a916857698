"""What the numbers were measured on: they drift with the machine and its neighbours, so every report says."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from typing import Any

from bench.contenders import ROOT


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, cwd=ROOT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return ((done.stdout or done.stderr).strip().splitlines() or ["?"])[0].strip()


def cpu_model() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "?"


def describe(broker_version: str) -> dict[str, Any]:
    with open("/proc/loadavg") as loadavg:
        load = loadavg.read().split()[:3]
    dirty = _first_line(["git", "status", "--porcelain", "--", "bridge"]) not in ("", "?")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "rabbitmq": broker_version,
        "rabbitmqctl": _first_line(["rabbitmqctl", "version"]),
        "wrk": _first_line(["wrk", "-v"]).split(" [")[0],
        "haproxy": _first_line(["haproxy", "-v"]).split(" - ")[0],
        "commit": _first_line(["git", "rev-parse", "--short", "HEAD"])
        + (" + uncommitted bridge/ edits" if dirty else ""),
        "load_average_at_start": " ".join(load),
    }
