#!/usr/bin/env bash
# The main job: the one-command local demo on embedded defaults (in-process bank with the real
# programs, development attesters, the keeper and its HTTP API, a rollback detected and repaired,
# then the availability story: a stake, a challenge answered by the keeper, data destroyed, a
# challenge missed, the slash).
# Extra arguments go to `ironroot-demo` (e.g. --records 10000, --ipfs http://127.0.0.1:5001).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_system_packages
ensure_rust
cd "$ROOT"
cargo run --locked -q -p ironroot-devkit --bin ironroot-demo -- "$@"
