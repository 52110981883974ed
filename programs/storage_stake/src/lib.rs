//! Ironroot storage stake: providers stake SPL tokens (Token or Token-2022) per app; publishers
//! challenge them with targets drawn from recent slot hashes; a provider's TEE answers with a JMT
//! proof against the shard root that is on-chain at answer time; unanswered challenges and
//! retrieval requests are slashed; a provider may report its own corruption (partial refund if it
//! cannot recover); the publisher pays per epoch from an escrow, with a grace period when it runs dry.
// Anchor 0.31's `#[program]` expands to `AccountInfo::realloc`, deprecated in solana-program 2.2.
#![allow(deprecated)]

use anchor_lang::prelude::*;

pub mod error;
pub mod events;
pub mod instructions;
pub mod jmt;
pub mod state;
pub mod target;

pub use instructions::*;
pub use jmt::LeafProof;
pub use state::*;

declare_id!("Buz3HwiitBnmLyVNCUJS3C8rNtmNQF1K12DTwPKYpBSx");

#[program]
pub mod storage_stake {
    use super::*;

    /// Publisher: create the app's stake terms (mint, windows, splits, bond, payment).
    pub fn init_terms(ctx: Context<InitTerms>, params: TermsParams) -> Result<()> {
        instructions::init_terms::handle_init_terms(ctx, params)
    }

    /// Publisher: propose new terms; they apply after a notice of cool-down + answer window.
    pub fn propose_terms(ctx: Context<ProposeTerms>, params: TermsParams) -> Result<()> {
        instructions::propose_terms::handle_propose_terms(ctx, params)
    }

    /// Anyone: apply proposed terms once their notice has run.
    pub fn apply_terms(ctx: Context<ApplyTerms>) -> Result<()> {
        instructions::propose_terms::handle_apply_terms(ctx)
    }

    /// Provider: create its stake account, stake vault and payment escrow for an app.
    pub fn open_stake(ctx: Context<OpenStake>) -> Result<()> {
        instructions::open_stake::handle_open_stake(ctx)
    }

    /// Provider and TEE key together: bind a registered TEE key the app allows to the stake.
    pub fn bind_tee(ctx: Context<BindTee>) -> Result<()> {
        instructions::bind_tee::handle_bind_tee(ctx)
    }

    /// Provider: unbind a TEE key.
    pub fn unbind_tee(ctx: Context<UnbindTee>, tee: Pubkey) -> Result<()> {
        instructions::bind_tee::handle_unbind_tee(ctx, tee)
    }

    /// Provider: deposit tokens into the stake vault.
    pub fn stake(ctx: Context<Deposit>, amount: u64) -> Result<()> {
        instructions::stake::handle_stake(ctx, amount)
    }

    /// Provider: start the cool-down (refused with an open challenge, retrieval or grace obligation).
    pub fn request_unstake(ctx: Context<RequestUnstake>) -> Result<()> {
        instructions::unstake::handle_request_unstake(ctx)
    }

    /// Provider: after the cool-down, take the stake and the accrued payment back and close.
    pub fn withdraw(ctx: Context<Withdraw>) -> Result<()> {
        instructions::unstake::handle_withdraw(ctx)
    }

    /// Publisher: challenge a provider (posts the bond); the target comes from the latest slot hash.
    /// Remaining accounts: every shard account of the app, in shard-id order.
    pub fn open_challenge(ctx: Context<OpenChallenge>) -> Result<()> {
        instructions::open_challenge::handle_open_challenge(ctx)
    }

    /// The provider's TEE: prove the targeted leaf against the shard's live root.
    pub fn answer_challenge(ctx: Context<AnswerChallenge>, args: AnswerChallengeArgs) -> Result<()> {
        instructions::answer_challenge::handle_answer_challenge(ctx, args)
    }

    /// The provider's TEE: report corruption, opening a challenge on itself with a recovery deadline.
    /// Remaining accounts: every shard account of the app, in shard-id order.
    pub fn report_corruption(ctx: Context<ReportCorruption>) -> Result<()> {
        instructions::open_challenge::handle_report_corruption(ctx)
    }

    /// Anyone, after a deadline: slash the stake per the terms' split.
    pub fn slash(ctx: Context<Slash>) -> Result<()> {
        instructions::slash::handle_slash(ctx)
    }

    /// Publisher: add tokens to the payment escrow.
    pub fn fund(ctx: Context<Fund>, amount: u64) -> Result<()> {
        instructions::payment::handle_fund(ctx, amount)
    }

    /// Provider: claim the whole epochs served that the escrow can pay (and any bond credit).
    pub fn claim_payment(ctx: Context<ClaimPayment>) -> Result<()> {
        instructions::payment::handle_claim_payment(ctx)
    }

    /// Publisher: ask for an encrypted export of one shard's committed state.
    pub fn request_retrieval(ctx: Context<RequestRetrieval>, shard_id: u16) -> Result<()> {
        instructions::retrieval::handle_request_retrieval(ctx, shard_id)
    }

    /// The provider's TEE: answer with the export's CID and the shard root it holds.
    pub fn answer_retrieval(ctx: Context<AnswerRetrieval>, args: AnswerRetrievalArgs) -> Result<()> {
        instructions::retrieval::handle_answer_retrieval(ctx, args)
    }
}
