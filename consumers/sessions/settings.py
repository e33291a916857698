"""The session tracker's configuration, from SESSIONS_* variables."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from consumers.database import Database, parse
from consumers.errors import ConfigError

DEFAULT_DB = Database("sqlite", "data/sessions.sqlite3", "SESSIONS_DB")


@dataclasses.dataclass(frozen=True)
class TrackerSettings:
    db: Database = DEFAULT_DB  # SESSIONS_DB: a path, sqlite:///path or postgresql://…
    http_host: str = "127.0.0.1"
    http_port: int = 8081  # 0: any free port (the log says which)
    partitions: int | None = None  # shared by every process of the tracker; None: one process

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TrackerSettings:
        port = env.get("SESSIONS_HTTP_PORT", "").strip()
        if port and (not port.isdigit() or int(port) > 65535):
            raise ConfigError(f"SESSIONS_HTTP_PORT must be a port number (0-65535), got {port!r}")
        partitions = env.get("SESSIONS_PARTITIONS", "").strip()
        if partitions and (not partitions.isdigit() or not 1 <= int(partitions) <= 256):
            raise ConfigError(f"SESSIONS_PARTITIONS must be a number of partitions from 1 to 256, got {partitions!r}")
        return cls(
            db=parse(env["SESSIONS_DB"], "SESSIONS_DB") if env.get("SESSIONS_DB", "").strip() else DEFAULT_DB,
            http_host=env.get("SESSIONS_HTTP_HOST", "").strip() or cls.http_host,
            http_port=int(port) if port else cls.http_port,
            partitions=int(partitions) if partitions else None,
        )
