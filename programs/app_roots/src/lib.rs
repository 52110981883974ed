//! Ironroot app roots: per-app shard roots with strictly increasing sequence numbers, written only
//! by registered TEE keys the app's policy allows, and an append-only root history
//! (spl-account-compression trees, rotated before they fill) that proves what any shard's root
//! was at any past sequence number.
// Anchor 0.31's `#[program]` expands to `AccountInfo::realloc`, deprecated in solana-program 2.2.
#![allow(deprecated)]

use anchor_lang::prelude::*;

pub mod compression;
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

    /// Create an app at `[APP_SEED, publisher, app_id]`, its policy and its first root-history
    /// tree (allocated by the caller, owned by spl-account-compression, initialised here with the
    /// app PDA as tree authority).
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

    /// Move the history to a new tree: the publisher at any time, anyone once the active tree is
    /// nearly full (reimbursed from the app account's reserve).
    pub fn rotate_history(ctx: Context<RotateHistory>, tree_index: u32) -> Result<()> {
        instructions::rotate_history::handle_rotate_history(ctx, tree_index)
    }

    /// Publisher: replace the app's policy (allowed pairs, TCB floor, blocked keys).
    pub fn set_policy(ctx: Context<SetPolicy>, policy: AppPolicy) -> Result<()> {
        instructions::set_policy::handle_set_policy(ctx, policy)
    }

    /// Publisher: first step of a publisher rotation.
    pub fn propose_publisher(ctx: Context<ProposePublisher>, new_publisher: Pubkey) -> Result<()> {
        instructions::publisher::handle_propose_publisher(ctx, new_publisher)
    }

    /// Second step: the proposed publisher signs to take over.
    pub fn accept_publisher(ctx: Context<AcceptPublisher>) -> Result<()> {
        instructions::publisher::handle_accept_publisher(ctx)
    }

    /// Publisher: stop the app (no more updates); shards are then closed with `close_shards`.
    pub fn begin_close(ctx: Context<BeginClose>) -> Result<()> {
        instructions::close_app::handle_begin_close(ctx)
    }

    /// Anyone, once the app is closing: close a batch of shard accounts (remaining accounts),
    /// rent to the publisher; the last batch leaves the app as a tombstone.
    pub fn close_shards<'info>(ctx: Context<'_, '_, 'info, 'info, CloseShards<'info>>) -> Result<()> {
        instructions::close_app::handle_close_shards(ctx)
    }
}
