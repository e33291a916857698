"""Where a consumer keeps its state: a SQLite file or a PostgreSQL database, named by one setting.

A setting's value is a path or `sqlite:///path` (SQLite: one host), or `postgresql://…` (any number of hosts).
The process creates and upgrades its own tables when it opens a database: table `schema_versions` holds how far
each component's migrations got, and a component's pending migrations run in one transaction under a lock, so
processes that start together upgrade a database once. A PostgreSQL server that does not answer is waited for,
one log line per attempt, as the broker is; one that refuses (password, database, rights) is a ConfigError.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import re
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from consumers.errors import ConfigError

log = logging.getLogger(__name__)

T = TypeVar("T")
Engine = Literal["sqlite", "postgres"]
# One migration: a SQL script (statements separated by `;`), or a function for what SQL alone cannot say.
Migration = str | Callable[[Any], None]

FIRST_DELAY = 0.5
MAX_DELAY = 10.0
# SQLSTATE classes and codes a retry cannot cure: bad credentials, no such database or schema, no rights. A
# refusal while connecting comes without a SQLSTATE: libpq's text says it.
_REFUSALS = ("28", "3D", "3F", "42501")
_REFUSED = re.compile(r"FATAL: .*(password authentication failed|does not exist|no pg_hba\.conf|permission denied)")


@dataclasses.dataclass(frozen=True)
class Database:
    engine: Engine
    location: str  # the file's path (SQLite) or the connection URL (PostgreSQL, with its password)
    variable: str  # the setting it came from, named in messages

    @property
    def path(self) -> Path:
        return Path(self.location)

    def __str__(self) -> str:
        """What logs and messages show: the URL without its password."""
        if self.engine == "sqlite":
            return self.location
        parts = conninfo_to_dict(self.location)
        host, port = parts.get("host") or "localhost", parts.get("port") or "5432"
        user = f"{parts['user']}@" if parts.get("user") else ""
        return f"postgresql://{user}{host}:{port}/{parts.get('dbname') or ''}"


def parse(value: str, variable: str) -> Database:
    """A SESSIONS_DB or CONSUMER_STORE value; a ConfigError naming `variable` if it cannot be one."""
    text = value.strip()
    scheme, found, rest = text.partition("://")
    if not found:
        if not text:
            raise ConfigError(f"{variable} is empty: give a file path, sqlite:///path or postgresql://…")
        return Database("sqlite", text, variable)
    if scheme == "sqlite":
        # As SQLAlchemy writes it: sqlite:///relative/path, sqlite:////absolute/path.
        if not rest.startswith("/") or rest == "/":
            raise ConfigError(f"{variable} must be sqlite:///path/to/file (three slashes), got {text!r}")
        return Database("sqlite", rest[1:], variable)
    if scheme in ("postgresql", "postgres"):
        try:
            parts = conninfo_to_dict(text)
        except psycopg.ProgrammingError as exc:
            raise ConfigError(f"{variable} is not a PostgreSQL URL ({exc})") from None
        if parts.get("port") and not str(parts["port"]).isdigit():
            raise ConfigError(f"{variable} has a port that is not a number: {parts['port']!r}")
        return Database("postgres", text, variable)
    raise ConfigError(f"{variable} must be a file path, sqlite:///path or postgresql://…, not a {scheme}:// URL")


def refused(exc: psycopg.Error) -> bool:
    """Whether the server answered no (credentials, database, rights) rather than not at all."""
    if exc.sqlstate is not None:
        return exc.sqlstate.startswith(_REFUSALS)
    return _REFUSED.search(str(exc)) is not None


def reason(exc: BaseException) -> str:
    """The first line of a driver's message (libpq's messages carry no password)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__  # the lines after it point into the statement


async def until_ready(database: Database, attempt: Callable[[], Awaitable[T]]) -> T:
    """`attempt()` until the server answers; a refusal raises ConfigError. Cancel to give up."""
    delay = FIRST_DELAY
    while True:
        try:
            return await attempt()
        except psycopg.Error as exc:
            if refused(exc):
                raise ConfigError(f"{database.variable}: {database} refused: {reason(exc)}") from None
            log.warning("database %s (%s) not reachable (%s); retrying in %.1fs", database, database.variable,
                        reason(exc), delay)  # fmt: skip
        await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # a backoff, not a wait for something
        delay = min(delay * 2, MAX_DELAY)


def migrate(db: sqlite3.Connection | psycopg.Connection[Any], component: str, migrations: Sequence[Migration]) -> int:
    """Run `component`'s migrations not yet recorded in schema_versions; returns the version now."""
    if isinstance(db, sqlite3.Connection):
        db.execute("BEGIN IMMEDIATE")  # the write lock: a second process waits here, then finds nothing to do
        try:
            version = _migrate(db, component, migrations, "?")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return version
    with db.transaction():
        # Per schema: tests (and tenants) keep several schemas in one database.
        db.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':' || %s))", (component,))
        return _migrate(db, component, migrations, "%s")


def _migrate(db: Any, component: str, migrations: Sequence[Migration], mark: str) -> int:
    db.execute("CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    row = db.execute(f"SELECT version FROM schema_versions WHERE component = {mark}", (component,)).fetchone()
    version = row[0] if row else 0
    if version > len(migrations):
        raise ConfigError(f"the {component} tables are at version {version}, newer than this release knows")
    for step in migrations[version:]:
        if isinstance(step, str):
            for statement in statements(step):
                db.execute(statement)
        else:
            step(db)
    db.execute(
        f"INSERT INTO schema_versions VALUES ({mark}, {mark}) ON CONFLICT (component) DO UPDATE SET version = "
        "excluded.version",
        (component, len(migrations)),
    )
    return len(migrations)


def statements(script: str) -> list[str]:
    """A script's statements: `--` comments dropped, split at `;` (no string in our schemas holds one)."""
    code = re.sub(r"--[^\n]*", "", script)
    return [part.strip() for part in code.split(";") if part.strip()]
