"""Publishing in confirm mode on an aiormq channel, without a task or a future per message.

aio-pika and aiormq give every publish its own coroutine, lock, timeout and future, which costs more than the
rest of the bridge together. Here a batch of messages is one write, and the broker's acks are kept as a single
watermark: every delivery tag up to `confirmed` is safely stored. aiormq still owns the connection (handshake,
heartbeats, TLS, channel state); this module only takes over the channel's publish and confirm path.

This is the one module that reaches past aio-pika's and aiormq's public API (the channel's write queue and frame
handlers, the connection's blocked state). pyproject.toml pins both to the releases it was tested with, SUPPORTED
says which, and bridge/internals.py looks for each part at start so that another release stops the bridge with
one clear line instead of failing on the first publish.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import aio_pika.abc
import aiormq
from aio_pika.abc import AbstractConnection
from aiormq.abc import AbstractChannel, ChannelFrame
from pamqp import commands as spec

from bridge.frames import PublishEncoder
from bridge.records import Entry


class ConfirmedChannel:
    def __init__(self, channel: AbstractChannel, exchange: str, wake: Callable[[], None]) -> None:
        self._channel = channel
        frame_max = channel.connection.connection_tune.frame_max
        self._encoder = PublishEncoder(channel.number, exchange, frame_max)
        self._wake = wake
        self.published = 0  # delivery tag of the latest publish (the broker numbers them from 1 per channel)
        self.confirmed = 0  # every delivery tag up to this one is acked
        self.refused = False  # the broker nacked a message: it was not stored
        self.returned = 0  # messages the broker could not route anywhere, not even to the alternate exchange
        self._acked_ahead: set[int] = set()
        original_on_return = channel._on_return_frame  # type: ignore[attr-defined]

        async def on_return(frame: Any) -> None:
            self.returned += 1
            await original_on_return(frame)  # it reads the returned content off the channel

        channel._on_confirm_frame = self._on_confirm  # type: ignore[attr-defined]
        channel._on_return_frame = on_return  # type: ignore[attr-defined]
        channel.closing.add_done_callback(lambda _: wake())

    @property
    def closed(self) -> bool:
        return bool(self._channel.is_closed)

    def publish(self, entries: Sequence[Entry]) -> None:
        """Send the entries in one write; they get delivery tags published+1 … published+len(entries)."""
        payload = b"".join([self._encoder.encode(entry) for entry in entries])
        self.published += len(entries)
        self._channel.write_queue.put_nowait(ChannelFrame(payload=payload, should_close=False))  # type: ignore[attr-defined]

    async def _on_confirm(self, frame: spec.Basic.Ack | spec.Basic.Nack) -> None:
        tag = frame.delivery_tag
        if isinstance(frame, spec.Basic.Nack):
            self.refused = True
        elif frame.multiple:
            if tag > self.confirmed:
                self.confirmed = tag
                self._acked_ahead = {t for t in self._acked_ahead if t > tag} if self._acked_ahead else set()
        else:
            self._acked_ahead.add(tag)
        while self.confirmed + 1 in self._acked_ahead:  # single acks may come out of order
            self.confirmed += 1
            self._acked_ahead.discard(self.confirmed)
        self._wake()


def publishers_blocked(connection: AbstractConnection) -> bool:
    """True while the broker blocks publishers (a memory or disk alarm)."""
    # aiormq honours connection.blocked (it stops writing) but keeps the state in a private event.
    underlay = getattr(connection.transport, "connection", None)
    unblocked = getattr(underlay, _UNBLOCKED, None)
    return isinstance(unblocked, asyncio.Event) and not unblocked.is_set()


_UNBLOCKED = "_Connection__connection_unblocked"
# The releases this module was tested with; pyproject.toml pins the same ranges (a test holds them equal).
SUPPORTED = {"aio-pika": ">=10.2.1,<10.3", "aiormq": ">=7.2.4,<7.3", "pamqp": ">=4.0.1,<4.1"}


def missing_internals() -> list[str]:
    """The private parts used above that the installed releases lack (empty when all are there)."""
    try:
        found = asyncio.run(_probe())  # asyncio.run cancels the reader task the channel starts
    except Exception as exc:  # a constructor that changed shape is as good as a missing part
        found = {f"aiormq.Connection/Channel as built here ({type(exc).__name__}: {exc})": False}
    return [name for name, ok in found.items() if not ok]


async def _probe() -> dict[str, bool]:
    """Build an aiormq connection and channel, with no network, and look for each private part."""
    connection = aiormq.Connection("amqp://localhost/")
    connection.connection_tune = spec.Connection.Tune(frame_max=131072)
    channel = aiormq.Channel(connection, 1, publisher_confirms=False)
    return {
        f"Connection.{_UNBLOCKED}": isinstance(getattr(connection, _UNBLOCKED, None), asyncio.Event),
        "Channel.write_queue": isinstance(getattr(channel, "write_queue", None), asyncio.Queue),
        "Channel._on_confirm_frame": inspect.iscoroutinefunction(getattr(channel, "_on_confirm_frame", None)),
        "Channel._on_return_frame": inspect.iscoroutinefunction(getattr(channel, "_on_return_frame", None)),
        "ChannelFrame(payload, should_close)": _takes(ChannelFrame, "payload", "should_close"),
        "aio_pika UnderlayConnection.connection": "connection" in _fields(aio_pika.abc.UnderlayConnection),
    }


def _takes(cls: type, *names: str) -> bool:
    return set(names) <= set(inspect.signature(cls).parameters)


def _fields(cls: type) -> set[str]:
    return set(getattr(cls, "__annotations__", {})) | set(getattr(cls, "__dataclass_fields__", {}))
