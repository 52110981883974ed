use anchor_lang::prelude::*;
use spl_account_compression::program::SplAccountCompression;
use spl_account_compression::Noop;

use crate::compression::init_history_tree;
use crate::error::AppRootsError;
use crate::events::AppCreated;
use crate::state::*;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct CreateAppArgs {
    pub app_id: [u8; 32],
    pub shard_count: u16,
    pub max_depth: u32,
    pub max_buffer_size: u32,
    pub policy: AppPolicy,
}

#[derive(Accounts)]
#[instruction(args: CreateAppArgs)]
pub struct CreateApp<'info> {
    /// Creator and first publisher: the app's address is derived from this key.
    #[account(mut)]
    pub publisher: Signer<'info>,
    #[account(
        init,
        payer = publisher,
        space = 8 + App::INIT_SPACE,
        seeds = [APP_SEED, publisher.key().as_ref(), args.app_id.as_ref()],
        bump,
    )]
    pub app: Account<'info, App>,
    /// Record of history tree 0.
    #[account(
        init,
        payer = publisher,
        space = 8 + HistoryTree::INIT_SPACE,
        seeds = [HISTORY_TREE_SEED, app.key().as_ref(), &0u32.to_le_bytes()],
        bump,
    )]
    pub history_record: Account<'info, HistoryTree>,
    /// CHECK: allocated by the caller in the same transaction and owned by spl-account-compression,
    /// which refuses an already initialised tree; its size is checked against the shape here.
    #[account(mut, owner = spl_account_compression::ID)]
    pub tree: UncheckedAccount<'info>,
    pub compression_program: Program<'info, SplAccountCompression>,
    pub noop_program: Program<'info, Noop>,
    pub system_program: Program<'info, System>,
}

pub fn handle_create_app(ctx: Context<CreateApp>, args: CreateAppArgs) -> Result<()> {
    require!(args.shard_count >= 1 && args.shard_count <= MAX_SHARDS, AppRootsError::InvalidShardCount);
    args.policy.validate()?;
    let creator = ctx.accounts.publisher.key();
    let bump = ctx.bumps.app;
    init_history_tree(
        &ctx.accounts.tree.to_account_info(),
        &ctx.accounts.app.to_account_info(),
        &ctx.accounts.noop_program.to_account_info(),
        &ctx.accounts.compression_program.to_account_info(),
        &[APP_SEED, creator.as_ref(), args.app_id.as_ref(), &[bump]],
        args.max_depth,
        args.max_buffer_size,
    )?;

    let slot = Clock::get()?.slot;
    let app_key = ctx.accounts.app.key();
    let tree = ctx.accounts.tree.key();
    ctx.accounts.history_record.set_inner(HistoryTree {
        app: app_key,
        index: 0,
        tree,
        max_depth: args.max_depth,
        max_buffer_size: args.max_buffer_size,
        first_history_index: 0,
        created_slot: slot,
        bump: ctx.bumps.history_record,
    });
    ctx.accounts.app.set_inner(App {
        creator,
        app_id: args.app_id,
        publisher: creator,
        pending_publisher: None,
        status: AppStatus::Active,
        policy: args.policy.clone(),
        shard_count: args.shard_count,
        open_shards: 0,
        max_depth: args.max_depth,
        max_buffer_size: args.max_buffer_size,
        active_tree: tree,
        active_tree_index: 0,
        active_tree_leaves: 0,
        history_len: 0,
        created_slot: slot,
        closed_slot: 0,
        bump,
    });
    emit!(AppCreated {
        app: app_key,
        creator,
        app_id: args.app_id,
        tree,
        max_depth: args.max_depth,
        max_buffer_size: args.max_buffer_size,
        shard_count: args.shard_count,
        policy: args.policy,
    });
    Ok(())
}
