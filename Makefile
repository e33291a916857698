# The two commands: `make run` and `make test`. Everything else is a helper of theirs.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: run test lint typecheck pytest bench screenshots venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $@

# Starts the bridge (and the shipped consumers) against the local RabbitMQ; Ctrl+C stops everything.
run: venv
	@$(PY) scripts/check_broker.py
	@PY=$(PY) ./scripts/run-local.sh

test: lint typecheck pytest

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: venv
	$(PY) -m mypy

pytest: venv
	$(PY) -m pytest

bench: venv
	$(PY) -m bench

# The README's pictures of the session tracker's pages (docs/screenshots/), taken in Debian's Chromium.
screenshots: venv
	$(PY) -m tests.consumer_support.screenshots

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache
