#!/usr/bin/env bash
# `make run`: the bridge and the three shipped consumers, next to a RabbitMQ (one it starts if there is none);
# Ctrl+C stops them all, each once and gracefully, the broker it started last.
# Ports: BRIDGE_PORT (8080), SESSIONS_HTTP_PORT (8081, the session tracker's page), NOTIFY_SINK_PORT (8082: without
# RECORDING_NOTIFY_URL the notifier posts to a local sink that prints what it receives).
# For local use only, OpenVidu 2 events need no header unless BRIDGE_WEBHOOK_HEADERS is set (the bridge says so).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PY=${PY:-.venv/bin/python}
export BRIDGE_PORT=${BRIDGE_PORT:-8080} SESSIONS_HTTP_PORT=${SESSIONS_HTTP_PORT:-8081}
export NOTIFY_SINK_PORT=${NOTIFY_SINK_PORT:-8082}
export BRIDGE_JOURNAL_DIR=${BRIDGE_JOURNAL_DIR:-data/journal}
export CDR_DIR=${CDR_DIR:-data/cdr} SESSIONS_DB=${SESSIONS_DB:-data/sessions.sqlite3}
export CONSUMER_STATE_DIR=${CONSUMER_STATE_DIR:-data/consumers}
export BRIDGE_ALLOW_UNAUTHENTICATED=${BRIDGE_ALLOW_UNAUTHENTICATED:-true}
export BRIDGE_SHUTDOWN_GRACE=${BRIDGE_SHUTDOWN_GRACE:-0}  # no load balancer to leave here: stop at once

say() { echo "make run: $*" >&2; }
for variable in BRIDGE_PORT SESSIONS_HTTP_PORT ${RECORDING_NOTIFY_URL:-NOTIFY_SINK_PORT}; do
  [[ $variable == *_PORT ]] || continue
  if ! "$PY" -c 'import socket, sys; socket.create_server(("127.0.0.1", int(sys.argv[1])))' "${!variable}" 2>/dev/null
  then
    say "port ${!variable} is already in use: stop what holds it, or set $variable to another port"
    exit 1
  fi
done

pids=() stopping=
stop() {
  # Each child is in a session of its own, so Ctrl+C reached this script only: each child gets one SIGTERM from
  # here and runs its graceful stop. A second Ctrl+C sends a second one, which each takes as "stop now".
  local why=$1
  if [[ -n $stopping ]]; then
    say "$why again: hurrying them"
  else
    stopping=1
    say "$why: stopping the bridge and the consumers"
  fi
  [[ ${#pids[@]} -gt 0 ]] && kill -TERM "${pids[@]}" 2>/dev/null || true
}
finish() {
  local code=$?
  if ((${#pids[@]})); then
    if [[ -z $stopping ]]; then
      code=1
      stop "a process ended by itself"
    fi
    for pid in "${pids[@]}"; do  # a second Ctrl+C interrupts `wait`: wait again until each one is gone
      while kill -0 "$pid" 2>/dev/null; do wait "$pid" || true; done
    done
  fi
  "$PY" "$here/local_broker.py" stop || true
  exit "$code"
}
trap 'stop SIGINT' INT
trap 'stop SIGTERM' TERM
trap finish EXIT

export RABBITMQ_URL
RABBITMQ_URL=$("$PY" "$here/local_broker.py" start)
# In a session of its own (`setsid`, which macOS lacks), and as the very process whose pid $! gives: `exec`.
own_session() { exec "$PY" -c 'import os, sys; os.setsid(); os.execvp(sys.argv[1], sys.argv[1:])' "$@"; }
if [[ -z ${RECORDING_NOTIFY_URL:-} ]]; then
  export RECORDING_NOTIFY_URL=http://127.0.0.1:$NOTIFY_SINK_PORT/recordings
  own_session "$PY" "$here/notify_sink.py" & pids+=($!)
fi
own_session "$PY" -m bridge & pids+=($!)
own_session "$PY" -m consumers run consumers.cdr:archive consumers.sessions:tracker consumers.notifier:notifier &
pids+=($!)
say "bridge on http://localhost:$BRIDGE_PORT/webhook, sessions page on http://127.0.0.1:$SESSIONS_HTTP_PORT," \
  "CDR files in $CDR_DIR, notifications to $RECORDING_NOTIFY_URL; Ctrl+C stops everything"
if [[ -z ${BRIDGE_WEBHOOK_HEADERS:-} && $BRIDGE_ALLOW_UNAUTHENTICATED == true ]]; then
  say "BRIDGE_ALLOW_UNAUTHENTICATED=true for local use: OpenVidu 2 events need no header here;" \
    "set BRIDGE_WEBHOOK_HEADERS to check one"
fi
wait -n "${pids[@]}" || true  # until a child ends by itself, or a signal came (its trap has run): then finish
