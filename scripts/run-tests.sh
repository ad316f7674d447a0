#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, run the whole test
# suite twice (a plain build, then an AddressSanitizer + UndefinedBehaviorSanitizer
# build) and end with the line "N passed, N failed" counting doctest test cases.
# DARKCHAT_SANITIZE=0 skips the sanitizer build.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/deps.sh"
set +e
# The browser test of the web page needs chromium and node (npm fetches puppeteer-core).
dc_install_deps chromium nodejs || exit 1
cd "$top"

logs=()
run_suite() {  # build dir, meson options...
  local dir=$1; shift
  if ! dc_build "$dir" "$@"; then
    echo "build in $dir failed"
    echo "0 passed, 1 failed"
    exit 1
  fi
  meson test -C "$dir" --print-errorlogs --num-processes 2
  logs+=("$dir/meson-logs/testlog.json")
}

run_suite build
if [ "${DARKCHAT_SANITIZE:-1}" != 0 ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  run_suite build-asan -Db_sanitize=address,undefined -Dbuildtype=debug
fi
python3 "$top/scripts/count-tests.py" "${logs[@]}"
