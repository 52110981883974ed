#!/usr/bin/env bash
# The main job: a local demo on embedded defaults (in-process bank, real programs, dev attesters).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_system_packages
ensure_rust
cd "$ROOT"
cargo run --locked -q -p ironroot-bank --bin ironroot-demo -- "$@"
