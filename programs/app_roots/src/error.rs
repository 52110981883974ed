use anchor_lang::prelude::*;

/// App-roots errors start at 7000, apart from the verifier's (6000…) and the registry's (6500…).
/// Codes of existing variants never change: new variants are appended.
#[error_code(offset = 7000)]
pub enum AppRootsError {
    #[msg("tree depth and buffer size are not an allowed shape")]
    TreeShapeNotAllowed,
    #[msg("shard count must be between 1 and 256")]
    InvalidShardCount,
    #[msg("policy must allow 1 to 8 distinct pairs, at most 4 blocked keys, a TCB floor of 0-5")]
    InvalidPolicy,
    #[msg("tree account size does not match the chosen shape")]
    TreeSizeMismatch,
    #[msg("tree account is not the app's active root-history tree")]
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
    #[msg("the TEE key's (measurement, identity) pair is not allowed by the app's policy")]
    TeeNotAllowed,
    #[msg("the TEE key is on the app's block list")]
    TeeBlocked,
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
    #[msg("shard accounts must be distinct open shards of this app")]
    ShardAccountsMismatch,
    #[msg("arithmetic overflow")]
    Overflow,
    #[msg("the TEE key's TCB status is below the app's floor")]
    TcbBelowFloor,
    #[msg("the active history tree is full: rotate_history first")]
    HistoryTreeFull,
    #[msg("the app is closing or closed")]
    AppNotActive,
    #[msg("the app is not closing")]
    AppNotClosing,
    #[msg("signer is not the proposed publisher")]
    NotPendingPublisher,
    #[msg("only the publisher may rotate a history tree that is not nearly full")]
    RotationTooEarly,
    #[msg("the app cannot reimburse the new tree's rent: fund the app account or rotate as publisher")]
    RotationUnfunded,
    #[msg("the history-tree record is not the app's active tree record")]
    WrongHistoryRecord,
}
