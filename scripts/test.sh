#!/usr/bin/env bash
# The test suite, exactly as CI runs it, in two passes that together run every test once:
#   1. every test with an empty data cache: tests that need a real dataset skip (with the reason), so nothing
#      may depend on real data without saying so;
#   2. only the real-data tests (marked `realdata` by the fixtures that read a named dataset), against the
#      datasets registered with `embedscope datasets add` (none registered: they skip, and the count says so).
# Extra arguments go to both passes, e.g. `bash scripts/test.sh tests/test_data.py -x`.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}

empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT
echo "== pass 1: all tests, empty data cache"
EMBEDSCOPE_DATASETS="$empty" "$PYTHON" -m pytest "$@"
first=$?
echo "== pass 2: real-data tests, data cache ${EMBEDSCOPE_DATASETS:-~/.cache/embedscope/datasets}"
"$PYTHON" -m pytest -m realdata "$@"
second=$?

# pytest exits 5 when a pass selects no test: fine for one pass (a file without real-data tests), not for both.
if [ "$first" = 5 ] && [ "$second" = 5 ]; then exit 5; fi
for code in "$first" "$second"; do
  if [ "$code" != 0 ] && [ "$code" != 5 ]; then exit "$code"; fi
done
exit 0
