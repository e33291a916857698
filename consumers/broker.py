"""Connecting to the broker for a command, and saying in one line why it did not work.

The URL is shown without its password; wrong credentials (ACCESS_REFUSED) are a configuration error, not an
outage: retrying cannot fix them.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aiormq
from aio_pika.abc import AbstractConnection

from consumers import addresses

CONNECT_TIMEOUT = 10.0


class Unreachable(Exception):
    """The broker did not answer, or hung up; the message says where and why."""


class CredentialsRefused(Exception):
    """The broker refuses the user and password of RABBITMQ_URL; the message says where."""


def shown(url: str) -> str:
    """`url` without its password, for log lines and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def refuses_credentials(exc: BaseException) -> bool:
    return isinstance(exc, aiormq.exceptions.ProbableAuthenticationError)


def reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


async def connect(setting: str, name: str) -> AbstractConnection:
    """A connection to the first address of RABBITMQ_URL that answers; one line saying why when none does."""
    urls = addresses.Addresses.from_setting(setting)
    for attempt in range(len(urls)):
        url = urls.take()
        try:
            return await aio_pika.connect(url, timeout=CONNECT_TIMEOUT, client_properties={"connection_name": name})
        except aiormq.exceptions.ProbableAuthenticationError as exc:
            raise CredentialsRefused(
                f"the broker at {shown(url)} refuses the credentials in RABBITMQ_URL ({reason(exc)})"
            ) from None
        except (OSError, TimeoutError, aiormq.exceptions.AMQPError) as exc:
            if attempt == len(urls) - 1:
                raise Unreachable(f"cannot reach the broker at {shown(url)}: {reason(exc)}") from None
    raise AssertionError("unreachable: RABBITMQ_URL holds at least one address")
