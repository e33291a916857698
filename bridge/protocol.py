"""uvicorn's httptools protocol with what uvicorn lacks: a deadline for request headers, and a lingering close.

Without a header deadline a client that trickles header bytes (slowloris) keeps a connection, and a file
descriptor, forever. Without a lingering close, a refusal sent before the request body was read (401, 408, 413,
415 with `Connection: close`) is often lost: closing a socket with unread bytes in it makes the kernel send a
reset, and the client, still writing its body, sees a connection error instead of the status. So, as nginx
does, the bridge shuts its sending side after the answer and reads and discards what the client still sends, for
at most LINGER_SECONDS and LINGER_BYTES, before it closes.

This module leans on uvicorn's HttpToolsProtocol (its `transport`, `loop` and parser callbacks), which is not a
public API: pyproject.toml pins uvicorn to the releases it was tested with (SUPPORTED), bridge/internals.py looks for
each part at start, and tests/test_refusals.py and tests/test_hostile_input.py hold the behaviour.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

LINGER_SECONDS = 5.0
LINGER_BYTES = 16 << 20
# The releases this module was tested with; pyproject.toml pins the same range (a test holds them equal).
SUPPORTED = {"uvicorn": ">=0.55,<0.56"}


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout = 10.0
    _header_deadline: asyncio.TimerHandle | None = None
    _lingering: asyncio.TimerHandle | None = None
    _linger_left = 0
    _receiving = False  # a request has begun and not all of it has arrived
    _socket: asyncio.Transport  # the transport itself; self.transport is it with our close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._socket = transport
        # Every close uvicorn makes (request cycles hold this same object) comes through close() below.
        self.transport = cast(asyncio.Transport, _ClosedByProtocol(transport, self))
        self._arm()

    def on_message_begin(self) -> None:
        self._receiving = True
        super().on_message_begin()
        self._arm()  # the next request on a kept-alive connection: its headers must come in time too

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._receiving = False
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        if self._lingering is None:
            super().data_received(data)
            return
        self._linger_left -= len(data)  # discarded, never parsed
        if self._linger_left <= 0:
            self._socket.close()

    def eof_received(self) -> None:
        if self._lingering is not None:
            self._socket.close()  # the client is done sending: nothing left to reset

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._lingering is not None:
            self._lingering.cancel()
        super().connection_lost(exc)

    def close(self) -> None:
        """Close the connection; linger first when the client may still be sending a request we did not read."""
        transport = self._socket
        if transport.is_closing() or self._lingering is not None:
            return
        if not self._receiving or not transport.can_write_eof():  # nothing on its way that a close would reset
            transport.close()
            return
        self._disarm()
        self._linger_left = LINGER_BYTES
        self._lingering = self.loop.call_later(LINGER_SECONDS, transport.close)
        transport.write_eof()  # the answer already written goes out first, then our FIN
        transport.resume_reading()

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            self.transport.close()


class _ClosedByProtocol:
    """The socket's transport, except that close() is the protocol's (lingering) close."""

    def __init__(self, transport: asyncio.Transport, protocol: GuardedHttpToolsProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    def close(self) -> None:
        self._protocol.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def guarded_protocol(header_timeout: float) -> type[GuardedHttpToolsProtocol]:
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"header_timeout": header_timeout})


def missing_internals() -> list[str]:
    """The parts of uvicorn's protocol used above that the installed release lacks (empty when all are there)."""
    callbacks = ["connection_made", "data_received", "eof_received", "connection_lost"]
    callbacks += ["on_message_begin", "on_headers_complete", "on_message_complete"]
    found = {f"HttpToolsProtocol.{name}": callable(getattr(HttpToolsProtocol, name, None)) for name in callbacks}
    found["RequestResponseCycle(transport)"] = "transport" in inspect.signature(RequestResponseCycle).parameters
    try:
        loop = asyncio.new_event_loop()
        try:
            protocol = HttpToolsProtocol(Config(app=_no_app, log_config=None), ServerState(), {}, _loop=loop)
        finally:
            loop.close()
        found["HttpToolsProtocol.loop"] = getattr(protocol, "loop", None) is loop
        found["HttpToolsProtocol.transport"] = hasattr(protocol, "transport")
    except Exception as exc:  # a constructor that changed shape is as good as a missing part
        found[f"HttpToolsProtocol as built here ({type(exc).__name__}: {exc})"] = False
    return [name for name, ok in found.items() if not ok]


async def _no_app(scope: Any, receive: Any, send: Any) -> None:
    raise NotImplementedError  # never called: the probe only builds a protocol
