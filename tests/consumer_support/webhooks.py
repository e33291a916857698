"""Posting real webhooks to the real bridge (in-process), as OpenVidu 2 and OpenVidu 3 (LiveKit) do."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import orjson

from bridge.settings import Settings as BridgeSettings
from tests.support.bridges import Running, serve

LIVEKIT_KEY = "consumers-test-key"
LIVEKIT_SECRET = "consumers-test-secret-long-enough-for-hs256"


@contextlib.asynccontextmanager
async def bridge(amqp_url: str, exchange: str, tmp_path: Path) -> AsyncIterator[Poster]:
    settings = BridgeSettings(
        allow_unauthenticated=True,
        rabbitmq_url=amqp_url,
        exchange=exchange,
        journal_dir=tmp_path / "journal",
        livekit_keys={LIVEKIT_KEY: LIVEKIT_SECRET},
    )
    async with serve(settings) as running, httpx.AsyncClient() as client:
        yield Poster(running, client)


class Poster:
    def __init__(self, running: Running, client: httpx.AsyncClient) -> None:
        self.running = running
        self.client = client

    async def post(self, body: bytes) -> None:
        """POST `body` as its sender would (LiveKit bodies signed); the bridge must answer 200."""
        if is_livekit(body):
            headers = {"Content-Type": "application/webhook+json", "Authorization": sign(body)}
        else:
            headers = {"Content-Type": "application/json"}
        response = await self.client.post(self.running.webhook, content=body, headers=headers)
        assert response.status_code == 200, response.text

    async def post_all(self, bodies: list[bytes]) -> None:
        for body in bodies:  # one at a time, in order, as OpenVidu's single sender thread does
            await self.post(body)


def sign(body: bytes) -> str:
    now = int(time.time())
    claims = {
        "iss": LIVEKIT_KEY,
        "nbf": now,
        "iat": now,
        "exp": now + 300,
        "sha256": base64.b64encode(hashlib.sha256(body).digest()).decode(),
    }
    return jwt.encode(claims, LIVEKIT_SECRET, algorithm="HS256")


def is_livekit(body: bytes) -> bool:
    data = orjson.loads(body)
    return isinstance(data.get("id"), str) and "createdAt" in data


def replay(openvidu_events: dict[str, bytes], livekit_events: dict[str, bytes]) -> list[bytes]:
    """Every corpus body, each source in the order its events happened."""
    ov2 = sorted(openvidu_events.values(), key=lambda body: orjson.loads(body)["timestamp"])
    lk = sorted(livekit_events.values(), key=lambda body: int(orjson.loads(body)["createdAt"]))
    return ov2 + lk
