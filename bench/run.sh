#!/bin/sh
# Builds the benchmarks and runs them all against real darkchat processes on
# loopback, then prints one table: every figure beside the baseline measured in
# the same run, and their ratio. Benchmarks are not tests: nothing here passes
# or fails on a number.
#
#   bench/run.sh [build-dir]        (default: build)
#
# Environment: BENCH_QUICK=1 for a short run (fewer samples, 1,000 users, 5 s
# idle windows, 3 relay kills) when only checking that everything works; BENCH_LOG=dir keeps
# each benchmark's full output there (default: a temporary directory, removed).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$root/$build ;; esac

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root"
fi
ninja -C "$build" darkchat darkchatd bench/udp_pingpong bench/line_echo bench/chat_bench \
    bench/start_bench bench/contact_bench bench/super_bench bench/relocation_bench bench/room_bench >/dev/null

if [ "${BENCH_QUICK:-0}" = 1 ]; then
    samples=50 messages=500 list_users=1000 list_samples=30 idle_users=1000 idle_seconds=5 start_samples=5
    reloc_runs=3 room_burst=300 room_paced=100
else
    samples=300 messages=2000 list_users=10000 list_samples=200 idle_users=1000 idle_seconds=30 start_samples=20
    reloc_runs=10 room_burst=900 room_paced=300
fi

if [ -n "${BENCH_LOG:-}" ]; then
    log=$BENCH_LOG
    mkdir -p "$log"
else
    log=$(mktemp -d /tmp/darkchat-bench-log-XXXXXX)
    trap 'rm -rf "$log"' EXIT
fi

b=$build/bench
echo "# darkchat benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "# commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr), Debian $(cat /etc/debian_version 2>/dev/null || echo '?')"
buildtype=$(grep -o '"name": "buildtype", "value": "[a-z]*"' "$build/meson-info/intro-buildoptions.json" 2>/dev/null |
    sed 's/.*"value": "//; s/"$//' || true)
echo "# build: $build (buildtype ${buildtype:-unknown})"

run() {  # name, command...
    name=$1
    shift
    echo "# --- $name: $* (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    "$@" >"$log/$name.out" 2>&1 || echo "# $name exited with status $?"
    grep '^#' "$log/$name.out" || true
}

run chat "$b/chat_bench" --samples $samples --messages $messages --window 100
run start "$b/start_bench" --samples $start_samples
run contact "$b/contact_bench" --samples $start_samples
run contact-after-online "$b/contact_bench" --samples $start_samples --mode after-online
run list "$b/super_bench" list --users $list_users --samples $list_samples
run list-long-names "$b/super_bench" list --users $list_users --samples 20 --name-len 16
run idle "$b/super_bench" idle --users $idle_users --seconds $idle_seconds
run reloc "$b/relocation_bench" --runs $reloc_runs
run room "$b/room_bench" --burst $room_burst --paced $room_paced

echo
echo "| figure | value | baseline (same run) | baseline value | ratio |"
echo "|---|---|---|---|---|"
for name in chat start contact contact-after-online list list-long-names idle reloc room; do
    rows=$(grep '^|' "$log/$name.out" || true)
    # Of the run with longer names only its answers matter (size against the frame limit).
    [ "$name" = list-long-names ] && rows=$(printf '%s\n' "$rows" | head -3)
    [ -n "$rows" ] && printf '%s\n' "$rows" || echo "| $name: no figures (see the output above) | | | | |"
done
