//! Two-step publisher rotation: the current publisher proposes, the new one accepts.
use anchor_lang::prelude::*;

use crate::error::AppRootsError;
use crate::events::{PublisherProposed, PublisherRotated};
use crate::state::*;

#[derive(Accounts)]
pub struct ProposePublisher<'info> {
    pub publisher: Signer<'info>,
    #[account(
        mut,
        seeds = [APP_SEED, app.creator.as_ref(), app.app_id.as_ref()],
        bump = app.bump,
        has_one = publisher @ AppRootsError::NotPublisher,
    )]
    pub app: Account<'info, App>,
}

#[derive(Accounts)]
pub struct AcceptPublisher<'info> {
    pub new_publisher: Signer<'info>,
    #[account(mut, seeds = [APP_SEED, app.creator.as_ref(), app.app_id.as_ref()], bump = app.bump)]
    pub app: Account<'info, App>,
}

pub fn handle_propose_publisher(ctx: Context<ProposePublisher>, new_publisher: Pubkey) -> Result<()> {
    let app = &mut ctx.accounts.app;
    app.pending_publisher = Some(new_publisher);
    emit!(PublisherProposed { app: app.key(), current: app.publisher, proposed: new_publisher });
    Ok(())
}

pub fn handle_accept_publisher(ctx: Context<AcceptPublisher>) -> Result<()> {
    let new_publisher = ctx.accounts.new_publisher.key();
    let app = &mut ctx.accounts.app;
    require!(app.pending_publisher == Some(new_publisher), AppRootsError::NotPendingPublisher);
    let previous = app.publisher;
    app.publisher = new_publisher;
    app.pending_publisher = None;
    emit!(PublisherRotated { app: app.key(), previous, publisher: new_publisher });
    Ok(())
}
