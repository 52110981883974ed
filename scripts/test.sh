#!/usr/bin/env bash
# Every check and test of the project. CI runs exactly this.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_system_packages
ensure_rust
ensure_node
cd "$ROOT"

echo "== rustfmt"
cargo fmt --all --check
echo "== clippy"
cargo clippy --locked --workspace --all-targets -q -- -D warnings
echo "== IDLs (target/idl, target/types, sdk/ts/src/idl)"
bash scripts/idl.sh --check
echo "== IPFS test node"
# The keeper's IPFS tests need a node (under CI=true they fail without one): js-ipfs on 127.0.0.1.
IRONROOT_IPFS_API="$(bash scripts/ipfs-node.sh start)"
export IRONROOT_IPFS_API
trap 'bash scripts/ipfs-node.sh stop' EXIT
echo "== tests"
# solana-program-test logs every instruction at debug level otherwise.
export RUST_LOG="${RUST_LOG:-error}"
cargo test --locked --workspace
echo "== keeper write-path bench smoke (a tiny run: the reports are written; nothing is timed)"
rm -f target/ironroot-results/bench-smoke.md target/ironroot-results/bench-smoke.json
BENCH_OUT="$ROOT/target/ironroot-results/bench-smoke.md" BENCH_WRITES=600 BENCH_LARGE_WRITES=40 \
  BENCH_START_RECORDS=300 BENCH_CRYPTO_MIB=8 \
  cargo bench --locked --workspace --profile dev --bench write_path >/dev/null
grep -q "(c) full path, local blobs, 1 KiB" target/ironroot-results/bench-smoke.md
grep -q '"cores"' target/ironroot-results/bench-smoke.json
echo "== keeper HTTP bench smoke (the real daemon on a localnet, wrk and our client; nothing is timed)"
ensure_wrk
rm -f target/ironroot-results/http-smoke.md target/ironroot-results/http-smoke.json
HTTP_OUT="$ROOT/target/ironroot-results/http-smoke.md" HTTP_SECONDS=1 HTTP_SHARDS=2 HTTP_BATCH=16 \
  cargo bench --locked --workspace --profile dev --bench http >/dev/null
grep -q "| PUT 1 KiB, fresh keys | wrk |" target/ironroot-results/http-smoke.md
grep -q "| batch write, 16 x 1 KiB per request, durability local | wrk |" target/ironroot-results/http-smoke.md
grep -q '"peak_rss_mib"' target/ironroot-results/http-smoke.json
echo "== keeper scale bench smoke (fill, restarts, rebuild, values checked; nothing is timed)"
rm -f target/ironroot-results/scale-smoke.md target/ironroot-results/scale-smoke.json
SCALE_OUT="$ROOT/target/ironroot-results/scale-smoke.md" SCALE_RECORDS=3000 SCALE_RESTARTS=1 \
  cargo bench --locked --workspace --profile dev --bench scale >/dev/null
grep -q "rebuild rate (records/s)" target/ironroot-results/scale-smoke.md
grep -q "read back with their values after the rebuild" target/ironroot-results/scale-smoke.md
echo "== TypeScript: SDK vectors, localnet flow, migrations"
bash scripts/ts-test.sh
echo "== Dashboard: browser tests (Chromium + playwright-core, live localnet and keeper)"
bash scripts/dashboard-test.sh
