#!/usr/bin/env bash
# Regenerates the programs' Anchor IDLs natively (no anchor-cli, no SBF toolchain) with each
# program's `idl-build` feature, as `anchor idl build` would (Anchor.toml: resolution = true, so the
# IDLs carry PDA seeds and fixed program addresses):
#   target/idl/<program>.json       the IDL (committed)
#   target/types/<program>.ts       the camelCase IDL type, as anchor-cli writes it (committed)
#   sdk/ts/src/idl/<program>.ts     that type plus the IDL as a const, compiled into the TypeScript SDK
# Error codes carry the program's `#[error_code(offset = N)]` (anchor-syn 0.31.1 drops it; see
# scripts/idl-assemble.mjs). With --check, writes nothing and fails if any committed file is out of date.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_rust
cd "$ROOT"

check=0
[ "${1:-}" = "--check" ] && check=1
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# Resolution is read by anchor-syn at its own compile time; with warnings allowed a stable build
# writes the same seeds as nightly. Both change every crate's fingerprint, so the IDL build gets a
# target directory of its own instead of invalidating the regular one.
export ANCHOR_IDL_BUILD_RESOLUTION=TRUE
export CARGO_ENCODED_RUSTFLAGS='-Awarnings'
export CARGO_TARGET_DIR="${IRONROOT_IDL_TARGET_DIR:-$CARGO_TARGET_DIR-idl}"
for program in attestation_verifier tee_registry app_roots; do
  crate="${program//_/-}"
  ANCHOR_IDL_BUILD_PROGRAM_PATH="$ROOT/programs/$program" \
    cargo test --locked -p "$crate" --features idl-build __anchor_private_print_idl \
    -- --show-output --quiet >"$out/$program.log" 2>"$out/$program.err" || { cat "$out/$program.err" >&2; exit 1; }
  offset="$(sed -nE 's/.*#\[error_code\(offset = ([0-9]+)\)\].*/\1/p' "programs/$program/src/error.rs")"
  IDL_ERROR_OFFSET="${offset:-6000}" node scripts/idl-assemble.mjs <"$out/$program.log" >"$out/$program.json"
  node scripts/idl-assemble.mjs types "$out/$program.json" >"$out/$program.ts"
  node scripts/idl-assemble.mjs sdk "$out/$program.json" >"$out/$program.sdk.ts"
done

status=0
for program in attestation_verifier tee_registry app_roots; do
  for pair in "$program.json:target/idl/$program.json" "$program.ts:target/types/$program.ts" "$program.sdk.ts:sdk/ts/src/idl/$program.ts"; do
    src="$out/${pair%%:*}"
    dst="${pair#*:}"
    if [ "$check" = 1 ]; then
      if ! cmp -s "$src" "$dst"; then
        echo "out of date: $dst (run scripts/idl.sh)" >&2
        diff -u "$dst" "$src" | head -40 >&2 || true
        status=1
      fi
    else
      mkdir -p "$(dirname "$dst")"
      cp "$src" "$dst"
      echo "wrote $dst"
    fi
  done
done
[ "$check" = 1 ] && [ "$status" = 0 ] && echo "IDLs are up to date"
exit "$status"
