//! The attestation verifier's program id has one home: the verifier crate's `declare_id!`. The
//! registry (which the verifier depends on, so it cannot depend back) reads it from there at
//! build time, so a redeployment that changes the verifier's id cannot leave the registry
//! trusting the old one.
use std::{env, fs, path::PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let source = manifest.join("../attestation_verifier/src/lib.rs");
    println!("cargo:rerun-if-changed={}", source.display());
    let text = fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("reading the verifier's program id from {}: {e}", source.display()));
    let id = text
        .lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix("declare_id!(\"")?.strip_suffix("\");"))
        .unwrap_or_else(|| panic!("no declare_id!(\"…\"); line in {}", source.display()));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("verifier_id.rs");
    fs::write(
        out,
        format!(
            "/// Program id of the attestation verifier (from its `declare_id!`): its PDA is the \
             registry's only writer.\npub const ATTESTATION_VERIFIER_ID: Pubkey = pubkey!(\"{id}\");\n"
        ),
    )
    .expect("writing verifier_id.rs");
}
