"""haproxy on the shipped configuration (deploy/haproxy/haproxy.cfg), pointed at loopback bridges by its
environment, exactly as docker-compose.yml and the systemd drop-in point it at theirs."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.bridges import BridgeProcess, free_port

HAPROXY_CFG = Path(__file__).resolve().parent.parent.parent / "deploy" / "haproxy" / "haproxy.cfg"


def haproxy_binary() -> str:
    path = shutil.which("haproxy")
    if path is None:
        message = "haproxy is not installed (apt-get install haproxy)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


class Haproxy:
    """haproxy in the foreground on the shipped configuration, pointed at loopback bridges by its environment."""

    def __init__(self, bridges: list[BridgeProcess], log_path: Path) -> None:
        self.port, self.stats_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "LB_BIND": f"127.0.0.1:{self.port}",
            "LB_STATS_BIND": f"127.0.0.1:{self.stats_port}",
            **{f"LB_BRIDGE_{n}": f"127.0.0.1:{bridge.port}" for n, bridge in enumerate(bridges, start=1)},
        }
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    def start(self) -> Haproxy:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [haproxy_binary(), "-db", "-f", str(HAPROXY_CFG)], env=self.env, stdout=log, stderr=log
            )
        return self

    async def servers(self, client: httpx.AsyncClient) -> dict[str, dict[str, str]]:
        """The backend's servers as the stats page reports them: name -> CSV row (status, hrsp_2xx, ...)."""
        response = await client.get(f"http://127.0.0.1:{self.stats_port}/stats;csv")
        rows = csv.DictReader(io.StringIO(response.text.lstrip("# ")))
        return {row["svname"]: row for row in rows if row["pxname"] == "bridges" and row["svname"] != "BACKEND"}

    async def all_up(self, client: httpx.AsyncClient, within: float = 15.0) -> None:
        deadline = time.monotonic() + within
        while True:
            with contextlib.suppress(httpx.HTTPError):
                servers = await self.servers(client)
                if servers and all(row["status"] == "UP" for row in servers.values()):
                    return
            assert self.proc is not None
            assert self.proc.poll() is None, f"haproxy exited:\n{self.log()}"
            assert time.monotonic() < deadline, f"haproxy did not see every bridge UP:\n{self.log()}"
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
