#!/usr/bin/env bash
# Regenerates docs/screenshots/*.png: runs the browser test of a whole deal (SQLite)
# with CADENZA_SCREENSHOTS set, which saves the main pages as it goes. Needs chromium
# and chromium-driver (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$PWD/docs/screenshots"
mkdir -p "$out"
CADENZA_SCREENSHOTS="$out" cargo test --test api -- \
  --exact web_browser::two_organizations_take_an_offer_to_an_executed_deal_in_a_browser::sqlite
ls -l "$out"
