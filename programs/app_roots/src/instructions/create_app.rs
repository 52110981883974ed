use anchor_lang::prelude::*;
use anchor_lang::solana_program::instruction::{AccountMeta, Instruction};
use anchor_lang::solana_program::program::invoke_signed;
use anchor_lang::InstructionData;
use spl_account_compression::program::SplAccountCompression;
use spl_account_compression::Noop;

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
    #[account(mut)]
    pub publisher: Signer<'info>,
    #[account(
        init,
        payer = publisher,
        space = 8 + App::INIT_SPACE,
        seeds = [APP_SEED, args.app_id.as_ref()],
        bump,
    )]
    pub app: Account<'info, App>,
    /// CHECK: allocated by the caller in the same transaction and owned by spl-account-compression,
    /// which refuses an already initialised tree; its size is checked against the shape here.
    #[account(mut, owner = spl_account_compression::ID)]
    pub tree: UncheckedAccount<'info>,
    pub compression_program: Program<'info, SplAccountCompression>,
    pub noop_program: Program<'info, Noop>,
    pub system_program: Program<'info, System>,
}

pub fn handle_create_app(ctx: Context<CreateApp>, args: CreateAppArgs) -> Result<()> {
    require!(
        ALLOWED_TREE_SHAPES.contains(&(args.max_depth, args.max_buffer_size)),
        AppRootsError::TreeShapeNotAllowed
    );
    require!(
        ctx.accounts.tree.data_len() == tree_account_size(args.max_depth, args.max_buffer_size),
        AppRootsError::TreeSizeMismatch
    );
    require!(args.shard_count >= 1 && args.shard_count <= MAX_SHARDS, AppRootsError::InvalidShardCount);
    args.policy.validate()?;

    // Built by hand: spl-account-compression 1.0's generated `cpi::init_empty_merkle_tree` passes
    // the tree read-only, so the tree would never be written.
    let init = Instruction {
        program_id: spl_account_compression::ID,
        accounts: vec![
            AccountMeta::new(ctx.accounts.tree.key(), false),
            AccountMeta::new_readonly(ctx.accounts.app.key(), true),
            AccountMeta::new_readonly(ctx.accounts.noop_program.key(), false),
        ],
        data: spl_account_compression::instruction::InitEmptyMerkleTree {
            max_depth: args.max_depth,
            max_buffer_size: args.max_buffer_size,
        }
        .data(),
    };
    let bump = ctx.bumps.app;
    invoke_signed(
        &init,
        &[
            ctx.accounts.tree.to_account_info(),
            ctx.accounts.app.to_account_info(),
            ctx.accounts.noop_program.to_account_info(),
            ctx.accounts.compression_program.to_account_info(),
        ],
        &[&[APP_SEED, args.app_id.as_ref(), &[bump]]],
    )?;

    let slot = Clock::get()?.slot;
    ctx.accounts.app.set_inner(App {
        publisher: ctx.accounts.publisher.key(),
        app_id: args.app_id,
        tree: ctx.accounts.tree.key(),
        max_depth: args.max_depth,
        max_buffer_size: args.max_buffer_size,
        policy: args.policy.clone(),
        shard_count: args.shard_count,
        open_shards: 0,
        history_len: 0,
        created_slot: slot,
        bump,
    });
    emit!(AppCreated {
        app: ctx.accounts.app.key(),
        app_id: args.app_id,
        publisher: ctx.accounts.publisher.key(),
        tree: ctx.accounts.tree.key(),
        max_depth: args.max_depth,
        max_buffer_size: args.max_buffer_size,
        shard_count: args.shard_count,
        policy: args.policy,
    });
    Ok(())
}
