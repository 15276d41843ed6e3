#!/usr/bin/env bash
# One command: build, start each server pinned to CPU 0 (the driver on CPU 1), run every scenario
# against gptauth on SQLite, gptauth on Postgres and panva's oidc-provider, print the table.
#   BENCH_SECONDS (10)  measured seconds per scenario and concurrency
#   BENCH_WARMUP (2)    warm-up seconds before each measurement
#   BENCH_VUS (1,16,64) concurrencies
#   BENCH_TARGETS (sqlite,postgres,peer)
#   BENCH_PG (postgres://postgres@127.0.0.1:5432)  server for the gptauth_bench database
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$BENCH/target}
SECONDS_=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-2}
VUS=${BENCH_VUS:-1,16,64}
TARGETS=${BENCH_TARGETS:-sqlite,postgres,peer}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
SCENARIOS=${BENCH_SCENARIOS:-metadata,refresh,flow,introspect}
REDIRECT=https://chatgpt.com/aip/g-bench/oauth/callback
EMAIL=bench@example.com
PASSWORD=bench-password-123
SERVER_CPU=${BENCH_SERVER_CPU:-0}
DRIVER_CPU=${BENCH_DRIVER_CPU:-1}
OUT=$BENCH/results
WORK=$(mktemp -d)
mkdir -p "$OUT"

echo "== building (release)"
cargo build --release --bin gptauth
(cd "$BENCH/driver" && cargo build --release --locked)
(cd "$BENCH/peers/oidc-provider" && npm ci --no-audit --no-fund --silent)
GPTAUTH=$CARGO_TARGET_DIR/release/gptauth
DRIVER=$CARGO_TARGET_DIR/release/bench-driver

SERVER_PID=
cleanup() {
  if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [[ $TARGETS == *postgres* ]]; then psql "$PG/postgres" -qc 'DROP DATABASE IF EXISTS gptauth_bench' >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_ready() { # url
  for _ in $(seq 1 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done
  echo "server did not become ready at $1" >&2; return 1
}

stop_server() {
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
}

drive() { # label issuer client_id secret note
  taskset -c "$DRIVER_CPU" "$DRIVER" run --label "$1" --issuer "$2" --client-id "$3" --client-secret "$4" \
    --redirect-uri "$REDIRECT" --email "$EMAIL" --password "$PASSWORD" --scope "${SCOPE:-openid}" \
    --scenarios "$SCENARIOS" --vus "$VUS" --seconds "$SECONDS_" --warmup "$WARMUP" --pid "$SERVER_PID" \
    --note "$5" --introspect-token "${INTROSPECT_TOKEN:-access}" --out "$WORK/$1.json" || echo "!! $1: some scenario failed (see above)"
}

gptauth_target() { # label database_url
  local label=$1 db=$2 port=8181
  export DATABASE_URL=$db GPTAUTH_ISSUER=http://127.0.0.1:$port GPTAUTH_BIND=127.0.0.1:$port RUST_LOG=warn
  echo "$PASSWORD" | "$GPTAUTH" user create --email "$EMAIL" --password-stdin >/dev/null
  local client; client=$("$GPTAUTH" client create --name bench --redirect-uri "$REDIRECT" --scope "openid profile email" --id-token-alg ES256 --json)
  local id secret
  id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$client")
  secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$client")
  taskset -c "$SERVER_CPU" "$GPTAUTH" serve >"$WORK/$label.log" 2>&1 &
  SERVER_PID=$!
  wait_ready "http://127.0.0.1:$port/readyz"
  echo "== $label (pid $SERVER_PID)"
  SCOPE=openid drive "$label" "http://127.0.0.1:$port" "$id" "$secret" "$3"
  stop_server
  unset DATABASE_URL GPTAUTH_ISSUER GPTAUTH_BIND
}

if [[ $TARGETS == *sqlite* ]]; then
  gptauth_target gptauth-sqlite "sqlite://$WORK/gptauth.db" "SQLite (WAL) file in a temp dir"
fi
if [[ $TARGETS == *postgres* ]]; then
  psql "$PG/postgres" -qc 'DROP DATABASE IF EXISTS gptauth_bench' -c 'CREATE DATABASE gptauth_bench' >/dev/null
  gptauth_target gptauth-postgres "$PG/gptauth_bench" "Postgres on 127.0.0.1 (not pinned; its CPU is not counted)"
fi
if [[ $TARGETS == *peer* ]]; then
  PORT=8190 taskset -c "$SERVER_CPU" node "$BENCH/peers/oidc-provider/server.mjs" >"$WORK/peer.log" 2>&1 &
  SERVER_PID=$!
  wait_ready "http://127.0.0.1:8190/.well-known/openid-configuration"
  echo "== oidc-provider (pid $SERVER_PID)"
  INTROSPECT_TOKEN=refresh SCOPE="openid api" drive oidc-provider http://127.0.0.1:8190 bench-client bench-secret-0123456789abcdef0123456789 \
    "oidc-provider $(node -p "require('$BENCH/peers/oidc-provider/node_modules/oidc-provider/package.json').version") in-memory adapter (its fastest setting)"
  stop_server
fi

echo
echo "== results ($(nproc) cores, ${SECONDS_}s measured after ${WARMUP}s warm-up; ratios are gptauth / oidc-provider)"
"$DRIVER" report --json "$OUT/latest.json" --md "$OUT/latest.md" \
  "$WORK/gptauth-sqlite.json" "$WORK/gptauth-postgres.json" "$WORK/oidc-provider.json"
