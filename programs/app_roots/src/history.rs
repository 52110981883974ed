//! The root-history leaf: shared by the program and every off-chain verifier.
use anchor_lang::prelude::*;
use anchor_lang::solana_program::keccak;

/// Domain separation for history leaves.
pub const HISTORY_LEAF_DOMAIN: &[u8] = b"ironroot:history:v1";

/// `H(app, shard_id, seq, root, manifest_cid, slot)` with keccak-256 (the tree's own hash), every
/// field fixed-width or length-prefixed so no two field lists hash alike.
pub fn history_leaf(
    app: &Pubkey,
    shard_id: u16,
    seq: u64,
    root: &[u8; 32],
    manifest_cid: &[u8],
    slot: u64,
) -> [u8; 32] {
    keccak::hashv(&[
        HISTORY_LEAF_DOMAIN,
        app.as_ref(),
        &shard_id.to_le_bytes(),
        &seq.to_le_bytes(),
        root,
        &[manifest_cid.len() as u8],
        manifest_cid,
        &slot.to_le_bytes(),
    ])
    .to_bytes()
}
