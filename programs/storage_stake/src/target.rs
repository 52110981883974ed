//! Challenge targets from recent slot hashes: not chosen by the publisher (it cannot pick the
//! slot hash) and not predictable by the provider (it does not exist before the slot).
use anchor_lang::prelude::*;
use anchor_lang::solana_program::hash::hashv;
use app_roots::Shard;

use crate::error::StakeError;
use crate::jmt::is_empty_root;

pub const TARGET_DOMAIN: &[u8] = b"ironroot:challenge:v1";

/// The most recent entry of the SlotHashes sysvar's data: `(slot, hash)`. Read in place (the
/// sysvar is ~20 KB; deserialising it whole would waste compute).
pub fn latest_slot_hash(data: &[u8]) -> Result<(u64, [u8; 32])> {
    let count = data.get(0..8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
    require!(count.unwrap_or(0) > 0 && data.len() >= 48, StakeError::SlotHashesUnavailable);
    let slot = u64::from_le_bytes(data[8..16].try_into().map_err(|_| StakeError::SlotHashesUnavailable)?);
    let hash: [u8; 32] = data[16..48].try_into().map_err(|_| StakeError::SlotHashesUnavailable)?;
    Ok((slot, hash))
}

/// Everything a challenge derives from its seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// The shard the seed picks before skipping empty shards.
    pub drawn_shard: u16,
    pub point: [u8; 32],
    pub nonce: [u8; 32],
}

/// `seed = H(domain ‖ slot hash ‖ stake ‖ challenge counter)`; shard `= u64(seed[0..8]) mod
/// shard_count`, point `= H(seed ‖ "point")`, nonce `= H(seed ‖ "nonce")`.
pub fn derive_target(slot_hash: &[u8; 32], stake: &Pubkey, counter: u64, shard_count: u16) -> Target {
    let seed = hashv(&[TARGET_DOMAIN, slot_hash, stake.as_ref(), &counter.to_le_bytes()]).to_bytes();
    let mut head = [0u8; 8];
    head.copy_from_slice(&seed[..8]);
    let drawn_shard = (u64::from_le_bytes(head) % shard_count.max(1) as u64) as u16;
    Target {
        drawn_shard,
        point: hashv(&[&seed, b"point"]).to_bytes(),
        nonce: hashv(&[&seed, b"nonce"]).to_bytes(),
    }
}

/// The shard a challenge lands on: the drawn one if it holds data, else the next non-empty one
/// in id order (wrapping). `shards` are all of the app's shards, index = shard id.
pub fn pick_shard(shards: &[Shard], drawn: u16) -> Result<usize> {
    let count = shards.len();
    (0..count)
        .map(|offset| (drawn as usize + offset) % count)
        .find(|&i| shards[i].seq > 0 && !is_empty_root(&shards[i].root))
        .ok_or_else(|| error!(StakeError::NothingToChallenge))
}
