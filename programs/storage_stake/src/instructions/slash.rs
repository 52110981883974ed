use anchor_lang::prelude::*;
use anchor_spl::token_interface::{self, Burn, Mint, TokenAccount, TokenInterface};
use app_roots::App;

use crate::error::StakeError;
use crate::events::Slashed;
use crate::instructions::{pay_lamports, transfer_from_stake};
use crate::state::*;

#[derive(Accounts)]
pub struct Slash<'info> {
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
    #[account(mut, seeds = [VAULT_SEED, stake.key().as_ref()], bump = stake.vault_bump)]
    pub vault: InterfaceAccount<'info, TokenAccount>,
    #[account(mut, seeds = [ESCROW_SEED, stake.key().as_ref()], bump = stake.escrow_bump)]
    pub escrow: InterfaceAccount<'info, TokenAccount>,
    /// Writable: the burned share reduces its supply.
    #[account(mut)]
    pub mint: InterfaceAccount<'info, Mint>,
    #[account(mut, token::mint = mint, token::authority = app.publisher)]
    pub publisher_token: InterfaceAccount<'info, TokenAccount>,
    /// Receives the corruption refund (unused for other slashes).
    #[account(mut, token::mint = mint, token::authority = stake.provider)]
    pub provider_token: InterfaceAccount<'info, TokenAccount>,
    /// CHECK: the app's publisher (address checked): gets the bond back.
    #[account(mut, address = app.publisher @ StakeError::NotPublisher)]
    pub publisher: UncheckedAccount<'info>,
    #[account(constraint = token_program.key() == terms.token_program @ StakeError::WrongTokenProgram)]
    pub token_program: Interface<'info, TokenInterface>,
}

/// Anyone may crank it once a challenge or retrieval request is overdue. A self-reported
/// corruption refunds its share to the provider first; of the rest, the publisher's share is paid
/// and the remainder burned. The unspent escrow goes back to the publisher, the bond too.
pub fn handle_slash(ctx: Context<Slash>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = &ctx.accounts;
    let stake = &a.stake;
    stake.require_not_slashed()?;
    let overdue_challenge = stake.challenge.filter(|c| now > c.deadline);
    let overdue_retrieval = stake.retrieval.filter(|r| now > r.deadline);
    let challenge_kind = match (overdue_challenge, overdue_retrieval) {
        (Some(challenge), _) => Some(challenge.kind),
        (None, Some(_)) => None,
        (None, None) if stake.challenge.is_some() || stake.retrieval.is_some() => {
            return err!(StakeError::SlashTooEarly)
        }
        (None, None) => return err!(StakeError::NothingToSlash),
    };
    let params = &a.terms.params;
    let amount = a.vault.amount;
    let refunded_to_provider = match challenge_kind {
        Some(ChallengeKind::Corruption) => share(amount, params.corruption_refund_bps),
        _ => 0,
    };
    let rest = amount - refunded_to_provider;
    let to_publisher = share(rest, params.slash_to_publisher_bps);
    let burned = rest - to_publisher;
    let escrow_refund = a.escrow.amount;

    transfer_from_stake(&a.token_program, &a.vault, &a.provider_token, &a.mint, stake, refunded_to_provider)?;
    transfer_from_stake(&a.token_program, &a.vault, &a.publisher_token, &a.mint, stake, to_publisher)?;
    transfer_from_stake(&a.token_program, &a.escrow, &a.publisher_token, &a.mint, stake, escrow_refund)?;
    if burned > 0 {
        let seeds: &[&[u8]] = &[STAKE_SEED, stake.app.as_ref(), stake.provider.as_ref(), &[stake.bump]];
        token_interface::burn(
            CpiContext::new_with_signer(
                a.token_program.to_account_info(),
                Burn {
                    mint: a.mint.to_account_info(),
                    from: a.vault.to_account_info(),
                    authority: stake.to_account_info(),
                },
                &[seeds],
            ),
            burned,
        )?;
    }
    let bond = overdue_challenge.map_or(0, |c| c.bond_lamports);
    let owed = bond.checked_add(stake.publisher_bond_credit).ok_or(StakeError::Overflow)?;
    pay_lamports(&stake.to_account_info(), &a.publisher.to_account_info(), owed)?;

    let provider = stake.provider;
    let stake = &mut ctx.accounts.stake;
    stake.status = StakeStatus::Slashed;
    stake.amount = 0;
    stake.challenge = None;
    stake.retrieval = None;
    stake.publisher_bond_credit = 0;
    emit!(Slashed {
        stake: stake.key(),
        provider,
        challenge_kind,
        to_publisher,
        burned,
        refunded_to_provider,
        escrow_refund,
    });
    Ok(())
}
