#!/usr/bin/env bash
# Real-browser end-to-end tests of gptauth's pages (Debian Chromium + playwright-core): the sign-in
# popup, the builder portal, the account page, and accessibility (axe-core, keyboard).
#
#   bash tests/browser/run.sh            # all test files
#   bash tests/browser/run.sh popup      # only files whose name contains "popup"
#
# Env: GPTAUTH_BIN (default: $ROOT/target/debug/gptauth; build it with `cargo build`),
#      CHROMIUM_PATH (default: /usr/bin/chromium).
# Screenshots land in tests/browser/artifacts/. GPTAUTH_UPDATE_DOCS_SCREENSHOT=1 also rewrites
# docs/portal-editor-values.png (the README's picture of the portal).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export GPTAUTH_BIN="${GPTAUTH_BIN:-$ROOT/target/debug/gptauth}"
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [[ ! -x "$CHROMIUM_PATH" ]]; then
  if [[ "$CHROMIUM_PATH" != /usr/bin/chromium ]]; then
    echo "run.sh: CHROMIUM_PATH=$CHROMIUM_PATH is not an executable" >&2
    exit 1
  fi
  echo "run.sh: installing Debian's chromium" >&2
  SUDO=()
  if [[ "$(id -u)" -ne 0 ]]; then SUDO=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

if [[ ! -x "$GPTAUTH_BIN" ]]; then
  echo "run.sh: no gptauth binary at $GPTAUTH_BIN (run \`cargo build\` in $ROOT, or set GPTAUTH_BIN)" >&2
  exit 1
fi

cd "$HERE"
# (Re)install when node_modules is missing or older than the lock file (a dependency was added).
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

files=()
if [[ $# -gt 0 ]]; then
  for pattern in "$@"; do
    for f in *.test.mjs; do
      [[ "$f" == *"$pattern"* ]] && files+=("$f")
    done
  done
  if [[ ${#files[@]} -eq 0 ]]; then
    echo "run.sh: no test file matches: $*" >&2
    exit 1
  fi
else
  files=(*.test.mjs)
fi

mkdir -p artifacts
# Each file has its own browser and servers, so files may run side by side.
exec node --test --test-concurrency=2 --test-timeout=90000 "${files[@]}"
