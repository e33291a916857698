"""The README's first page tells a new user what they need, where things listen, and how to start afresh; and
nothing the product shows carries the number of the issue it came from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
FIRST_PAGE = README[README.index("## The two commands") : README.index("## docker compose up")]


@pytest.mark.parametrize(
    "words",
    [
        "Python ≥ 3.11",
        "`rabbitmq-server` binaries",
        "haproxy",
        "`systemd-analyze`",
        "root",
        "`.ci/run` installs",
        "second terminal",
        "`make clean`",
        "`rm -rf data`",
        "`RABBITMQ_NODE_PORT`",
    ],
)
def test_the_first_page_says(words: str) -> None:
    assert words in FIRST_PAGE


def test_the_first_page_lists_make_runs_ports_as_the_script_sets_them() -> None:
    script = (REPO / "scripts" / "run-local.sh").read_text()
    for port, variable in (("8080", "BRIDGE_PORT"), ("8081", "SESSIONS_HTTP_PORT"), ("8082", "NOTIFY_SINK_PORT")):
        assert re.search(rf"^\| {port} \| .* \| `{variable}` \|$", FIRST_PAGE, re.MULTILINE), variable
        assert f"{variable}=${{{variable}:-{port}}}" in script


def test_nothing_in_the_product_mentions_an_issue_number() -> None:
    places = ["README.md", "bridge", "consumers", "scripts", "bench", "deploy", "docs", "Dockerfile", "Makefile"]
    files = [path for place in places for path in _files(REPO / place)]
    found = [str(path.relative_to(REPO)) for path in files if re.search(r"\bissue #?\d", _text(path), re.IGNORECASE)]
    assert found == []


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError:
        return ""  # an image
