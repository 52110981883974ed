use anchor_lang::prelude::*;

use crate::error::AppRootsError;

pub const APP_SEED: &[u8] = b"app";
pub const SHARD_SEED: &[u8] = b"shard";
pub const MAX_POLICY_MEASUREMENTS: usize = 8;
pub const MAX_POLICY_IDENTITIES: usize = 8;
/// A binary CID (CIDv1 sha2-256 is 36 bytes); room for other hashes.
pub const MAX_CID_LEN: usize = 64;
pub const MAX_SHARDS: u16 = 256;

/// Root-history tree shapes an app may choose (max depth, max buffer size); all are sizes
/// spl-account-compression 1.0 supports. Canopy is not used: proofs are checked off-chain.
pub const ALLOWED_TREE_SHAPES: [(u32, u32); 5] = [(14, 64), (14, 256), (17, 64), (20, 64), (20, 256)];

/// A dstack app identity a TEE key may carry (from its registry entry).
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct TeeIdentity {
    pub app_id: [u8; 32],
    pub compose_hash: [u8; 32],
}

/// Which registered TEE keys may write this app's shards.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq, InitSpace)]
pub struct AppPolicy {
    /// Measurement digests (registry vocabulary) allowed to serve the app.
    #[max_len(MAX_POLICY_MEASUREMENTS)]
    pub measurements: Vec<[u8; 32]>,
    /// App identities (app id + compose hash) allowed to serve the app.
    #[max_len(MAX_POLICY_IDENTITIES)]
    pub identities: Vec<TeeIdentity>,
    /// A signing key must stay valid at least this long after the update, in seconds.
    pub min_key_validity_secs: i64,
}

/// One app (PDA `[APP_SEED, app_id]`); also the authority of its root-history tree.
#[account]
#[derive(InitSpace, Debug)]
pub struct App {
    pub publisher: Pubkey,
    pub app_id: [u8; 32],
    /// The app's concurrent Merkle tree (root history).
    pub tree: Pubkey,
    pub max_depth: u32,
    pub max_buffer_size: u32,
    pub policy: AppPolicy,
    pub shard_count: u16,
    /// Shard accounts created and not closed.
    pub open_shards: u16,
    /// Leaves appended to the history tree so far (the next leaf's index).
    pub history_len: u64,
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

impl AppPolicy {
    pub fn validate(&self) -> Result<()> {
        require!(
            !self.measurements.is_empty()
                && self.measurements.len() <= MAX_POLICY_MEASUREMENTS
                && !self.identities.is_empty()
                && self.identities.len() <= MAX_POLICY_IDENTITIES
                && self.min_key_validity_secs >= 0,
            AppRootsError::InvalidPolicy
        );
        Ok(())
    }
}
