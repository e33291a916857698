# The two commands: `make run` and `make test`. Everything else is a helper of theirs.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
# Installs come from the lock files only, every file checked against its hash; the project itself goes in last,
# without dependencies, so nothing unlocked can slip in. `make lock` writes the lock files from pyproject.toml.
PIP_LOCKED := $(PY) -m pip install --quiet --require-hashes --only-binary :all: -r
LOCK := $(VENV)/bin/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)

.PHONY: run test lint typecheck pytest bench screenshots venv lock clean

venv: $(VENV)/.dev

# Runtime only: what `make run` needs and nothing else.
$(VENV)/.runtime: requirements/runtime.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PIP_LOCKED) requirements/runtime.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements/dev.txt
	$(PIP_LOCKED) requirements/dev.txt
	touch $@

$(VENV)/.bench: $(VENV)/.dev requirements/bench.txt
	$(PIP_LOCKED) requirements/bench.txt
	touch $@

# Starts the bridge and the shipped consumers next to a RabbitMQ (one of its own if there is none); Ctrl+C stops
# everything (scripts/run-local.sh).
run: $(VENV)/.runtime
	@PY=$(PY) ./scripts/run-local.sh

test: lint typecheck pytest

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: venv
	$(PY) -m mypy

pytest: venv
	$(PY) -m pytest

bench: $(VENV)/.bench
	$(PY) -m bench

# The README's pictures of the session tracker's pages (docs/screenshots/), taken in Debian's Chromium.
screenshots: venv
	$(PY) -m tests.consumer_support.screenshots

# After changing dependencies in pyproject.toml: rewrite the lock files, keeping every pin that still fits
# (`make lock UPGRADE=1` takes the newest releases instead). Each file is constrained by the one before it,
# so a package pinned in several of them has the same version in all.
lock: venv
	$(LOCK) -o requirements/runtime.txt
	$(LOCK) --extra dev -c requirements/runtime.txt -o requirements/dev.txt
	$(LOCK) --extra dev --extra bench -c requirements/dev.txt -o requirements/bench.txt

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache
