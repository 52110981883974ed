use anchor_lang::prelude::*;
use spl_account_compression::program::SplAccountCompression;
use spl_account_compression::Noop;

use crate::compression::init_history_tree;
use crate::error::AppRootsError;
use crate::events::HistoryRotated;
use crate::state::*;

#[derive(Accounts)]
#[instruction(tree_index: u32)]
pub struct RotateHistory<'info> {
    /// The publisher (any time), or anyone once the active tree is nearly full; a non-publisher is
    /// reimbursed the new accounts' rent from the app account's balance above its own rent.
    #[account(mut)]
    pub cranker: Signer<'info>,
    #[account(
        mut,
        seeds = [APP_SEED, app.creator.as_ref(), app.app_id.as_ref()],
        bump = app.bump,
        constraint = app.status == AppStatus::Active @ AppRootsError::AppNotActive,
    )]
    pub app: Account<'info, App>,
    /// Record of the new tree; `tree_index` must be the active index + 1 (checked in the handler).
    #[account(
        init,
        payer = cranker,
        space = 8 + HistoryTree::INIT_SPACE,
        seeds = [HISTORY_TREE_SEED, app.key().as_ref(), &tree_index.to_le_bytes()],
        bump,
    )]
    pub history_record: Account<'info, HistoryTree>,
    /// CHECK: allocated by the cranker in the same transaction, owned by spl-account-compression,
    /// which refuses an initialised tree; its size is checked against the app's shape.
    #[account(mut, owner = spl_account_compression::ID)]
    pub new_tree: UncheckedAccount<'info>,
    pub compression_program: Program<'info, SplAccountCompression>,
    pub noop_program: Program<'info, Noop>,
    pub system_program: Program<'info, System>,
}

/// Moves the app's history to a fresh tree. The old trees stay (their roots keep proving the
/// leaves they hold); `HistoryTree` records list every tree in order.
pub fn handle_rotate_history(ctx: Context<RotateHistory>, tree_index: u32) -> Result<()> {
    let app = &ctx.accounts.app;
    let expected = app.active_tree_index.checked_add(1).ok_or(AppRootsError::Overflow)?;
    require!(tree_index == expected, AppRootsError::WrongHistoryRecord);
    let cranker = ctx.accounts.cranker.key();
    let by_publisher = cranker == app.publisher;
    if !by_publisher {
        let free = tree_capacity(app.max_depth).saturating_sub(app.active_tree_leaves);
        require!(free <= rotation_threshold(app.max_depth), AppRootsError::RotationTooEarly);
    }

    let seeds: &[&[u8]] = &[APP_SEED, app.creator.as_ref(), app.app_id.as_ref(), &[app.bump]];
    init_history_tree(
        &ctx.accounts.new_tree.to_account_info(),
        &ctx.accounts.app.to_account_info(),
        &ctx.accounts.noop_program.to_account_info(),
        &ctx.accounts.compression_program.to_account_info(),
        seeds,
        app.max_depth,
        app.max_buffer_size,
    )?;

    let rent = Rent::get()?;
    let reimbursed = if by_publisher {
        0
    } else {
        let owed = rent
            .minimum_balance(ctx.accounts.new_tree.data_len())
            .checked_add(rent.minimum_balance(8 + HistoryTree::INIT_SPACE))
            .ok_or(AppRootsError::Overflow)?;
        let app_info = ctx.accounts.app.to_account_info();
        let reserve = app_info.lamports().saturating_sub(rent.minimum_balance(app_info.data_len()));
        require!(reserve >= owed, AppRootsError::RotationUnfunded);
        // The app account is owned by this program, so it can pay out of its own balance.
        **app_info.try_borrow_mut_lamports()? -= owed;
        **ctx.accounts.cranker.to_account_info().try_borrow_mut_lamports()? += owed;
        owed
    };

    let slot = Clock::get()?.slot;
    let app_key = ctx.accounts.app.key();
    let new_tree = ctx.accounts.new_tree.key();
    let app = &mut ctx.accounts.app;
    let previous_tree = app.active_tree;
    let previous_leaves = app.active_tree_leaves;
    ctx.accounts.history_record.set_inner(HistoryTree {
        app: app_key,
        index: tree_index,
        tree: new_tree,
        max_depth: app.max_depth,
        max_buffer_size: app.max_buffer_size,
        first_history_index: app.history_len,
        created_slot: slot,
        bump: ctx.bumps.history_record,
    });
    app.active_tree = new_tree;
    app.active_tree_index = tree_index;
    app.active_tree_leaves = 0;
    emit!(HistoryRotated {
        app: app_key,
        previous_tree,
        previous_leaves,
        tree: new_tree,
        tree_index,
        first_history_index: app.history_len,
        cranker,
        reimbursed_lamports: reimbursed,
    });
    Ok(())
}
