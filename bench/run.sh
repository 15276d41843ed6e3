#!/usr/bin/env bash
# One command: build, start each server pinned to CPU 0 (the driver on CPU 1), run every scenario
# against gptauth on SQLite, gptauth on Postgres and panva's oidc-provider, print the table and
# draw the chart.
#   BENCH_SECONDS (10)  measured seconds per scenario and concurrency
#   BENCH_WARMUP (2)    warm-up seconds before each measurement
#   BENCH_VUS (1,16,64) concurrencies
#   BENCH_TARGETS (sqlite,postgres,peer)
#   BENCH_SCENARIOS (metadata,refresh,flow,introspect,login,refresh+login-flood,startup)
#                       login, refresh+login-flood: gptauth only (the peer has no password form);
#                       login also times bare argon2id verifies on the server CPU right after login at 1 VU;
#                       startup: gptauth on SQLite only, spawn to a ready /readyz
#   BENCH_FLOOD_VUS (16,64)   refresh VUs, login VUs of refresh+login-flood
#   BENCH_ARGON2_RUNS (30)    bare argon2id verifies (median reported)
#   BENCH_STARTUP_RUNS (10)   start-ups timed
#   BENCH_OUT (bench/results) where latest.json, latest.md and latest.png go
#   BENCH_FONT (/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf)  the chart's font (fonts-dejavu-core)
#   BENCH_PG (postgres://postgres@127.0.0.1:5432)  server for the gptauth_bench database
#   BENCH_PG_DB (gptauth_bench)  that database's name (created and dropped by this script)
#   BENCH_PORT (8181), BENCH_PEER_PORT (8190)  where gptauth and the peer listen
#   BENCH_GPTAUTH, BENCH_DRIVER  prebuilt binaries to use instead of building them
#   BENCH_NPM_CI (1)    0: use the peer's node_modules as they are
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
PG_DB=${BENCH_PG_DB:-gptauth_bench}
PORT_=${BENCH_PORT:-8181}
PEER_PORT=${BENCH_PEER_PORT:-8190}
SCENARIOS=${BENCH_SCENARIOS:-metadata,refresh,flow,introspect,login,refresh+login-flood,startup}
FLOOD_VUS=${BENCH_FLOOD_VUS:-16,64}
ARGON2_RUNS=${BENCH_ARGON2_RUNS:-30}
STARTUP_RUNS=${BENCH_STARTUP_RUNS:-10}
FONT=${BENCH_FONT:-/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf}
REDIRECT=https://chatgpt.com/aip/g-bench/oauth/callback
EMAIL=bench@example.com
PASSWORD=bench-password-123
SERVER_CPU=${BENCH_SERVER_CPU:-0}
DRIVER_CPU=${BENCH_DRIVER_CPU:-1}
OUT=${BENCH_OUT:-$BENCH/results}
WORK=$(mktemp -d)
mkdir -p "$OUT"

has() { [[ ,$1, == *,$2,* ]]; } # list item
without() { # list item… -> the list without those items
  local list=$1 out=() x; shift
  IFS=, read -ra xs <<<"$list"
  for x in "${xs[@]}"; do [[ " $* " == *" $x "* ]] || out+=("$x"); done
  (IFS=,; echo "${out[*]}")
}

if [[ ! -f $FONT ]]; then
  echo "== installing fonts-dejavu-core (the chart's font)"
  SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q fonts-dejavu-core >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q fonts-dejavu-core >/dev/null; } \
    || echo "!! could not install fonts-dejavu-core; the chart will be missing"
fi

echo "== building (release)"
[[ -n ${BENCH_GPTAUTH:-} ]] || cargo build --release --bin gptauth
[[ -n ${BENCH_DRIVER:-} ]] || (cd "$BENCH/driver" && cargo build --release --locked)
if [[ $TARGETS == *peer* && ${BENCH_NPM_CI:-1} == 1 ]]; then
  (cd "$BENCH/peers/oidc-provider" && npm ci --no-audit --no-fund --silent)
fi
GPTAUTH=${BENCH_GPTAUTH:-$CARGO_TARGET_DIR/release/gptauth}
DRIVER=${BENCH_DRIVER:-$CARGO_TARGET_DIR/release/bench-driver}

SERVER_PID=
cleanup() {
  if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [[ $TARGETS == *postgres* ]]; then psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true; fi
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

drive() { # label issuer client_id secret note scenarios [extra driver flags…]
  [[ -n $6 ]] || return 0
  taskset -c "$DRIVER_CPU" "$DRIVER" run --label "$1" --issuer "$2" --client-id "$3" --client-secret "$4" \
    --redirect-uri "$REDIRECT" --email "$EMAIL" --password "$PASSWORD" --scope "${SCOPE:-openid}" \
    --scenarios "$6" --vus "$VUS" --seconds "$SECONDS_" --warmup "$WARMUP" --pid "$SERVER_PID" \
    --flood-refresh-vus "${FLOOD_VUS%%,*}" --flood-login-vus "${FLOOD_VUS##*,}" \
    --note "$5" --introspect-token "${INTROSPECT_TOKEN:-access}" --out "$WORK/$1.json" "${@:7}" \
    || echo "!! $1: some scenario failed (see above)"
}

stored_hash() { # database_url email -> the user's argon2id PHC string (empty if it cannot be read)
  if [[ $1 == sqlite://* ]]; then
    python3 -c 'import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute("SELECT password_hash FROM users WHERE email=?",(sys.argv[2],)).fetchone(); print(r[0] if r else "")' "${1#sqlite://}" "$2" 2>/dev/null || true
  else
    psql "$1" -tAc "SELECT password_hash FROM users WHERE email = '$2'" 2>/dev/null || true
  fi
}

gptauth_target() { # label database_url
  local label=$1 db=$2 port=$PORT_
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
  # With login: bare argon2id verifies of the stored hash (the server's parameters), timed by the
  # driver in a thread pinned to the server's CPU right after login at 1 VU, the server idle.
  local argon2=(); has "$SCENARIOS" login && argon2=(--argon2-out "$WORK/$label-argon2.json" \
    --argon2-cpu "$SERVER_CPU" --argon2-hash "$(stored_hash "$db" "$EMAIL")" --argon2-runs "$ARGON2_RUNS")
  SCOPE=openid drive "$label" "http://127.0.0.1:$port" "$id" "$secret" "$3" "$(without "$SCENARIOS" startup)" "${argon2[@]}"
  stop_server
  if [[ $db == sqlite://* ]] && has "$SCENARIOS" startup; then
    echo "== $label: start-up to ready /readyz, $STARTUP_RUNS runs (existing, migrated database)"
    taskset -c "$DRIVER_CPU" "$DRIVER" startup --url "http://127.0.0.1:$port/readyz" --runs "$STARTUP_RUNS" --every-ms 2 \
      --label "$label" --out "$WORK/$label-startup.json" -- taskset -c "$SERVER_CPU" "$GPTAUTH" serve \
      || echo "!! $label: start-up timing failed"
  fi
  unset DATABASE_URL GPTAUTH_ISSUER GPTAUTH_BIND
}

if [[ $TARGETS == *sqlite* ]]; then
  gptauth_target gptauth-sqlite "sqlite://$WORK/gptauth.db" "SQLite (WAL) file in a temp dir"
fi
if [[ $TARGETS == *postgres* ]]; then
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB" >/dev/null
  gptauth_target gptauth-postgres "$PG/$PG_DB" "Postgres on 127.0.0.1 (not pinned; its CPU is not counted)"
fi
if [[ $TARGETS == *peer* ]]; then
  PORT=$PEER_PORT taskset -c "$SERVER_CPU" node "$BENCH/peers/oidc-provider/server.mjs" >"$WORK/peer.log" 2>&1 &
  SERVER_PID=$!
  wait_ready "http://127.0.0.1:$PEER_PORT/.well-known/openid-configuration"
  echo "== oidc-provider (pid $SERVER_PID)"
  INTROSPECT_TOKEN=refresh SCOPE="openid api" drive oidc-provider http://127.0.0.1:$PEER_PORT bench-client bench-secret-0123456789abcdef0123456789 \
    "oidc-provider $(node -p "require('$BENCH/peers/oidc-provider/node_modules/oidc-provider/package.json').version") in-memory adapter (its fastest setting)" \
    "$(without "$SCENARIOS" login refresh+login-flood startup)"
  stop_server
fi

echo
echo "== results ($(nproc) cores, ${SECONDS_}s measured after ${WARMUP}s warm-up; ratios are gptauth / oidc-provider)"
"$DRIVER" report --json "$OUT/latest.json" --md "$OUT/latest.md" --png "$OUT/latest.png" --font "$FONT" \
  "$WORK/gptauth-sqlite.json" "$WORK/gptauth-postgres.json" "$WORK/oidc-provider.json" \
  "$WORK/gptauth-sqlite-argon2.json" "$WORK/gptauth-postgres-argon2.json" "$WORK/gptauth-sqlite-startup.json"
