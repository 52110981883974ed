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
