use anchor_lang::prelude::*;
use anchor_spl::token_interface::{self, Mint, TokenAccount, TokenInterface, TransferChecked};
use app_roots::App;

use crate::error::StakeError;
use crate::events::{Funded, PaymentClaimed};
use crate::instructions::{pay_lamports, transfer_from_stake};
use crate::state::*;

#[derive(Accounts)]
pub struct Fund<'info> {
    #[account(mut)]
    pub publisher: Signer<'info>,
    #[account(constraint = app.publisher == publisher.key() @ StakeError::NotPublisher)]
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
        seeds = [STAKE_SEED, app.key().as_ref(), stake.provider.as_ref()],
        bump = stake.bump,
        has_one = app,
    )]
    pub stake: Account<'info, ProviderStake>,
    #[account(mut, seeds = [ESCROW_SEED, stake.key().as_ref()], bump = stake.escrow_bump)]
    pub escrow: InterfaceAccount<'info, TokenAccount>,
    #[account(mut, token::mint = mint)]
    pub publisher_token: InterfaceAccount<'info, TokenAccount>,
    pub mint: InterfaceAccount<'info, Mint>,
    #[account(constraint = token_program.key() == terms.token_program @ StakeError::WrongTokenProgram)]
    pub token_program: Interface<'info, TokenInterface>,
}

/// A first funding, or one after the grace period lapsed, starts paid service now (the lapsed
/// stretch is not owed); funding during the grace period pays the arrears first.
pub fn handle_fund(ctx: Context<Fund>, amount: u64) -> Result<()> {
    require!(amount > 0, StakeError::ZeroAmount);
    let now = Clock::get()?.unix_timestamp;
    let a = &ctx.accounts;
    a.stake.require_not_slashed()?;
    let before = a.escrow.amount;
    let params = &a.terms.params;
    // After a lapse, service restarts now; epochs served and funded before it stay claimable.
    let restart_at = if !a.stake.funded {
        Some(now)
    } else if a.stake.payment_state(params, before, now)?.lapsed(now) {
        let funded_epochs = before / params.payment_per_epoch.max(1);
        let back = i64::try_from(funded_epochs)
            .ok()
            .and_then(|epochs| epochs.checked_mul(params.epoch_secs))
            .ok_or(StakeError::Overflow)?;
        Some(now.checked_sub(back).ok_or(StakeError::Overflow)?)
    } else {
        None
    };
    token_interface::transfer_checked(
        CpiContext::new(
            a.token_program.to_account_info(),
            TransferChecked {
                from: a.publisher_token.to_account_info(),
                mint: a.mint.to_account_info(),
                to: a.escrow.to_account_info(),
                authority: a.publisher.to_account_info(),
            },
        ),
        amount,
        a.mint.decimals,
    )?;
    let credit = a.stake.publisher_bond_credit;
    pay_lamports(&a.stake.to_account_info(), &a.publisher.to_account_info(), credit)?;
    ctx.accounts.escrow.reload()?;
    let received = ctx.accounts.escrow.amount.checked_sub(before).ok_or(StakeError::Overflow)?;
    let stake = &mut ctx.accounts.stake;
    stake.publisher_bond_credit = 0;
    if let Some(paid_through) = restart_at {
        stake.funded = true;
        stake.paid_through = paid_through;
    }
    emit!(Funded { stake: stake.key(), received, paid_through: stake.paid_through });
    Ok(())
}

#[derive(Accounts)]
pub struct ClaimPayment<'info> {
    #[account(mut)]
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
    #[account(mut, seeds = [ESCROW_SEED, stake.key().as_ref()], bump = stake.escrow_bump)]
    pub escrow: InterfaceAccount<'info, TokenAccount>,
    #[account(mut, token::mint = mint)]
    pub provider_token: InterfaceAccount<'info, TokenAccount>,
    pub mint: InterfaceAccount<'info, Mint>,
    #[account(constraint = token_program.key() == terms.token_program @ StakeError::WrongTokenProgram)]
    pub token_program: Interface<'info, TokenInterface>,
}

/// Pays the whole epochs served since `paid_through` that the escrow covers, plus bond lamports
/// owed to the provider. A slashed provider only gets its bond credit (its escrow was refunded).
pub fn handle_claim_payment(ctx: Context<ClaimPayment>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = &ctx.accounts;
    let params = &a.terms.params;
    let (epochs, amount) = if a.stake.status == StakeStatus::Slashed {
        (0, 0)
    } else {
        let payment = a.stake.payment_state(params, a.escrow.amount, now)?;
        (payment.claimable_epochs, payment.claimable_amount)
    };
    let bond = a.stake.provider_bond_credit;
    require!(amount > 0 || bond > 0, StakeError::NothingToClaim);
    transfer_from_stake(&a.token_program, &a.escrow, &a.provider_token, &a.mint, &a.stake, amount)?;
    pay_lamports(&a.stake.to_account_info(), &a.provider.to_account_info(), bond)?;
    let advance = i64::try_from(epochs)
        .ok()
        .and_then(|e| e.checked_mul(params.epoch_secs))
        .ok_or(StakeError::Overflow)?;
    let stake = &mut ctx.accounts.stake;
    stake.paid_through = stake.paid_through.checked_add(advance).ok_or(StakeError::Overflow)?;
    stake.provider_bond_credit = 0;
    emit!(PaymentClaimed {
        stake: stake.key(),
        epochs,
        amount,
        paid_through: stake.paid_through,
        bond_lamports: bond,
    });
    Ok(())
}
