#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, run the whole test
# suite, and end with the line "N passed, N failed" (doctest test cases).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/deps.sh"
set +e
dc_install_deps || exit 1
cd "$top"
dc_build build || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
meson test -C build --print-errorlogs --num-processes 2 "$@"
python3 "$top/scripts/count-tests.py" build/meson-logs/testlog.json
