"""Realistic, unique OpenVidu bodies: the test corpus, compact as OpenVidu sends it, with `timestamp` = base + seq.

Every body of a run is unique (so every message id is), and a consumer gets the sequence number back from the
body alone, which is how end-to-end latency and loss are measured.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import orjson

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "events"
_STAMP = re.compile(rb'"timestamp":\d+')


@dataclasses.dataclass(frozen=True, slots=True)
class Template:
    prefix: bytes  # everything up to and including `"timestamp":`
    suffix: bytes  # everything after the number

    def body(self, stamp: int) -> bytes:
        return self.prefix + str(stamp).encode() + self.suffix


def templates() -> list[Template]:
    found = []
    for path in sorted(CORPUS.glob("*.json")):
        compact = orjson.dumps(orjson.loads(path.read_bytes()))
        match = _STAMP.search(compact)
        if match is None:
            raise ValueError(f"{path} has no timestamp to vary")
        found.append(Template(compact[: match.start()] + b'"timestamp":', compact[match.end() :]))
    return found


class Bodies:
    """Body number `seq` of a run whose first timestamp is `base`."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.templates = templates()

    def body(self, seq: int) -> bytes:
        return self.templates[seq % len(self.templates)].body(self.base + seq)

    def seq_of(self, body: bytes) -> int:
        stamp: int = orjson.loads(body)["timestamp"]
        return stamp - self.base


def write_lua_table(path: Path) -> None:
    """The templates as `prefix<TAB>suffix` lines for wrk's Lua script (compact JSON holds no raw tab)."""
    path.write_bytes(b"".join(t.prefix + b"\t" + t.suffix + b"\n" for t in templates()))
