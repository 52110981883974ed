#!/usr/bin/env bash
# The dashboard's browser tests: Debian's chromium (installed when missing) driven by playwright-core
# against a live localnet and keeper (app/test/dashboard.test.mjs). Screenshots of every page go to
# $IRONROOT_SCREENSHOT_DIR (default app/test-output/, git-ignored).
# Expects the SDK built (scripts/ts-test.sh does it first; run standalone it builds it).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_system_packages
ensure_rust
ensure_node
cd "$ROOT"

if ! command -v chromium >/dev/null; then
  echo "Installing chromium ..."
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium
fi

[ -f sdk/ts/dist/index.js ] || (cd sdk/ts && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
echo "== dashboard: npm ci + build"
(cd app && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
cargo build --locked -q --workspace --bins
export IRONROOT_LOCALNET_BIN="$CARGO_TARGET_DIR/debug/ironroot-localnet"
export IRONROOT_KEEPER_BIN="$CARGO_TARGET_DIR/debug/ironroot-keeper"
export IRONROOT_CHROMIUM="${IRONROOT_CHROMIUM:-$(command -v chromium)}"

echo "== dashboard: browser tests"
(cd app && node --test --test-concurrency=1 test/)
