use anchor_lang::prelude::*;

use crate::error::AppRootsError;
use crate::events::ShardInitialized;
use crate::state::*;

#[derive(Accounts)]
#[instruction(shard_id: u16)]
pub struct InitShard<'info> {
    #[account(mut)]
    pub publisher: Signer<'info>,
    #[account(
        mut,
        seeds = [APP_SEED, app.creator.as_ref(), app.app_id.as_ref()],
        bump = app.bump,
        has_one = publisher @ AppRootsError::NotPublisher,
        constraint = app.status == AppStatus::Active @ AppRootsError::AppNotActive,
        constraint = shard_id < app.shard_count @ AppRootsError::ShardOutOfRange,
    )]
    pub app: Account<'info, App>,
    #[account(
        init,
        payer = publisher,
        space = 8 + Shard::INIT_SPACE,
        seeds = [SHARD_SEED, app.key().as_ref(), &shard_id.to_le_bytes()],
        bump,
    )]
    pub shard: Account<'info, Shard>,
    pub system_program: Program<'info, System>,
}

pub fn handle_init_shard(ctx: Context<InitShard>, shard_id: u16) -> Result<()> {
    let app_key = ctx.accounts.app.key();
    ctx.accounts.shard.set_inner(Shard {
        app: app_key,
        shard_id,
        seq: 0,
        root: [0; 32],
        manifest_cid: Vec::new(),
        updated_slot: 0,
        last_signer: Pubkey::default(),
        history_tree: Pubkey::default(),
        leaf_index: 0,
        bump: ctx.bumps.shard,
    });
    let app = &mut ctx.accounts.app;
    app.open_shards = app.open_shards.checked_add(1).ok_or(AppRootsError::Overflow)?;
    emit!(ShardInitialized { app: app_key, shard_id });
    Ok(())
}
