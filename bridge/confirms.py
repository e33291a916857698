"""Publishing in confirm mode on an aiormq channel, without a task or a future per message.

aio-pika and aiormq give every publish its own coroutine, lock, timeout and future, which costs more than the
rest of the bridge together. Here a batch of messages is one write, and the broker's acks are kept as a single
watermark: every delivery tag up to `confirmed` is safely stored. aiormq still owns the connection (handshake,
heartbeats, TLS, channel state); this module only takes over the channel's publish and confirm path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

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
