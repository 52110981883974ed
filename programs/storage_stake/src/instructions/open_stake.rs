use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use app_roots::App;

use crate::error::StakeError;
use crate::events::StakeOpened;
use crate::state::*;

#[derive(Accounts)]
pub struct OpenStake<'info> {
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
    pub mint: InterfaceAccount<'info, Mint>,
    #[account(
        init,
        payer = provider,
        space = 8 + ProviderStake::INIT_SPACE,
        seeds = [STAKE_SEED, app.key().as_ref(), provider.key().as_ref()],
        bump,
    )]
    pub stake: Account<'info, ProviderStake>,
    #[account(
        init,
        payer = provider,
        seeds = [VAULT_SEED, stake.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = stake,
        token::token_program = token_program,
    )]
    pub vault: InterfaceAccount<'info, TokenAccount>,
    #[account(
        init,
        payer = provider,
        seeds = [ESCROW_SEED, stake.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = stake,
        token::token_program = token_program,
    )]
    pub escrow: InterfaceAccount<'info, TokenAccount>,
    #[account(constraint = token_program.key() == terms.token_program @ StakeError::WrongTokenProgram)]
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

pub fn handle_open_stake(ctx: Context<OpenStake>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let app = ctx.accounts.app.key();
    let provider = ctx.accounts.provider.key();
    ctx.accounts.stake.set_inner(ProviderStake {
        app,
        provider,
        mint: ctx.accounts.mint.key(),
        amount: 0,
        status: StakeStatus::Active,
        unlock_at: 0,
        tee_keys: Vec::new(),
        challenge: None,
        challenges_opened: 0,
        last_challenge_at: 0,
        retrieval: None,
        last_retrieval_at: 0,
        funded: false,
        paid_through: 0,
        provider_bond_credit: 0,
        publisher_bond_credit: 0,
        created_at: now,
        bump: ctx.bumps.stake,
        vault_bump: ctx.bumps.vault,
        escrow_bump: ctx.bumps.escrow,
    });
    emit!(StakeOpened {
        app,
        provider,
        stake: ctx.accounts.stake.key(),
        vault: ctx.accounts.vault.key(),
        escrow: ctx.accounts.escrow.key(),
    });
    Ok(())
}
