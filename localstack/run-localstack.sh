#!/usr/bin/env bash
# LocalStack without Docker: its Python runtime (localstack-core) in a Python 3.13 venv, SQS only.
#
#   localstack/run-localstack.sh            # install on first use, start, wait until SQS is up
#   localstack/run-localstack.sh stop       # stop the one this script started (pid file)
#   AWS_ENDPOINT_URL_SQS=http://127.0.0.1:4566 make run   # point the gateway's SQS at it
#
# DynamoDB is not started: LocalStack's DynamoDB needs Java 21 and a download, which fail offline.
# Use moto's server for DynamoDB (AWS_ENDPOINT_URL_DYNAMODB). Lambda needs Docker: not used.
#
# Environment: LOCALSTACK_VENV (default .localstack-venv), LOCALSTACK_PORT (4566),
# LOCALSTACK_SERVICES (sqs), LOCALSTACK_WAIT_S (120), LOCALSTACK_DATA_DIR (.localstack).
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="${LOCALSTACK_VENV:-.localstack-venv}"
PORT="${LOCALSTACK_PORT:-4566}"
SERVICES="${LOCALSTACK_SERVICES:-sqs}"
WAIT_S="${LOCALSTACK_WAIT_S:-120}"
DATA_DIR="${LOCALSTACK_DATA_DIR:-$PWD/.localstack}"

if [[ "${1:-}" == "stop" ]]; then
  if [[ -f "$DATA_DIR/localstack.pid" ]] && kill "$(cat "$DATA_DIR/localstack.pid")" 2>/dev/null; then
    echo "stopped LocalStack (pid $(cat "$DATA_DIR/localstack.pid"))" >&2
  fi
  rm -f "$DATA_DIR/localstack.pid"
  exit 0
fi

# localstack/requirements.txt: localstack-core and every dependency pinned with hashes, compiled on Python 3.13
# from localstack/requirements.in (`make lock-localstack`).
LOCK="localstack/requirements.txt"

find_python() {
  local root candidate
  root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
  for candidate in "$root"/versions/3.13.*/bin/python; do
    if [[ -x "$candidate" ]]; then echo "$candidate"; return 0; fi
  done
  command -v python3.13 || { echo "Python 3.13 not found (pyenv install 3.13)" >&2; return 1; }
}

if [[ ! -x "$VENV/bin/python" ]]; then
  PY="$(find_python)"
  echo "creating $VENV with $PY" >&2
  "$PY" -m venv "$VENV"
fi
# The pip the interpreter bundles installs the lock as it is (--no-deps: the lock lists every dependency, and
# older pips refuse extras in hash-checking mode, pypa/pip#9644); the stamp holds the lock's digest.
lock_digest="$(sha256sum "$LOCK" | cut -d' ' -f1)"
if [[ "$(cat "$VENV/.installed" 2>/dev/null)" != "$lock_digest" ]]; then
  echo "installing $LOCK into $VENV with $("$VENV/bin/python" -m pip --version | cut -d' ' -f1-2)" >&2
  "$VENV/bin/python" -m pip install --quiet --no-deps --require-hashes -r "$LOCK"
  "$VENV/bin/python" -m pip check >&2
  echo "$lock_digest" >"$VENV/.installed"
fi

health_url="http://127.0.0.1:${PORT}/_localstack/health"
if curl -fsS "$health_url" 2>/dev/null | grep -q '"sqs": "\(available\|running\)"'; then
  echo "LocalStack already serving SQS on :$PORT" >&2
  exit 0
fi

mkdir -p "$DATA_DIR"
export GATEWAY_LISTEN="127.0.0.1:${PORT}"
export SERVICES="$SERVICES"
export EAGER_SERVICE_LOADING=1
export DNS_ADDRESS=0                # no DNS server: it needs an upstream resolver (offline)
export DISABLE_EVENTS=1             # no analytics calls home (offline)
export LOCALSTACK_HOST="127.0.0.1:${PORT}"
export SQS_ENDPOINT_STRATEGY=path   # queue URLs http://127.0.0.1:4566/<account>/<name>
export FILESYSTEM_ROOT="$DATA_DIR/fs"
mkdir -p "$FILESYSTEM_ROOT"

started=$(date +%s.%N)
"$VENV/bin/python" -m localstack.runtime.main >"$DATA_DIR/localstack.log" 2>&1 &
pid=$!
echo "$pid" >"$DATA_DIR/localstack.pid"
trap 'kill "$pid" 2>/dev/null || true' INT TERM

for _ in $(seq 1 $((WAIT_S * 4))); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "LocalStack exited; last lines of $DATA_DIR/localstack.log:" >&2
    tail -n 30 "$DATA_DIR/localstack.log" >&2
    exit 1
  fi
  if curl -fsS "$health_url" 2>/dev/null | grep -q '"sqs": "\(available\|running\)"'; then
    printf 'LocalStack SQS ready on http://127.0.0.1:%s after %.1f s (pid %s, log %s)\n' \
      "$PORT" "$(awk -v a="$(date +%s.%N)" -v b="$started" 'BEGIN{print a - b}')" "$pid" "$DATA_DIR/localstack.log"
    trap - INT TERM
    if [[ "${LOCALSTACK_FOREGROUND:-0}" == "1" ]]; then wait "$pid"; fi
    exit 0
  fi
  sleep 0.25
done
echo "LocalStack did not report SQS available within ${WAIT_S}s; see $DATA_DIR/localstack.log" >&2
kill "$pid" 2>/dev/null || true
exit 1
