"""`--profile`: py-spy samples the server during each load; the raw stacks and a summary of where the time goes.

py-spy is not a dependency: `.venv/bin/pip install py-spy`. `--nonblocking` keeps it from pausing the server.
Only samples where Python was running count (idle waits are left out), so the shares are shares of busy CPU.
"""

from __future__ import annotations

import asyncio
import collections
import re
import shutil
import signal
import sys
from pathlib import Path

_LINE = re.compile(r" \([^()]*:\d+\)$")


def py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    return found


class Profiler:
    def __init__(self, pid: int, raw: Path) -> None:
        self.pid = pid
        self.raw = raw
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Profiler:
        self.raw.parent.mkdir(parents=True, exist_ok=True)
        argv = [py_spy(), "record", "--pid", str(self.pid), "--rate", "250", "--nonblocking", "--format", "raw"]
        self.proc = await asyncio.create_subprocess_exec(
            *argv, "-o", str(self.raw), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        return self

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
        if self.raw.exists():
            self.raw.with_suffix(".txt").write_text(summary(self.raw))


def summary(raw: Path, top: int = 30) -> str:
    """Functions by share of busy samples: inclusive (anywhere on the stack) and self (on top of it)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [_LINE.sub("", f) + f" ({_where(f)})" for f in stack.split(";")]
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    lines = [f"{total} busy samples at 250 Hz\n", "inclusive  self  function (file)"]
    for frame, count in inclusive.most_common(top):
        lines.append(f"{count / total:8.1%} {own[frame] / total:6.1%}  {frame}")
    lines += ["", "top of stack (self time)"]
    lines += [f"{count / total:8.1%}  {frame}" for frame, count in own.most_common(top)]
    return "\n".join(lines) + "\n"


def _where(frame: str) -> str:
    match = re.search(r"\(([^()]*):\d+\)$", frame)
    if match is None:
        return "?"
    path = match.group(1)
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path
