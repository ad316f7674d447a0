#!/usr/bin/env bash
# Installs the Debian packages darkchat needs, if any is missing. Sourced by
# run-darkchat.sh and run-tests.sh.
set -euo pipefail

dc_packages=(meson ninja-build pkg-config cmake g++ libuv1-dev libmsgpack-cxx-dev libsodium-dev
             libsqlite3-dev doctest-dev libedit-dev nlohmann-json3-dev scdoc python3
             libnetfilter-queue-dev iptables)  # tools/delayq and the netns relay test

dc_install_deps() {
  local missing=() p
  for p in "${dc_packages[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "darkchat needs these Debian packages: ${missing[*]}" >&2
    echo "install them as root: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
    apt-get update >&2
    apt-get install -y --no-install-recommends "${missing[@]}" >&2
  fi
}

# Configures (once) and builds the tree in $1: everything, or only the
# targets named in the array dc_targets (run-darkchat.sh builds darkchat alone,
# not the test suite it does not run).
# Quiet when all is well; the whole log when something fails.
# Debug information is line tables only, compressed (-g1 -gz): sanitizer stack
# traces keep their file:line, and the plain tree takes a tenth of the disk
# (3.8 GB with full -g, 0.4 GB so). The sanitizer tree stays near 5 GB: most of
# it is the sanitizers' own data and relocations, not debug information. A
# shared disk once ran out under CI. Reconfigure with -Dcpp_args=-g for a debugger.
dc_targets=()
dc_build() {
  local dir=$1; shift
  local log
  log=$(mktemp)
  if [ ! -f "$dir/build.ninja" ]; then
    echo "configuring $dir" >&2
    if ! meson setup "$dir" -Dcpp_args='-g1 -gz' -Dcpp_link_args=-gz "$@" >"$log" 2>&1; then
      cat "$log" >&2; rm -f "$log"; return 1
    fi
    echo "building ${dc_targets[*]:-everything} (the first build takes a few minutes)" >&2
  fi
  if ! ninja -C "$dir" "${dc_targets[@]}" >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"; return 1
  fi
  rm -f "$log"
}
