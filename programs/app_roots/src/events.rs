use anchor_lang::prelude::*;

use crate::state::AppPolicy;

#[event]
pub struct AppCreated {
    pub app: Pubkey,
    pub app_id: [u8; 32],
    pub publisher: Pubkey,
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
    pub shard_id: u16,
    pub seq: u64,
    pub prev_root: [u8; 32],
    pub root: [u8; 32],
    pub manifest_cid: Vec<u8>,
    pub slot: u64,
    pub signer: Pubkey,
    /// Index of the history leaf this update appended.
    pub leaf_index: u64,
    pub leaf: [u8; 32],
}

#[event]
pub struct PolicyUpdated {
    pub app: Pubkey,
    pub policy: AppPolicy,
}

#[event]
pub struct AppClosed {
    pub app: Pubkey,
    pub shards_closed: u16,
    pub history_len: u64,
}
