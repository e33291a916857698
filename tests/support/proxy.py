"""A TCP proxy between the code under test and the broker, to make faults without touching the shared broker.

It runs its own event loop in a thread, so it serves in-process code and subprocesses alike.
`cut()` drops every connection and refuses new ones; `freeze()` keeps connections open but forwards nothing
(a broker that hangs); `restore()` goes back to forwarding. `blackhole()` freezes the connections open now for
good while new ones work: only a client that gives up on a dead connection by itself gets through.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from urllib.parse import urlsplit, urlunsplit


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._gates: dict[asyncio.StreamWriter, asyncio.Event] = {}
        self._mode = "forward"
        self._flowing = asyncio.Event()

    @classmethod
    def to_url(cls, amqp_url: str) -> TcpProxy:
        parts = urlsplit(amqp_url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5672)

    def url(self, amqp_url: str) -> str:
        """The same AMQP URL, pointing at the proxy."""
        parts = urlsplit(amqp_url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._start())
        return self

    def stop(self) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def cut(self) -> None:
        self._call(self._set("cut"))

    def freeze(self) -> None:
        self._call(self._set("frozen"))

    def restore(self) -> None:
        self._call(self._set("forward"))

    def blackhole(self) -> None:
        self._call(self._blackhole())

    @property
    def open_connections(self) -> int:
        return len(self._writers) // 2

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    async def _start(self) -> None:
        self._flowing.set()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        self._drop_all()
        if self._server is not None:
            self._server.close()

    async def _set(self, mode: str) -> None:
        self._mode = mode
        if mode == "cut":
            self._drop_all()
        if mode == "frozen":
            self._flowing.clear()
        else:
            self._flowing.set()

    async def _blackhole(self) -> None:
        for gate in self._gates.values():
            gate.clear()
        self._gates.clear()  # restore() no longer reaches them

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self._mode == "cut":
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        gate = asyncio.Event()
        gate.set()
        self._gates[writer] = gate
        await asyncio.gather(
            self._pump(reader, up_writer, gate), self._pump(up_reader, writer, gate), return_exceptions=True
        )
        self._gates.pop(writer, None)
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, gate: asyncio.Event) -> None:
        while data := await reader.read(65536):
            await self._flowing.wait()
            await gate.wait()
            if writer.transport.is_closing():
                return
            writer.write(data)
            await writer.drain()
        writer.transport.abort()
