use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenInterface};
use app_roots::App;

use crate::error::StakeError;
use crate::events::TermsCreated;
use crate::state::*;

#[derive(Accounts)]
pub struct InitTerms<'info> {
    #[account(mut)]
    pub publisher: Signer<'info>,
    #[account(constraint = app.publisher == publisher.key() @ StakeError::NotPublisher)]
    pub app: Account<'info, App>,
    #[account(
        constraint = *mint.to_account_info().owner == token_program.key() @ StakeError::WrongTokenProgram,
    )]
    pub mint: InterfaceAccount<'info, Mint>,
    #[account(
        init,
        payer = publisher,
        space = 8 + StakeTerms::INIT_SPACE,
        seeds = [TERMS_SEED, app.key().as_ref()],
        bump,
    )]
    pub terms: Account<'info, StakeTerms>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

pub fn handle_init_terms(ctx: Context<InitTerms>, params: TermsParams) -> Result<()> {
    params.validate()?;
    ctx.accounts.terms.set_inner(StakeTerms {
        app: ctx.accounts.app.key(),
        mint: ctx.accounts.mint.key(),
        token_program: ctx.accounts.token_program.key(),
        params: params.clone(),
        pending: None,
        pending_effective_at: 0,
        bump: ctx.bumps.terms,
    });
    emit!(TermsCreated {
        app: ctx.accounts.app.key(),
        mint: ctx.accounts.mint.key(),
        token_program: ctx.accounts.token_program.key(),
        params,
    });
    Ok(())
}
