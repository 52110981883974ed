use anchor_lang::prelude::*;
use anchor_lang::solana_program::sysvar::slot_hashes;
use anchor_lang::system_program::{self, Transfer};
use anchor_spl::token_interface::TokenAccount;
use app_roots::App;
use tee_registry::{TeeEntry, TEE_ENTRY_SEED};

use crate::error::StakeError;
use crate::events::ChallengeOpened;
use crate::instructions::{load_shards, pay_lamports, require_serving_tee};
use crate::state::*;
use crate::target::{derive_target, latest_slot_hash, pick_shard};

#[derive(Accounts)]
pub struct OpenChallenge<'info> {
    #[account(mut)]
    pub publisher: Signer<'info>,
    #[account(constraint = app.publisher == publisher.key() @ StakeError::NotPublisher)]
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
    /// CHECK: the SlotHashes sysvar (address checked), read in place.
    #[account(address = slot_hashes::ID)]
    pub slot_hashes: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handle_open_challenge(ctx: Context<OpenChallenge>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = &ctx.accounts;
    let params = &a.terms.params;
    let stake = &a.stake;
    stake.require_not_slashed()?;
    require!(stake.amount > 0, StakeError::NoStake);
    require!(stake.challenge.is_none(), StakeError::ChallengeOpen);
    require!(!stake.payment_state(params, a.escrow.amount, now)?.lapsed(now), StakeError::ServiceLapsed);
    if stake.challenges_opened > 0 {
        let next = stake
            .last_challenge_at
            .checked_add(params.challenge_interval_secs)
            .ok_or(StakeError::Overflow)?;
        require!(now >= next, StakeError::ChallengeRateLimited);
    }
    let shards = load_shards(ctx.remaining_accounts, &a.app.key(), a.app.shard_count)?;
    let deadline = now.checked_add(params.answer_window_secs).ok_or(StakeError::Overflow)?;
    let bond = params.challenge_bond_lamports;
    let bond_to_provider = params.bond_to_provider_on_answer;

    // The publisher's bond credit from earlier answers comes back before the new bond goes in.
    let credit = stake.publisher_bond_credit;
    pay_lamports(&a.stake.to_account_info(), &a.publisher.to_account_info(), credit)?;
    if bond > 0 {
        system_program::transfer(
            CpiContext::new(
                a.system_program.to_account_info(),
                Transfer { from: a.publisher.to_account_info(), to: a.stake.to_account_info() },
            ),
            bond,
        )?;
    }
    let source = latest_slot_hash(&a.slot_hashes.try_borrow_data()?)?;
    let stake = &mut ctx.accounts.stake;
    stake.publisher_bond_credit = 0;
    let opening =
        Opening { kind: ChallengeKind::Publisher, now, deadline, bond_lamports: bond, bond_to_provider };
    open(stake, &shards, source, opening)
}

#[derive(Accounts)]
pub struct ReportCorruption<'info> {
    pub tee: Signer<'info>,
    #[account(
        seeds = [TEE_ENTRY_SEED, tee.key().as_ref()],
        bump = tee_entry.bump,
        seeds::program = tee_registry::ID,
    )]
    pub tee_entry: Account<'info, TeeEntry>,
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
    /// CHECK: the SlotHashes sysvar (address checked), read in place.
    #[account(address = slot_hashes::ID)]
    pub slot_hashes: UncheckedAccount<'info>,
}

/// The provider's TEE found corruption it cannot fix alone: a challenge on itself, due by the
/// recovery deadline. Refused while another challenge is open (no dodging a publisher's challenge
/// for the cheaper outcome).
pub fn handle_report_corruption(ctx: Context<ReportCorruption>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = &ctx.accounts;
    let stake = &a.stake;
    stake.require_not_slashed()?;
    require_serving_tee(stake, &a.tee.key(), &a.tee_entry, &a.app.policy, now)?;
    require!(stake.challenge.is_none(), StakeError::ChallengeOpen);
    let shards = load_shards(ctx.remaining_accounts, &a.app.key(), a.app.shard_count)?;
    let deadline = now.checked_add(a.terms.params.recovery_window_secs).ok_or(StakeError::Overflow)?;
    let source = latest_slot_hash(&a.slot_hashes.try_borrow_data()?)?;
    let stake = &mut ctx.accounts.stake;
    let opening =
        Opening { kind: ChallengeKind::Corruption, now, deadline, bond_lamports: 0, bond_to_provider: false };
    open(stake, &shards, source, opening)
}

/// Who opens a challenge, when it is due, and the bond that rides on it.
struct Opening {
    kind: ChallengeKind,
    now: i64,
    deadline: i64,
    bond_lamports: u64,
    bond_to_provider: bool,
}

fn open(
    stake: &mut Account<ProviderStake>,
    shards: &[app_roots::Shard],
    (source_slot, slot_hash): (u64, [u8; 32]),
    opening: Opening,
) -> Result<()> {
    let Opening { kind, now, deadline, bond_lamports, bond_to_provider } = opening;
    let target = derive_target(&slot_hash, &stake.key(), stake.challenges_opened, shards.len() as u16);
    let shard = &shards[pick_shard(shards, target.drawn_shard)?];
    let challenge = Challenge {
        kind,
        shard_id: shard.shard_id,
        point: target.point,
        nonce: target.nonce,
        opened_seq: shard.seq,
        opened_root: shard.root,
        source_slot,
        opened_at: now,
        deadline,
        bond_lamports,
        bond_to_provider,
    };
    stake.challenge = Some(challenge);
    stake.challenges_opened = stake.challenges_opened.checked_add(1).ok_or(StakeError::Overflow)?;
    if kind == ChallengeKind::Publisher {
        stake.last_challenge_at = now;
    }
    emit!(ChallengeOpened {
        stake: stake.key(),
        kind,
        shard_id: challenge.shard_id,
        point: challenge.point,
        nonce: challenge.nonce,
        seq: challenge.opened_seq,
        root: challenge.opened_root,
        source_slot,
        deadline,
        bond_lamports,
    });
    Ok(())
}
