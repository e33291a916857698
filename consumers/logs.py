"""Log output for consumer processes: JSON lines when not on a terminal, plain text on one."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

_FIELDS = ("consumer", "event", "message_id", "attempt", "outcome", "duration_ms")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in _FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                line[field] = value
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def configure(level: str, json_lines: bool | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines if json_lines is not None else not sys.stderr.isatty():
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The AMQP libraries repeat at INFO what the runner already says once at WARNING; uvicorn (the session
    # tracker's page) would log every request.
    for chatty in ("aiormq", "aio_pika", "uvicorn", "uvicorn.error", "httpx"):
        logging.getLogger(chatty).setLevel(max(logging.getLevelName(level), logging.WARNING))
    _quiet_attempts()


class _NoAttemptErrors(logging.Filter):
    """aiormq logs an ERROR of its own for every connection attempt that fails; the runner or the command says it
    instead, in words of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error when creating transport")


def _quiet_attempts() -> None:
    connection = logging.getLogger("aiormq.connection")
    if not any(isinstance(f, _NoAttemptErrors) for f in connection.filters):
        connection.addFilter(_NoAttemptErrors())
