#!/usr/bin/env bash
# Fuzz the running API against its own OpenAPI document with schemathesis.
#
# Starts `cadenza serve` (the debug binary `cargo test` has built) on a free port
# with a throw-away SQLite database, creates a small but real market through the
# API (two organizations, a catalog with imported tracks, a slice, an offer, a
# request, an executed deal with its grant and schedule, a deal under
# negotiation, notifications), then lets schemathesis generate requests for every
# operation with all its checks on (two narrow exceptions, explained in docs/api.md,
# "The OpenAPI document"): no 5xx, every status, content type, header and body as
# documented. The ids of the seeded resources are fed to the fuzzer as dictionaries
# so that path parameters reach real rows, not only 404s.
#
# The server runs on SQLite (a throw-away file) or PostgreSQL (a throw-away database
# created through CADENZA_TEST_POSTGRES_URL and dropped afterwards): CI runs both, since
# input one backend stores and the other refuses (NUL characters) hid on SQLite alone.
# Generated strings may hold NUL characters (`allow-x00`).
#
# Exit status: 0 when schemathesis finds nothing, non-zero otherwise. The server
# is always stopped (trap). Usage: .ci/schemathesis.sh [BINARY] [sqlite|postgres]
# While investigating: SCHEMATHESIS_MAX_EXAMPLES, SCHEMATHESIS_SEED,
# SCHEMATHESIS_PHASES (default examples,coverage,fuzzing; `stateful` is off in CI) and
# SCHEMATHESIS_ARGS (extra options, e.g. "--include-path-regex /deals --report har").
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${1:-target/debug/cadenza}"
backend="${2:-sqlite}"
# Test cases per operation and phase; small enough for a few minutes on 2 cores.
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-50}"
venv="${SCHEMATHESIS_VENV:-target/ci-venv}"
started=$(date +%s)

fail() {
  echo "ci: schemathesis ($backend): FAILED: $*" >&2
  exit 1
}

[ -x "$bin" ] || fail "$bin is not built (cargo test builds it)"

# ---- the Python tool, pinned, in a venv of its own ---------------------------------
requirements=.ci/requirements-schemathesis.txt
if [ ! -x "$venv/bin/schemathesis" ] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
  echo "ci: schemathesis ($backend): installing $(grep -v '^#' "$requirements" | tr '\n' ' ')into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || fail "python3 -m venv failed (is python3-venv installed?)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" ||
    fail "pip install -r $requirements failed"
  cp "$requirements" "$venv/requirements.txt"
fi
venv=$(cd "$venv" && pwd)

# ---- the server ------------------------------------------------------------------------
work=$(mktemp -d)
server_pid=""
fuzzer_pid=""
pg_database=""
pg_admin="${CADENZA_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
case "$backend" in
  sqlite) database_url="sqlite://$work/data/cadenza.db" ;;
  postgres)
    pg_database="cadenza_test_schemathesis_$$"
    psql "$pg_admin" -qc "CREATE DATABASE \"$pg_database\"" || fail "cannot create a PostgreSQL database through $pg_admin"
    # The admin URL with the scratch database in place of its own.
    database_url="${pg_admin%/*}/$pg_database"
    ;;
  *) fail "unknown backend '$backend' (sqlite or postgres)" ;;
esac
cleanup() {
  if [ -n "$fuzzer_pid" ] && kill -0 "$fuzzer_pid" 2>/dev/null; then
    kill "$fuzzer_pid" 2>/dev/null || true
    wait "$fuzzer_pid" 2>/dev/null || true
  fi
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -INT "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$pg_database" ]; then
    psql "$pg_admin" -qc "DROP DATABASE IF EXISTS \"$pg_database\" WITH (FORCE)" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
# Interrupted (Ctrl-C, a CI timeout): exit, so the EXIT trap stops the server.
trap 'exit 130' INT TERM

# A free port: bind port 0 and read what the kernel chose.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# No webhook worker: an endpoint URL the fuzzer registers is never called from CI.
CADENZA_LISTEN="127.0.0.1:$port" \
  CADENZA_WEBHOOKS_WORKER=false \
  CADENZA_DATA_DIR="$work/data" \
  DATABASE_URL="$database_url" \
  CADENZA_SWEEP_INTERVAL=0 \
  CADENZA_ACCESS_TOKEN_TTL=7200 \
  CADENZA_LOG_FORMAT=json \
  RUST_LOG="${RUST_LOG:-warn}" \
  "$bin" serve >"$work/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 1 60); do
  curl -fsS "$base/ready" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "the server died at start"; }
  sleep 0.5
done
curl -fsS "$base/ready" >/dev/null || { cat "$work/server.log" >&2; fail "the server never became ready"; }
echo "ci: schemathesis ($backend): server up at $base"

# ---- a small market, through the API ----------------------------------------------------
# call METHOD PATH TOKEN [JSON] -> prints the body; fails loudly on a non-2xx answer.
call() {
  local method=$1 path=$2 token=$3 body=${4-}
  local args=(-sS -o "$work/body" -w '%{http_code}' -X "$method" "$base$path")
  [ -n "$token" ] && args+=(-H "authorization: Bearer $token")
  [ -n "$body" ] && args+=(-H 'content-type: application/json' --data-binary "$body")
  local status
  status=$(curl "${args[@]}")
  if [ "${status:0:1}" != 2 ]; then
    echo "ci: schemathesis ($backend): seeding: $method $path answered $status:" >&2
    cat "$work/body" >&2
    echo >&2
    fail "could not seed the market"
  fi
  cat "$work/body"
}
# get FIELD <<< JSON: one field by a Python expression on `d` (the parsed document).
get() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

password='correct horse battery staple'
register() {
  call POST /api/v1/auth/register "" \
    "{\"organization\": {\"name\": \"$1\", \"kind\": \"platform\"},
      \"user\": {\"email\": \"$2\", \"password\": \"$password\", \"name\": \"$1 owner\"}}" >/dev/null
  call POST /api/v1/auth/login "" "{\"email\": \"$2\", \"password\": \"$password\"}" | get 'd["access_token"]'
}
licensor=$(register 'Harbor Music' owner@harbor.test)
licensee=$(register 'Lantern Audio' owner@lantern.test)
licensor_org=$(call GET /api/v1/me "$licensor" | get 'd["organization"]["id"]')
licensee_org=$(call GET /api/v1/me "$licensee" | get 'd["organization"]["id"]')

catalog=$(call POST /api/v1/catalogs "$licensor" \
  '{"name": "Harbor catalog", "territories": ["CN", "HK", "TW"],
    "usages": ["interactive_streaming", "non_interactive_streaming", "download"],
    "holding_start": "2020-01-01", "holding_end": "2040-12-31", "sublicensable": true}' | get 'd["id"]')
"$bin" generate-catalog --tracks 400 --seed 11 --output "$work/catalog.csv"
status=$(curl -sS -o "$work/body" -w '%{http_code}' -X POST "$base/api/v1/catalogs/$catalog/imports" \
  -H "authorization: Bearer $licensor" -H 'content-type: text/csv' --data-binary "@$work/catalog.csv")
[ "$status" = 200 ] || { cat "$work/body" >&2; fail "the catalog import answered $status"; }
isrc=$(call GET "/api/v1/catalogs/$catalog/tracks?limit=1" "$licensor" | get 'd["items"][0]["isrc"]')

slice=$(call POST "/api/v1/catalogs/$catalog/slices" "$licensor" \
  '{"name": "Rock and Pop", "selector": {"genres": ["Rock", "Pop"]}}' | get 'd["id"]')
# A second slice with a disjoint content, for the deal under negotiation.
slice2=$(call POST "/api/v1/catalogs/$catalog/slices" "$licensor" \
  '{"name": "Hip-Hop", "selector": {"genres": ["Hip-Hop"]}}' | get 'd["id"]')

terms() { # SLICE EXCLUSIVE
  cat <<JSON
{"slice_id": "$1", "territories": ["CN"], "usages": ["interactive_streaming"],
 "start_date": "2027-01-01", "end_date": "2029-12-31", "exclusive": $2, "sublicensable": false,
 "currency": "CNY", "upfront_fee": "1000000.00", "minimum_guarantee": "2000000.00",
 "per_stream_rate": "0.0045", "revenue_share_percent": null,
 "installments": [{"due_date": "2027-01-15", "amount": "1500000.00"},
                  {"due_date": "2027-07-15", "amount": "1500000.00"}],
 "clauses": "Standard CN streaming sublicence.", "respond_by": "2030-06-30T00:00:00Z"}
JSON
}
offer=$(call POST /api/v1/offers "$licensor" \
  "{\"title\": \"Rock and Pop for China\", \"slice_id\": \"$slice\", \"terms\": $(terms "$slice" false),
    \"visibility\": \"public\", \"expires_at\": \"2030-01-01T00:00:00Z\"}" | get 'd["id"]')
request=$(call POST /api/v1/requests "$licensee" \
  '{"title": "Pop for Hong Kong", "selector": {"genres": ["Pop"]}, "territories": ["HK"],
    "usages": ["interactive_streaming"], "start_date": "2027-06-01", "end_date": "2028-12-31",
    "budget": "1500000.00", "currency": "CNY", "visibility": "public",
    "expires_at": "2030-01-01T00:00:00Z"}' | get 'd["id"]')

# transition TOKEN DEAL ACTION BODY -> the deal after it (If-Match from a fresh read).
transition() {
  local version
  version=$(call GET "/api/v1/deals/$2" "$1" | get 'd["version"]')
  local status
  status=$(curl -sS -o "$work/body" -w '%{http_code}' -X POST "$base/api/v1/deals/$2/$3" \
    -H "authorization: Bearer $1" -H "if-match: \"$version\"" \
    -H 'content-type: application/json' --data-binary "$4")
  [ "$status" = 200 ] || { cat "$work/body" >&2; fail "seeding: $3 on deal $2 answered $status"; }
  cat "$work/body"
}
# Executed: opened from the offer, submitted, accepted, signed by both sides.
executed=$(call POST /api/v1/deals "$licensee" "{\"offer_id\": \"$offer\"}" | get 'd["id"]')
transition "$licensee" "$executed" submit '{}' >/dev/null
hash=$(transition "$licensor" "$executed" accept '{}' | get 'd["terms_hash"]')
transition "$licensor" "$executed" sign "{\"terms_hash\": \"$hash\"}" >/dev/null
grant=$(transition "$licensee" "$executed" sign "{\"terms_hash\": \"$hash\"}" | get 'd["grant_id"]')
installment=$(call GET "/api/v1/deals/$executed/installments" "$licensor" | get 'd["installments"][0]["id"]')
call POST "/api/v1/installments/$installment/payments" "$licensor" \
  '{"amount": "500000.00", "paid_on": "2026-01-10", "reference": "TT-1"}' >/dev/null
# Negotiating, on the licensor's turn after a counter: every transition has a target.
negotiating=$(call POST /api/v1/deals "$licensee" \
  "{\"counterparty_id\": \"$licensor_org\", \"role\": \"licensee\", \"terms\": $(terms "$slice2" true)}" | get 'd["id"]')
transition "$licensee" "$negotiating" submit '{}' >/dev/null
# A draft of the licensor's own.
draft=$(call POST /api/v1/deals "$licensor" \
  "{\"counterparty_id\": \"$licensee_org\", \"role\": \"licensor\", \"terms\": $(terms "$slice2" false)}" | get 'd["id"]')
call POST /api/v1/invitations "$licensor" '{"email": "signer@harbor.test", "role": "signer"}' >/dev/null
member=$(call GET /api/v1/members "$licensor" | get 'd["items"][0]["id"]')
notification=$(call GET /api/v1/notifications "$licensor" | get 'd["items"][0]["id"] if d["items"] else ""')
# A webhook endpoint on a public address literal (no DNS needed; never called: the worker
# is off) with one queued test delivery.
webhook=$(call POST /api/v1/webhooks/endpoints "$licensor" \
  '{"url": "https://93.184.216.34/hooks", "event_types": ["deal_submitted", "deal_countered"]}' | get 'd["id"]')
delivery=$(call POST "/api/v1/webhooks/endpoints/$webhook/test" "$licensor" '{}' | get 'd["delivery_id"]')
echo "ci: schemathesis ($backend): seeded catalog $catalog (400 tracks), slices, offer, request, deals (executed, negotiating, draft), grant $grant"

# ---- the fuzzer ---------------------------------------------------------------------------
# Path parameters draw from the seeded ids most of the time and are generated freely
# otherwise, so both the real code paths and the 404s are exercised.
ids() { printf '"%s", ' "$@" | sed 's/, $//'; }
cat >"$work/schemathesis.toml" <<TOML
# Its state between runs (cases that failed before are replayed first) stays under
# target/, out of the work tree.
[cache]
directory = "$PWD/target/schemathesis-cache"

# NUL characters in generated strings: PostgreSQL cannot store them, so they must be
# refused at the edge (400/422), never reach a query (500).
[generation]
allow-x00 = true

[dictionaries.deals]
values = [$(ids "$executed" "$negotiating" "$draft")]
[dictionaries.catalogs]
values = [$(ids "$catalog")]
[dictionaries.slices]
values = [$(ids "$slice" "$slice2")]
[dictionaries.grants]
values = [$(ids "$grant")]
[dictionaries.installments]
values = [$(ids "$installment")]
[dictionaries.offers]
values = [$(ids "$offer")]
[dictionaries.requests]
values = [$(ids "$request")]
[dictionaries.members]
values = [$(ids "$member")]
[dictionaries.notifications]
values = [$(ids "${notification:-none}")]
[dictionaries.isrcs]
values = [$(ids "$isrc")]
[dictionaries.webhook_endpoints]
values = [$(ids "$webhook")]
[dictionaries.webhook_deliveries]
values = [$(ids "$delivery")]

[[operations]]
include-path-regex = '^/api/v1/deals/\{id\}'
parameters = { "path.id" = { dictionary = "deals", probability = 0.8 } }
[[operations]]
include-path-regex = '^/api/v1/catalogs/\{id\}'
parameters = { "path.id" = { dictionary = "catalogs", probability = 0.8 } }
[[operations]]
include-path-regex = '^/api/v1/slices/\{id\}'
parameters = { "path.id" = { dictionary = "slices", probability = 0.8 }, "path.isrc" = { dictionary = "isrcs", probability = 0.5 } }
[[operations]]
include-path-regex = '^/api/v1/grants/\{id\}'
parameters = { "path.id" = { dictionary = "grants", probability = 0.8 } }
[[operations]]
include-path-regex = '^/api/v1/installments/\{id\}'
parameters = { "path.id" = { dictionary = "installments", probability = 0.8 } }
[[operations]]
include-path-regex = '^/api/v1/offers/\{id\}'
parameters = { "path.id" = { dictionary = "offers", probability = 0.8 } }
[[operations]]
include-path-regex = '^/api/v1/requests/\{id\}'
parameters = { "path.id" = { dictionary = "requests", probability = 0.8 } }
[[operations]]
include-path-regex = '^/api/v1/members/\{id\}'
parameters = { "path.id" = { dictionary = "members", probability = 0.8 } }
[[operations]]
include-path-regex = '^/api/v1/notifications/\{id\}'
parameters = { "path.id" = { dictionary = "notifications", probability = 0.8 } }
[[operations]]
include-path-regex = '^/api/v1/webhooks/endpoints/\{id\}'
parameters = { "path.id" = { dictionary = "webhook_endpoints", probability = 0.8 } }
[[operations]]
include-path-regex = '^/api/v1/webhooks/deliveries/\{id\}'
parameters = { "path.id" = { dictionary = "webhook_deliveries", probability = 0.8 } }
[[operations]]
include-path-regex = '^/api/v1/marketplace/tracks/\{isrc\}'
parameters = { "path.isrc" = { dictionary = "isrcs", probability = 0.5 } }

# A deal transition without If-Match is 428 Precondition Required (RFC 6585), the
# status made for exactly this; the check's default list predates it. With a stale
# If-Match it is 412 whatever the body: preconditions are evaluated before the
# content is processed (RFC 9110 §13.2.1), so a schema-violating body under a stale
# version is refused with 412, which is a refusal too.
[[operations]]
include-path-regex = '^/api/v1/deals/\{id\}/(submit|counter|accept|reject|withdraw|sign|terminate)$'
checks.missing_required_header.expected-statuses = [400, 401, 403, 406, 415, 422, 428]
checks.negative_data_rejection.expected-statuses = [400, 401, 403, 404, 405, 406, 409, 412, 415, 422, 428, 429]
TOML

report="${SCHEMATHESIS_REPORT_DIR:-target/schemathesis-report}/$backend"
mkdir -p "$report"
report=$(cd "$report" && pwd)
echo "ci: schemathesis ($backend): fuzzing $base/api/openapi.json ($max_examples examples per operation and phase)"
# In the background with `wait`, so an interruption is handled at once (the EXIT trap
# stops the fuzzer and the server) instead of after the whole run.
set +e
# Run from the scratch directory: Hypothesis leaves a `.hypothesis/` wherever it runs.
# `filter_too_much` is a generation-efficiency health check, not an API check: the catalog
# import's body may be XML or a tar (DDEX, docs/ddex.md), and schemathesis discards most of
# the strings it draws for those media types because it cannot serialize them, which
# trips the check for that one operation (its other media types are still fuzzed).
(cd "$work" && exec "$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$base/api/openapi.json" \
  --header "Authorization: Bearer $licensor" \
  --checks all \
  --exclude-checks positive_data_acceptance \
  --phases "${SCHEMATHESIS_PHASES:-examples,coverage,fuzzing}" \
  --max-examples "$max_examples" \
  --workers 2 \
  --seed "${SCHEMATHESIS_SEED:-1}" \
  --generation-database none \
  --request-timeout 30 \
  --suppress-health-check filter_too_much \
  --continue-on-failure \
  --no-color \
  --report junit --report-dir "$report" \
  ${SCHEMATHESIS_ARGS:-}) >"$work/schemathesis.out" 2>&1 &
fuzzer_pid=$!
# Shown as it runs; `tail` ends by itself once the fuzzer has exited and all is printed.
tail -n +1 -f --pid="$fuzzer_pid" "$work/schemathesis.out" &
tail_pid=$!
wait "$fuzzer_pid"
rc=$?
fuzzer_pid=""
wait "$tail_pid"
set -e

# A 5xx is logged by the server with its cause (`request failed`); show them next to
# the failure. (actix logs a client's malformed header at ERROR too: not ours, left out.)
if grep -q 'request failed' "$work/server.log"; then
  echo "ci: schemathesis ($backend): server errors logged during the run:" >&2
  grep 'request failed' "$work/server.log" | head -n 20 >&2
fi
elapsed=$(($(date +%s) - started))
summary=$(
  operations=$(sed -n 's/^ *Tested: *\([0-9]*\).*/\1/p' "$work/schemathesis.out" | tail -n 1)
  cases=$(grep -E '^ *[0-9]+ generated' "$work/schemathesis.out" | tail -n 1 | sed 's/^ *//')
  closing=$(grep -E '^=+ .* in [0-9.]+s =+$' "$work/schemathesis.out" | tail -n 1 | tr -d '=' | sed 's/^ *//; s/ *$//')
  echo "${operations:-?} operations; ${cases:-no test cases}; ${closing:-no summary}"
)
if [ "$rc" -ne 0 ]; then
  echo "ci: schemathesis ($backend): FAILED (exit $rc) in ${elapsed}s: $summary; JUnit report in $report" >&2
  echo "ci: ########## SCHEMATHESIS FOUND FAILURES: the API does not match its OpenAPI document ##########" >&2
  exit "$rc"
fi
echo "ci: schemathesis ($backend): passed in ${elapsed}s: $summary"
