"""SESSIONS_DB and CONSUMER_STORE: what a value may be, schema versions, and a server that is not there."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sqlite3
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from consumers import cli
from consumers.database import Database, migrate, parse
from consumers.errors import ConfigError
from consumers.idempotency.postgres import PostgresStore
from consumers.sessions import engines, report
from consumers.sessions.settings import TrackerSettings
from consumers.settings import Settings

pytest_plugins = ["tests.consumer_support.databases"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("value", "engine", "location"),
    [
        ("data/sessions.sqlite3", "sqlite", "data/sessions.sqlite3"),
        ("/var/lib/x.db", "sqlite", "/var/lib/x.db"),
        ("sqlite:///data/ids.sqlite3", "sqlite", "data/ids.sqlite3"),
        ("sqlite:////data/ids.sqlite3", "sqlite", "/data/ids.sqlite3"),
        ("postgresql://bridge:s3cret@db:5432/openvidu", "postgres", "postgresql://bridge:s3cret@db:5432/openvidu"),
        ("postgres://db/openvidu?sslmode=require", "postgres", "postgres://db/openvidu?sslmode=require"),
    ],
)
def test_a_path_or_a_url_names_the_engine(value: str, engine: str, location: str) -> None:
    database = parse(value, "SESSIONS_DB")
    assert (database.engine, database.location) == (engine, location)


@pytest.mark.parametrize(
    "value",
    ["mysql://db/x", "sqlite://data.db", "sqlite:///", "postgresql://db:port/x", "postgresql://db/x?nonsense=1", " "],
)
def test_a_bad_value_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="CONSUMER_STORE"):
        parse(value, "CONSUMER_STORE")


def test_what_is_shown_of_a_url_has_no_password() -> None:
    shown = str(parse("postgresql://bridge:s3cret@db.internal:6432/openvidu?password=again", "SESSIONS_DB"))
    assert shown == "postgresql://bridge@db.internal:6432/openvidu"


def test_settings_take_both_variables(tmp_path: Path) -> None:
    url = "postgresql://bridge@db/openvidu"
    assert TrackerSettings.from_env({"SESSIONS_DB": url}).db == Database("postgres", url, "SESSIONS_DB")
    assert TrackerSettings.from_env({}).db.location == "data/sessions.sqlite3"
    assert Settings.from_env({"CONSUMER_STORE": url}).idempotency_store.engine == "postgres"
    default = Settings.from_env({"CONSUMER_STATE_DIR": str(tmp_path)}).idempotency_store
    assert (default.engine, default.path) == ("sqlite", tmp_path / "idempotency.sqlite3")


@pytest.mark.parametrize(("variable", "command"), [("CONSUMER_STORE", "run"), ("SESSIONS_DB", "sessions")])
def test_a_bad_url_exits_2_with_one_line(
    variable: str, command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(variable, "mysql://db/x")
    argv = ["run", "consumers.cdr:archive"] if command == "run" else ["sessions", "report"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert variable in err


def test_migrations_run_once_and_are_recorded(new_database: Callable[..., Database]) -> None:
    database = new_database()
    runs: list[int] = []
    steps = ("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)", lambda db: runs.append(1))
    for _ in range(2):
        with _connect(database) as db:
            assert migrate(db, "notes", steps) == 2
    assert runs == [1]
    with _connect(database) as db:
        assert migrate(db, "notes", (*steps, "ALTER TABLE notes ADD COLUMN at INTEGER")) == 3
        assert db.execute("SELECT component, version FROM schema_versions").fetchall() == [("notes", 3)]
        with pytest.raises(ConfigError, match="newer than this release"):
            migrate(db, "notes", steps[:1])


def test_processes_starting_together_upgrade_once(postgres: Callable[[], str]) -> None:
    url, runs = postgres(), []
    gate = threading.Barrier(4)

    def start() -> None:
        gate.wait()
        with psycopg.connect(url, autocommit=True) as db:
            migrate(db, "notes", ("CREATE TABLE notes (id INTEGER)", lambda db: runs.append(1)))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert runs == [1]


@pytest.mark.anyio
async def test_an_unreachable_server_is_waited_for_with_one_line_per_attempt(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: connections are refused
        database = Database("postgres", f"postgresql://u:hunter2@127.0.0.1:{port}/x", "SESSIONS_DB")
        caplog.set_level(logging.WARNING, "consumers.database")
        opening = asyncio.ensure_future(engines.opened(database).__aenter__())
        while len(caplog.records) < 2:
            await asyncio.wait_for(asyncio.shield(asyncio.sleep(0.05)), 5)  # polls the log, bounded by the test timeout
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
    first = caplog.records[0].getMessage()
    assert first.startswith(f"database postgresql://u@127.0.0.1:{port}/x (SESSIONS_DB) not reachable (")
    assert "retrying in" in first
    assert "hunter2" not in caplog.text


def test_the_report_says_in_one_line_that_the_server_does_not_answer() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"postgresql://u:hunter2@127.0.0.1:{closed.getsockname()[1]}/x"
        lines: list[str] = []
        assert report.main(Database("postgres", url, "SESSIONS_DB"), None, as_json=False, write=lines.append) == 1
    (line,) = lines
    assert line.startswith("SESSIONS_DB: postgresql://u@127.0.0.1:")
    assert "not reachable" in line
    assert "hunter2" not in line


@pytest.mark.anyio
async def test_a_refusal_is_a_config_error(postgres_server: str) -> None:
    missing = Database("postgres", postgres_server.rsplit("/", 1)[0] + "/no_such_database", "CONSUMER_STORE")
    with pytest.raises(ConfigError, match=r"CONSUMER_STORE: postgresql://.*refused: .*no_such_database"):
        async with PostgresStore(missing.location):
            pass


@pytest.mark.anyio
async def test_missing_rights_are_a_config_error(postgres_server: str) -> None:
    role, schema = f"test_reader_{uuid.uuid4().hex[:8]}", f"test_locked_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server, autocommit=True) as db:
        db.execute(f"CREATE ROLE {role} LOGIN")
        db.execute(f"CREATE SCHEMA {schema}")
        db.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")  # it may look, not create tables
    try:
        url = make_conninfo(postgres_server, user=role, options=f"-csearch_path={schema}")
        with pytest.raises(ConfigError, match=r"^SESSIONS_DB: .* refused: .*permission denied for schema"):
            async with engines.opened(Database("postgres", url, "SESSIONS_DB")):
                pass
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {schema} CASCADE")
            db.execute(f"DROP ROLE {role}")


def _connect(database: Database) -> sqlite3.Connection | psycopg.Connection:
    if database.engine == "postgres":
        return psycopg.connect(database.location, autocommit=True)
    return sqlite3.connect(database.location, isolation_level=None)


async def _consumer(env: dict[str, str], tmp_path: Path) -> asyncio.subprocess.Process:
    command = [sys.executable, "-m", "consumers", "run", "tests.consumer_support.stateful_processes:once"]
    full = {**os.environ, "STATEFUL_MARKS": str(tmp_path / "marks.log"), "CONSUMER_LOG_LEVEL": "INFO", **env}
    return await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=full, stderr=asyncio.subprocess.PIPE)


@pytest.mark.anyio
async def test_a_consumer_process_waits_for_its_store_and_a_sigterm_ends_the_wait(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"postgresql://u:hunter2@127.0.0.1:{closed.getsockname()[1]}/x"
        proc = await _consumer({"CONSUMER_STORE": url, "RABBITMQ_URL": "amqp://127.0.0.1:1/"}, tmp_path)
        assert proc.stderr is not None
        lines = [await asyncio.wait_for(proc.stderr.readline(), 30) for _ in range(2)]
        proc.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(proc.stderr.read(), 30)
        assert await proc.wait() == 0
    assert all(b"(CONSUMER_STORE) not reachable" in line for line in lines), lines
    assert b"hunter2" not in b"".join(lines) + rest


@pytest.mark.anyio
async def test_a_consumer_process_whose_store_refuses_exits_2_with_one_line(
    postgres_server: str, tmp_path: Path
) -> None:
    url = postgres_server.rsplit("/", 1)[0] + "/no_such_database"
    proc = await _consumer({"CONSUMER_STORE": url}, tmp_path)
    assert proc.stderr is not None
    err = await asyncio.wait_for(proc.stderr.read(), 30)
    assert await proc.wait() == 2
    assert err.decode().startswith("consumers: CONSUMER_STORE: postgresql://")
    assert err.count(b"\n") == 1
