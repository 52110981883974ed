#!/usr/bin/env bash
# One command for the web dashboard: builds the SDK, the dashboard and the localnet + keeper
# binaries, then starts on 127.0.0.1 (free ports) the JSON-RPC localnet, the chain set-up, a keeper
# with demo records (one more every few seconds, so the pages move) and the dashboard, and prints
# its URL. Ctrl-C stops everything. Options go to app/scripts/stack.mjs (--records N, --rounds N,
# --trickle SECS).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_system_packages
ensure_rust
ensure_node
cd "$ROOT"

echo "== build: SDK, dashboard, localnet and keeper"
(cd sdk/ts && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
(cd app && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
cargo build --locked -q --workspace --bins

echo "== starting"
cd app
exec node scripts/stack.mjs \
  --localnet "$CARGO_TARGET_DIR/debug/ironroot-localnet" \
  --keeper "$CARGO_TARGET_DIR/debug/ironroot-keeper" \
  --trickle 3 "$@"
