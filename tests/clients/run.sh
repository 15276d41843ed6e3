#!/usr/bin/env bash
# Real third-party OAuth clients, written by nobody on this team, completing their flows against
# a live gptauth (each suite starts its own on a free port with a fresh SQLite database):
#   mcp      the official MCP TypeScript SDK's OAuth client, against an MCP server made with the
#            SDK's server side (mcp-sdk.test.mjs)
#   openid   openid-client v6, an OpenID Connect relying party (openid-client.test.mjs)
#   authlib  Python authlib's OAuth2Session: client_secret_basic, client_secret_post, and
#            private_key_jwt signed by its PrivateKeyJWT
#            (test_authlib.py)
#
#   bash tests/clients/run.sh                # all three
#   bash tests/clients/run.sh mcp authlib    # some
#
# Installs what is missing: node_modules from the committed package-lock.json (npm ci) and a
# Python venv in tests/clients/.venv from requirements.txt (rebuilt when either file changes).
# Env: GPTAUTH_BIN (default: debug/gptauth in cargo's target directory, built with `cargo build` if missing),
#      GPTAUTH_LOG (the servers' RUST_LOG, default warn).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# The build where cargo puts it (CARGO_TARGET_DIR, a config's build.target-dir, or ./target).
TARGET_DIR="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
[[ -n "$TARGET_DIR" ]] || { echo "run.sh: cargo metadata names no target_directory" >&2; exit 1; }
DEFAULT_BIN="$TARGET_DIR/debug/gptauth"
export GPTAUTH_BIN="${GPTAUTH_BIN:-$DEFAULT_BIN}"

suites=("$@")
[[ ${#suites[@]} -gt 0 ]] || suites=(mcp openid authlib)
for s in "${suites[@]}"; do
  case "$s" in
    mcp | openid | authlib) ;;
    *) echo "run.sh: unknown suite '$s' (mcp, openid, authlib)" >&2; exit 2 ;;
  esac
done
wants() { local s; for s in "${suites[@]}"; do [[ "$s" == "$1" ]] && return 0; done; return 1; }

for tool in node npm python3; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 1; }
done

if [[ ! -x "$GPTAUTH_BIN" ]]; then
  if [[ "$GPTAUTH_BIN" != "$DEFAULT_BIN" ]]; then
    echo "run.sh: GPTAUTH_BIN=$GPTAUTH_BIN is not an executable" >&2
    exit 1
  fi
  echo "run.sh: building gptauth" >&2
  (cd "$ROOT" && cargo build --quiet)
fi

cd "$HERE"

if wants mcp || wants openid; then
  # Node: exactly the committed lock file, reinstalled when it changes.
  stamp="$(sha256sum package-lock.json | cut -d' ' -f1)"
  if [[ "$(cat node_modules/.lock.sha256 2>/dev/null)" != "$stamp" ]]; then
    echo "run.sh: npm ci (MCP SDK, openid-client, jose, express)" >&2
    npm ci --no-audit --no-fund --loglevel=error
    echo "$stamp" >node_modules/.lock.sha256
  fi
fi

if wants authlib; then
  # Python: a venv of its own, rebuilt when requirements.txt changes.
  VENV="$HERE/.venv"
  stamp="$(sha256sum requirements.txt | cut -d' ' -f1)"
  if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$stamp" ]]; then
    echo "run.sh: creating $VENV (authlib, requests, PyJWT, pytest)" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
    echo "$stamp" >"$VENV/.requirements.sha256"
  fi
fi

passed=() failed=()
record() { if [[ $2 -eq 0 ]]; then passed+=("$1"); else failed+=("$1"); fi; }

node_suite() { # FILE: one node --test run per file, so that each passes or fails on its own
  echo "==> node --test $1"
  local status=0
  node --test --test-timeout=120000 "$1" || status=$?
  record "$1" "$status"
}
if wants mcp; then node_suite mcp-sdk.test.mjs; fi
if wants openid; then node_suite openid-client.test.mjs; fi

if wants authlib; then
  echo "==> pytest test_authlib.py"
  status=0
  PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" -m pytest -p no:cacheprovider -q -rA test_authlib.py || status=$?
  record test_authlib.py "$status"
fi

echo
[[ ${#passed[@]} -eq 0 ]] || echo "run.sh: passed: ${passed[*]}"
[[ ${#failed[@]} -eq 0 ]] || echo "run.sh: FAILED: ${failed[*]}"
echo "suites: ${#passed[@]} passed, ${#failed[@]} failed"
[[ ${#failed[@]} -eq 0 ]]
