use anchor_lang::prelude::*;

use crate::error::AppRootsError;
use crate::events::PolicyUpdated;
use crate::state::*;

#[derive(Accounts)]
pub struct SetPolicy<'info> {
    pub publisher: Signer<'info>,
    #[account(
        mut,
        seeds = [APP_SEED, app.creator.as_ref(), app.app_id.as_ref()],
        bump = app.bump,
        has_one = publisher @ AppRootsError::NotPublisher,
        constraint = app.status == AppStatus::Active @ AppRootsError::AppNotActive,
    )]
    pub app: Account<'info, App>,
}

pub fn handle_set_policy(ctx: Context<SetPolicy>, policy: AppPolicy) -> Result<()> {
    policy.validate()?;
    ctx.accounts.app.policy = policy.clone();
    emit!(PolicyUpdated { app: ctx.accounts.app.key(), policy });
    Ok(())
}
