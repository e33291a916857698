#!/usr/bin/env bash
# `make run`: the bridge on :8080 and the three shipped consumers next to it, all stopped together by Ctrl+C.
# Without RECORDING_NOTIFY_URL the notifier posts to a local sink that prints what it receives.
# For local use only, OpenVidu 2 events need no header unless BRIDGE_WEBHOOK_HEADERS is set (the bridge says so).
set -euo pipefail
PY=${PY:-.venv/bin/python}
export BRIDGE_JOURNAL_DIR=${BRIDGE_JOURNAL_DIR:-data/journal}
export CDR_DIR=${CDR_DIR:-data/cdr} SESSIONS_DB=${SESSIONS_DB:-data/sessions.sqlite3}
export CONSUMER_STATE_DIR=${CONSUMER_STATE_DIR:-data/consumers}
export BRIDGE_ALLOW_UNAUTHENTICATED=${BRIDGE_ALLOW_UNAUTHENTICATED:-true}
pids=()
stop() { trap - INT TERM EXIT; kill -TERM "${pids[@]}" 2>/dev/null || true; wait; }
trap stop INT TERM EXIT

if [[ -z ${RECORDING_NOTIFY_URL:-} ]]; then
  export RECORDING_NOTIFY_URL=http://127.0.0.1:8082/recordings
  "$PY" scripts/notify_sink.py & pids+=($!)
fi
"$PY" -m bridge & pids+=($!)
"$PY" -m consumers run consumers.cdr:archive consumers.sessions:tracker consumers.notifier:notifier & pids+=($!)
echo "make run: bridge on http://localhost:8080/webhook, sessions page on http://127.0.0.1:8081," \
  "CDR files in $CDR_DIR, notifications to $RECORDING_NOTIFY_URL" >&2
if [[ -z ${BRIDGE_WEBHOOK_HEADERS:-} && $BRIDGE_ALLOW_UNAUTHENTICATED == true ]]; then
  echo "make run: BRIDGE_ALLOW_UNAUTHENTICATED=true for local use: OpenVidu 2 events need no header here;" \
    "set BRIDGE_WEBHOOK_HEADERS to check one" >&2
fi
wait -n
