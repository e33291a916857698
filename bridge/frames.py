"""AMQP 0-9-1 frames of one basic.publish, encoded directly.

The publisher sends the same message shape millions of times; building it with a few struct calls instead of
pamqp's general-purpose objects is most of what makes the journal drain fast. tests/test_frames.py checks the
bytes against pamqp's own decoder.
"""

from __future__ import annotations

import struct

from bridge.records import Entry

APP_ID = b"openvidu-webhook-bridge"
CONTENT_TYPE = b"application/json"
_END = b"\xce"
_FRAME = struct.Struct(">BHI")
_BASIC_PUBLISH = struct.Struct(">HHH").pack(60, 40, 0)  # class basic, method publish, reserved ticket
_MANDATORY = b"\x01"
_HEADER = struct.Struct(">HHQH")
# Present properties, in the order AMQP encodes them: content-type, headers, delivery-mode, message-id,
# timestamp, app-id.
_FLAGS = 0x8000 | 0x2000 | 0x1000 | 0x0080 | 0x0040 | 0x0008
_SOURCE_KEY = b"\x08x-sourceS"
_RECEIVED_KEY = b"\x0dx-received-atl"
_SESSION_KEY = b"\x09x-sessionS"
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_U64 = struct.Struct(">Q")
_PERSISTENT = b"\x02"
_CONTENT_TYPE = bytes([len(CONTENT_TYPE)]) + CONTENT_TYPE
_APP_ID = bytes([len(APP_ID)]) + APP_ID


def _shortstr(value: bytes) -> bytes:
    return bytes([len(value)]) + value


def _frame(kind: int, channel: int, payload: bytes) -> bytes:
    return _FRAME.pack(kind, channel, len(payload)) + payload + _END


class PublishEncoder:
    """Encodes entries as basic.publish (mandatory) + content header + body frames for one channel."""

    def __init__(self, channel: int, exchange: str, frame_max: int) -> None:
        self.channel = channel
        self.exchange = _shortstr(exchange.encode())
        self.body_max = (frame_max or 131072) - 8  # a body frame's payload: frame_max minus type, channel, size, end

    def encode(self, entry: Entry) -> bytes:
        body = entry.body
        key = entry.routing_key.encode()
        method = _BASIC_PUBLISH + self.exchange + bytes([len(key)]) + key + _MANDATORY
        source = entry.source.label.encode()
        session = entry.session.encode()
        headers = (
            _SOURCE_KEY
            + _U32.pack(len(source))
            + source
            + _RECEIVED_KEY
            + _I64.pack(entry.received_at_ms)
            + _SESSION_KEY
            + _U32.pack(len(session))
            + session
        )
        properties = (
            _CONTENT_TYPE
            + _U32.pack(len(headers))
            + headers
            + _PERSISTENT
            + _shortstr(entry.message_id.encode())
            + _U64.pack(entry.received_at_ms // 1000)
            + _APP_ID
        )
        parts = [
            _frame(1, self.channel, method),
            _frame(2, self.channel, _HEADER.pack(60, 0, len(body), _FLAGS) + properties),
        ]
        for start in range(0, len(body), self.body_max):
            parts.append(_frame(3, self.channel, body[start : start + self.body_max]))
        return b"".join(parts)
