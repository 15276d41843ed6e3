#!/usr/bin/env bash
# Runs the README's token-validation snippets (section "Validate the token in your API": the
# Python PyJWT one and the Node jose one, taken verbatim from README.md) against a live gptauth:
# a real access token must be accepted, and tampered, foreign-key, unsigned / alg-none,
# HS256-confusion and expired tokens refused, as well as genuine tokens of another client and of
# a dynamically registered one (the snippets pin client_id). Ends with "N passed, M failed".
#
#   bash tests/snippets/run.sh
#
# Needs python3 (with venv) and node/npm; installs PyJWT[crypto] into tests/snippets/.venv and
# jose into tests/snippets/node_modules on first use.
# Env: GPTAUTH_BIN (default: debug/gptauth in cargo's target directory, built with `cargo build` if missing).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# The build where cargo puts it (CARGO_TARGET_DIR, a config's build.target-dir, or ./target).
TARGET_DIR="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
[[ -n "$TARGET_DIR" ]] || { echo "run.sh: cargo metadata names no target_directory" >&2; exit 1; }
DEFAULT_BIN="$TARGET_DIR/debug/gptauth"
export GPTAUTH_BIN="${GPTAUTH_BIN:-$DEFAULT_BIN}"

if [[ ! -x "$GPTAUTH_BIN" ]]; then
  if [[ "$GPTAUTH_BIN" != "$DEFAULT_BIN" ]]; then
    echo "run.sh: GPTAUTH_BIN=$GPTAUTH_BIN is not an executable" >&2
    exit 1
  fi
  echo "run.sh: building gptauth" >&2
  (cd "$ROOT" && cargo build --quiet)
fi

for tool in python3 node npm; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 1; }
done

cd "$HERE"

# Python: a venv of its own, (re)made when requirements.txt changes.
VENV="$HERE/.venv"
stamp="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$stamp" ]]; then
  echo "run.sh: installing PyJWT[crypto] into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$stamp" >"$VENV/.requirements.sha256"
fi

# Node: jose from the committed lock file.
if [[ ! -d node_modules/jose ]]; then
  echo "run.sh: installing jose (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

exec "$VENV/bin/python" "$HERE/check.py"
