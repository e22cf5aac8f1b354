#!/usr/bin/env bash
# Refresh the README's pictures (docs/screenshots/*.png): runs the web UI test that takes them, in Chromium at
# 1280x800 and at phone width, with MAINSPRING_UPDATE_SCREENSHOTS=1 so it saves them there. A plain test run
# saves them under pytest's temporary folder and leaves docs/ alone.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet -e '.[test]'
. scripts/chromium.sh
MAINSPRING_CHROMIUM=$(ensure_chromium)
export MAINSPRING_CHROMIUM MAINSPRING_UPDATE_SCREENSHOTS=1
.venv/bin/pytest -q tests/test_ui.py -k test_list_filters_paging_and_screenshots "$@"
echo "== docs/screenshots/ refreshed:"
ls -l docs/screenshots/
