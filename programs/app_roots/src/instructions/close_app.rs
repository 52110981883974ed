use anchor_lang::prelude::*;

use crate::error::AppRootsError;
use crate::events::{AppClosed, AppClosing, ShardsClosed};
use crate::state::*;

#[derive(Accounts)]
pub struct BeginClose<'info> {
    #[account(mut)]
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

#[derive(Accounts)]
pub struct CloseShards<'info> {
    #[account(
        mut,
        seeds = [APP_SEED, app.creator.as_ref(), app.app_id.as_ref()],
        bump = app.bump,
        has_one = publisher @ AppRootsError::NotPublisher,
        constraint = app.status == AppStatus::Closing @ AppRootsError::AppNotClosing,
    )]
    pub app: Account<'info, App>,
    /// CHECK: receives the shards' rent; must be the app's publisher (`has_one`).
    #[account(mut)]
    pub publisher: UncheckedAccount<'info>,
}

/// Stops the app: no update, shard or policy change lands after this. Shards are then closed in
/// batches by `close_shards`; an app with no open shard becomes a tombstone at once.
pub fn handle_begin_close(ctx: Context<BeginClose>) -> Result<()> {
    let app_key = ctx.accounts.app.key();
    let app = &mut ctx.accounts.app;
    app.status = AppStatus::Closing;
    emit!(AppClosing { app: app_key, open_shards: app.open_shards });
    if app.open_shards == 0 {
        finish_close(app, app_key, &ctx.accounts.publisher.to_account_info())?;
    }
    Ok(())
}

/// Closes the shard accounts passed as remaining accounts (writable), refunding their rent to
/// the publisher. Anyone may crank it once the app is closing. When the last shard is closed the
/// app becomes a tombstone: its account stays (so neither it nor any shard address under it can
/// be created again at seq 0) and its balance above rent goes to the publisher.
pub fn handle_close_shards<'info>(ctx: Context<'_, '_, 'info, 'info, CloseShards<'info>>) -> Result<()> {
    let app_key = ctx.accounts.app.key();
    let shards = ctx.remaining_accounts;
    require!(!shards.is_empty(), AppRootsError::ShardAccountsMismatch);
    for (i, info) in shards.iter().enumerate() {
        require!(
            !shards[..i].iter().any(|other| other.key == info.key),
            AppRootsError::ShardAccountsMismatch
        );
    }
    let publisher = ctx.accounts.publisher.to_account_info();
    let mut shard_ids = Vec::with_capacity(shards.len());
    for info in shards {
        let shard: Account<'info, Shard> = Account::try_from(info)?;
        let (expected, _) = Pubkey::find_program_address(
            &[SHARD_SEED, app_key.as_ref(), &shard.shard_id.to_le_bytes()],
            &crate::ID,
        );
        require!(info.key() == expected && shard.app == app_key, AppRootsError::ShardAccountsMismatch);
        shard_ids.push(shard.shard_id);
        shard.close(publisher.clone())?;
    }
    let app = &mut ctx.accounts.app;
    let closed = u16::try_from(shards.len()).map_err(|_| AppRootsError::Overflow)?;
    app.open_shards = app.open_shards.checked_sub(closed).ok_or(AppRootsError::ShardAccountsMismatch)?;
    emit!(ShardsClosed { app: app_key, shard_ids, open_shards: app.open_shards });
    if app.open_shards == 0 {
        finish_close(app, app_key, &publisher)?;
    }
    Ok(())
}

fn finish_close<'info>(
    app: &mut Account<'info, App>,
    app_key: Pubkey,
    publisher: &AccountInfo<'info>,
) -> Result<()> {
    app.status = AppStatus::Closed;
    app.closed_slot = Clock::get()?.slot;
    // Return the rotation reserve; the tombstone keeps exactly its rent.
    let app_info = app.to_account_info();
    let keep = Rent::get()?.minimum_balance(app_info.data_len());
    let surplus = app_info.lamports().saturating_sub(keep);
    if surplus > 0 {
        **app_info.try_borrow_mut_lamports()? -= surplus;
        **publisher.try_borrow_mut_lamports()? += surplus;
    }
    emit!(AppClosed {
        app: app_key,
        history_len: app.history_len,
        trees: app.active_tree_index.saturating_add(1)
    });
    Ok(())
}
