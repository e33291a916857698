"""uvicorn's httptools protocol with what uvicorn lacks: a deadline for request headers, and a lingering close.

Without a header deadline a client that trickles header bytes (slowloris) keeps a connection, and a file
descriptor, forever. Without a lingering close, a refusal sent before the request body was read (401, 408, 413,
415 with `Connection: close`) is often lost: closing a socket with unread bytes in it makes the kernel send a
reset, and the client, still writing its body, sees a connection error instead of the status. So, as nginx
does, the bridge shuts its sending side after the answer and reads and discards what the client still sends, for
at most LINGER_SECONDS and LINGER_BYTES, before it closes.

This module leans on uvicorn's HttpToolsProtocol (its `transport`, `cycle` and callbacks), which is not a public
API: uvicorn is pinned by the lock files, and tests/test_refusals.py and tests/test_hostile_input.py hold it.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

LINGER_SECONDS = 5.0
LINGER_BYTES = 16 << 20


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
