use anchor_lang::prelude::*;

/// App-roots errors start at 7000, apart from the verifier's (6000…) and the registry's (6500…).
#[error_code(offset = 7000)]
pub enum AppRootsError {
    #[msg("tree depth and buffer size are not an allowed shape")]
    TreeShapeNotAllowed,
    #[msg("shard count must be between 1 and 256")]
    InvalidShardCount,
    #[msg("policy must allow at least one measurement and identity, within the limits")]
    InvalidPolicy,
    #[msg("tree account size does not match the chosen shape")]
    TreeSizeMismatch,
    #[msg("tree account is not the app's root-history tree")]
    WrongTree,
    #[msg("shard id is outside the app's shard range")]
    ShardOutOfRange,
    #[msg("signer is not the app's publisher")]
    NotPublisher,
    #[msg("the TEE key is revoked")]
    TeeRevoked,
    #[msg("the TEE key's registration has expired")]
    TeeExpired,
    #[msg("the TEE key expires sooner than the app's policy requires")]
    KeyValidityTooShort,
    #[msg("the TEE key's measurement is not allowed by the app's policy")]
    MeasurementNotAllowed,
    #[msg("the TEE key's app identity is not allowed by the app's policy")]
    IdentityNotAllowed,
    #[msg("update repeats the shard's current sequence number (replay)")]
    SequenceReplay,
    #[msg("update carries a sequence number below the shard's (rollback)")]
    SequenceRollback,
    #[msg("update skips sequence numbers (gap)")]
    SequenceGap,
    #[msg("update's previous root is not the shard's root (fork)")]
    RootMismatch,
    #[msg("manifest CID is empty or too long")]
    InvalidCid,
    #[msg("close_app needs every open shard account of the app, once each")]
    ShardAccountsMismatch,
    #[msg("arithmetic overflow")]
    Overflow,
}
