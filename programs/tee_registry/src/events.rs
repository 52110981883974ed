use anchor_lang::prelude::*;

#[event]
pub struct TeeRegistered {
    pub tee_pubkey: Pubkey,
    pub measurement: [u8; 32],
    pub app_id: [u8; 32],
    pub compose_hash: [u8; 32],
    pub statement_hash: [u8; 32],
    pub nonce: u64,
    pub expires_at: i64,
}

#[event]
pub struct TeeRefreshed {
    pub tee_pubkey: Pubkey,
    pub statement_hash: [u8; 32],
    pub nonce: u64,
    pub expires_at: i64,
}

#[event]
pub struct TeeRevoked {
    pub tee_pubkey: Pubkey,
    pub revoked_at: i64,
}
