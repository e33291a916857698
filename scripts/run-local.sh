#!/usr/bin/env bash
# `make run`: the bridge on :8080 next to the shipped consumers, all stopped together by Ctrl+C.
set -euo pipefail
PY=${PY:-.venv/bin/python}
export BRIDGE_JOURNAL_DIR=${BRIDGE_JOURNAL_DIR:-data/journal}
pids=()
stop() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait; }
trap stop INT TERM EXIT
"$PY" -m bridge & pids+=($!)
wait -n
