#!/usr/bin/env bash
# Install Mainspring into .venv and run the hello example end to end on the embedded SQLite default:
# a dev server, a worker, `mainspring workflow start`, then `mainspring workflow result`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
export PATH="$PWD/.venv/bin:$PATH"

work=$(mktemp -d)
port=${MAINSPRING_PORT:-7233}
export MAINSPRING_ADDRESS="localhost:$port"
cleanup() { kill "${worker_pid:-}" "${server_pid:-}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== mainspring server start-dev --port $port --db-filename $work/mainspring.db"
mainspring server start-dev --port "$port" --db-filename "$work/mainspring.db" &
server_pid=$!
for _ in $(seq 100); do curl -sf "http://$MAINSPRING_ADDRESS/api/v1/health" >/dev/null && break; sleep 0.1; done

echo "== python examples/hello/worker.py"
python examples/hello/worker.py &
worker_pid=$!

echo "== mainspring workflow start ..."
mainspring workflow start --task-queue=example-task-queue --type=sdk_example_workflow \
  --workflow-id=example_id --input='{"code":"python","kind":"typesafe"}'
echo "== mainspring workflow result --workflow-id example_id"
mainspring workflow result --workflow-id example_id
echo "== mainspring workflow describe --workflow-id example_id"
mainspring workflow describe --workflow-id example_id
