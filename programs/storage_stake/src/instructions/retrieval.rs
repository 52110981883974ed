use anchor_lang::prelude::*;
use anchor_spl::token_interface::TokenAccount;
use app_roots::{App, Shard};
use tee_registry::{TeeEntry, TEE_ENTRY_SEED};

use crate::error::StakeError;
use crate::events::{RetrievalAnswered, RetrievalRequested};
use crate::instructions::require_serving_tee;
use crate::state::*;

#[derive(Accounts)]
#[instruction(shard_id: u16)]
pub struct RequestRetrieval<'info> {
    pub publisher: Signer<'info>,
    #[account(
        constraint = app.publisher == publisher.key() @ StakeError::NotPublisher,
        constraint = shard_id < app.shard_count @ StakeError::ShardOutOfRange,
    )]
    pub app: Account<'info, App>,
    #[account(seeds = [TERMS_SEED, app.key().as_ref()], bump = terms.bump, has_one = app)]
    pub terms: Account<'info, StakeTerms>,
    #[account(
        mut,
        seeds = [STAKE_SEED, app.key().as_ref(), stake.provider.as_ref()],
        bump = stake.bump,
        has_one = app,
    )]
    pub stake: Account<'info, ProviderStake>,
    #[account(seeds = [ESCROW_SEED, stake.key().as_ref()], bump = stake.escrow_bump)]
    pub escrow: InterfaceAccount<'info, TokenAccount>,
    #[account(constraint = shard.app == app.key() && shard.shard_id == shard_id @ StakeError::ShardMismatch)]
    pub shard: Account<'info, Shard>,
}

pub fn handle_request_retrieval(ctx: Context<RequestRetrieval>, shard_id: u16) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = &ctx.accounts;
    let params = &a.terms.params;
    a.stake.require_not_slashed()?;
    require!(a.stake.retrieval.is_none(), StakeError::RetrievalOpen);
    require!(!a.stake.payment_state(params, a.escrow.amount, now)?.lapsed(now), StakeError::ServiceLapsed);
    if a.stake.last_retrieval_at > 0 {
        let next = a
            .stake
            .last_retrieval_at
            .checked_add(params.challenge_interval_secs)
            .ok_or(StakeError::Overflow)?;
        require!(now >= next, StakeError::RetrievalRateLimited);
    }
    let deadline = now.checked_add(params.retrieval_window_secs).ok_or(StakeError::Overflow)?;
    let seq = a.shard.seq;
    let stake = &mut ctx.accounts.stake;
    stake.retrieval = Some(Retrieval { shard_id, requested_seq: seq, requested_at: now, deadline });
    stake.last_retrieval_at = now;
    emit!(RetrievalRequested { stake: stake.key(), shard_id, seq, deadline });
    Ok(())
}

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct AnswerRetrievalArgs {
    /// Binary CID of the encrypted export (readable only with the app's keys).
    pub export_cid: Vec<u8>,
    /// The shard root the export holds: must be the committed one.
    pub root: [u8; 32],
}

#[derive(Accounts)]
pub struct AnswerRetrieval<'info> {
    pub tee: Signer<'info>,
    #[account(
        seeds = [TEE_ENTRY_SEED, tee.key().as_ref()],
        bump = tee_entry.bump,
        seeds::program = tee_registry::ID,
    )]
    pub tee_entry: Account<'info, TeeEntry>,
    pub app: Account<'info, App>,
    pub shard: Account<'info, Shard>,
    #[account(
        mut,
        seeds = [STAKE_SEED, app.key().as_ref(), stake.provider.as_ref()],
        bump = stake.bump,
        has_one = app,
    )]
    pub stake: Account<'info, ProviderStake>,
}

pub fn handle_answer_retrieval(ctx: Context<AnswerRetrieval>, args: AnswerRetrievalArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = &ctx.accounts;
    a.stake.require_not_slashed()?;
    let retrieval = a.stake.retrieval.ok_or(StakeError::NoOpenRetrieval)?;
    require!(now <= retrieval.deadline, StakeError::DeadlinePassed);
    require_serving_tee(&a.stake, &a.tee.key(), &a.tee_entry, &a.app.policy, now)?;
    require!(!args.export_cid.is_empty() && args.export_cid.len() <= MAX_CID_LEN, StakeError::InvalidCid);
    let shard = &a.shard;
    require!(shard.app == a.app.key() && shard.shard_id == retrieval.shard_id, StakeError::ShardMismatch);
    // The export is of the committed state: the shard's root now (seq never goes down).
    require!(
        args.root == shard.root && shard.seq >= retrieval.requested_seq,
        StakeError::RetrievalRootMismatch
    );
    let seq = shard.seq;
    let stake = &mut ctx.accounts.stake;
    stake.retrieval = None;
    emit!(RetrievalAnswered {
        stake: stake.key(),
        shard_id: retrieval.shard_id,
        seq,
        root: args.root,
        export_cid: args.export_cid,
        tee: ctx.accounts.tee.key(),
    });
    Ok(())
}
