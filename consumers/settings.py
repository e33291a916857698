"""The consumers' runtime configuration: one frozen dataclass, built once from the environment."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from consumers.errors import ConfigError

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_EXCHANGE = re.compile(r"[A-Za-z0-9_.:\-]{1,200}")


@dataclasses.dataclass(frozen=True)
class Settings:
    rabbitmq_url: str = "amqp://guest:guest@localhost:5672/"
    exchange: str = "openvidu"
    retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0)
    state_dir: Path = Path("data/consumers")
    log_level: str = "INFO"
    metrics_port: int | None = None  # serve Prometheus /metrics there (0: any free port); None: not at all

    @property
    def max_attempts(self) -> int:
        return len(self.retry_delays) + 1

    @property
    def idempotency_db(self) -> Path:
        """Where `once=True` handlers remember message ids unless their consumer has a store of its own."""
        return self.state_dir / "idempotency.sqlite3"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        exchange = _text(env, "CONSUMER_EXCHANGE") or cls.exchange
        if not _EXCHANGE.fullmatch(exchange) or exchange.startswith("amq."):
            raise ConfigError(f"CONSUMER_EXCHANGE must be a plain name (letters, digits, . _ - :), got {exchange!r}")
        level = (_text(env, "CONSUMER_LOG_LEVEL") or cls.log_level).upper()
        if level not in _LOG_LEVELS:
            raise ConfigError(f"CONSUMER_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {level!r}")
        return cls(
            metrics_port=parse_port(_text(env, "CONSUMER_METRICS_PORT"), "CONSUMER_METRICS_PORT"),
            rabbitmq_url=parse_amqp_url(_text(env, "RABBITMQ_URL") or cls.rabbitmq_url),
            exchange=exchange,
            retry_delays=parse_delays(_text(env, "CONSUMER_RETRY_DELAYS"), cls.retry_delays),
            state_dir=Path(_text(env, "CONSUMER_STATE_DIR") or cls.state_dir),
            log_level=level,
        )


def parse_delays(value: str | None, default: tuple[float, ...]) -> tuple[float, ...]:
    if value is None:
        return default
    try:
        delays = tuple(float(part) for part in value.split(","))
    except ValueError:
        raise ConfigError(
            f"CONSUMER_RETRY_DELAYS must be comma-separated seconds such as 1,5,30, got {value!r}"
        ) from None
    # A zero delay would bring a failing message straight back: the hot loop retries exist to prevent.
    if not all(math.isfinite(d) and d >= 0.001 for d in delays):
        raise ConfigError(f"CONSUMER_RETRY_DELAYS must be positive numbers of seconds, got {value!r}")
    return delays


def parse_amqp_url(value: str) -> str:
    if urlsplit(value).scheme.lower() not in ("amqp", "amqps") or "://" not in value:
        raise ConfigError("RABBITMQ_URL must start with amqp:// or amqps://")  # not the value: it may hold a password
    return value


def parse_port(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or int(value) > 65535:
        raise ConfigError(f"{name} must be a port number (0-65535), got {value!r}")
    return int(value)


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return None if value is None or not value.strip() else value.strip()
