"""Every line of the HTTP contract, against the real app and a real broker."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from aio_pika.abc import AbstractChannel

from bridge.settings import Settings
from tests.support.amqp import Collector, collector
from tests.support.bridges import serve, wait_for_status
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}
SESSION_CREATED = (
    b'{"sessionId":"ses_A","uniqueSessionId":"ses_A_1","timestamp":1718012345678,"event":"sessionCreated"}'
)


def settings_for(amqp_url: str, exchange: str, tmp_path: Path, **overrides: object) -> Settings:
    base: dict[str, object] = {
        "rabbitmq_url": amqp_url,
        "exchange": exchange,
        "journal_dir": tmp_path / "journal",
        "allow_unauthenticated": True,
    }
    return Settings(**{**base, **overrides})  # type: ignore[arg-type]


async def test_every_openvidu_event_is_published_by_type_with_its_exact_bytes(
    amqp_url: str, exchange_name: str, tmp_path: Path, channel: AbstractChannel, openvidu_events: dict[str, bytes]
) -> None:
    inbox = await collector(channel, exchange_name, "#")
    async with serve(settings_for(amqp_url, exchange_name, tmp_path)) as bridge, httpx.AsyncClient() as client:
        for body in openvidu_events.values():
            response = await client.post(bridge.webhook, content=body, headers=JSON)
            assert response.status_code == 200, response.text
            assert response.content == b""
        messages = await inbox.take(len(openvidu_events))

    assert [m.routing_key for m in messages] == list(openvidu_events)
    for message, (event, body) in zip(messages, openvidu_events.items(), strict=True):
        assert message.body == body, event
        assert message.message_id == hashlib.sha256(body).hexdigest()
        assert message.content_type == "application/json"
        assert message.delivery_mode == 2
        assert message.app_id == "openvidu-webhook-bridge"
        assert message.timestamp is not None
        assert message.headers["x-source"] == "openvidu"
        assert isinstance(message.headers["x-received-at"], int)
        # The session key: the sessionId, or for node and cluster events (which have none) the event type.
        assert message.headers["x-session"] == ("ses_Jd8tUyvhXO" if b'"sessionId"' in body else event), event


async def test_the_same_body_gets_the_same_message_id_and_routing_follows_bindings(
    amqp_url: str, exchange_name: str, tmp_path: Path, channel: AbstractChannel
) -> None:
    only_destroyed = await collector(channel, exchange_name, "sessionDestroyed")
    everything = await collector(channel, exchange_name, "#")
    destroyed = SESSION_CREATED.replace(b"sessionCreated", b"sessionDestroyed")
    async with serve(settings_for(amqp_url, exchange_name, tmp_path)) as bridge, httpx.AsyncClient() as client:
        for body in (SESSION_CREATED, destroyed, SESSION_CREATED):
            assert (await client.post(bridge.webhook, content=body, headers=JSON)).status_code == 200
        all_three = await everything.take(3)
        routed = await only_destroyed.take(1)

    assert [m.routing_key for m in all_three] == ["sessionCreated", "sessionDestroyed", "sessionCreated"]
    assert all_three[0].message_id == all_three[2].message_id != all_three[1].message_id
    assert [m.body for m in routed] == [destroyed]
    assert await only_destroyed.rest(quiet=0.3) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"{not json", "body is not valid JSON: "),
        (b'{"event": "sessionCreated", "x": "\xff\xfe"}', "body is not valid UTF-8 (byte 34: b'\\xff')"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"sessionCreated"', "must be a JSON object"),
        (b'{"sessionId": "ses_A"}', 'has no "event"'),
        (b'{"event": 42}', '"event" must be a string'),
        (b'{"event": "session.created"}', '"event" must be a string'),
        (b'{"event": "session*"}', '"event" must be a string'),
        (b'{"event": "#"}', '"event" must be a string'),
        (b'{"event": "1session"}', '"event" must be a string'),
        (b'{"event": "sessionCreated\\n"}', '"event" must be a string'),
        (b'{"event": "' + b"a" * 65 + b'"}', '"event" must be a string'),
    ],
)
async def test_bad_bodies_get_400_with_a_reason_and_publish_nothing(
    amqp_url: str, exchange_name: str, tmp_path: Path, channel: AbstractChannel, body: bytes, reason: str
) -> None:
    inbox = await collector(channel, exchange_name, "#")
    async with serve(settings_for(amqp_url, exchange_name, tmp_path)) as bridge, httpx.AsyncClient() as client:
        response = await client.post(bridge.webhook, content=body, headers=JSON)
        assert response.status_code == 400
        assert reason in response.text
        assert response.text.count("\n") == 1
        # a good event after it proves the bad one would have arrived by now if it had been published
        assert (await client.post(bridge.webhook, content=SESSION_CREATED, headers=JSON)).status_code == 200
        messages = await inbox.take(1)
    assert [m.body for m in messages] == [SESSION_CREATED]
    assert bridge.ingress.journal.pending == 0


async def test_event_names_at_the_limit_are_accepted(amqp_url: str, exchange_name: str, tmp_path: Path) -> None:
    async with serve(settings_for(amqp_url, exchange_name, tmp_path)) as bridge, httpx.AsyncClient() as client:
        for name in ("a", "A" + "b" * 63, "room_started", "x_1"):
            body = b'{"event": "%s"}' % name.encode()
            assert (await client.post(bridge.webhook, content=body, headers=JSON)).status_code == 200


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", 200),
        ("application/json; charset=UTF-8", 200),
        ("Application/JSON", 200),
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        ("application/jsonx", 415),
        (None, 415),
    ],
)
async def test_content_type(
    amqp_url: str, exchange_name: str, tmp_path: Path, content_type: str | None, status: int
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    async with serve(settings_for(amqp_url, exchange_name, tmp_path)) as bridge, httpx.AsyncClient() as client:
        response = await client.post(bridge.webhook, content=SESSION_CREATED, headers=headers)
    assert response.status_code == status
    if status == 415:
        assert "application/json" in response.text


async def test_configured_headers_are_required(amqp_url: str, exchange_name: str, tmp_path: Path) -> None:
    settings = settings_for(
        amqp_url, exchange_name, tmp_path, webhook_headers=(("authorization", "Basic c2VjcmV0"), ("x-env", "prod"))
    )
    good = {**JSON, "Authorization": "Basic c2VjcmV0", "X-Env": "prod"}
    async with serve(settings) as bridge, httpx.AsyncClient() as client:

        async def status(headers: dict[str, str] | list[tuple[str, str]]) -> int:
            return (await client.post(bridge.webhook, content=SESSION_CREATED, headers=headers)).status_code

        assert await status(good) == 200
        assert await status({**JSON, "X-Env": "prod"}) == 401  # missing
        assert await status({**good, "Authorization": "Basic c2VjcmV1"}) == 401  # wrong
        assert await status({**good, "Authorization": "basic c2VjcmV0"}) == 401  # values are case-sensitive
        assert await status({**JSON, "AUTHORIZATION": "Basic c2VjcmV0", "x-env": "prod"}) == 200  # names are not
        twice = [*good.items(), ("authorization", "Basic c2VjcmV0")]
        assert await status(twice) == 401  # duplicated
        assert bridge.ingress.journal.pending + bridge.ingress.metrics.published._value.get() == 2


async def test_body_over_the_limit_is_413_whether_announced_or_streamed(
    amqp_url: str, exchange_name: str, tmp_path: Path
) -> None:
    limit = 4096
    async with (
        serve(settings_for(amqp_url, exchange_name, tmp_path, max_body_bytes=limit)) as bridge,
        httpx.AsyncClient() as client,
    ):
        padded = b'{"event":"sessionCreated","pad":"' + b"x" * limit + b'"}'
        assert (await client.post(bridge.webhook, content=padded, headers=JSON)).status_code == 413

        sent, answer = await stream_until_answered(bridge.url, 1 << 30)
        assert answer.startswith(b"HTTP/1.1 413")
        assert b"larger than 4096 bytes" in answer
        assert sent < 64 << 20  # the server answered and hung up long before a gigabyte went through

        exact = b'{"event":"sessionCreated","pad":"' + b"x" * (limit - 35) + b'"}'
        assert len(exact) == limit
        assert (await client.post(bridge.webhook, content=exact, headers=JSON)).status_code == 200
        assert bridge.ingress.journal.pending + bridge.ingress.metrics.published._value.get() == 1


async def test_filtered_event_types_are_answered_200_and_not_published(
    amqp_url: str, exchange_name: str, tmp_path: Path, channel: AbstractChannel
) -> None:
    inbox = await collector(channel, exchange_name, "#")
    settings = settings_for(amqp_url, exchange_name, tmp_path, webhook_events=frozenset({"sessionDestroyed"}))
    destroyed = SESSION_CREATED.replace(b"sessionCreated", b"sessionDestroyed")
    async with serve(settings) as bridge, httpx.AsyncClient() as client:
        assert (await client.post(bridge.webhook, content=SESSION_CREATED, headers=JSON)).status_code == 200
        assert (await client.post(bridge.webhook, content=destroyed, headers=JSON)).status_code == 200
        messages = await inbox.take(1)
        metrics = (await client.get(bridge.url + "/metrics")).text
    assert [m.routing_key for m in messages] == ["sessionDestroyed"]
    assert 'bridge_events_filtered_total{event="sessionCreated"} 1.0' in metrics


async def test_unbound_event_types_are_kept_in_the_unrouted_queue(
    amqp_url: str, exchange_name: str, tmp_path: Path, channel: AbstractChannel
) -> None:
    body = b'{"event":"somethingNobodyListensTo","n":1}'
    async with serve(settings_for(amqp_url, exchange_name, tmp_path)) as bridge, httpx.AsyncClient() as client:
        assert (await client.post(bridge.webhook, content=body, headers=JSON)).status_code == 200
        # serve() waited for the publisher to connect, so the unrouted queue is declared already.
        inbox = await Collector(await channel.get_queue(f"{exchange_name}.unrouted")).start()
        messages = await inbox.take(1)
    assert [(m.routing_key, m.body) for m in messages] == [("somethingNobodyListensTo", body)]
    declared = await channel.declare_queue(
        f"{exchange_name}.unrouted",
        durable=True,
        arguments={"x-queue-type": "quorum", "x-max-length": 100_000, "x-overflow": "drop-head"},
    )  # the same arguments (a quorum queue): a mismatch would raise PRECONDITION_FAILED
    assert declared.name == f"{exchange_name}.unrouted"


async def test_other_methods_on_the_webhook_path_are_405(amqp_url: str, exchange_name: str, tmp_path: Path) -> None:
    async with serve(settings_for(amqp_url, exchange_name, tmp_path)) as bridge, httpx.AsyncClient() as client:
        for method in ("GET", "PUT", "DELETE"):
            assert (await client.request(method, bridge.webhook)).status_code == 405
        assert (await client.get(bridge.url + "/nowhere")).status_code == 404


async def test_health_readiness_and_metrics(amqp_url: str, exchange_name: str, tmp_path: Path) -> None:
    async with serve(settings_for(amqp_url, exchange_name, tmp_path)) as bridge, httpx.AsyncClient() as client:
        assert (await client.post(bridge.webhook, content=SESSION_CREATED, headers=JSON)).status_code == 200
        assert (await client.post(bridge.webhook, content=b"{}", headers=JSON)).status_code == 400
        assert (await client.get(bridge.url + "/healthz")).status_code == 200
        ready = await client.get(bridge.url + "/readyz")
        assert ready.status_code == 200
        assert ready.json()["ready"] is True
        metrics = (await client.get(bridge.url + "/metrics")).text
        bridge.ingress.draining = True
        draining = await client.get(bridge.url + "/readyz")
        assert (await client.get(bridge.url + "/healthz")).status_code == 200
        bridge.ingress.draining = False
    assert draining.status_code == 503
    assert draining.json()["problem"] == "shutting down"
    for line in (
        'bridge_requests_total{event="sessionCreated",status="200"} 1.0',
        'bridge_requests_total{event="-",status="400"} 1.0',
        "bridge_response_seconds_count 2.0",
        "bridge_journal_bytes ",
        "bridge_journal_pending_events ",
        "bridge_publish_confirm_seconds_count ",
        "bridge_broker_connected 1.0",
        "bridge_events_returned_total 0.0",
    ):
        assert line in metrics, line


async def test_unknown_event_types_share_one_metrics_label(amqp_url: str, exchange_name: str, tmp_path: Path) -> None:
    async with serve(settings_for(amqp_url, exchange_name, tmp_path)) as bridge, httpx.AsyncClient() as client:
        for n in range(5):
            body = b'{"event":"custom%d"}' % n
            assert (await client.post(bridge.webhook, content=body, headers=JSON)).status_code == 200
        metrics = (await client.get(bridge.url + "/metrics")).text
    assert 'bridge_requests_total{event="other",status="200"} 5.0' in metrics
    assert "custom" not in metrics


async def test_journal_full_is_503_with_retry_after_and_recovers_when_drained(
    amqp_url: str, exchange_name: str, tmp_path: Path, tcp_proxy: Callable[[], TcpProxy]
) -> None:
    proxy = tcp_proxy()
    proxy.cut()  # the broker is unreachable: the journal fills up
    settings = settings_for(
        proxy.url(amqp_url), exchange_name, tmp_path, journal_max_bytes=128 << 10, max_body_bytes=16 << 10
    )
    async with serve(settings, broker=False) as bridge, httpx.AsyncClient() as client:
        statuses = []
        for n in range(2000):
            body = b'{"event":"sessionCreated","n":%d,"pad":"%s"}' % (n, b"x" * 400)
            response = await client.post(bridge.webhook, content=body, headers=JSON)
            statuses.append(response.status_code)
            if response.status_code == 503:
                assert response.headers["retry-after"].isdigit()
                assert "journal is full" in response.text
                break
        assert statuses[-1] == 503
        assert set(statuses[:-1]) == {200}
        assert (await client.get(bridge.url + "/readyz")).status_code == 503
        accepted = len(statuses) - 1

        proxy.restore()
        await wait_for_status(client, bridge.url + "/readyz", 200)
        assert (await client.post(bridge.webhook, content=SESSION_CREATED, headers=JSON)).status_code == 200
    assert accepted > 100


async def stream_until_answered(base_url: str, total: int) -> tuple[int, bytes]:
    """POST a chunked body of `total` bytes on a raw socket, stopping when the server answers or hangs up."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 65536
    sent = 0
    answer = b""
    try:
        while sent < total:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
            await asyncio.wait_for(writer.drain(), 5)
            with contextlib.suppress(TimeoutError):
                answer += await asyncio.wait_for(reader.read(65536), 0.0001)
            if answer:
                break
    except (ConnectionError, TimeoutError):
        pass
    with contextlib.suppress(ConnectionError, TimeoutError):
        answer += await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    return sent, answer


async def test_secrets_never_reach_the_logs(
    amqp_url: str, exchange_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Basic T1BFTlZJRFVBUFA6TVlfU0VDUkVU"
    settings = settings_for(amqp_url, exchange_name, tmp_path, webhook_headers=(("authorization", secret),))
    with caplog.at_level("DEBUG"):
        async with serve(settings) as bridge, httpx.AsyncClient() as client:
            for value in (secret, secret + "x", "Basic guess"):
                headers = {**JSON, "Authorization": value}
                await client.post(bridge.webhook, content=SESSION_CREATED, headers=headers)
    assert "wrong value in header authorization" in caplog.text
    for fragment in ("T1BFTlZJRFVBUFA6TVlfU0VDUkVU", "guess"):
        assert fragment not in caplog.text
