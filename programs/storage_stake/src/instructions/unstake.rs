use anchor_lang::prelude::*;
use anchor_spl::token_interface::{self, CloseAccount, Mint, TokenAccount, TokenInterface};
use app_roots::App;

use crate::error::StakeError;
use crate::events::{UnstakeRequested, Withdrawn};
use crate::instructions::{pay_lamports, transfer_from_stake};
use crate::state::*;

#[derive(Accounts)]
pub struct RequestUnstake<'info> {
    pub provider: Signer<'info>,
    #[account(seeds = [TERMS_SEED, stake.app.as_ref()], bump = terms.bump)]
    pub terms: Account<'info, StakeTerms>,
    #[account(
        mut,
        seeds = [STAKE_SEED, stake.app.as_ref(), provider.key().as_ref()],
        bump = stake.bump,
        has_one = provider,
    )]
    pub stake: Account<'info, ProviderStake>,
    #[account(seeds = [ESCROW_SEED, stake.key().as_ref()], bump = stake.escrow_bump)]
    pub escrow: InterfaceAccount<'info, TokenAccount>,
}

pub fn handle_request_unstake(ctx: Context<RequestUnstake>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let params = &ctx.accounts.terms.params;
    let stake = &mut ctx.accounts.stake;
    stake.require_not_slashed()?;
    require!(stake.status == StakeStatus::Active, StakeError::Unstaking);
    require!(stake.challenge.is_none(), StakeError::ChallengeOpen);
    require!(stake.retrieval.is_none(), StakeError::RetrievalOpen);
    let payment = stake.payment_state(params, ctx.accounts.escrow.amount, now)?;
    require!(!payment.in_grace(now), StakeError::GraceObligation);
    let unlock_at = now.checked_add(params.unstake_cooldown_secs).ok_or(StakeError::Overflow)?;
    stake.status = StakeStatus::Unstaking;
    stake.unlock_at = unlock_at;
    emit!(UnstakeRequested { stake: stake.key(), unlock_at });
    Ok(())
}

#[derive(Accounts)]
pub struct Withdraw<'info> {
    #[account(mut)]
    pub provider: Signer<'info>,
    pub app: Account<'info, App>,
    #[account(
        seeds = [TERMS_SEED, app.key().as_ref()],
        bump = terms.bump,
        has_one = app,
        has_one = mint @ StakeError::WrongMint,
    )]
    pub terms: Account<'info, StakeTerms>,
    #[account(
        mut,
        close = provider,
        seeds = [STAKE_SEED, app.key().as_ref(), provider.key().as_ref()],
        bump = stake.bump,
        has_one = provider,
        has_one = app,
    )]
    pub stake: Account<'info, ProviderStake>,
    #[account(mut, seeds = [VAULT_SEED, stake.key().as_ref()], bump = stake.vault_bump)]
    pub vault: InterfaceAccount<'info, TokenAccount>,
    #[account(mut, seeds = [ESCROW_SEED, stake.key().as_ref()], bump = stake.escrow_bump)]
    pub escrow: InterfaceAccount<'info, TokenAccount>,
    #[account(mut, token::mint = mint, token::authority = provider)]
    pub provider_token: InterfaceAccount<'info, TokenAccount>,
    #[account(mut, token::mint = mint, token::authority = app.publisher)]
    pub publisher_token: InterfaceAccount<'info, TokenAccount>,
    /// CHECK: the app's publisher (address checked): receives bond lamports owed to it.
    #[account(mut, address = app.publisher @ StakeError::NotPublisher)]
    pub publisher: UncheckedAccount<'info>,
    pub mint: InterfaceAccount<'info, Mint>,
    #[account(constraint = token_program.key() == terms.token_program @ StakeError::WrongTokenProgram)]
    pub token_program: Interface<'info, TokenInterface>,
}

/// Pays the stake and the accrued payment to the provider, refunds the rest of the escrow to the
/// publisher, closes both token accounts and the stake account (rent to the provider).
pub fn handle_withdraw(ctx: Context<Withdraw>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = &ctx.accounts;
    a.stake.require_not_slashed()?;
    require!(a.stake.status == StakeStatus::Unstaking, StakeError::NotUnstaking);
    require!(now >= a.stake.unlock_at, StakeError::CooldownNotOver);
    require!(a.stake.challenge.is_none(), StakeError::ChallengeOpen);
    require!(a.stake.retrieval.is_none(), StakeError::RetrievalOpen);

    let payment = a.stake.payment_state(&a.terms.params, a.escrow.amount, now)?.claimable_amount;
    let escrow_refund = a.escrow.amount.checked_sub(payment).ok_or(StakeError::Overflow)?;
    let amount = a.vault.amount;
    transfer_from_stake(&a.token_program, &a.escrow, &a.provider_token, &a.mint, &a.stake, payment)?;
    transfer_from_stake(&a.token_program, &a.escrow, &a.publisher_token, &a.mint, &a.stake, escrow_refund)?;
    transfer_from_stake(&a.token_program, &a.vault, &a.provider_token, &a.mint, &a.stake, amount)?;
    let seeds: &[&[u8]] = &[STAKE_SEED, a.stake.app.as_ref(), a.stake.provider.as_ref(), &[a.stake.bump]];
    for account in [a.vault.to_account_info(), a.escrow.to_account_info()] {
        token_interface::close_account(CpiContext::new_with_signer(
            a.token_program.to_account_info(),
            CloseAccount {
                account,
                destination: a.provider.to_account_info(),
                authority: a.stake.to_account_info(),
            },
            &[seeds],
        ))?;
    }
    // Bond lamports owed to the publisher; the provider's go with the closed account.
    pay_lamports(&a.stake.to_account_info(), &a.publisher.to_account_info(), a.stake.publisher_bond_credit)?;
    emit!(Withdrawn { stake: a.stake.key(), amount, payment, escrow_refund });
    Ok(())
}
