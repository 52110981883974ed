use anchor_lang::prelude::*;

/// Registry errors start at 6500 so they never collide with the verifier's (6000…) when a
/// registry error surfaces through the verifier's CPI.
#[error_code(offset = 6500)]
pub enum RegistryError {
    #[msg("the TEE key is revoked and cannot be registered again")]
    TeeRevoked,
    #[msg("the TEE key is already revoked")]
    AlreadyRevoked,
    #[msg("the statement's nonce is not larger than the last accepted one (replay)")]
    NonceReplayed,
    #[msg("re-registration must keep the key's measurement, app id and compose hash")]
    EvidenceMismatch,
    #[msg("expiry must lie in the future")]
    ExpiryInPast,
}
