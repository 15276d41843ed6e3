#!/usr/bin/env bash
# Runs schemathesis against a live gptauth's own OpenAPI document (GET /openapi.json): every
# JSON and form endpoint gets a bounded number of generated requests, valid and invalid, and
# each answer must be no 5xx, have a documented status, content type and body schema.
#
#   bash tests/schema/run.sh
#
# Needs python3 (with venv); installs schemathesis into tests/schema/.venv on first use.
# Env: GPTAUTH_BIN (default: debug/gptauth in cargo's target directory, built with `cargo build` if missing),
# SCHEMA_MAX_EXAMPLES (default 30 per operation), SCHEMA_MAX_TIME (default 90 seconds: fuzzing repeats until it is spent).
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

command -v python3 >/dev/null || { echo "run.sh: python3 is required" >&2; exit 1; }
command -v curl >/dev/null || { echo "run.sh: curl is required" >&2; exit 1; }

cd "$HERE"

# A venv of its own, (re)made when requirements.txt changes.
VENV="$HERE/.venv"
stamp="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$stamp" ]]; then
  echo "run.sh: installing schemathesis into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$stamp" >"$VENV/.requirements.sha256"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/gptauth-schema-XXXXXX")"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
export DATABASE_URL="sqlite://$WORK/gptauth.db"
export GPTAUTH_ISSUER="$BASE"
export GPTAUTH_BIND="127.0.0.1:$PORT"
export RUST_LOG="${RUST_LOG:-warn}"

# Data made with the CLI, so that some generated requests authenticate.
"$GPTAUTH_BIN" migrate >"$WORK/cli.log" 2>&1
"$GPTAUTH_BIN" client create --name "schemathesis" --redirect-uri "https://client.example/cb" \
  --json >"$WORK/client.json" 2>>"$WORK/cli.log"
"$GPTAUTH_BIN" user create --email "schema@example.com" --name "Schema" \
  --password "schemathesis-password-1" --json >/dev/null 2>>"$WORK/cli.log"
json_field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }
export SCHEMA_CLIENT_ID="$(json_field "$WORK/client.json" client_id)"
export SCHEMA_CLIENT_SECRET="$(json_field "$WORK/client.json" client_secret)"

"$GPTAUTH_BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "run.sh: gptauth serve exited" >&2
    cat "$WORK/server.log" >&2
    exit 1
  fi
  sleep 0.1
done
curl -fsS "$BASE/healthz" >/dev/null

# A dynamically registered client, for the RFC 7592 management operations.
curl -fsS -H 'Content-Type: application/json' \
  -d '{"redirect_uris": ["https://client.example/cb"], "client_name": "schemathesis"}' \
  "$BASE/oauth/register" >"$WORK/registered.json"
export SCHEMA_REGISTERED_CLIENT="$(json_field "$WORK/registered.json" client_id)"
export SCHEMA_REGISTRATION_TOKEN="$(json_field "$WORK/registered.json" registration_access_token)"

status=0
"$VENV/bin/schemathesis" --config-file "$HERE/schemathesis.toml" run "$BASE/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${SCHEMA_MAX_EXAMPLES:-30}" \
  --max-time "${SCHEMA_MAX_TIME:-90}" \
  --request-timeout 10 \
  --seed "${SCHEMA_SEED:-1}" \
  --generation-database none \
  --no-color || status=$?

if [[ $status -ne 0 ]]; then
  echo "run.sh: schemathesis failed (exit $status); server log:" >&2
  tail -n 50 "$WORK/server.log" >&2
fi
exit "$status"
