"""Log output for the bridge process: JSON lines when not on a terminal, plain text on one.

One INFO line per request is most of what logging costs on the hot path, so lines are written in batches (at
most FLUSH_EVERY seconds late; at once for WARNING and above, and at exit) and the logging module skips the
caller lookup it would do for every record.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import sys
import threading
import time
from datetime import UTC, datetime
from typing import TextIO

import orjson

_FIELDS = ("status", "event", "message_id", "outcome", "duration_us", "reason")
FLUSH_EVERY = 0.2


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


class BatchingHandler(logging.Handler):
    """Collects formatted lines and writes them together: one write per batch instead of one per request."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self._lines: list[str] = []
        self._guard = threading.Lock()  # the flusher thread swaps the list while the loop appends to it
        self._writing = threading.Lock()
        self._flusher = threading.Thread(target=self._flush_periodically, name="log-flush", daemon=True)
        self._flusher.start()
        atexit.register(self.flush)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        with self._guard:
            self._lines.append(line)
            pending = len(self._lines)
        if record.levelno >= logging.WARNING or pending >= 256:
            self.flush()

    def flush(self) -> None:
        with self._writing:  # two flushes (the loop's and the flusher's) must not write out of order
            with self._guard:
                lines, self._lines = self._lines, []
            if lines:
                # A terminal that went away must not stop the process mid-shutdown: the lines are lost, not it.
                with contextlib.suppress(OSError, ValueError):
                    self.stream.write("\n".join(lines) + "\n")
                    self.stream.flush()

    def _flush_periodically(self) -> None:
        while True:
            time.sleep(FLUSH_EVERY)
            self.flush()


def configure(level: str, json_lines: bool | None = None) -> None:
    handler = BatchingHandler(sys.stderr)
    if json_lines if json_lines is not None else not sys.stderr.isatty():
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging._srcfile = None  # no caller lookup (file, line) for every record
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The AMQP libraries repeat at INFO what the publisher already says once at WARNING.
    for chatty in ("aiormq", "aio_pika"):
        logging.getLogger(chatty).setLevel(max(logging.getLevelName(level), logging.WARNING))
    _quiet_attempts()


class _NoAttemptErrors(logging.Filter):
    """aiormq logs an ERROR of its own for every connection attempt that fails; the publisher says it instead,
    once when the broker goes away and then once every 30 s while it stays away."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error when creating transport")


def _quiet_attempts() -> None:
    connection = logging.getLogger("aiormq.connection")
    if not any(isinstance(f, _NoAttemptErrors) for f in connection.filters):
        connection.addFilter(_NoAttemptErrors())
