"""The lock files agree with pyproject.toml, installs use them, and the bridge refuses an aiormq it cannot drive."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from bridge.internals import SUPPORTED, check_internals

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCKS = {"runtime": (), "dev": ("dev",), "bench": ("dev", "bench")}
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)(?: ; [^\\]+)? \\$")


def pins(lock: str) -> dict[str, str]:
    lines = (ROOT / "requirements" / f"{lock}.txt").read_text().splitlines()
    found = {}
    for number, line in enumerate(lines):
        if match := PIN.match(line):
            assert lines[number + 1].strip().startswith("--hash=sha256:"), f"{lock}.txt: {line} has no hash"
            found[canonicalize_name(match[1])] = match[2]
    return found


def wanted(extras: tuple[str, ...]) -> list[Requirement]:
    texts = PROJECT["dependencies"] + [text for extra in extras for text in PROJECT["optional-dependencies"][extra]]
    return [Requirement(text) for text in texts]


@pytest.mark.parametrize("lock", LOCKS)
def test_each_lock_pins_every_requirement_of_pyproject_within_its_range(lock: str) -> None:
    pinned = pins(lock)
    for requirement in wanted(LOCKS[lock]):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"requirements/{lock}.txt lacks {name}: run `make lock` after changing pyproject.toml"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"requirements/{lock}.txt pins {name}=={pinned[name]}, pyproject.toml wants {requirement}: run `make lock`"
        )


def test_the_locks_agree_and_the_runtime_lock_holds_no_tool() -> None:
    runtime, dev, bench = pins("runtime"), pins("dev"), pins("bench")
    assert runtime.items() <= dev.items()
    assert dev.items() <= bench.items()
    assert not {"mypy", "pytest", "ruff", "matplotlib", "kubernetes-validate", "livekit-api"} & runtime.keys()


def test_make_run_installs_the_runtime_lock_only_and_make_test_the_dev_lock(tmp_path: Path) -> None:
    def planned(target: str) -> str:
        venv = f"VENV={tmp_path / target}"
        return subprocess.run(["make", "-n", target, venv], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    run, test = planned("run"), planned("test")
    assert "--require-hashes" in run
    assert "requirements/runtime.txt" in run
    assert "requirements/dev.txt" not in run
    assert "requirements/bench.txt" not in run
    assert "requirements/dev.txt" in test
    assert "requirements/bench.txt" not in test


def test_the_internals_guard_names_the_ranges_pyproject_pins() -> None:
    pinned = {canonicalize_name(r.name): r.specifier for r in wanted(())}
    for name, spec in SUPPORTED.items():
        assert pinned[name] == SpecifierSet(spec)
        assert SpecifierSet(spec).contains(metadata.version(name))
    assert check_internals() is None


# Each way a uvicorn or aiormq release could drop what bridge/protocol.py and bridge/confirms.py use: a method
# gone, an attribute set in __init__ renamed.
BREAKAGES = {
    "HttpToolsProtocol.on_headers_complete": (
        "import uvicorn.protocols.http.httptools_impl as m; del m.HttpToolsProtocol.on_headers_complete"
    ),
    "Channel._on_confirm_frame": "import aiormq.channel as m; del m.Channel._on_confirm_frame",
    "Connection._Connection__connection_unblocked": """
import aiormq.connection as m
built = m.Connection.__init__
def init(self, *args, **kwargs):
    built(self, *args, **kwargs)
    del self._Connection__connection_unblocked
m.Connection.__init__ = init
""",
}


@pytest.mark.parametrize("part", BREAKAGES)
def test_the_bridge_stops_at_start_with_one_line_when_an_internal_is_missing(part: str, tmp_path: Path) -> None:
    script = BREAKAGES[part] + "\nimport sys\nfrom bridge.__main__ import main\nsys.exit(main())\n"
    env = {"PATH": "/usr/bin:/bin", "BRIDGE_JOURNAL_DIR": str(tmp_path), "BRIDGE_PORT": "1"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert part in line
    for name, spec in SUPPORTED.items():
        assert f"{name} {metadata.version(name)}" in line  # installed
        assert f"{name}{spec}" in line  # supported
