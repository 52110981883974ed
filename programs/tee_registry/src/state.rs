use anchor_lang::prelude::*;

include!(concat!(env!("OUT_DIR"), "/verifier_id.rs"));
/// Seed of the verifier PDA that signs registry CPIs.
pub const VERIFIER_AUTHORITY_SEED: &[u8] = b"verifier_authority";
/// Seed prefix of a TEE entry: `[TEE_ENTRY_SEED, tee_pubkey]`.
pub const TEE_ENTRY_SEED: &[u8] = b"tee";

/// What the registry knows about one TEE signing key.
#[account]
#[derive(InitSpace, Debug, PartialEq, Eq)]
pub struct TeeEntry {
    /// The TEE's ed25519 signing key.
    pub tee_pubkey: Pubkey,
    /// Digest of MRTD‖RTMR0‖RTMR1‖RTMR2 (TDX) or of MRENCLAVE/MRSIGNER (SGX).
    pub measurement: [u8; 32],
    /// dstack app id the key serves.
    pub app_id: [u8; 32],
    /// dstack compose hash of that app.
    pub compose_hash: [u8; 32],
    /// SHA-256 of the attestation statement the attesters signed (latest registration).
    pub statement_hash: [u8; 32],
    /// SHA-256 of the quote the attesters verified (latest registration).
    pub quote_hash: [u8; 32],
    /// TCB status the attesters reported (see `attestation_verifier::TcbStatus`).
    pub tcb_status: u8,
    /// Unix time of the first registration; 0 only in an account `register` has just created.
    pub registered_at: i64,
    /// Unix time of the latest registration or refresh.
    pub refreshed_at: i64,
    /// Unix time after which the key is no longer valid.
    pub expires_at: i64,
    /// Nonce of the latest accepted statement; a new statement must carry a larger one.
    pub last_nonce: u64,
    pub revoked: bool,
    /// Unix time of revocation, 0 while not revoked.
    pub revoked_at: i64,
    pub bump: u8,
}

impl TeeEntry {
    /// Registered, not revoked and not expired at `now` (unix seconds).
    pub fn is_valid_at(&self, now: i64) -> bool {
        !self.revoked && now < self.expires_at
    }
}

/// Evidence the verifier accepted, passed to `register`.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct RegisterArgs {
    pub tee_pubkey: Pubkey,
    pub measurement: [u8; 32],
    pub app_id: [u8; 32],
    pub compose_hash: [u8; 32],
    pub statement_hash: [u8; 32],
    pub quote_hash: [u8; 32],
    pub tcb_status: u8,
    pub nonce: u64,
    pub expires_at: i64,
}
