#!/usr/bin/env bash
# The marketplace read-path load test (docs/performance.md, "Marketplace browse").
#
# Serves a seeded database with a release build on loopback and drives it with wrk
# from this (second) process: each endpoint for DURATION seconds at CONNECTIONS
# connections, /health in the same run (before and after) for the ratio. Bounded:
# every wrk run ends after DURATION seconds (each after a WARMUP-second unrecorded run); the server is stopped at the end.
# Opens one deal (organization 1 as licensee, from another organization's offer) for
# the deal-room read. READ_CACHE_MIB=0 runs the same load with the read caches off.
#
#   cargo build --release
#   ./target/release/cadenza bench seed-marketplace --database-url sqlite://$DIR/market.db
#   DB=sqlite://$DIR/market.db ./scripts/load-marketplace.sh
#   (PostgreSQL: createdb, then DB=postgres://postgres@127.0.0.1:5432/market)
set -euo pipefail

DB=${DB:?set DB to the seeded DATABASE_URL}
PORT=${PORT:-18080}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-1}
BIN=${BIN:-./target/release/cadenza}
BASE="http://127.0.0.1:$PORT"
LOG=$(mktemp)
READ_CACHE_MIB=${READ_CACHE_MIB:-64}
for tool in wrk jq curl; do
  command -v "$tool" >/dev/null || { echo "load: $tool is needed (apt-get install $tool)" >&2; exit 1; }
done

CADENZA_LISTEN=127.0.0.1:$PORT DATABASE_URL=$DB CADENZA_JWT_SECRET=load-test-secret-0123456789abcdef \
  CADENZA_MAIL_WORKER=false CADENZA_SWEEP_INTERVAL=0 CADENZA_ACCESS_TOKEN_TTL=3600 \
  CADENZA_DATA_DIR=$(mktemp -d) CADENZA_READ_CACHE_MIB=$READ_CACHE_MIB RUST_LOG=warn,cadenza::catalogs=info "$BIN" serve >"$LOG" 2>&1 &
SERVER=$!
STARTED=$(date +%s.%N)
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  curl -fsS "$BASE/health" >/dev/null 2>&1 && break
  sleep 0.1
done
READY=$(date +%s.%N)
echo "start to ready (migrations, facet index loaded before listening): $(echo "$READY - $STARTED" | bc)s"

TOKEN=$(curl -fsS -H 'content-type: application/json' \
  -d '{"email":"bench+01@cadenza.test","password":"bench-password-1"}' \
  "$BASE/api/v1/auth/login" | jq -r .access_token)
AUTH="Authorization: Bearer $TOKEN"

# The very first marketplace request after the start.
FIRST=$(curl -fsS -o /dev/null -w '%{time_total}' -H "$AUTH" "$BASE/api/v1/offers")
echo "first browse after start: ${FIRST}s"
echo

# A start warms the postings cache in the background (every catalog, biggest first):
# on two cores it competes with the load, so the steady state is measured after it.
for _ in $(seq 1 1200); do
  grep -q "postings cache warmed\|warming the postings cache failed" "$LOG" && break
  sleep 0.1
done
echo "postings warm-up after start: $(echo "$(date +%s.%N) - $READY" | bc)s (steady state measured from here)"

ME=$(curl -fsS -H "$AUTH" "$BASE/api/v1/me" | jq -r '.organization.id // .organization_id')
OFFER=$(curl -fsS -H "$AUTH" "$BASE/api/v1/offers?limit=100&facets=false" \
  | jq -r --arg me "$ME" '[.items[] | select(.licensor.organization_id != $me and .organization_id != $me)][0].id')
PROBE=${PROBE:-$(curl -fsS -H "$AUTH" "$BASE/api/v1/offers/$OFFER" | jq -r '.sample_tracks[0].isrc')}
DEAL=$(curl -fsS -H "$AUTH" -H 'content-type: application/json' -d "{\"offer_id\":\"$OFFER\"}" \
  "$BASE/api/v1/deals" | jq -r .id)

run() {
  local name=$1 path=$2
  local out
  # A short unrecorded run first: the pool's connections, the first miss of each
  # answer and the allocator settle before the measured run.
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" -H "$AUTH" "$BASE$path" >/dev/null
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
    -H "$AUTH" "$BASE$path")
  local rps avg p50 p99 max non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  avg=$(echo "$out" | awk '$1=="Latency" {print $2; exit}')
  max=$(echo "$out" | awk '$1=="Latency" {print $4; exit}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  printf '| %s | `%s` | %s | %s | %s | %s | %s | %s |\n' "$name" "$path" "$rps" "$avg" "$p50" "$p99" "$max" "${non2xx:-0}"
}

echo "| endpoint | path | requests/s | mean | p50 | p99 | max | non-2xx |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
run "health (baseline)" "/health"
run "browse, first page + facets" "/api/v1/offers"
run "browse, no facets" "/api/v1/offers?facets=false"
run "browse, territory + usage + genre" "/api/v1/offers?territory=CN&usage=download&genre=pop"
run "browse, label filter" "/api/v1/offers?label=Label%200001"
run "browse, price sort + max_price" "/api/v1/offers?sort=price&currency=USD&max_price=2000000"
run "browse, size sort, 20 per page" "/api/v1/offers?sort=size&limit=20&facets=false"
run "who offers this recording" "/api/v1/marketplace/tracks/$PROBE"
run "one offer" "/api/v1/offers/$OFFER"
run "a page of 1,000 of its tracks" "/api/v1/offers/$OFFER/tracks?limit=1000"
run "deal room read" "/api/v1/deals/$DEAL"
run "health (again, after)" "/health"
