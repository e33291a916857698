"""The TCP proxy of the tests (cut/restore), as a child process so its copying never shares the harness's GIL.

`python -m bench.proxy HOST PORT` prints the port it listens on, then obeys `cut`, `restore` or `quit` on stdin.
"""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import urlsplit, urlunsplit

from tests.support.proxy import TcpProxy


def main() -> None:
    proxy = TcpProxy(sys.argv[1], int(sys.argv[2])).start()
    print(proxy.port, flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "cut":
            proxy.cut()
        elif command == "restore":
            proxy.restore()
        elif command == "quit":
            break
        print("ok", flush=True)
    proxy.stop()


class Proxy:
    """The harness's handle on that child process."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port

    @classmethod
    async def start(cls, amqp_url: str) -> Proxy:
        parts = urlsplit(amqp_url)
        target = [parts.hostname or "127.0.0.1", str(parts.port or 5672)]
        pipe = asyncio.subprocess.PIPE
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.proxy", *target, stdin=pipe, stdout=pipe
        )
        assert proc.stdout is not None
        return cls(proc, int(await proc.stdout.readline()))

    def url(self, amqp_url: str) -> str:
        """The same AMQP URL, through the proxy."""
        parts = urlsplit(amqp_url)
        credentials = parts.netloc.rpartition("@")[0]
        return urlunsplit(
            parts._replace(netloc=f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}")
        )

    async def command(self, word: str) -> None:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(word.encode() + b"\n")
        await self.proc.stdin.drain()
        await self.proc.stdout.readline()

    async def stop(self) -> None:
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(b"quit\n")
            self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


if __name__ == "__main__":
    main()
