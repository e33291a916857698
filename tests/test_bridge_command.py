"""The `bridge` command itself: usage and version without side effects, and a port in use in one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def bridge(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    local = {"BRIDGE_HOST": "127.0.0.1", "BRIDGE_ALLOW_UNAUTHENTICATED": "true", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "bridge", *argv],
        cwd=cwd,
        env={**os.environ, **local, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_says_what_it_is_and_exits_without_binding_or_creating_data(
    flag: str, tmp_path: Path, taken_port: int
) -> None:
    # On a port already taken, a bridge that started would fail: exit 0 proves it did not try.
    done = bridge([flag], tmp_path, BRIDGE_PORT=str(taken_port))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: bridge")
    for words in ("RABBITMQ_URL", "BRIDGE_PORT", "BRIDGE_WEBHOOK_HEADERS", "README.md#configuration"):
        assert words in done.stdout
    assert done.stderr == ""
    assert list(tmp_path.iterdir()) == []  # no data/ (journal) created


def test_version_prints_the_version_and_exits_without_side_effects(tmp_path: Path, taken_port: int) -> None:
    done = bridge(["--version"], tmp_path, BRIDGE_PORT=str(taken_port))
    assert done.returncode == 0
    assert done.stdout == "bridge 0.1.0\n"
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_argument_is_a_usage_error(tmp_path: Path) -> None:
    done = bridge(["--port", "9"], tmp_path)
    assert done.returncode == 2
    assert "unrecognized arguments: --port" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_port_in_use_is_one_line_naming_the_port_and_the_variable(tmp_path: Path, taken_port: int) -> None:
    done = bridge([], tmp_path, BRIDGE_PORT=str(taken_port), BRIDGE_WEBHOOK_HEADERS='["X-Secret: s"]')
    assert done.returncode == 1
    assert done.stderr == (
        f"bridge: port {taken_port} is already in use: stop what holds it, or set BRIDGE_PORT to another port\n"
    )
    assert list(tmp_path.iterdir()) == []  # nothing opened before the port was known to be free
