use anchor_lang::prelude::*;

/// Storage-stake errors start at 8000, apart from the verifier's (6000…), the registry's (6500…) and
/// app roots' (7000…). TEE-key checks reuse app roots' own check and so fail with its codes.
#[error_code(offset = 8000)]
pub enum StakeError {
    #[msg("terms are out of range (windows > 0, shares <= 10000 bps, epoch > 0, minimum stake > 0)")]
    InvalidTerms,
    #[msg("signer is not the app's publisher")]
    NotPublisher,
    #[msg("the mint is not the terms' mint")]
    WrongMint,
    #[msg("the token program is not the one that owns the terms' mint")]
    WrongTokenProgram,
    #[msg("token account has the wrong owner or mint")]
    WrongTokenAccount,
    #[msg("amount must be greater than zero")]
    ZeroAmount,
    #[msg("the stake would stay below the terms' minimum")]
    BelowMinimumStake,
    #[msg("arithmetic overflow")]
    Overflow,
    #[msg("the provider has been slashed")]
    Slashed,
    #[msg("the stake is unstaking: no more deposits")]
    Unstaking,
    #[msg("the stake is not unstaking")]
    NotUnstaking,
    #[msg("the unstake cool-down has not ended")]
    CooldownNotOver,
    #[msg("a challenge is open")]
    ChallengeOpen,
    #[msg("a retrieval request is open")]
    RetrievalOpen,
    #[msg("the escrow ran dry and the grace period is running: the provider stays bound")]
    GraceObligation,
    #[msg("the escrow ran dry and the grace period is over: the provider owes no more service")]
    ServiceLapsed,
    #[msg("too soon after the previous challenge (rate limit)")]
    ChallengeRateLimited,
    #[msg("too soon after the previous retrieval request (rate limit)")]
    RetrievalRateLimited,
    #[msg("the provider has no stake")]
    NoStake,
    #[msg("pass every shard account of the app, in shard-id order")]
    ShardAccountsMismatch,
    #[msg("every shard of the app is empty: nothing to challenge")]
    NothingToChallenge,
    #[msg("no challenge is open")]
    NoOpenChallenge,
    #[msg("the answer deadline has passed")]
    DeadlinePassed,
    #[msg("the TEE key is not bound to this provider's stake")]
    TeeNotBound,
    #[msg("the stake already has the maximum number of TEE keys")]
    TooManyTeeKeys,
    #[msg("the TEE key is already bound")]
    TeeAlreadyBound,
    #[msg("the shard account is not the challenged shard of this app")]
    ShardMismatch,
    #[msg("the proof is malformed (depth, bitmap or sibling count)")]
    ProofMalformed,
    #[msg("the proof does not lead to the shard's current root")]
    ProofRootMismatch,
    #[msg("the exhibited leaf is not the one the challenge's target point selects")]
    TargetMismatch,
    #[msg("no retrieval request is open")]
    NoOpenRetrieval,
    #[msg("the export's root is not the shard's committed root")]
    RetrievalRootMismatch,
    #[msg("CID is empty or too long")]
    InvalidCid,
    #[msg("the deadline has not passed yet")]
    SlashTooEarly,
    #[msg("nothing is overdue: no open challenge or retrieval")]
    NothingToSlash,
    #[msg("no terms change is pending")]
    NoPendingTerms,
    #[msg("the notice period of the pending terms has not ended")]
    NoticeNotOver,
    #[msg("nothing has accrued")]
    NothingToClaim,
    #[msg("the slot hashes sysvar has no entry")]
    SlotHashesUnavailable,
    #[msg("the account is not this stake's vault or escrow")]
    WrongVault,
    #[msg("the shard id is outside the app's shard range")]
    ShardOutOfRange,
}
