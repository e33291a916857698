"""The broker's addresses: RABBITMQ_URL may list several nodes of a cluster, separated by commas.

A session starts at a random node (so many bridges spread over the cluster) and, when it cannot connect or
breaks, the next one goes to the next node in the list, round robin. Logs and /readyz name a node by
host:port only: the URL holds the password.
"""

from __future__ import annotations

import random
from urllib.parse import urlsplit

SCHEMES = ("amqp", "amqps")


class AddressError(ValueError):
    """RABBITMQ_URL is not a comma-separated list of amqp:// or amqps:// URLs; the message names the variable."""


def parse(value: str, name: str = "RABBITMQ_URL") -> tuple[str, ...]:
    """The URLs of `value`, each checked; an error names `name` and never echoes a password."""
    urls = tuple(part.strip() for part in value.split(","))
    if not value.strip() or not all(urls):
        raise AddressError(f"{name} must be one amqp:// URL or several separated by commas, with none empty")
    for index, url in enumerate(urls):
        where = f"{name} (address {index + 1})" if len(urls) > 1 else name
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise AddressError(f"{where} is not a valid URL") from None
        if parts.scheme not in SCHEMES:
            raise AddressError(f"{where} must start with amqp:// or amqps://")  # not the value: it may hold a password
        if not parts.hostname:
            raise AddressError(f"{where} names no host")
    return urls


def node(url: str) -> str:
    """host:port of an address, what logs and /readyz show (never the credentials)."""
    parts = urlsplit(url)
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    host = parts.hostname or "localhost"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Addresses:
    """Round robin over the addresses, from a random first one."""

    def __init__(self, urls: tuple[str, ...], start: int | None = None) -> None:
        self.urls = urls
        self._next = random.randrange(len(urls)) if start is None else start % len(urls)

    @classmethod
    def from_setting(cls, value: str) -> Addresses:
        return cls(parse(value))

    def __len__(self) -> int:
        return len(self.urls)

    def take(self) -> str:
        """The address for the next session."""
        url = self.urls[self._next]
        self._next = (self._next + 1) % len(self.urls)
        return url
