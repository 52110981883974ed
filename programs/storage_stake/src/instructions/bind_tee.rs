use anchor_lang::prelude::*;
use app_roots::App;
use tee_registry::{TeeEntry, TEE_ENTRY_SEED};

use crate::error::StakeError;
use crate::events::{TeeBound, TeeUnbound};
use crate::state::*;

#[derive(Accounts)]
pub struct BindTee<'info> {
    pub provider: Signer<'info>,
    /// The TEE key consents too, so no provider can claim another's TEE as its own.
    pub tee: Signer<'info>,
    #[account(
        seeds = [TEE_ENTRY_SEED, tee.key().as_ref()],
        bump = tee_entry.bump,
        seeds::program = tee_registry::ID,
    )]
    pub tee_entry: Account<'info, TeeEntry>,
    pub app: Account<'info, App>,
    #[account(
        mut,
        seeds = [STAKE_SEED, app.key().as_ref(), provider.key().as_ref()],
        bump = stake.bump,
        has_one = app,
        has_one = provider,
    )]
    pub stake: Account<'info, ProviderStake>,
}

pub fn handle_bind_tee(ctx: Context<BindTee>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let stake = &mut ctx.accounts.stake;
    stake.require_not_slashed()?;
    app_roots::check_signer(&ctx.accounts.tee_entry, &ctx.accounts.app.policy, now)?;
    let tee = ctx.accounts.tee.key();
    require!(!stake.tee_keys.contains(&tee), StakeError::TeeAlreadyBound);
    require!(stake.tee_keys.len() < MAX_TEE_KEYS, StakeError::TooManyTeeKeys);
    stake.tee_keys.push(tee);
    emit!(TeeBound { stake: stake.key(), tee });
    Ok(())
}

#[derive(Accounts)]
pub struct UnbindTee<'info> {
    pub provider: Signer<'info>,
    #[account(
        mut,
        seeds = [STAKE_SEED, stake.app.as_ref(), provider.key().as_ref()],
        bump = stake.bump,
        has_one = provider,
    )]
    pub stake: Account<'info, ProviderStake>,
}

pub fn handle_unbind_tee(ctx: Context<UnbindTee>, tee: Pubkey) -> Result<()> {
    let stake = &mut ctx.accounts.stake;
    let before = stake.tee_keys.len();
    stake.tee_keys.retain(|key| *key != tee);
    require!(stake.tee_keys.len() < before, StakeError::TeeNotBound);
    emit!(TeeUnbound { stake: stake.key(), tee });
    Ok(())
}
