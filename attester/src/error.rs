//! Typed refusals (the evidence failed a check) and operational errors (the attester could not
//! decide).
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The check that refused the evidence, in the order the attester runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The request itself: field lengths and encodings.
    Request,
    /// The quote's structure (header, body, signature data).
    QuoteFormat,
    /// Collateral freshness: issue dates within the window, not past `nextUpdate`.
    CollateralFreshness,
    /// Intel's chain: root CA, CRLs, PCK chain, TCB info and QE identity signatures, QE report and
    /// quote signatures.
    QuoteSignatureChain,
    /// The TCB status (platform, QE, TDX module) against the governance policy.
    TcbStatus,
    /// TD/enclave attributes (debug mode, migration, service TDs).
    TeeAttributes,
    /// `report_data` binds the TEE key, cluster, registry program, app and nonce.
    ReportDataBinding,
    /// The nonce is above the governance floor and the TEE key's last registered nonce.
    Nonce,
    /// The measurement digest is on the governance allow-list.
    Measurement,
    /// The dstack event log replays to RTMR3 and names the claimed app id and compose hash.
    EventLog,
    /// The (app id, compose hash) pair is on the governance allow-list.
    AppIdentity,
}

/// Why the attester refuses to sign: the failed check and a human-readable reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{check:?} check failed: {reason}")]
pub struct Refusal {
    pub check: Check,
    pub reason: String,
}

impl Refusal {
    pub fn new(check: Check, reason: impl Into<String>) -> Self {
        Self { check, reason: reason.into() }
    }
}

/// Operational failures: nothing was decided about the evidence.
#[derive(Debug, thiserror::Error)]
pub enum AttesterError {
    #[error("collateral unavailable: {0}")]
    Collateral(String),
    #[error("chain read failed: {0}")]
    Chain(String),
    #[error("verifier config is not initialised on this cluster")]
    NoVerifierConfig,
    #[error("signing key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("root CA: {0}")]
    RootCa(String),
    #[error("system clock: {0}")]
    Clock(String),
}

/// The outcome of an attestation request that did not produce a statement.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Unavailable(#[from] AttesterError),
}
