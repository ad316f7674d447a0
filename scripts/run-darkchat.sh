#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, and run darkchat with
# the given arguments, e.g.  scripts/run-darkchat.sh -u alice
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/deps.sh"
dc_install_deps
cd "$top"
dc_build build
exec "$top/build/darkchat" "$@"
