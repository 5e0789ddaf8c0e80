#!/usr/bin/env bash
# The marketplace browse load test (docs/performance.md, "Marketplace browse").
#
# Serves a seeded database with a release build on loopback and drives it with wrk
# from this (second) process: each endpoint for DURATION seconds at CONNECTIONS
# connections, /health in the same run for comparison. Bounded: every wrk run ends
# after DURATION seconds; the server is stopped at the end.
#
#   cargo build --release
#   ./target/release/cadenza bench seed-marketplace --database-url sqlite://$DIR/market.db
#   DB=sqlite://$DIR/market.db ./scripts/load-marketplace.sh
set -euo pipefail

DB=${DB:?set DB to the seeded DATABASE_URL}
PORT=${PORT:-18080}
DURATION=${DURATION:-15}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-1}
BIN=${BIN:-./target/release/cadenza}
BASE="http://127.0.0.1:$PORT"
LOG=$(mktemp)

CADENZA_LISTEN=127.0.0.1:$PORT DATABASE_URL=$DB CADENZA_JWT_SECRET=load-test-secret-0123456789abcdef \
  CADENZA_MAIL_WORKER=false CADENZA_MARKET_SWEEP_SECS=0 CADENZA_ACCESS_TOKEN_TTL=3600 \
  CADENZA_DATA_DIR=$(mktemp -d) RUST_LOG=warn "$BIN" serve >"$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "$BASE/health" >/dev/null 2>&1 && break
  sleep 0.1
done

TOKEN=$(curl -fsS -H 'content-type: application/json' \
  -d '{"email":"bench+01@cadenza.test","password":"bench-password-1"}' \
  "$BASE/api/v1/auth/login" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
PROBE=${PROBE:-$(curl -fsS -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/offers?limit=1&facets=false" \
  | sed -E 's/.*"sample_tracks":\[\{"isrc":"([A-Z0-9]+)".*/\1/')}

# The first browse with facets loads every offer's genre/label keys into memory
# (src/db/marketplace.rs, facet_keys); time it apart from the steady state.
WARM=$(curl -fsS -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/offers")
echo "first browse after start (loads the facet index): ${WARM}s"
echo

run() {
  local name=$1 path=$2
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
    -H "Authorization: Bearer $TOKEN" "$BASE$path")
  local rps p50 p99 non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  printf '| %s | `%s` | %s | %s | %s | %s |\n' "$name" "$path" "$rps" "$p50" "$p99" "${non2xx:-0}"
}

echo "| endpoint | path | requests/s | p50 | p99 | non-2xx |"
echo "| --- | --- | --- | --- | --- | --- |"
run "health (baseline)" "/health"
run "browse, first page + facets" "/api/v1/offers"
run "browse, no facets" "/api/v1/offers?facets=false"
run "browse, territory + usage + genre" "/api/v1/offers?territory=CN&usage=download&genre=pop"
run "browse, label filter" "/api/v1/offers?label=Label%200001"
run "browse, price sort + max_price" "/api/v1/offers?sort=price&currency=USD&max_price=2000000"
run "browse, size sort, 20 per page" "/api/v1/offers?sort=size&limit=20&facets=false"
run "who offers this recording" "/api/v1/marketplace/tracks/$PROBE"
run "health (again, after)" "/health"
