"""The hand-encoded publish frames decode, with pamqp's own decoder, to exactly the message we mean."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pamqp import frame as pamqp_frame
from pamqp.commands import Basic

from bridge.frames import PublishEncoder
from bridge.records import Entry, Source


def decode_all(data: bytes) -> list[object]:
    frames = []
    while data:
        consumed, channel, value = pamqp_frame.unmarshal(data)
        assert channel == 3
        frames.append(value)
        data = data[consumed:]
    return frames


@pytest.mark.parametrize("size", [0, 10, 131072 - 8, 131072 - 7, 300_000])
def test_a_publish_decodes_to_the_message_we_mean(size: int) -> None:
    body = b"x" * size
    entry = Entry((1, 0), (1, 1), "participantJoined", "abc123", Source.LIVEKIT, 1_718_012_351_204, body, "daily-ß")
    method, header, *bodies = decode_all(PublishEncoder(3, "openvidu", 131072).encode(entry))

    assert isinstance(method, Basic.Publish)
    assert (method.exchange, method.routing_key, method.mandatory, method.immediate) == (
        "openvidu",
        "participantJoined",
        True,
        False,
    )
    assert header.body_size == size
    props = header.properties
    assert props.content_type == "application/json"
    assert props.delivery_mode == 2
    assert props.message_id == "abc123"
    assert props.timestamp == datetime.fromtimestamp(1_718_012_351, UTC)
    assert props.app_id == "openvidu-webhook-bridge"
    assert props.headers == {"x-source": "livekit", "x-received-at": 1_718_012_351_204, "x-session": "daily-ß"}
    assert b"".join(part.value for part in bodies) == body
    assert all(len(part.value) <= 131072 - 8 for part in bodies)
