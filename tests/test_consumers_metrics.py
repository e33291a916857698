"""`consumers run … --metrics-port N`: what each consumer handled, how and how long, its connection and queues."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from aio_pika.abc import AbstractChannel
from prometheus_client.parser import text_string_to_metric_families

from consumers import Consumer, Event, Reject, cli
from consumers.errors import ConfigError
from consumers.metrics import ConsumerMetrics
from consumers.settings import Settings
from tests.consumer_support.running import Recorder, eventually, publish, running
from tests.support.bridges import free_port
from tests.support.proxy import TcpProxy

pytest_plugins = ["tests.consumer_support.fixtures"]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(port: int) -> Samples:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


async def reads(port: int, expected: float, name: str, **labels: str) -> bool:
    """Whether the metric `name` with exactly these labels reads `expected` now."""
    return value(await scrape(port), name, **labels) == expected


@pytest.mark.anyio
async def test_outcomes_latency_in_hand_connection_and_queue_depths(
    consumer_settings: Settings,
    fresh_name: Callable[[str], str],
    channel: AbstractChannel,
    openvidu_events: dict[str, bytes],
) -> None:
    port = free_port()
    settings = dataclasses.replace(consumer_settings, metrics_port=port)
    consumer = Consumer(fresh_name("metrics"))
    name = consumer.name
    acked = consumer.on("sessionCreated", once=True)(Recorder())
    consumer.on("sessionDestroyed")(Recorder(fail=RuntimeError("downstream is down")))  # retried, then dead
    gate, inside = asyncio.Event(), asyncio.Event()

    @consumer.on("participantJoined")
    async def held(event: Event) -> None:
        inside.set()
        await gate.wait()
        raise Reject("not for us")

    async with running(settings, consumer, metrics=ConsumerMetrics(queue_interval=0.1)):
        await publish(channel, settings.exchange, openvidu_events["sessionCreated"])
        await publish(channel, settings.exchange, openvidu_events["sessionCreated"])  # same message_id: duplicate
        await publish(channel, settings.exchange, openvidu_events["sessionDestroyed"])
        assert await acked.wait_for(1)

        def settled(outcome: str, event: str, count: int) -> Awaitable[bool]:
            return reads(port, count, "consumer_messages_total", consumer=name, event=event, outcome=outcome)

        assert await eventually(lambda: settled("ack", "sessionCreated", 1))
        assert await eventually(lambda: settled("duplicate", "sessionCreated", 1))
        # Two retries (FAST_DELAYS has two delays), then the third attempt goes to the dead letters.
        assert await eventually(lambda: settled("retry", "sessionDestroyed", 2), timeout=20)
        assert await eventually(lambda: settled("dead", "sessionDestroyed", 1), timeout=20)

        dead_letters = {"consumer": name, "queue": f"{name}.dead", "role": "dead"}
        assert await eventually(lambda: reads(port, 1, "consumer_queue_messages", **dead_letters))

        await publish(channel, settings.exchange, openvidu_events["participantJoined"])
        await asyncio.wait_for(inside.wait(), 10)
        samples = await scrape(port)
        assert value(samples, "consumer_messages_in_hand", consumer=name) == 1
        assert value(samples, "consumer_broker_connected") == 1
        assert value(samples, "consumer_queue_messages", consumer=name, queue=name, role="main") == 0
        retry_queues = {k[1] for k in samples if k[0] == "consumer_queue_messages" and ("role", "retry") in k[1]}
        assert {dict(labels)["queue"] for labels in retry_queues} == {f"{name}.retry.0.2s", f"{name}.retry.0.5s"}
        count = value(samples, "consumer_handler_seconds_count", consumer=name, event="sessionCreated")
        assert count == 2  # the ack and the duplicate
        gate.set()
        assert await eventually(lambda: settled("dead", "participantJoined", 1))
        assert value(await scrape(port), "consumer_messages_in_hand", consumer=name) == 0


@pytest.mark.anyio
async def test_broker_connected_follows_the_connection(
    amqp_url: str,
    consumer_settings: Settings,
    fresh_name: Callable[[str], str],
    tcp_proxy: Callable[[], TcpProxy],
) -> None:
    proxy = tcp_proxy()
    port = free_port()
    settings = dataclasses.replace(consumer_settings, rabbitmq_url=proxy.url(amqp_url), metrics_port=port)
    consumer = Consumer(fresh_name("connected"))
    consumer.on("sessionCreated")(Recorder())

    async with running(settings, consumer) as runner:
        assert await reads(port, 1, "consumer_broker_connected")
        proxy.cut()
        assert await eventually(lambda: reads(port, 0, "consumer_broker_connected"))
        proxy.restore()
        sessions = runner.sessions
        assert await eventually(lambda: runner.sessions > sessions, timeout=20)
        assert await reads(port, 1, "consumer_broker_connected")


def test_the_port_comes_from_the_command_line_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env({"CONSUMER_METRICS_PORT": "9464"}).metrics_port == 9464
    assert Settings.from_env({}).metrics_port is None
    with pytest.raises(ConfigError, match="CONSUMER_METRICS_PORT"):
        Settings.from_env({"CONSUMER_METRICS_PORT": "ninety"})
    monkeypatch.setenv("CONSUMER_METRICS_PORT", "70000")
    assert cli.main(["run", "consumers.cdr:archive"]) == 2
    monkeypatch.delenv("CONSUMER_METRICS_PORT")
    assert cli.main(["run", "--metrics-port", "70000", "consumers.cdr:archive"]) == 2


def test_a_port_in_use_stops_the_run_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, consumer_settings: Settings, tmp_path: Path
) -> None:
    taken = socket.socket()
    taken.bind(("0.0.0.0", 0))
    taken.listen()
    try:
        monkeypatch.setenv("RABBITMQ_URL", consumer_settings.rabbitmq_url)
        monkeypatch.setenv("CONSUMER_STATE_DIR", str(tmp_path))
        monkeypatch.setenv("CDR_DIR", str(tmp_path / "cdr"))
        port = taken.getsockname()[1]
        assert cli.main(["run", "--metrics-port", str(port), "consumers.cdr:archive"]) == 2
    finally:
        taken.close()
    assert f"cannot serve metrics on port {port}" in capsys.readouterr().err
