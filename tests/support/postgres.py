"""Where the tests find a real PostgreSQL: TEST_POSTGRES_URL, else a testcontainers server, else 127.0.0.1:5432.

Each test gets a schema of its own (the URL sets its search_path), dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import psycopg

from tests.support.broker import answers, docker_answers

LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/test"
MISSING = (
    "no PostgreSQL for the tests: set TEST_POSTGRES_URL, run a Docker engine (testcontainers), "
    "or start one on 127.0.0.1:5432 with database `test` (trust auth)"
)


@contextlib.contextmanager
def postgres_url() -> Iterator[str | None]:
    """Yield the URL of a database the tests may create schemas in, or None when there is none."""
    if url := os.environ.get("TEST_POSTGRES_URL"):
        yield url
    elif docker_answers():
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs

        container = (
            DockerContainer("postgres:16")
            .with_env("POSTGRES_HOST_AUTH_METHOD", "trust")
            .with_env("POSTGRES_DB", "test")
            .with_exposed_ports(5432)
        )
        with container:
            wait_for_logs(container, "listening on IPv4 address", timeout=120)
            host, port = container.get_container_host_ip(), container.get_exposed_port(5432)
            yield f"postgresql://postgres@{host}:{port}/test"
    elif answers("127.0.0.1", 5432) and _usable(LOCAL_URL):
        yield LOCAL_URL
    else:
        yield None


def _usable(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


def new_schema(server: str) -> tuple[str, str]:
    """A fresh schema on `server`: its name and a URL whose connections use it."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in server else "?"
    return schema, f"{server}{separator}options=-csearch_path%3D{schema}"


def drop_schema(server: str, schema: str) -> None:
    with psycopg.connect(server, autocommit=True) as db:
        db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
