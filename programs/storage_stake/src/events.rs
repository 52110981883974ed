use anchor_lang::prelude::*;

use crate::state::{ChallengeKind, TermsParams};

#[event]
pub struct TermsCreated {
    pub app: Pubkey,
    pub mint: Pubkey,
    pub token_program: Pubkey,
    pub params: TermsParams,
}

#[event]
pub struct TermsProposed {
    pub app: Pubkey,
    pub params: TermsParams,
    pub effective_at: i64,
}

#[event]
pub struct TermsApplied {
    pub app: Pubkey,
    pub params: TermsParams,
}

#[event]
pub struct StakeOpened {
    pub app: Pubkey,
    pub provider: Pubkey,
    pub stake: Pubkey,
    pub vault: Pubkey,
    pub escrow: Pubkey,
}

#[event]
pub struct TeeBound {
    pub stake: Pubkey,
    pub tee: Pubkey,
}

#[event]
pub struct TeeUnbound {
    pub stake: Pubkey,
    pub tee: Pubkey,
}

#[event]
pub struct Staked {
    pub stake: Pubkey,
    /// What the vault received (a Token-2022 transfer fee may make it less than was sent).
    pub received: u64,
    pub total: u64,
}

#[event]
pub struct UnstakeRequested {
    pub stake: Pubkey,
    pub unlock_at: i64,
}

#[event]
pub struct Withdrawn {
    pub stake: Pubkey,
    pub amount: u64,
    pub payment: u64,
    pub escrow_refund: u64,
}

#[event]
pub struct ChallengeOpened {
    pub stake: Pubkey,
    pub kind: ChallengeKind,
    pub shard_id: u16,
    pub point: [u8; 32],
    pub nonce: [u8; 32],
    pub seq: u64,
    pub root: [u8; 32],
    pub source_slot: u64,
    pub deadline: i64,
    pub bond_lamports: u64,
}

#[event]
pub struct ChallengeAnswered {
    pub stake: Pubkey,
    pub kind: ChallengeKind,
    pub shard_id: u16,
    /// The live shard state the proof was checked against.
    pub seq: u64,
    pub root: [u8; 32],
    pub leaf_key_hash: [u8; 32],
    pub leaf_value_hash: [u8; 32],
    pub possession_tag: [u8; 32],
    pub tee: Pubkey,
}

#[event]
pub struct Slashed {
    pub stake: Pubkey,
    pub provider: Pubkey,
    /// What was overdue: a challenge of this kind, or (None) a retrieval request.
    pub challenge_kind: Option<ChallengeKind>,
    pub to_publisher: u64,
    pub burned: u64,
    pub refunded_to_provider: u64,
    pub escrow_refund: u64,
}

#[event]
pub struct Funded {
    pub stake: Pubkey,
    pub received: u64,
    pub paid_through: i64,
}

#[event]
pub struct PaymentClaimed {
    pub stake: Pubkey,
    pub epochs: u64,
    pub amount: u64,
    pub paid_through: i64,
    pub bond_lamports: u64,
}

#[event]
pub struct RetrievalRequested {
    pub stake: Pubkey,
    pub shard_id: u16,
    pub seq: u64,
    pub deadline: i64,
}

#[event]
pub struct RetrievalAnswered {
    pub stake: Pubkey,
    pub shard_id: u16,
    pub seq: u64,
    pub root: [u8; 32],
    pub export_cid: Vec<u8>,
    pub tee: Pubkey,
}
