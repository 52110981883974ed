//! Ironroot attester: verifies a TEE's Intel DCAP quote (dcap-qvl, fresh collateral), the
//! report-data binding of its ed25519 key, the measurement allow-list governance keeps on chain and
//! the dstack event log (RTMR3 → app id, compose hash), then signs the 266-byte
//! `AttestationStatement` the attestation verifier checks. Each attester is an independent process
//! with its own key; governance names k-of-n of them.
pub mod api;
pub mod attest;
pub mod chain;
pub mod collateral;
pub mod error;
pub mod eventlog;
pub mod keyfile;
pub mod quote;

use std::sync::Arc;

pub use attest::{AttestRequest, Attestation, Attester, AttesterSettings};
pub use error::{AttestError, AttesterError, Check, Refusal};

/// Unix time in seconds, injectable so tests can verify at a fixed `now`.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    })
}
