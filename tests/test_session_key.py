"""The session key the bridge sends as `x-session`, for every shape of event."""

from __future__ import annotations

import orjson
import pytest

from bridge.sessions import MAX_BYTES, session_key, session_of_body


@pytest.mark.parametrize(
    ("data", "livekit", "key"),
    [
        ({"sessionId": "ses_A", "event": "participantJoined"}, False, "ses_A"),
        ({"id": "media_1", "event": "mediaNodeStatusChanged"}, False, "mediaNodeStatusChanged"),
        ({"sessionId": "", "event": "sessionCreated"}, False, "sessionCreated"),
        ({"sessionId": 7, "event": "sessionCreated"}, False, "sessionCreated"),
        ({"room": {"sid": "RM_1", "name": "daily"}, "event": "room_started"}, True, "daily"),
        ({"room": {"sid": "RM_1"}, "egressInfo": {"roomName": "daily"}, "event": "egress_ended"}, True, "daily"),
        ({"egressInfo": {"roomName": "daily"}, "event": "egress_started"}, True, "daily"),
        ({"ingressInfo": {"roomName": "live"}, "event": "ingress_started"}, True, "live"),
        ({"ingressInfo": {"roomName": ""}, "event": "ingress_ended"}, True, "ingress_ended"),
        ({"room": "daily", "event": "room_started"}, True, "room_started"),
        ({"sessionId": "ses_A", "event": "room_started"}, True, "room_started"),  # LiveKit has no sessionId
    ],
)
def test_the_key_is_the_session_or_room_else_the_event_type(data: dict[str, object], livekit: bool, key: str) -> None:
    assert session_key(data, str(data["event"]), livekit) == key
    assert session_of_body(orjson.dumps(data), str(data["event"]), livekit) == key


def test_a_very_long_key_is_cut_on_a_character_boundary_the_same_way_every_time() -> None:
    long = "é" * 200  # 400 bytes of UTF-8
    key = session_key({"sessionId": long}, "sessionCreated", livekit=False)
    assert len(key.encode()) <= MAX_BYTES
    assert long.startswith(key)
    assert len(key) == MAX_BYTES // 2
    assert session_key({"sessionId": long + "x"}, "sessionCreated", livekit=False) == key


def test_a_body_that_is_not_an_object_falls_back_to_the_event_type() -> None:
    assert session_of_body(b"[1]", "sessionCreated", livekit=False) == "sessionCreated"
    assert session_of_body(b"{nope", "sessionCreated", livekit=False) == "sessionCreated"
