#!/usr/bin/env bash
# Install Mainspring with its test dependencies into .venv, then run the whole suite:
# lint (ruff), strict type checking (mypy), and the tests (pytest, against real processes).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
# An editable install leaves the source uncompiled: compile it now, so that the CLI starts fast even where
# PYTHONDONTWRITEBYTECODE keeps Python from caching it (__pycache__ is ignored by git).
.venv/bin/python -m compileall -q src/mainspring > /dev/null
# The web UI tests drive a Chromium through Playwright (no browser download): use the one installed, or
# install Debian's without recommended packages and without upgrading anything (scripts/chromium.sh).
. scripts/chromium.sh
MAINSPRING_CHROMIUM=$(ensure_chromium)
export MAINSPRING_CHROMIUM
export PATH="$PWD/.venv/bin:$PATH"

# The PostgreSQL tests run a throwaway cluster (tests/pgserver.py): they need PostgreSQL's server programs.
if ! ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1; then
  echo "== installing PostgreSQL (Debian's postgresql package) for the PostgreSQL tests"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get install -y --no-install-recommends postgresql > /dev/null
fi

echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy (strict)"
mypy
echo "== pytest"
pytest "$@"

# The end-to-end files again, every server on PostgreSQL instead of SQLite (MAINSPRING_TEST_STORE=postgres:
# each test's SQLite file becomes a fresh database of one PostgreSQL cluster, tests/pgserver.py; the tests
# about SQLite itself are marked sqlite_only and skipped). Chosen to cover workflows and activities, timers,
# signals, queries and updates, cancel and terminate, replay after a worker or server is killed and started
# again, children and continue-as-new, API keys and the audit log, within about 6 minutes on a 2-core machine. pytest exits 5 when it
# collects nothing: under `set -e`, that fails the run as any other non-zero code does. Only for the whole
# suite (CI's call): given arguments, the script runs just the pytest asked for.
PG_E2E=(
  tests/test_activities.py         # activities: retries, timeouts, heartbeats
  tests/test_timers.py             # durable timers, across a server crash
  tests/test_signals.py
  tests/test_queries.py
  tests/test_updates.py
  tests/test_cancel.py             # cancel and terminate
  tests/test_crash.py              # workers and the server SIGKILLed mid-run: replay, nothing lost or done twice
  tests/test_child_workflows.py
  tests/test_continue_as_new.py
  tests/test_workflow_timeouts.py
  tests/test_auth.py               # API keys, roles, the audit log: kept in the shared store
  tests/test_schedules.py          # schedules: a SIGKILLed server fires each time once, catch-up after downtime
  tests/test_batch.py              # batch jobs: by query, paced, resumed after a SIGKILL from their cursor
  tests/test_search_attributes.py  # search attributes: the registry, filters on them, upserts replayed once
  tests/test_search_attributes_more.py  # search attributes of scheduled runs, children, builds, resets
  tests/test_visibility_query.py   # the list query language and counts (the count table kept by triggers)
)
if [ "$#" -eq 0 ]; then
  echo "== pytest, end to end on PostgreSQL"
  MAINSPRING_TEST_STORE=postgres pytest "${PG_E2E[@]}"
fi
