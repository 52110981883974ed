//! The root-history leaf: shared by the program and every off-chain verifier.
use anchor_lang::prelude::*;
use anchor_lang::solana_program::keccak;

/// Domain separation for history leaves (v2: the leaf names its tree).
pub const HISTORY_LEAF_DOMAIN: &[u8] = b"ironroot:history:v2";

/// `H(app, tree, shard_id, seq, root, manifest_cid, slot)` with keccak-256 (the tree's own hash),
/// every field fixed-width or length-prefixed so no two field lists hash alike. Naming the tree
/// means a leaf can only be proven in the tree it was appended to.
pub fn history_leaf(
    app: &Pubkey,
    tree: &Pubkey,
    shard_id: u16,
    seq: u64,
    root: &[u8; 32],
    manifest_cid: &[u8],
    slot: u64,
) -> [u8; 32] {
    keccak::hashv(&[
        HISTORY_LEAF_DOMAIN,
        app.as_ref(),
        tree.as_ref(),
        &shard_id.to_le_bytes(),
        &seq.to_le_bytes(),
        root,
        &[manifest_cid.len() as u8],
        manifest_cid,
        &slot.to_le_bytes(),
    ])
    .to_bytes()
}
