use anchor_lang::prelude::*;

use crate::state::AppPolicy;

#[event]
pub struct AppCreated {
    pub app: Pubkey,
    pub creator: Pubkey,
    pub app_id: [u8; 32],
    pub tree: Pubkey,
    pub max_depth: u32,
    pub max_buffer_size: u32,
    pub shard_count: u16,
    pub policy: AppPolicy,
}

#[event]
pub struct ShardInitialized {
    pub app: Pubkey,
    pub shard_id: u16,
}

/// One accepted shard update: everything needed to rebuild the root history off-chain. Also
/// written through spl-noop as instruction data (the same bytes), which survives log truncation.
#[event]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardUpdated {
    pub app: Pubkey,
    /// The history tree the leaf went into (one of the app's trees).
    pub tree: Pubkey,
    /// Index of that tree among the app's trees.
    pub tree_index: u32,
    pub shard_id: u16,
    pub seq: u64,
    pub prev_root: [u8; 32],
    pub root: [u8; 32],
    pub manifest_cid: Vec<u8>,
    pub slot: u64,
    pub signer: Pubkey,
    /// Index of the leaf in `tree`.
    pub leaf_index: u64,
    pub leaf: [u8; 32],
}

#[event]
pub struct HistoryRotated {
    pub app: Pubkey,
    pub previous_tree: Pubkey,
    /// Leaves the previous tree ended with.
    pub previous_leaves: u64,
    pub tree: Pubkey,
    pub tree_index: u32,
    pub first_history_index: u64,
    /// Who cranked it, and the rent the app reimbursed them (0 when the publisher paid directly).
    pub cranker: Pubkey,
    pub reimbursed_lamports: u64,
}

#[event]
pub struct PolicyUpdated {
    pub app: Pubkey,
    pub policy: AppPolicy,
}

#[event]
pub struct PublisherProposed {
    pub app: Pubkey,
    pub current: Pubkey,
    pub proposed: Pubkey,
}

#[event]
pub struct PublisherRotated {
    pub app: Pubkey,
    pub previous: Pubkey,
    pub publisher: Pubkey,
}

#[event]
pub struct AppClosing {
    pub app: Pubkey,
    pub open_shards: u16,
}

#[event]
pub struct ShardsClosed {
    pub app: Pubkey,
    pub shard_ids: Vec<u16>,
    pub open_shards: u16,
}

/// The last shard is closed: the app is a tombstone from here on.
#[event]
pub struct AppClosed {
    pub app: Pubkey,
    pub history_len: u64,
    pub trees: u32,
}
