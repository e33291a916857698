"""Fixtures of the tests that run on both engines: a fresh SQLite file or a fresh PostgreSQL schema per call.

(Used with `pytest_plugins = ["tests.consumer_support.databases"]`; the helpers are in tracker_db.py.)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from consumers.database import Database
from tests.support.postgres import MISSING, drop_schema, new_schema, postgres_url

ENGINES = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with postgres_url() as url:
        if url is None:
            if os.environ.get("CI") == "true":
                pytest.fail(MISSING)
            pytest.skip(MISSING)
        yield url


@pytest.fixture
def postgres(postgres_server: str) -> Iterator[Callable[[], str]]:
    """A factory of URLs, each of a fresh schema; all are dropped after the test."""
    made: list[str] = []

    def make() -> str:
        schema, url = new_schema(postgres_server)
        made.append(schema)
        return url

    yield make
    for schema in made:
        drop_schema(postgres_server, schema)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_database(
    engine: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Callable[..., Database]:
    """A factory of empty databases of the test's engine (SQLite files, or PostgreSQL schemas)."""

    def make(variable: str = "SESSIONS_DB") -> Database:
        if engine == "postgres":
            return Database("postgres", request.getfixturevalue("postgres")(), variable)
        return Database("sqlite", str(tmp_path_factory.mktemp("db") / "state.sqlite3"), variable)

    return make
