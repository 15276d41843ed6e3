#!/usr/bin/env bash
# Real-browser end-to-end tests of gptauth's pages (Debian Chromium + playwright-core): the sign-in
# popup, the builder portal, the account page, forgotten passwords and e-mail verification with a
# real SMTP server on loopback (aiosmtpd), and accessibility (axe-core, keyboard).
#
#   bash tests/browser/run.sh            # all test files
#   bash tests/browser/run.sh popup      # only files whose name contains "popup"
#
# Installs what is missing: Debian's chromium (apt), node_modules from the committed
# package-lock.json (npm ci), and aiosmtpd into tests/browser/.venv from requirements.txt
# (remade when that file changes).
# Env: GPTAUTH_BIN (default: debug/gptauth in cargo's target directory; build it with `cargo build`),
#      CHROMIUM_PATH (default: /usr/bin/chromium).
# Screenshots land in tests/browser/artifacts/. GPTAUTH_UPDATE_DOCS_SCREENSHOT=1 also rewrites
# docs/portal-editor-values.png (the README's picture of the portal).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# The build where cargo puts it (CARGO_TARGET_DIR, a config's build.target-dir, or ./target).
TARGET_DIR="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
[[ -n "$TARGET_DIR" ]] || { echo "run.sh: cargo metadata names no target_directory" >&2; exit 1; }
DEFAULT_BIN="$TARGET_DIR/debug/gptauth"
export GPTAUTH_BIN="${GPTAUTH_BIN:-$DEFAULT_BIN}"
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

# Python: aiosmtpd in a venv of its own, (re)made when requirements.txt changes.
VENV="$HERE/.venv"
stamp="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$stamp" ]]; then
  command -v python3 >/dev/null || { echo "run.sh: python3 is required (for aiosmtpd)" >&2; exit 1; }
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "run.sh: installing Debian's python3-venv" >&2
    SUDO=()
    if [[ "$(id -u)" -ne 0 ]]; then SUDO=(sudo); fi
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  echo "run.sh: installing aiosmtpd into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$stamp" >"$VENV/.requirements.sha256"
fi

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
