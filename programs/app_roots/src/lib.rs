//! Ironroot app roots: per-app shard roots with strictly increasing sequence numbers, written only
//! by registered TEE keys the app's policy allows, and an append-only root-history tree
//! (spl-account-compression) that proves what any shard's root was at any past sequence number.
// Anchor 0.31's `#[program]` expands to `AccountInfo::realloc`, deprecated in solana-program 2.2.
#![allow(deprecated)]

use anchor_lang::prelude::*;

pub mod error;
pub mod events;
pub mod history;
pub mod instructions;
pub mod state;

pub use instructions::*;
pub use state::*;

declare_id!("5KHFn8SKbs8bkAFcbKPKgzUhqEzyxs4MSPGoZ2u5PNS5");

#[program]
pub mod app_roots {
    use super::*;

    /// Create an app, its policy and its root-history tree (allocated by the caller, owned by
    /// spl-account-compression, initialised here with the app PDA as tree authority).
    pub fn create_app(ctx: Context<CreateApp>, args: CreateAppArgs) -> Result<()> {
        instructions::create_app::handle_create_app(ctx, args)
    }

    /// Create the account of one shard (seq 0, all-zero root).
    pub fn init_shard(ctx: Context<InitShard>, shard_id: u16) -> Result<()> {
        instructions::init_shard::handle_init_shard(ctx, shard_id)
    }

    /// A TEE-signed shard update: `new_seq == seq + 1`, `prev_root == root`.
    pub fn update_shard(ctx: Context<UpdateShard>, args: UpdateShardArgs) -> Result<()> {
        instructions::update_shard::handle_update_shard(ctx, args)
    }

    /// Publisher: replace the app's policy (e.g. stop allowing a measurement).
    pub fn set_policy(ctx: Context<SetPolicy>, policy: AppPolicy) -> Result<()> {
        instructions::set_policy::handle_set_policy(ctx, policy)
    }

    /// Publisher: close the app and every shard account (passed as remaining accounts) at once.
    pub fn close_app<'info>(ctx: Context<'_, '_, 'info, 'info, CloseApp<'info>>) -> Result<()> {
        instructions::close_app::handle_close_app(ctx)
    }
}
