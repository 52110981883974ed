#!/usr/bin/env bash
# A Solana JSON-RPC + WebSocket localnet with Ironroot's programs (default 127.0.0.1:8899 / 8900).
# Prints one "ready <rpc url>" line when it serves; Ctrl-C or SIGTERM stops it. Flags: --help.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_system_packages
ensure_rust
cd "$ROOT"
exec cargo run --locked -q -p ironroot-localnet -- "$@"
