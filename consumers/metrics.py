"""Prometheus metrics of a consumers process (`consumers run … --metrics-port N`), in a registry of its own.

What each consumer settled and how (ack, retry, dead, duplicate), how long a message took, how many are in hand,
whether the broker session is up, and the depth of each consumer's queues, read with passive declares.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence

from aio_pika.abc import AbstractChannel, AbstractConnection
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from consumers import samples
from consumers.consumer import Consumer
from consumers.errors import ConfigError
from consumers.topology import Names

log = logging.getLogger(__name__)

# An event type becomes a label value when a handler names it or OpenVidu/LiveKit sends it; anything else is
# "other", so a sender cannot grow the number of time series without bound.
KNOWN_EVENTS = frozenset(samples.OPENVIDU) | frozenset(samples.LIVEKIT)
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ConsumerMetrics:
    def __init__(self, queue_interval: float = 5.0) -> None:
        self.queue_interval = queue_interval  # seconds between two reads of the queue depths
        self.registry = r = CollectorRegistry()
        self.messages = Counter(
            "consumer_messages", "Messages settled, by consumer, event type and outcome (ack, retry, dead, "
            "duplicate, or unsettled when the broker session ended first)", ["consumer", "event", "outcome"],
            registry=r,
        )  # fmt: skip
        self.seconds = Histogram(
            "consumer_handler_seconds", "Time from delivery to settled message, the handler included",
            ["consumer", "event"], buckets=_BUCKETS, registry=r,
        )  # fmt: skip
        self.in_hand = Gauge("consumer_messages_in_hand", "Messages being handled now", ["consumer"], registry=r)
        self.connected = Gauge("consumer_broker_connected", "1 while connected to the broker and consuming", registry=r)
        self.queue_messages = Gauge(
            "consumer_queue_messages", "Messages in a consumer's queues: role main, retry (one per delay) or dead",
            ["consumer", "queue", "role"], registry=r,
        )  # fmt: skip

    def settled(self, consumer: Consumer, event_type: str, outcome: str, seconds: float) -> None:
        event = event_type if event_type in consumer.routes or event_type in KNOWN_EVENTS else "other"
        self.messages.labels(consumer.name, event, outcome).inc()
        self.seconds.labels(consumer.name, event).observe(seconds)

    def watch_in_hand(self, consumer: Consumer, read: Callable[[], int]) -> None:
        self.in_hand.labels(consumer.name).set_function(read)

    async def watch_queues(
        self, connection: AbstractConnection, consumers: Sequence[Consumer], delays: Sequence[float]
    ) -> None:
        """Read each consumer's queue depths every `queue_interval` seconds, until cancelled."""
        queues = [(c.name, queue, role) for c in consumers for queue, role in _queues(Names(c.name), delays)]
        channel: AbstractChannel | None = None
        while True:
            try:
                if channel is None or channel.is_closed:
                    channel = await connection.channel()
                for consumer, queue, role in queues:
                    declared = await channel.declare_queue(queue, passive=True)
                    count = declared.declaration_result.message_count or 0
                    self.queue_messages.labels(consumer, queue, role).set(count)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a queue deleted behind our back closes the channel: a new one next time
                log.debug("could not read queue depths: %r", exc)
            await asyncio.sleep(self.queue_interval)


def _queues(names: Names, delays: Sequence[float]) -> list[tuple[str, str]]:
    return [(names.queue, "main"), *((names.retry(d), "retry") for d in delays), (names.dead, "dead")]


@contextlib.contextmanager
def serving(metrics: ConsumerMetrics, port: int) -> Iterator[str]:
    """Serve /metrics on every interface at `port` (0: any free one) for the duration of the block."""
    try:
        server, thread = start_http_server(port, registry=metrics.registry)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on port {port} ({exc.strerror}): choose another --metrics-port or "
            "CONSUMER_METRICS_PORT"
        ) from None
    url = f"http://0.0.0.0:{server.server_port}/metrics"
    log.info("metrics on %s", url)
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
