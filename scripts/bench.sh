#!/usr/bin/env bash
# The keeper's benchmarks in one command (issue 15): an optimised build (profile bench-fast: the
# release profile without fat LTO) of the write-path bench and the HTTP bench, then both runs, one
# after the other, on this machine. Reports (Markdown + JSON) land in target/ironroot-results/:
#   keeper_write_path.{md,json}  baselines (SHA-256, AES-GCM, fdatasync, redb, blob store, IPFS add)
#                                and the write path side by side, with ratios;
#   keeper_http.{md,json}        the real daemon on the JSON-RPC localnet: wrk and our client,
#                                local vs chain durability, restart, rebuild, peak RSS;
#   keeper_scale.{md,json}       the daemon holding SCALE_RECORDS (1 M) records: cold start, peak
#                                RSS, first listing, rebuild through `ironroot-keeper recover`.
# Installs Debian's wrk; starts the js-ipfs test node for the IPFS runs (--no-ipfs skips them).
# Sizes: env BENCH_* (keeper/benches/write_path.rs) and HTTP_* (keeper/benches/http.rs), e.g.
#   HTTP_FILL_RECORDS=1000000 BENCH_START_RECORDS=1000000 bash scripts/bench.sh
# Numbers mean most on an idle machine: the reports record the load average at start and end.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_system_packages
ensure_rust
ensure_wrk
cd "$ROOT"

PROFILE="${BENCH_PROFILE:-bench-fast}"
IPFS=1
[ "${1:-}" = "--no-ipfs" ] && IPFS=0
mkdir -p target/ironroot-results

echo "== build (profile $PROFILE)"
cargo bench --locked --workspace --profile "$PROFILE" --bench write_path --bench http --bench scale --no-run

if [ "$IPFS" = 1 ]; then
  ensure_node
  echo "== IPFS test node"
  IRONROOT_IPFS_API="$(bash scripts/ipfs-node.sh start)"
  export IRONROOT_IPFS_API
  trap 'bash scripts/ipfs-node.sh stop' EXIT
fi

echo "== write path (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
BENCH_OUT="$ROOT/target/ironroot-results/keeper_write_path.md" \
  cargo bench --locked --workspace --profile "$PROFILE" --bench write_path
echo "== HTTP (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
HTTP_OUT="$ROOT/target/ironroot-results/keeper_http.md" \
  cargo bench --locked --workspace --profile "$PROFILE" --bench http
echo "== scale: 1 M records by default (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
SCALE_OUT="$ROOT/target/ironroot-results/keeper_scale.md" \
  cargo bench --locked --workspace --profile "$PROFILE" --bench scale
echo "reports: target/ironroot-results/keeper_{write_path,http,scale}.md"
