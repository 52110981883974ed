use anchor_lang::prelude::*;
use app_roots::{App, Shard};
use tee_registry::{TeeEntry, TEE_ENTRY_SEED};

use crate::error::StakeError;
use crate::events::ChallengeAnswered;
use crate::instructions::require_serving_tee;
use crate::jmt::LeafProof;
use crate::state::*;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct AnswerChallengeArgs {
    /// The leaf the challenge's point selects, proven against the shard's live root.
    pub proof: LeafProof,
    /// `SHA-256(challenge nonce ‖ ciphertext)`, computed in the TEE after fetching the leaf's blob
    /// and checking its hash.
    pub possession_tag: [u8; 32],
}

/// Kept to the accounts the check needs: the answer must fit one transaction with the proof.
#[derive(Accounts)]
pub struct AnswerChallenge<'info> {
    pub tee: Signer<'info>,
    #[account(
        seeds = [TEE_ENTRY_SEED, tee.key().as_ref()],
        bump = tee_entry.bump,
        seeds::program = tee_registry::ID,
    )]
    pub tee_entry: Account<'info, TeeEntry>,
    pub app: Account<'info, App>,
    /// The challenged shard, read as it is now (owner and type checked; its app and id below).
    pub shard: Account<'info, Shard>,
    #[account(
        mut,
        seeds = [STAKE_SEED, app.key().as_ref(), stake.provider.as_ref()],
        bump = stake.bump,
        has_one = app,
    )]
    pub stake: Account<'info, ProviderStake>,
}

pub fn handle_answer_challenge(ctx: Context<AnswerChallenge>, args: AnswerChallengeArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = &ctx.accounts;
    a.stake.require_not_slashed()?;
    let challenge = a.stake.challenge.ok_or(StakeError::NoOpenChallenge)?;
    require!(now <= challenge.deadline, StakeError::DeadlinePassed);
    require_serving_tee(&a.stake, &a.tee.key(), &a.tee_entry, &a.app.policy, now)?;
    let shard = &a.shard;
    require!(shard.app == a.app.key() && shard.shard_id == challenge.shard_id, StakeError::ShardMismatch);
    // Against the live root: an answer from data older than the chain's state fails here.
    args.proof.verify_target(&shard.root, &challenge.point)?;
    let (seq, root) = (shard.seq, shard.root);

    let stake = &mut ctx.accounts.stake;
    let credit = if challenge.bond_to_provider {
        &mut stake.provider_bond_credit
    } else {
        &mut stake.publisher_bond_credit
    };
    *credit = credit.checked_add(challenge.bond_lamports).ok_or(StakeError::Overflow)?;
    stake.challenge = None;
    emit!(ChallengeAnswered {
        stake: stake.key(),
        kind: challenge.kind,
        shard_id: challenge.shard_id,
        seq,
        root,
        leaf_key_hash: args.proof.key_hash,
        leaf_value_hash: args.proof.value_hash,
        possession_tag: args.possession_tag,
        tee: ctx.accounts.tee.key(),
    });
    Ok(())
}
