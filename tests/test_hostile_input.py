"""Hostile input: fuzzed bodies and headers, broken HTTP, slow clients. Always a 4xx, never a 5xx, nothing
published for a refused request, and the process stays up with bounded memory."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.settings import Settings
from tests.support.amqp import declare_exchange
from tests.support.bridges import BridgeProcess, serve
from tests.support.broker import delete_topology

SECRET = "s3cr3t-Value"
AUTH = {"x-secret": SECRET}
REFUSALS = {400, 401, 408, 413, 415}


class Hostile:
    """A bridge process under attack, and a queue that records everything it published."""

    def __init__(self, amqp_url: str, tmp: Path) -> None:
        self.amqp_url = amqp_url
        self.exchange = f"test-hostile-{uuid.uuid4().hex[:8]}"
        self.queue = f"{self.exchange}.all"
        env = {
            "RABBITMQ_URL": amqp_url,
            "BRIDGE_EXCHANGE": self.exchange,
            "BRIDGE_JOURNAL_DIR": str(tmp / "journal"),
            "BRIDGE_WEBHOOK_HEADERS": orjson.dumps([f"X-Secret: {SECRET}"]).decode(),
            "BRIDGE_MAX_BODY_BYTES": "64KiB",
            "BRIDGE_HEADER_TIMEOUT": "1",
            "BRIDGE_BODY_TIMEOUT": "1",
        }
        asyncio.run(self._declare())
        self.process = BridgeProcess(env, tmp / "bridge.log").start()
        asyncio.run(self.process.ready())
        self.client = httpx.Client(base_url=self.process.url, timeout=10)

    async def _declare(self) -> None:
        async with await aio_pika.connect(self.amqp_url) as connection:
            channel = await connection.channel()
            await declare_exchange(channel, self.exchange)
            queue = await channel.declare_queue(self.queue, durable=False, auto_delete=False)
            await queue.bind(self.exchange, "#")

    def published(self, expected: int, within: float = 20.0) -> collections.Counter[str]:
        """The message_ids in the queue, once `expected` are there (and a moment for extras to show)."""

        async def drain() -> collections.Counter[str]:
            ids: collections.Counter[str] = collections.Counter()
            async with await aio_pika.connect(self.amqp_url) as connection:
                queue = await (await connection.channel()).get_queue(self.queue)
                deadline = time.monotonic() + within
                quiet_until = None
                while time.monotonic() < deadline:
                    message = await queue.get(no_ack=True, fail=False)
                    if message is not None:
                        ids[message.message_id or ""] += 1
                        continue
                    if sum(ids.values()) >= expected:
                        quiet_until = quiet_until or time.monotonic() + 0.5
                        if time.monotonic() > quiet_until:
                            break
                    await asyncio.sleep(0.02)  # basic.get finds nothing: poll again shortly, bounded by `within`
            return ids

        return asyncio.run(drain())

    def rss_kib(self) -> int:
        assert self.process.proc is not None
        status = Path(f"/proc/{self.process.proc.pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])

    def alive(self) -> bool:
        return self.client.get("/healthz").status_code == 200

    def close(self) -> None:
        self.client.close()
        self.process.stop()

        async def delete() -> None:
            async with await aio_pika.connect(self.amqp_url) as connection:
                await (await connection.channel()).queue_delete(self.queue)

        asyncio.run(delete())
        delete_topology(self.amqp_url, self.exchange)


@pytest.fixture(scope="module")
def hostile(amqp_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    target = Hostile(amqp_url, tmp_path_factory.mktemp("hostile"))
    try:
        yield target
    finally:
        target.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
event_names = st.sampled_from(["sessionCreated", "room_started", "a.b", "#", "*", "", "x" * 70, "ok_1"]) | st.text(
    max_size=10
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "event", "nested", "number", "duplicate", "nan", "utf8", "bom"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()  # stdlib: it writes integers of any size
    if kind == "event":
        return json.dumps({"event": draw(event_names | st.integers() | st.none()), "data": draw(json_values)}).encode()
    if kind == "nested":
        depth = draw(st.integers(1, 5000))
        return b'{"event":"sessionCreated","x":' + b"[" * depth + b"]" * depth + b"}"
    if kind == "number":
        return b'{"event":"sessionCreated","n":' + b"9" * draw(st.integers(1, 20000)) + b"}"
    if kind == "duplicate":
        return b'{"event":"sessionCreated","event":"%s"}' % draw(event_names).encode("utf-8", "replace")
    if kind == "nan":
        return b'{"event":"sessionCreated","x":%s}' % draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity"]))
    if kind == "utf8":
        return b'{"event":"sessionCreated","x":"' + draw(st.binary(min_size=1, max_size=8)) + b'"}'
    return b"\xef\xbb\xbf" + b'{"event":"sessionCreated"}'


content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/plain", "application/json\x7f", "", "*/*"]
)


def test_fuzzed_bodies_get_a_4xx_or_200_and_only_accepted_ones_are_published(hostile: Hostile) -> None:
    accepted: collections.Counter[str] = collections.Counter()
    statuses: collections.Counter[int] = collections.Counter()
    rss_before = hostile.rss_kib()

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=bodies(), content_type=content_types)
    def probe(body: bytes, content_type: str) -> None:
        headers = {**AUTH, "content-type": content_type}
        response = hostile.client.post("/webhook", content=body, headers=headers)
        statuses[response.status_code] += 1
        assert response.status_code == 200 or response.status_code in REFUSALS, (body[:80], response.text)
        if response.status_code == 200:
            accepted[hashlib.sha256(body).hexdigest()] += 1

    probe()
    assert hostile.alive()
    assert statuses[400] > 0  # the fuzzer reached both sides
    assert statuses[200] > 0
    assert hostile.published(sum(accepted.values())) == accepted
    assert hostile.rss_kib() - rss_before < 50_000  # KiB: no growth that tracks what was thrown at it


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    extra=st.lists(
        st.tuples(
            st.sampled_from(["X-Secret", "x-secret", "X-SECRET", "X-Other", "Authorization", "Content-Type"]),
            st.sampled_from([SECRET, SECRET.lower(), SECRET + "x", "", "s3cr3t", "application/json"]),
        ),
        max_size=4,
    )
)
def test_fuzzed_auth_headers_pass_only_with_the_secret_exactly_once(
    hostile: Hostile, extra: list[tuple[str, str]]
) -> None:
    headers = [("content-type", "application/json"), *extra]
    response = hostile.client.post("/webhook", content=b'{"event":"sessionCreated"}', headers=headers)
    secrets = [value for name, value in extra if name.lower() == "x-secret"]
    types = [value for name, value in headers if name.lower() == "content-type"]
    assert response.status_code < 500
    if response.status_code == 200:
        assert secrets == [SECRET]
    elif secrets == [SECRET] and all(t == "application/json" for t in types):
        pytest.fail(f"refused a request carrying the secret once: {response.status_code} {response.text}")


RAW_REQUESTS = {
    "CRLF injected into a header value": b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Secret: a\r\nX-Secret: "
    + SECRET.encode()
    + b"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    "obsolete line folding": b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Secret: \r\n "
    + SECRET.encode()
    + b"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    "NUL in a header": b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Secret: s\x003\r\nContent-Length: 2\r\n\r\n{}",
    "Content-Length and chunked together": b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "negative Content-Length": b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    "garbage request line": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
    "a 200 KiB header": b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
}


@pytest.mark.parametrize("case", list(RAW_REQUESTS))
def test_broken_http_is_refused_without_a_5xx(hostile: Hostile, case: str) -> None:
    with socket.create_connection(("127.0.0.1", hostile.process.port), timeout=5) as sock:
        sock.sendall(RAW_REQUESTS[case])
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert not status_line.startswith(b"HTTP/1.1 5"), (case, status_line)
    assert not status_line.startswith(b"HTTP/1.1 200"), (case, status_line)
    assert hostile.alive()


def test_slowloris_headers_do_not_tie_up_the_server(hostile: Hostile) -> None:
    slow = [socket.create_connection(("127.0.0.1", hostile.process.port)) for _ in range(100)]
    try:
        for sock in slow:
            sock.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and never the rest
        started = time.monotonic()
        response = hostile.client.post("/webhook", content=b'{"event":"sessionCreated"}', headers=AUTH | _JSON)
        assert response.status_code == 200
        assert time.monotonic() - started < 1.0  # served at once despite 100 stalled connections
        for sock in slow:
            sock.settimeout(5)
            assert sock.recv(1024).startswith(b"HTTP/1.1 408") or sock.recv(1024) == b""  # closed by the server
    finally:
        for sock in slow:
            sock.close()


def test_a_trickled_body_is_cut_off_with_408_and_nothing_published(hostile: Hostile) -> None:
    body = b'{"event":"sessionCreated","n":"trickled"}'
    with socket.create_connection(("127.0.0.1", hostile.process.port), timeout=5) as sock:
        sock.sendall(
            b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Secret: %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (SECRET.encode(), len(body))
        )
        answer = b""
        for byte in body:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.1)  # the trickle is the attack: one byte every 100 ms
            sock.setblocking(False)
            try:
                answer += sock.recv(1024)
            except BlockingIOError:
                pass
            sock.setblocking(True)
            if answer:
                break
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert hashlib.sha256(body).hexdigest() not in hostile.published(0, within=1.0)


def test_comparisons_of_secrets_are_constant_time(
    amqp_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)

    async def post() -> int:
        settings = Settings(
            rabbitmq_url=amqp_url,
            exchange=f"test-{uuid.uuid4().hex[:8]}",
            journal_dir=tmp_path / "j",
            webhook_headers=(("x-secret", SECRET),),
        )
        try:
            async with serve(settings) as bridge, httpx.AsyncClient() as client:
                headers = {**_JSON, "X-Secret": "guess"}
                return (await client.post(bridge.webhook, content=b'{"event":"a"}', headers=headers)).status_code
        finally:
            await asyncio.to_thread(delete_topology, amqp_url, settings.exchange)

    assert asyncio.run(post()) == 401
    assert compared == [(b"guess", SECRET.encode())]


_JSON = {"content-type": "application/json"}
