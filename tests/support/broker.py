"""Where the tests find a real RabbitMQ: TEST_AMQP_URL, else a testcontainers broker, else localhost:5672."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator

LOCAL_URL = "amqp://guest:guest@127.0.0.1:5672/"
MISSING = (
    "no RabbitMQ for the tests: set TEST_AMQP_URL, run a Docker engine (testcontainers), "
    "or start one on localhost:5672 (`rabbitmq-server -detached`)"
)


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def docker_answers() -> bool:
    host = os.environ.get("DOCKER_HOST", "")
    if not host and not os.path.exists("/var/run/docker.sock"):
        return False
    try:
        import docker  # testcontainers' dependency

        client = docker.from_env(timeout=3)
        return bool(client.ping())
    except Exception:
        return False


@contextlib.contextmanager
def rabbitmq_url() -> Iterator[str | None]:
    """Yield an AMQP URL of a broker the tests may use, or None when there is none."""
    if url := os.environ.get("TEST_AMQP_URL"):
        yield url
    elif docker_answers():
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs

        container = DockerContainer("rabbitmq:3.13-management").with_exposed_ports(5672)
        with container:
            wait_for_logs(container, "Server startup complete", timeout=120)
            # Partitioned consumers need it, as .ci/run, compose and the RabbitmqCluster enable it.
            container.exec(["rabbitmq-plugins", "enable", "rabbitmq_consistent_hash_exchange"])
            host, port = container.get_container_host_ip(), container.get_exposed_port(5672)
            yield f"amqp://guest:guest@{host}:{port}/"
    elif answers("127.0.0.1", 5672):
        yield LOCAL_URL
    else:
        yield None


def delete_topology(amqp_url: str, name: str) -> None:
    """Delete what a test's bridge declared under exchange `name` (best effort, from synchronous code)."""
    import asyncio

    import aio_pika

    async def delete() -> None:
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(f"{name}.unrouted")
            for exchange in (name, f"{name}.unrouted"):
                await channel.exchange_delete(exchange)

    with contextlib.suppress(Exception):
        asyncio.run(delete())
