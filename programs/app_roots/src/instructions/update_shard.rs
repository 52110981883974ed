use std::cmp::Ordering;

use anchor_lang::prelude::*;
use anchor_lang::solana_program::program::invoke;
use anchor_lang::Event;
use spl_account_compression::program::SplAccountCompression;
use spl_account_compression::Noop;
use tee_registry::{TeeEntry, TEE_ENTRY_SEED};

use crate::error::AppRootsError;
use crate::events::ShardUpdated;
use crate::history::history_leaf;
use crate::state::*;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct UpdateShardArgs {
    pub shard_id: u16,
    pub prev_root: [u8; 32],
    pub new_root: [u8; 32],
    pub new_seq: u64,
    /// Binary CID of the encrypted shard manifest for `new_root`.
    pub manifest_cid: Vec<u8>,
}

#[derive(Accounts)]
#[instruction(args: UpdateShardArgs)]
pub struct UpdateShard<'info> {
    /// The TEE key; the fee payer may be another account (both sign the transaction).
    pub tee: Signer<'info>,
    /// The key's registry entry: owner (registry program) and seeds checked.
    #[account(
        seeds = [TEE_ENTRY_SEED, tee.key().as_ref()],
        bump = tee_entry.bump,
        seeds::program = tee_registry::ID,
    )]
    pub tee_entry: Account<'info, TeeEntry>,
    #[account(
        mut,
        seeds = [APP_SEED, app.creator.as_ref(), app.app_id.as_ref()],
        bump = app.bump,
        constraint = app.status == AppStatus::Active @ AppRootsError::AppNotActive,
        constraint = app.active_tree == tree.key() @ AppRootsError::WrongTree,
        constraint = args.shard_id < app.shard_count @ AppRootsError::ShardOutOfRange,
    )]
    pub app: Account<'info, App>,
    #[account(
        mut,
        seeds = [SHARD_SEED, app.key().as_ref(), &args.shard_id.to_le_bytes()],
        bump = shard.bump,
    )]
    pub shard: Account<'info, Shard>,
    /// CHECK: the app's active tree (checked on `app`); spl-account-compression validates it.
    #[account(mut)]
    pub tree: UncheckedAccount<'info>,
    pub compression_program: Program<'info, SplAccountCompression>,
    pub noop_program: Program<'info, Noop>,
}

pub fn handle_update_shard(ctx: Context<UpdateShard>, args: UpdateShardArgs) -> Result<()> {
    let clock = Clock::get()?;
    check_signer(&ctx.accounts.tee_entry, &ctx.accounts.app.policy, clock.unix_timestamp)?;
    require!(
        !args.manifest_cid.is_empty() && args.manifest_cid.len() <= MAX_CID_LEN,
        AppRootsError::InvalidCid
    );
    let shard = &ctx.accounts.shard;
    let expected = shard.seq.checked_add(1).ok_or(AppRootsError::Overflow)?;
    match args.new_seq.cmp(&shard.seq) {
        Ordering::Equal => return err!(AppRootsError::SequenceReplay),
        Ordering::Less => return err!(AppRootsError::SequenceRollback),
        Ordering::Greater => require!(args.new_seq == expected, AppRootsError::SequenceGap),
    }
    require!(args.prev_root == shard.root, AppRootsError::RootMismatch);
    let app = &ctx.accounts.app;
    // Fail with our own error, before the CPI, rather than deep inside spl-account-compression.
    require!(app.active_tree_leaves < tree_capacity(app.max_depth), AppRootsError::HistoryTreeFull);

    let app_key = app.key();
    let tree = ctx.accounts.tree.key();
    let leaf = history_leaf(
        &app_key,
        &tree,
        args.shard_id,
        args.new_seq,
        &args.new_root,
        &args.manifest_cid,
        clock.slot,
    );
    let seeds: &[&[u8]] = &[APP_SEED, app.creator.as_ref(), app.app_id.as_ref(), &[app.bump]];
    spl_account_compression::cpi::append(
        CpiContext::new_with_signer(
            ctx.accounts.compression_program.to_account_info(),
            spl_account_compression::cpi::accounts::Modify {
                merkle_tree: ctx.accounts.tree.to_account_info(),
                authority: ctx.accounts.app.to_account_info(),
                noop: ctx.accounts.noop_program.to_account_info(),
            },
            &[seeds],
        ),
        leaf,
    )?;

    let leaf_index = app.active_tree_leaves;
    let tree_index = app.active_tree_index;
    let app = &mut ctx.accounts.app;
    app.active_tree_leaves = leaf_index.checked_add(1).ok_or(AppRootsError::Overflow)?;
    app.history_len = app.history_len.checked_add(1).ok_or(AppRootsError::Overflow)?;
    let shard = &mut ctx.accounts.shard;
    shard.seq = args.new_seq;
    shard.root = args.new_root;
    shard.manifest_cid = args.manifest_cid.clone();
    shard.updated_slot = clock.slot;
    shard.last_signer = ctx.accounts.tee.key();
    shard.history_tree = tree;
    shard.leaf_index = leaf_index;

    let record = ShardUpdated {
        app: app_key,
        tree,
        tree_index,
        shard_id: args.shard_id,
        seq: args.new_seq,
        prev_root: args.prev_root,
        root: args.new_root,
        manifest_cid: args.manifest_cid,
        slot: clock.slot,
        signer: ctx.accounts.tee.key(),
        leaf_index,
        leaf,
    };
    // The history record as noop instruction data: indexers read it from inner instructions,
    // which, unlike logs, are never truncated.
    invoke(&spl_noop::instruction(record.data()), &[ctx.accounts.noop_program.to_account_info()])?;
    emit!(record);
    Ok(())
}

/// The signing key must be unrevoked, unexpired for at least the policy's margin, not blocked,
/// at or above the TCB floor, and carry a (measurement, identity) pair the app allows.
pub fn check_signer(entry: &TeeEntry, policy: &AppPolicy, now: i64) -> Result<()> {
    require!(!entry.revoked, AppRootsError::TeeRevoked);
    require!(now < entry.expires_at, AppRootsError::TeeExpired);
    let remaining = entry.expires_at.checked_sub(now).ok_or(AppRootsError::Overflow)?;
    require!(remaining >= policy.min_key_validity_secs, AppRootsError::KeyValidityTooShort);
    require!(!policy.blocked_keys.contains(&entry.tee_pubkey), AppRootsError::TeeBlocked);
    require!(entry.tcb_status <= policy.max_tcb_status, AppRootsError::TcbBelowFloor);
    let pair =
        AllowedTee { measurement: entry.measurement, app_id: entry.app_id, compose_hash: entry.compose_hash };
    require!(policy.allowed.contains(&pair), AppRootsError::TeeNotAllowed);
    Ok(())
}
