"""OpenVidu 3 (LiveKit) webhooks: signature verification and routing."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from aio_pika.abc import AbstractChannel

from bridge.settings import Settings
from tests.support.amqp import collector
from tests.support.bridges import serve

pytestmark = pytest.mark.anyio

KEY, SECRET = "APIkey1", "secret-one-" + "x" * 64
OTHER_KEY, OTHER_SECRET = "APIkey2", "secret-two-" + "y" * 64
WEBHOOK = {"content-type": "application/webhook+json"}


def digest(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def token(body: bytes, key: str = KEY, secret: str = SECRET, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": key, "nbf": now, "iat": now, "exp": now + 300, "sha256": digest(body), **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret, algorithm="HS256")


def unsigned(payload: dict[str, Any], alg: str) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': alg, 'typ': 'JWT'})}.{part(payload)}.{'c2ln' if alg != 'none' else ''}"


def settings_for(amqp_url: str, exchange: str, tmp_path: Path, **overrides: Any) -> Settings:
    base = {
        "rabbitmq_url": amqp_url,
        "exchange": exchange,
        "journal_dir": tmp_path / "j",
        "livekit_keys": {KEY: SECRET},
        "allow_unauthenticated": True,
    }
    return Settings(**{**base, **overrides})


async def test_every_livekit_event_is_verified_and_routed_by_its_event_with_its_id(
    amqp_url: str, exchange_name: str, tmp_path: Path, channel: AbstractChannel, livekit_events: dict[str, bytes]
) -> None:
    inbox = await collector(channel, exchange_name, "#")
    async with serve(settings_for(amqp_url, exchange_name, tmp_path)) as bridge, httpx.AsyncClient() as client:
        for number, body in enumerate(livekit_events.values()):
            auth = token(body) if number % 2 else f"Bearer {token(body)}"  # LiveKit sends it bare; both work
            response = await client.post(bridge.webhook, content=body, headers={**WEBHOOK, "Authorization": auth})
            assert response.status_code == 200, response.text
        messages = await inbox.take(len(livekit_events))
    assert [m.routing_key for m in messages] == list(livekit_events)
    for message, body in zip(messages, livekit_events.values(), strict=True):
        assert message.body == body
        assert message.message_id == json.loads(body)["id"]
        assert message.headers["x-source"] == "livekit"
        assert message.headers["x-session"] == ("live-show" if b'"ingress_' in body else "daily-standup")
        assert message.content_type == "application/json"


async def test_a_retried_livekit_event_keeps_its_id(
    amqp_url: str, exchange_name: str, tmp_path: Path, channel: AbstractChannel, livekit_events: dict[str, bytes]
) -> None:
    inbox = await collector(channel, exchange_name, "#")
    body = livekit_events["room_finished"]
    async with serve(settings_for(amqp_url, exchange_name, tmp_path)) as bridge, httpx.AsyncClient() as client:
        for _ in range(2):  # LiveKit resends the same body and token
            headers = {**WEBHOOK, "Authorization": token(body)}
            assert (await client.post(bridge.webhook, content=body, headers=headers)).status_code == 200
        first, second = await inbox.take(2)
    assert first.message_id == second.message_id == json.loads(body)["id"]


def bad_tokens(body: bytes) -> dict[str, str | None]:
    now = int(time.time())
    return {
        "tampered body": token(body),  # signed for the original, sent with another body
        "expired": token(body, exp=now - 120, nbf=now - 500, iat=now - 500),
        "future nbf": token(body, nbf=now + 300, exp=now + 600),
        "no exp": token(body, exp=None),
        "no sha256": token(body, sha256=None),
        "unknown key": token(body, key="someone-else"),
        "wrong secret": token(body, secret="not-the-secret-" + "z" * 64),
        "alg none": unsigned({"iss": KEY, "exp": now + 300, "sha256": digest(body)}, "none"),
        "HS512": jwt.encode({"iss": KEY, "exp": now + 300, "sha256": digest(body)}, SECRET, algorithm="HS512"),
        "RS256": unsigned({"iss": KEY, "exp": now + 300, "sha256": digest(body)}, "RS256"),
        "missing": None,
        "malformed": "not.a.jwt",
        "garbage": "Bearer",
    }


@pytest.mark.parametrize(
    "case",
    [
        *("tampered body", "expired", "future nbf", "no exp", "no sha256", "unknown key", "wrong secret"),
        *("alg none", "HS512", "RS256", "missing", "malformed", "garbage"),
    ],
)
async def test_a_token_that_does_not_verify_is_401_and_publishes_nothing(
    amqp_url: str,
    exchange_name: str,
    tmp_path: Path,
    channel: AbstractChannel,
    livekit_events: dict[str, bytes],
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    inbox = await collector(channel, exchange_name, "#")
    body = livekit_events["room_started"]
    sent = body.replace(b"daily-standup", b"weekly-standup") if case == "tampered body" else body
    auth = bad_tokens(body)[case]
    async with serve(settings_for(amqp_url, exchange_name, tmp_path)) as bridge, httpx.AsyncClient() as client:
        headers = {**WEBHOOK, **({"Authorization": auth} if auth is not None else {})}
        response = await client.post(bridge.webhook, content=sent, headers=headers)
        assert response.status_code == 401, (case, response.text)
        # proof by a later event: had the refused one been published, it would have arrived first
        good = livekit_events["room_finished"]
        headers = {**WEBHOOK, "Authorization": token(good)}
        assert (await client.post(bridge.webhook, content=good, headers=headers)).status_code == 200
        messages = await inbox.take(1)
    assert [m.routing_key for m in messages] == ["room_finished"]
    if auth:
        assert auth.removeprefix("Bearer ") not in caplog.text  # never log the token


async def test_keys_rotate_two_at_a_time(
    amqp_url: str, exchange_name: str, tmp_path: Path, livekit_events: dict[str, bytes]
) -> None:
    body = livekit_events["participant_joined"]
    settings = settings_for(amqp_url, exchange_name, tmp_path, livekit_keys={KEY: SECRET, OTHER_KEY: OTHER_SECRET})
    async with serve(settings) as bridge, httpx.AsyncClient() as client:
        for key, secret in ((KEY, SECRET), (OTHER_KEY, OTHER_SECRET)):
            headers = {**WEBHOOK, "Authorization": token(body, key=key, secret=secret)}
            assert (await client.post(bridge.webhook, content=body, headers=headers)).status_code == 200
        crossed = {**WEBHOOK, "Authorization": token(body, key=KEY, secret=OTHER_SECRET)}
        assert (await client.post(bridge.webhook, content=body, headers=crossed)).status_code == 401


async def test_without_keys_livekit_webhooks_are_refused_with_a_line_telling_what_to_set(
    amqp_url: str,
    exchange_name: str,
    tmp_path: Path,
    livekit_events: dict[str, bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = livekit_events["room_started"]
    settings = settings_for(amqp_url, exchange_name, tmp_path, livekit_keys={})
    async with serve(settings) as bridge, httpx.AsyncClient() as client:
        headers = {**WEBHOOK, "Authorization": token(body)}
        response = await client.post(bridge.webhook, content=body, headers=headers)
    assert response.status_code == 401
    assert "LIVEKIT_API_KEY" in caplog.text


async def test_openvidu_header_auth_does_not_apply_to_signed_livekit_requests(
    amqp_url: str, exchange_name: str, tmp_path: Path, livekit_events: dict[str, bytes]
) -> None:
    body = livekit_events["room_started"]
    settings = settings_for(amqp_url, exchange_name, tmp_path, webhook_headers=(("x-secret", "s"),))
    async with serve(settings) as bridge, httpx.AsyncClient() as client:
        headers = {**WEBHOOK, "Authorization": token(body)}
        assert (await client.post(bridge.webhook, content=body, headers=headers)).status_code == 200
        openvidu = b'{"event":"sessionCreated"}'
        json_headers = {"content-type": "application/json"}
        assert (await client.post(bridge.webhook, content=openvidu, headers=json_headers)).status_code == 401
