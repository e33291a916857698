"""Who may post: the headers as OpenVidu 2's own sender writes them, and a bridge that fails closed.

The sender here does what OpenVidu's HttpWebhookSender does with OPENVIDU_WEBHOOK_HEADERS: split each entry on the
first ": ", keep the value as it is (spaces included), the last entry of a name wins, its own Content-Type
overrides a configured one, and http.client writes each value as ISO-8859-1 bytes, as Apache HttpClient does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import time
from pathlib import Path

import httpx
import jwt
import orjson
import pytest
from aio_pika.abc import AbstractChannel

from bridge.auth import HeaderAuth
from tests.support.amqp import collector
from tests.support.bridges import BridgeProcess

pytestmark = pytest.mark.anyio

SECRET = "s3cret"
WRONG = "s3creT"
EVENT = b'{"sessionId":"ses_A","uniqueSessionId":"ses_A_1","timestamp":1718012345678,"event":"sessionCreated"}'


def openvidu_post(url: str, openvidu_headers: str, body: bytes) -> int:
    """POST `body` the way OpenVidu 2.32 does, given its OPENVIDU_WEBHOOK_HEADERS; the status."""
    headers: dict[str, tuple[str, str]] = {}
    for entry in orjson.loads(openvidu_headers):
        name, value = entry.split(": ", 1)
        headers[name.lower()] = (name, value)  # setHeader: the last one of a name wins
    headers["content-type"] = ("Content-Type", "application/json")
    parts = httpx.URL(url)
    connection = http.client.HTTPConnection(parts.host, parts.port, timeout=10)
    try:
        connection.putrequest("POST", parts.path, skip_accept_encoding=True)
        for name, value in [*headers.values(), ("Connection", "Keep-Alive"), ("Accept-Encoding", "gzip,deflate")]:
            connection.putheader(name, value)  # a str value goes out as ISO-8859-1, spaces and all
        connection.putheader("User-Agent", "Apache-HttpClient/4.5.14 (Java/11.0.23)")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


# (BRIDGE_WEBHOOK_HEADERS as the user pastes it, OPENVIDU_WEBHOOK_HEADERS as OpenVidu reads it)
FORMS = {
    "plain": ('["Authorization: Basic s3cret"]',) * 2,
    "trailing space": ('["Authorization: Basic s3cret "]',) * 2,
    "two spaces after the colon": ('["Authorization:  Basic s3cret"]',) * 2,
    "non-ASCII": ('["X-Secret: s3cret-año"]',) * 2,
    "lower-case name": ('["authorization: Basic s3cret"]',) * 2,
    "two headers": ('["Authorization: Basic s3cret", "X-Tenant: acme"]',) * 2,
    "same name twice": ('["Authorization: Basic old", "Authorization: Basic s3cret"]',) * 2,
    "escaped form": (r"[\"Authorization:\ Basic\ s3cret\"]", '["Authorization: Basic s3cret"]'),
    "an extra Content-Type entry": ('["Authorization: Basic s3cret", "Content-Type: application/json; charset=UTF-8"]',)
    * 2,
}


@pytest.mark.parametrize("form", FORMS)
async def test_each_header_form_openvidu_sends_is_accepted_and_a_wrong_secret_is_refused(
    form: str, amqp_url: str, exchange_name: str, tmp_path: Path, channel: AbstractChannel
) -> None:
    configured, openvidu = FORMS[form]
    inbox = await collector(channel, exchange_name, "#")
    env = {
        "RABBITMQ_URL": amqp_url,
        "BRIDGE_EXCHANGE": exchange_name,
        "BRIDGE_JOURNAL_DIR": str(tmp_path / "journal"),
        "BRIDGE_WEBHOOK_HEADERS": configured,
        "BRIDGE_ALLOW_UNAUTHENTICATED": "",  # what a deployment has: the headers are the only way in
    }
    bridge = await BridgeProcess(env, tmp_path / "bridge.log").start().ready()
    try:
        right = await asyncio.to_thread(openvidu_post, bridge.webhook, openvidu, EVENT)
        wrong = await asyncio.to_thread(openvidu_post, bridge.webhook, openvidu.replace(SECRET, WRONG), EVENT)
        published = [m.body for m in await inbox.take(1, timeout=20)] + [m.body for m in await inbox.rest(quiet=0.3)]
    finally:
        bridge.stop()
    assert (right, wrong) == (200, 401), bridge.log()
    assert published == [EVENT]


def test_received_values_compare_as_iso_8859_1_or_utf8_bytes_with_spaces_and_tabs_stripped() -> None:
    auth = HeaderAuth((("x-secret", "añob"),))
    assert auth.problem([(b"x-secret", "añob".encode("latin-1"))]) is None
    assert auth.problem([(b"x-secret", "añob".encode())]) is None
    assert auth.problem([(b"x-secret", b" \t" + "añob".encode("latin-1") + b"\t ")]) is None
    assert auth.problem([(b"x-secret", b"a\xf1o")]) == "wrong value in header x-secret"
    assert auth.problem([(b"x-secret", b"a\xf1ob"), (b"x-secret", b"a\xf1ob")]) == "header x-secret sent 2 times"
    assert auth.problem([]) == "missing header x-secret"


# --- failing closed -----------------------------------------------------------------------------------------

KEY, KEY_SECRET = "bridge-test", "a-livekit-secret-long-enough-for-hs256"
ROOM_FINISHED = b'{"event":"room_finished","room":{"sid":"RM_x","name":"r"},"id":"EV_abcdefghijkl","createdAt":"1"}'


def livekit_token(body: bytes) -> str:
    now = int(time.time())
    sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
    return jwt.encode({"iss": KEY, "nbf": now, "exp": now + 300, "sha256": sha}, KEY_SECRET, algorithm="HS256")


def base_env(amqp_url: str, exchange: str, tmp_path: Path) -> dict[str, str]:
    return {"RABBITMQ_URL": amqp_url, "BRIDGE_EXCHANGE": exchange, "BRIDGE_JOURNAL_DIR": str(tmp_path / "journal")}


async def test_with_nothing_to_authenticate_with_the_bridge_will_not_start(
    amqp_url: str, exchange_name: str, tmp_path: Path
) -> None:
    env = {**base_env(amqp_url, exchange_name, tmp_path), "BRIDGE_ALLOW_UNAUTHENTICATED": ""}
    bridge = BridgeProcess(env, tmp_path / "bridge.log").start()
    assert await asyncio.to_thread(bridge.wait, 30) == 2
    [line] = bridge.log().splitlines()
    for name in ("BRIDGE_WEBHOOK_HEADERS", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "BRIDGE_ALLOW_UNAUTHENTICATED"):
        assert name in line


async def test_livekit_keys_alone_refuse_every_openvidu_2_event(
    amqp_url: str, exchange_name: str, tmp_path: Path, channel: AbstractChannel
) -> None:
    inbox = await collector(channel, exchange_name, "#")
    env = {
        **base_env(amqp_url, exchange_name, tmp_path),
        "BRIDGE_ALLOW_UNAUTHENTICATED": "",
        "LIVEKIT_API_KEY": KEY,
        "LIVEKIT_API_SECRET": KEY_SECRET,
    }
    bridge = await BridgeProcess(env, tmp_path / "bridge.log").start().ready()
    try:
        async with httpx.AsyncClient() as client:
            json = {"Content-Type": "application/json"}
            openvidu = await client.post(bridge.webhook, content=EVENT, headers=json)
            livekit_as_json = await client.post(bridge.webhook, content=ROOM_FINISHED, headers=json)
            signed = {"Content-Type": "application/webhook+json", "Authorization": livekit_token(ROOM_FINISHED)}
            livekit = await client.post(bridge.webhook, content=ROOM_FINISHED, headers=signed)
        published = [m.body for m in await inbox.take(1, timeout=20)] + [m.body for m in await inbox.rest(quiet=0.3)]
    finally:
        bridge.stop()
    assert (openvidu.status_code, livekit_as_json.status_code, livekit.status_code) == (401, 401, 200)
    assert "no BRIDGE_WEBHOOK_HEADERS" in openvidu.text
    assert published == [ROOM_FINISHED]
    assert "OpenVidu 2 events are refused" in bridge.log()


async def test_the_opt_in_opens_openvidu_2_only_and_says_so_loudly(
    amqp_url: str, exchange_name: str, tmp_path: Path, channel: AbstractChannel
) -> None:
    inbox = await collector(channel, exchange_name, "#")
    env = {**base_env(amqp_url, exchange_name, tmp_path), "BRIDGE_ALLOW_UNAUTHENTICATED": "true"}
    bridge = await BridgeProcess(env, tmp_path / "bridge.log").start().ready()
    try:
        async with httpx.AsyncClient() as client:
            openvidu = await client.post(bridge.webhook, content=EVENT, headers={"Content-Type": "application/json"})
            unsigned = {"Content-Type": "application/webhook+json"}
            livekit = await client.post(bridge.webhook, content=ROOM_FINISHED, headers=unsigned)
        published = [m.body for m in await inbox.take(1, timeout=20)] + [m.body for m in await inbox.rest(quiet=0.3)]
    finally:
        bridge.stop()
    assert (openvidu.status_code, livekit.status_code) == (200, 401)
    assert published == [EVENT]
    [warning] = [line for line in bridge.log().splitlines() if "UNAUTHENTICATED" in line]
    assert "WARNING" in warning
    assert "anyone" in warning
