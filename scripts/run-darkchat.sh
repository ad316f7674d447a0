#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, and run darkchat with
# the given arguments, e.g.  scripts/run-darkchat.sh -u alice
# Builds darkchat alone: the test suite is built by run-tests.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/deps.sh"
dc_install_deps
cd "$top"
dc_targets=(darkchat)
dc_build build
exec "$top/build/darkchat" "$@"
