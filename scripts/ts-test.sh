#!/usr/bin/env bash
# The TypeScript side: installs the Node packages from their lock files (npm ci, registry only),
# builds and tests the SDK (shared vectors), starts two JSON-RPC localnets on free 127.0.0.1 ports
# (one for the on-chain flow, one fresh for the migration), runs the tests/ suite against them and
# stops them on exit.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_system_packages
ensure_rust
ensure_node
cd "$ROOT"

secs() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(secs)" 'BEGIN { printf "%.1f s", b - a }'; }

echo "== npm ci (sdk/ts, tests)"
t0="$(secs)"
(cd sdk/ts && npm ci --no-audit --no-fund --loglevel=error)
(cd tests && npm ci --no-audit --no-fund --loglevel=error)
echo "npm ci: $(elapsed "$t0")"

echo "== SDK: build + shared-vector tests"
(cd sdk/ts && npm run --silent build && npm test --silent)

echo "== localnet build"
# The whole workspace, so features unify as in the test build and nothing is compiled twice.
cargo build --locked -q --workspace --bins
LOCALNET_BIN="$CARGO_TARGET_DIR/debug/ironroot-localnet"

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# start_localnet NAME: starts a localnet with its state in $work/NAME, waits for its ready line and
# prints the path of its localnet.json.
start_localnet() {
  local dir="$work/$1"
  mkdir -p "$dir"
  local rpc ws
  rpc="$(free_port)"
  ws="$(free_port)"
  while [ "$ws" = "$rpc" ]; do ws="$(free_port)"; done
  "$LOCALNET_BIN" --state-dir "$dir" --rpc-port "$rpc" --ws-port "$ws" --slot-time-ms 100 \
    >"$dir/stdout" 2>"$dir/stderr" &
  pids+=("$!")
  for _ in $(seq 1 600); do
    if grep -q '^ready ' "$dir/stdout" 2>/dev/null; then
      echo "$dir/localnet.json"
      return 0
    fi
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "localnet $1 did not become ready:" >&2
  tail -20 "$dir/stderr" >&2
  return 1
}

echo "== localnets"
# Not in a subshell: the pids must reach the cleanup trap.
start_localnet flow >"$work/flow.path"
start_localnet migration >"$work/migration.path"
IRONROOT_LOCALNET_CONFIG="$(cat "$work/flow.path")"
IRONROOT_MIGRATION_LOCALNET_CONFIG="$(cat "$work/migration.path")"
export IRONROOT_LOCALNET_CONFIG IRONROOT_MIGRATION_LOCALNET_CONFIG
echo "flow: $(head -1 "$work/flow/stdout")"
echo "migration: $(head -1 "$work/migration/stdout")"

echo "== TypeScript tests (on-chain flow, migration)"
t0="$(secs)"
(cd tests && npm run --silent build && node --test --test-concurrency=1 build/tests/ts/)
echo "TS tests: $(elapsed "$t0")"
