use anchor_lang::prelude::*;

use crate::error::AppRootsError;

/// App PDA: `[APP_SEED, creator, app_id]`. The creator is part of the address, so nobody can
/// claim, squat or front-run another publisher's app id.
pub const APP_SEED: &[u8] = b"app";
/// Shard PDA: `[SHARD_SEED, app, shard_id_le]`.
pub const SHARD_SEED: &[u8] = b"shard";
/// History-tree record PDA: `[HISTORY_TREE_SEED, app, tree_index_le]` (u32).
pub const HISTORY_TREE_SEED: &[u8] = b"history";
pub const MAX_POLICY_PAIRS: usize = 8;
/// Four keys keep a full policy (8 pairs + 4 keys) within one `set_policy` transaction.
pub const MAX_BLOCKED_KEYS: usize = 4;
/// A binary CID (CIDv1 sha2-256 is 36 bytes); room for other hashes.
pub const MAX_CID_LEN: usize = 64;
pub const MAX_SHARDS: u16 = 256;
/// Worst TCB status a policy may accept (`OutOfDateConfigurationNeeded`); 6 (`Revoked`) never.
pub const MAX_ACCEPTABLE_TCB_STATUS: u8 = 5;

/// Root-history tree shapes an app may choose (max depth, max buffer size); all are sizes
/// spl-account-compression 1.0 supports. Canopy is not used: proofs are checked off-chain.
pub const ALLOWED_TREE_SHAPES: [(u32, u32); 5] = [(14, 64), (14, 256), (17, 64), (20, 64), (20, 256)];

/// Anyone may rotate an app's history once its active tree has at most this many free leaves
/// (or `1/ROTATION_FREE_DIVISOR` of its capacity, whichever is larger); the publisher may rotate
/// at any time. Leaves room for updates already in flight when the crank lands.
pub const ROTATION_MIN_FREE_LEAVES: u64 = 1024;
pub const ROTATION_FREE_DIVISOR: u64 = 8;

/// A (measurement, app identity) pair a TEE key must carry, both from its registry entry.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct AllowedTee {
    /// Measurement digest (registry vocabulary).
    pub measurement: [u8; 32],
    /// dstack app id.
    pub app_id: [u8; 32],
    /// dstack compose hash.
    pub compose_hash: [u8; 32],
}

/// Which registered TEE keys may write this app's shards.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq, InitSpace)]
pub struct AppPolicy {
    /// Allowed (measurement, identity) pairs: a key passes only if its own pair is listed.
    #[max_len(MAX_POLICY_PAIRS)]
    pub allowed: Vec<AllowedTee>,
    /// Worst TCB status accepted (the floor): 0 = UpToDate only, up to 5; the registry's
    /// numbering (`attestation_verifier::TcbStatus`).
    pub max_tcb_status: u8,
    /// TEE keys refused even if their pair is allowed (e.g. a leaked key before governance
    /// revokes it).
    #[max_len(MAX_BLOCKED_KEYS)]
    pub blocked_keys: Vec<Pubkey>,
    /// A signing key must stay valid at least this long after the update, in seconds.
    pub min_key_validity_secs: i64,
}

/// Life cycle of an app. `Closed` is a tombstone: the account stays so the address (and every
/// shard address under it) can never be created again at seq 0.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum AppStatus {
    Active,
    /// `begin_close` ran: no updates, no new shards; `close_shards` closes the shards in batches.
    Closing,
    /// Every shard is closed; the account is a tombstone.
    Closed,
}

/// One app (PDA `[APP_SEED, creator, app_id]`); also the authority of every history tree.
#[account]
#[derive(InitSpace, Debug)]
pub struct App {
    /// Who created the app; part of the address, never changes.
    pub creator: Pubkey,
    pub app_id: [u8; 32],
    /// Current publisher (starts as the creator; rotated in two steps).
    pub publisher: Pubkey,
    /// Set by `propose_publisher`, cleared by `accept_publisher`.
    pub pending_publisher: Option<Pubkey>,
    pub status: AppStatus,
    pub policy: AppPolicy,
    pub shard_count: u16,
    /// Shard accounts created and not closed.
    pub open_shards: u16,
    /// Shape of every history tree of this app.
    pub max_depth: u32,
    pub max_buffer_size: u32,
    /// The history tree updates append to now.
    pub active_tree: Pubkey,
    /// Index of the active tree (its `HistoryTree` record is `[HISTORY_TREE_SEED, app, index]`).
    pub active_tree_index: u32,
    /// Leaves appended to the active tree (its next leaf's index).
    pub active_tree_leaves: u64,
    /// Leaves appended over all trees.
    pub history_len: u64,
    pub created_slot: u64,
    /// Slot at which the last shard was closed, 0 before.
    pub closed_slot: u64,
    pub bump: u8,
}

/// One of an app's history trees, in order (PDA `[HISTORY_TREE_SEED, app, index_le]`). Written
/// once; the tree's leaf count is the next record's `first_history_index` minus this one's (or
/// the app's `active_tree_leaves` for the active tree).
#[account]
#[derive(InitSpace, Debug, PartialEq, Eq)]
pub struct HistoryTree {
    pub app: Pubkey,
    pub index: u32,
    /// The spl-account-compression tree account (the app PDA is its authority).
    pub tree: Pubkey,
    pub max_depth: u32,
    pub max_buffer_size: u32,
    /// The app's `history_len` when this tree became active (global index of its leaf 0).
    pub first_history_index: u64,
    pub created_slot: u64,
    pub bump: u8,
}

/// The latest state of one shard (PDA `[SHARD_SEED, app, shard_id_le]`).
#[account]
#[derive(InitSpace, Debug, PartialEq, Eq)]
pub struct Shard {
    pub app: Pubkey,
    pub shard_id: u16,
    /// 0 until the first update; each update adds exactly 1.
    pub seq: u64,
    /// All zeros until the first update.
    pub root: [u8; 32],
    /// Binary CID of the encrypted manifest that rebuilds this root (empty before the first update).
    #[max_len(MAX_CID_LEN)]
    pub manifest_cid: Vec<u8>,
    pub updated_slot: u64,
    /// TEE key of the latest update.
    pub last_signer: Pubkey,
    /// History tree holding the latest update's leaf (default before the first update).
    pub history_tree: Pubkey,
    /// That leaf's index in `history_tree`.
    pub leaf_index: u64,
    pub bump: u8,
}

/// Size of a root-history tree account with no canopy: the V1 header, three u64 counters, and
/// `max_buffer_size` change logs plus the rightmost path, each `32 * (depth + 1) + 8` bytes.
pub const fn tree_account_size(max_depth: u32, max_buffer_size: u32) -> usize {
    let path = 32 * (max_depth as usize + 1) + 8;
    spl_account_compression::state::CONCURRENT_MERKLE_TREE_HEADER_SIZE_V1
        + 24
        + (max_buffer_size as usize + 1) * path
}

/// Leaves a tree of `max_depth` holds.
pub const fn tree_capacity(max_depth: u32) -> u64 {
    1u64 << max_depth
}

/// Free leaves at or below which anyone may rotate.
pub const fn rotation_threshold(max_depth: u32) -> u64 {
    let share = tree_capacity(max_depth) / ROTATION_FREE_DIVISOR;
    if share > ROTATION_MIN_FREE_LEAVES {
        share
    } else {
        ROTATION_MIN_FREE_LEAVES
    }
}

impl AppPolicy {
    pub fn validate(&self) -> Result<()> {
        require!(
            !self.allowed.is_empty()
                && self.allowed.len() <= MAX_POLICY_PAIRS
                && self.blocked_keys.len() <= MAX_BLOCKED_KEYS
                && self.max_tcb_status <= MAX_ACCEPTABLE_TCB_STATUS
                && self.min_key_validity_secs >= 0,
            AppRootsError::InvalidPolicy
        );
        for (i, pair) in self.allowed.iter().enumerate() {
            require!(!self.allowed[..i].contains(pair), AppRootsError::InvalidPolicy);
        }
        Ok(())
    }
}

impl App {
    /// Address of the app `app_id` created by `creator`.
    pub fn address(creator: &Pubkey, app_id: &[u8; 32]) -> (Pubkey, u8) {
        Pubkey::find_program_address(&[APP_SEED, creator.as_ref(), app_id], &crate::ID)
    }

    pub fn signer_seeds(&self) -> [&[u8]; 3] {
        [APP_SEED, self.creator.as_ref(), self.app_id.as_ref()]
    }
}
