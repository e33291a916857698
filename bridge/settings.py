"""The bridge's configuration: one frozen dataclass, built once from the environment."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, cast

import orjson

from bridge import addresses

FsyncPolicy = Literal["always", "interval", "never"]
AckMode = Literal["journal", "confirm"]
FSYNC_POLICIES = ("always", "interval", "never")

_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?i?B?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
EVENT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP field name (RFC 9110)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # what a field value cannot hold (a tab it can)
_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
NO_AUTH = (
    "nothing is set to authenticate webhooks: set BRIDGE_WEBHOOK_HEADERS (the OPENVIDU_WEBHOOK_HEADERS of "
    "OpenVidu 2) and/or LIVEKIT_API_KEY with LIVEKIT_API_SECRET (OpenVidu 3), or, on a trusted network only, "
    "BRIDGE_ALLOW_UNAUTHENTICATED=true to accept OpenVidu 2 events from anyone"
)


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class Settings:
    rabbitmq_url: str = "amqp://guest:guest@localhost:5672/"
    host: str = "0.0.0.0"
    port: int = 8080
    path: str = "/webhook"
    exchange: str = "openvidu"
    webhook_headers: tuple[tuple[str, str], ...] = ()
    webhook_events: frozenset[str] | None = None
    livekit_keys: Mapping[str, str] = dataclasses.field(default_factory=dict)
    allow_unauthenticated: bool = False  # OpenVidu 2 events without BRIDGE_WEBHOOK_HEADERS: refused unless this
    journal_dir: Path = Path("data/journal")
    journal_max_bytes: int = 1 << 30
    journal_segment_bytes: int = 64 << 20
    journal_fsync: FsyncPolicy = "interval"
    journal_fsync_interval: float = 0.1
    ack: AckMode = "journal"
    max_body_bytes: int = 1 << 20
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    shutdown_grace: float = 5.0
    drain_timeout: float = 10.0
    confirm_timeout: float = 5.0  # below OpenVidu 2's 10 s read timeout: our 503 arrives before it gives up
    publish_window: int = 1024
    unrouted_max_length: int = 100_000
    log_level: str = "INFO"

    @property
    def unrouted(self) -> str:
        """Name of the alternate exchange and of its queue."""
        return f"{self.exchange}.unrouted"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        reader = _Reader(env)
        settings = cls(
            rabbitmq_url=reader.text("RABBITMQ_URL", cls.rabbitmq_url),  # checked below, address by address
            host=reader.text("BRIDGE_HOST", cls.host),
            port=reader.integer("BRIDGE_PORT", cls.port, low=0, high=65535),
            path=reader.path("BRIDGE_PATH", cls.path),
            exchange=reader.text("BRIDGE_EXCHANGE", cls.exchange),
            webhook_headers=reader.webhook_headers("BRIDGE_WEBHOOK_HEADERS"),
            webhook_events=reader.event_names("BRIDGE_WEBHOOK_EVENTS"),
            livekit_keys=reader.livekit_keys(),
            allow_unauthenticated=reader.flag("BRIDGE_ALLOW_UNAUTHENTICATED", cls.allow_unauthenticated),
            journal_dir=Path(reader.text("BRIDGE_JOURNAL_DIR", str(cls.journal_dir))),
            journal_max_bytes=reader.size("BRIDGE_JOURNAL_MAX_BYTES", cls.journal_max_bytes),
            journal_segment_bytes=reader.size("BRIDGE_JOURNAL_SEGMENT_BYTES", cls.journal_segment_bytes),
            journal_fsync=cast(FsyncPolicy, reader.choice("BRIDGE_JOURNAL_FSYNC", cls.journal_fsync, FSYNC_POLICIES)),
            journal_fsync_interval=reader.seconds("BRIDGE_JOURNAL_FSYNC_INTERVAL_MS", 100, scale=1000) or 0.1,
            ack=cast(AckMode, reader.choice("BRIDGE_ACK", cls.ack, ("journal", "confirm"))),
            max_body_bytes=reader.size("BRIDGE_MAX_BODY_BYTES", cls.max_body_bytes),
            header_timeout=reader.seconds("BRIDGE_HEADER_TIMEOUT", cls.header_timeout) or cls.header_timeout,
            body_timeout=reader.seconds("BRIDGE_BODY_TIMEOUT", cls.body_timeout) or cls.body_timeout,
            shutdown_grace=reader.seconds("BRIDGE_SHUTDOWN_GRACE", cls.shutdown_grace),
            drain_timeout=reader.seconds("BRIDGE_DRAIN_TIMEOUT", cls.drain_timeout),
            confirm_timeout=reader.seconds("BRIDGE_CONFIRM_TIMEOUT", cls.confirm_timeout) or cls.confirm_timeout,
            publish_window=reader.integer("BRIDGE_PUBLISH_WINDOW", cls.publish_window, low=1, high=65535),
            unrouted_max_length=reader.integer("BRIDGE_UNROUTED_MAX_LENGTH", cls.unrouted_max_length, low=1),
            log_level=reader.choice("BRIDGE_LOG_LEVEL", cls.log_level, _LOG_LEVELS, upper=True),
        )
        reader.check_exchange(settings.exchange)
        try:
            addresses.parse(settings.rabbitmq_url)
        except addresses.AddressError as exc:
            raise ConfigError(str(exc)) from None
        if settings.journal_max_bytes < settings.max_body_bytes * 2:
            raise ConfigError("BRIDGE_JOURNAL_MAX_BYTES must be at least twice BRIDGE_MAX_BODY_BYTES")
        if not (settings.webhook_headers or settings.livekit_keys or settings.allow_unauthenticated):
            raise ConfigError(NO_AUTH)
        return settings


class _Reader:
    """Parses one variable at a time and turns every mistake into a ConfigError naming it."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    def text(self, name: str, default: str) -> str:
        return self.raw(name) or default

    def path(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if not value.startswith("/") or any(c in value for c in "?#{} "):
            raise ConfigError(f"{name} must be a URL path starting with '/', got {value!r}")
        return value

    def integer(self, name: str, default: int, low: int = 0, high: int | None = None) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {value!r}") from None
        if number < low or (high is not None and number > high):
            raise ConfigError(f"{name} must be between {low} and {high if high is not None else 'any'}, got {number}")
        return number

    def size(self, name: str, default: int) -> int:
        value = self.raw(name)
        if value is None:
            return default
        match = _SIZE.match(value)
        if match is None or int(match.group(1)) <= 0:
            raise ConfigError(f"{name} must be a positive size such as 1048576, 512KiB, 64MiB or 1GiB, got {value!r}")
        unit = (match.group(2) or "").upper().rstrip("B").rstrip("I")
        return int(match.group(1)) * _UNITS[unit]

    def seconds(self, name: str, default: float, scale: float = 1.0) -> float:
        value = self.raw(name)
        if value is None:
            return default / scale
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {value!r}") from None
        if number < 0 or not math.isfinite(number):
            raise ConfigError(f"{name} must be zero or more, got {value!r}")
        return number / scale

    def choice(self, name: str, default: str, allowed: tuple[str, ...], upper: bool = False) -> str:
        value = self.raw(name)
        if value is None:
            return default
        value = value.upper() if upper else value.lower()
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() not in _FLAGS:
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return _FLAGS[value.lower()]

    def json(self, name: str) -> object:
        value = self.raw(name)
        if value is None:
            return None
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ConfigError(f"{name} must be valid JSON") from None

    def webhook_headers(self, name: str) -> tuple[tuple[str, str], ...]:
        # OpenVidu's own format: ["Authorization: Basic abc", "X-Other: v"]. OpenVidu's .env templates write it
        # shell-escaped ([\"Authorization:\ Basic\ abc\"]); that form is accepted too, so the value can be pasted
        # as it is. Errors never echo the value: it holds a secret.
        raw = self.raw(name)
        if raw is not None and raw.startswith("[\\"):
            return self._headers(name, re.sub(r"\\(.)", r"\1", raw))
        return self._headers(name, raw)

    def _headers(self, name: str, raw: str | None) -> tuple[tuple[str, str], ...]:
        try:
            value = orjson.loads(raw) if raw is not None else None
        except orjson.JSONDecodeError:
            raise ConfigError(f"{name} must be valid JSON") from None
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f'{name} must be a JSON array of "Name: value" strings, like OPENVIDU_WEBHOOK_HEADERS')
        headers: dict[str, tuple[str, str]] = {}
        for index, item in enumerate(value):
            header, expected = _header_entry(name, index, item)
            headers[header] = (header, expected)  # the same name twice: the last wins, as in OpenVidu
        # OpenVidu always sends its own Content-Type, whatever its headers say: such an entry proves nothing.
        headers.pop("content-type", None)
        if value and not headers:
            raise ConfigError(f"{name} holds only Content-Type, which OpenVidu overrides: add a secret header")
        return tuple(headers.values())

    def event_names(self, name: str) -> frozenset[str] | None:
        value = self.json(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and EVENT_NAME.match(v) for v in value):
            raise ConfigError(f'{name} must be a JSON array of event names, like ["sessionCreated", "room_started"]')
        return frozenset(value)

    def livekit_keys(self) -> dict[str, str]:
        keys: dict[str, str] = {}
        value = self.json("BRIDGE_LIVEKIT_KEYS")
        if value is not None:
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
            ):
                raise ConfigError('BRIDGE_LIVEKIT_KEYS must be a JSON object {"<api key>": "<api secret>", ...}')
            keys.update(value)
        api_key, api_secret = self.raw("LIVEKIT_API_KEY"), self.raw("LIVEKIT_API_SECRET")
        if (api_key is None) != (api_secret is None):
            raise ConfigError("LIVEKIT_API_KEY and LIVEKIT_API_SECRET must be set together")
        if api_key is not None and api_secret is not None:
            keys[api_key] = api_secret
        return keys

    def check_exchange(self, exchange: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.:\-]{1,200}", exchange) or exchange.startswith("amq."):
            raise ConfigError(f"BRIDGE_EXCHANGE must be a plain name (letters, digits, . _ - :), got {exchange!r}")


def _header_entry(name: str, index: int, entry: str) -> tuple[str, str]:
    """One "Name: value" entry as it arrives: split on the first ':' as OpenVidu does, spaces and tabs around the
    value dropped as an HTTP server does (RFC 9110), and a value OpenVidu's HttpClient can send (ISO-8859-1)."""
    header, sep, expected = entry.partition(":")
    expected = expected.strip(" \t")
    if not sep or not _TOKEN.fullmatch(header) or not expected:
        raise ConfigError(f'{name} entry {index} is not of the form "Name: value"')
    if _CONTROL.search(expected):
        raise ConfigError(f"{name} entry {index} ({header}) holds a control character, which HTTP cannot carry")
    try:
        expected.encode("latin-1")
    except UnicodeEncodeError:
        raise ConfigError(
            f"{name} entry {index} ({header}) holds a character outside ISO-8859-1, which OpenVidu cannot send"
        ) from None
    return header.lower(), expected
