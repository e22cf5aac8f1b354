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
