#!/usr/bin/env bash
# Every check and test of the project. CI runs exactly this.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_system_packages
ensure_rust
cd "$ROOT"

echo "== rustfmt"
cargo fmt --all --check
echo "== clippy"
cargo clippy --locked --workspace --all-targets -q -- -D warnings
echo "== tests"
# solana-program-test logs every instruction at debug level otherwise.
export RUST_LOG="${RUST_LOG:-error}"
cargo test --locked --workspace
