use anchor_lang::prelude::*;
use anchor_spl::token_interface::{self, Mint, TokenAccount, TokenInterface, TransferChecked};

use crate::error::StakeError;
use crate::events::Staked;
use crate::state::*;

#[derive(Accounts)]
pub struct Deposit<'info> {
    pub provider: Signer<'info>,
    #[account(
        seeds = [TERMS_SEED, stake.app.as_ref()],
        bump = terms.bump,
        has_one = mint @ StakeError::WrongMint,
    )]
    pub terms: Account<'info, StakeTerms>,
    #[account(
        mut,
        seeds = [STAKE_SEED, stake.app.as_ref(), provider.key().as_ref()],
        bump = stake.bump,
        has_one = provider,
    )]
    pub stake: Account<'info, ProviderStake>,
    #[account(mut, seeds = [VAULT_SEED, stake.key().as_ref()], bump = stake.vault_bump)]
    pub vault: InterfaceAccount<'info, TokenAccount>,
    #[account(mut, token::mint = mint)]
    pub provider_token: InterfaceAccount<'info, TokenAccount>,
    pub mint: InterfaceAccount<'info, Mint>,
    #[account(constraint = token_program.key() == terms.token_program @ StakeError::WrongTokenProgram)]
    pub token_program: Interface<'info, TokenInterface>,
}

pub fn handle_stake(ctx: Context<Deposit>, amount: u64) -> Result<()> {
    require!(amount > 0, StakeError::ZeroAmount);
    let stake = &ctx.accounts.stake;
    stake.require_not_slashed()?;
    require!(stake.status == StakeStatus::Active, StakeError::Unstaking);
    let before = ctx.accounts.vault.amount;
    token_interface::transfer_checked(
        CpiContext::new(
            ctx.accounts.token_program.to_account_info(),
            TransferChecked {
                from: ctx.accounts.provider_token.to_account_info(),
                mint: ctx.accounts.mint.to_account_info(),
                to: ctx.accounts.vault.to_account_info(),
                authority: ctx.accounts.provider.to_account_info(),
            },
        ),
        amount,
        ctx.accounts.mint.decimals,
    )?;
    // Count what arrived: a Token-2022 transfer fee may withhold part of `amount`.
    ctx.accounts.vault.reload()?;
    let received = ctx.accounts.vault.amount.checked_sub(before).ok_or(StakeError::Overflow)?;
    let stake = &mut ctx.accounts.stake;
    let total = stake.amount.checked_add(received).ok_or(StakeError::Overflow)?;
    require!(total >= ctx.accounts.terms.params.min_stake, StakeError::BelowMinimumStake);
    stake.amount = total;
    emit!(Staked { stake: stake.key(), received, total });
    Ok(())
}
