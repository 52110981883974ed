use anchor_lang::prelude::*;
use app_roots::App;

use crate::error::StakeError;
use crate::events::{TermsApplied, TermsProposed};
use crate::state::*;

#[derive(Accounts)]
pub struct ProposeTerms<'info> {
    pub publisher: Signer<'info>,
    #[account(constraint = app.publisher == publisher.key() @ StakeError::NotPublisher)]
    pub app: Account<'info, App>,
    #[account(mut, seeds = [TERMS_SEED, app.key().as_ref()], bump = terms.bump, has_one = app)]
    pub terms: Account<'info, StakeTerms>,
}

/// Every change waits out the notice, so a provider who objects can leave under the terms it
/// staked on (a newer proposal replaces a pending one and restarts the notice).
pub fn handle_propose_terms(ctx: Context<ProposeTerms>, params: TermsParams) -> Result<()> {
    params.validate()?;
    let now = Clock::get()?.unix_timestamp;
    let terms = &mut ctx.accounts.terms;
    let effective_at = now.checked_add(terms.params.notice_secs()?).ok_or(StakeError::Overflow)?;
    terms.pending = Some(params.clone());
    terms.pending_effective_at = effective_at;
    emit!(TermsProposed { app: terms.app, params, effective_at });
    Ok(())
}

#[derive(Accounts)]
pub struct ApplyTerms<'info> {
    #[account(mut, seeds = [TERMS_SEED, terms.app.as_ref()], bump = terms.bump)]
    pub terms: Account<'info, StakeTerms>,
}

pub fn handle_apply_terms(ctx: Context<ApplyTerms>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let terms = &mut ctx.accounts.terms;
    let pending = terms.pending.clone().ok_or(StakeError::NoPendingTerms)?;
    require!(now >= terms.pending_effective_at, StakeError::NoticeNotOver);
    terms.params = pending.clone();
    terms.pending = None;
    terms.pending_effective_at = 0;
    emit!(TermsApplied { app: terms.app, params: pending });
    Ok(())
}
