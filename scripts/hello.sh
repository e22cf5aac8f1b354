#!/usr/bin/env bash
# Install Mainspring into .venv and run the hello example end to end on the embedded SQLite default:
# a dev server, a worker, `mainspring workflow start`, then `mainspring workflow result`.
#
#   bash scripts/hello.sh                 # API on localhost:7233, web UI on localhost:8233
#   MAINSPRING_PORT=7243 MAINSPRING_UI_PORT=8243 bash scripts/hello.sh
#                                         # other ports (e.g. while Temporal's dev server holds 7233/8233)
#   bash scripts/hello.sh --no-install    # use the `mainspring` and `python` already on PATH
#
# If the server cannot start (a port is taken, say), the script stops at once with the server's message.
set -euo pipefail
cd "$(dirname "$0")/.."

install=1
for arg in "$@"; do
    case "$arg" in
        --no-install) install=0 ;;
        -h | --help)
            sed -n '2,10s/^# \{0,1\}//p' "$0"
            exit 0
            ;;
        *)
            echo "scripts/hello.sh: unknown argument $arg (try --help)" >&2
            exit 2
            ;;
    esac
done
if [ "$install" = 1 ]; then
    PY=${PYTHON:-python3}
    [ -x .venv/bin/python ] || "$PY" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e .
    # An editable install leaves the source uncompiled: compile it now, so that the CLI starts fast
    # even where PYTHONDONTWRITEBYTECODE keeps Python from caching it (__pycache__ is ignored by git).
    .venv/bin/python -m compileall -q src/mainspring > /dev/null
    export PATH="$PWD/.venv/bin:$PATH"
fi

work=$(mktemp -d)
port=${MAINSPRING_PORT:-7233}
ui_port=${MAINSPRING_UI_PORT:-8233}
export MAINSPRING_ADDRESS="localhost:$port"
cleanup() {
    kill "${worker_pid:-}" "${server_pid:-}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# True once the server answers its health check (a server of another kind on the port does not).
healthy() {
    python - "http://$MAINSPRING_ADDRESS/api/v1/health" <<'EOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=1) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

echo "== mainspring server start-dev --port $port --ui-port $ui_port --db-filename $work/mainspring.db"
mainspring server start-dev --port "$port" --ui-port "$ui_port" --db-filename "$work/mainspring.db" &
server_pid=$!
deadline=$((SECONDS + 60))
until healthy; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        # The server has said why on stderr (a port in use, a database another server holds, ...).
        rc=0
        wait "$server_pid" || rc=$?
        server_pid=""
        echo "scripts/hello.sh: the server did not start (exit status $rc); nothing else was run." >&2
        echo "To use other ports: MAINSPRING_PORT=7243 MAINSPRING_UI_PORT=8243 bash scripts/hello.sh" >&2
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "scripts/hello.sh: the server did not answer http://$MAINSPRING_ADDRESS/api/v1/health within 60 s." >&2
        exit 1
    fi
    sleep 0.1
done

echo "== python examples/hello/worker.py"
python examples/hello/worker.py &
worker_pid=$!

echo "== mainspring workflow start ..."
mainspring workflow start --task-queue=hello-task-queue --type=sdk_example_workflow \
  --workflow-id=example_id --input='{"code":"python","kind":"typesafe"}'
echo "== mainspring workflow result --workflow-id example_id"
# The result waits for the worker: if the worker (or the server) exits first, say so instead of waiting on.
mainspring workflow result --workflow-id example_id &
result_pid=$!
gone() { # NAME PID: if that process has exited, say so and stop (the result cannot come).
    kill -0 "$2" 2>/dev/null && return 0
    local rc=0
    wait "$2" || rc=$?
    [ "$1" = worker ] && worker_pid="" || server_pid=""
    kill "$result_pid" 2>/dev/null || true
    echo "scripts/hello.sh: the $1 exited (status $rc) before the workflow finished; its message is above." >&2
    exit 1
}
while kill -0 "$result_pid" 2>/dev/null; do
    gone worker "$worker_pid"
    gone server "$server_pid"
    sleep 0.1
done
wait "$result_pid"
echo "== mainspring workflow describe --workflow-id example_id"
mainspring workflow describe --workflow-id example_id
