#!/usr/bin/env bash
# The web page in a real browser (tests/web/*.mjs): Debian's chromium,
# driven by puppeteer-core from npm (installed into tests/web/node_modules from
# the committed package-lock.json on first use).
# usage: scripts/web-test.sh DARKCHATD SHOT_DIR [SCRIPT]   (SCRIPT: two_pages.mjs, the
# default, or rooms_page.mjs; exit 77, a skip, when chromium or node is missing)
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
web="$here/tests/web"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "no node/npm: the browser test is skipped (apt-get install nodejs npm)"
  exit 77
fi
if [ ! -x /usr/bin/chromium ] && [ ! -x /usr/bin/chromium-browser ]; then
  echo "no chromium: the browser test is skipped (apt-get install chromium)"
  exit 77
fi
if [ ! -d "$web/node_modules/puppeteer-core" ]; then
  # Only puppeteer-core: it downloads no browser of its own.
  if ! (cd "$web" && timeout 300 npm ci --no-audit --no-fund --loglevel=error); then
    echo "npm could not install puppeteer-core into $web/node_modules"
    exit 1
  fi
fi
exec timeout 240 node "$web/${3:-two_pages.mjs}" "$1" "$2"
