use anchor_lang::prelude::*;

use crate::state::{AllowedTee, AppIdentity, Policy};

#[event]
pub struct ConfigInitialized {
    pub authority: Pubkey,
    pub cluster_genesis_hash: [u8; 32],
    pub attesters: Vec<Pubkey>,
    pub threshold: u8,
}

#[event]
pub struct AttestersUpdated {
    pub attesters: Vec<Pubkey>,
    pub threshold: u8,
}

#[event]
pub struct TeeAllowed {
    pub allowed: AllowedTee,
}

#[event]
pub struct TeeDisallowed {
    pub measurement: [u8; 32],
    pub app: AppIdentity,
}

#[event]
pub struct PolicyUpdated {
    pub policy: Policy,
}

#[event]
pub struct AuthorityProposed {
    pub current: Pubkey,
    pub proposed: Pubkey,
}

#[event]
pub struct AuthorityRotated {
    pub previous: Pubkey,
    pub authority: Pubkey,
}

#[event]
pub struct TeeAttested {
    pub tee_pubkey: Pubkey,
    pub statement_hash: [u8; 32],
    pub attesters: Vec<Pubkey>,
    pub expires_at: i64,
}

#[event]
pub struct TeeRevokedByGovernance {
    pub tee_pubkey: Pubkey,
}

#[event]
pub struct QuotePartRecorded {
    pub tee_pubkey: Pubkey,
    pub nonce: u64,
    /// 1: attestation key over header‖body; 2: PCK key over the QE report.
    pub part: u8,
    /// SHA-256 of the signed bytes.
    pub signed_hash: [u8; 32],
    /// The compressed P-256 key the precompile checked the signature with.
    pub signing_key: [u8; 33],
}

#[event]
pub struct QuoteBufferClosed {
    pub tee_pubkey: Pubkey,
    pub nonce: u64,
    /// True when `register_tee` consumed it, false when its payer reclaimed it after expiry.
    pub consumed: bool,
}
