//! On-chain check of a record proof of the keeper's shard tree: Penumbra's `jmt` 0.12 with
//! SHA-256 (binary sparse Merkle tree, leaves at the shallowest depth where they are alone, empty
//! subtrees hashed to a fixed placeholder), and of the rule that maps a challenge's target point
//! to exactly one existing leaf.
//!
//! **Target rule.** Walk down from the root following the point's bits; where the point's side of
//! a node is empty, take the other side (it is non-empty, or the node would be empty itself);
//! stop at the first leaf. In a non-empty tree this always lands on an existing leaf, and for a
//! proof of leaf `K` at depth `n` it holds iff, at every depth `d < n` where `K` and the point
//! differ in bit `d`, the sibling at depth `d` (the point's side) is the empty placeholder.
//!
//! **Compact proof.** jmt's own proof carries every sibling as a full node (up to 65 bytes); the
//! verifier only needs each sibling's hash, and empty siblings are the placeholder, so the answer
//! carries a bitmap of empty siblings and the hashes of the others (32 bytes each).
use anchor_lang::prelude::*;
use anchor_lang::solana_program::hash::hashv;

use crate::error::StakeError;

pub const LEAF_DOMAIN: &[u8] = b"JMT::LeafNode";
pub const INTERNAL_DOMAIN: &[u8] = b"JMT::IntrnalNode";
/// Hash of an empty subtree (jmt's `SPARSE_MERKLE_PLACEHOLDER_HASH`).
pub const PLACEHOLDER: [u8; 32] = *b"SPARSE_MERKLE_PLACEHOLDER_HASH__";
/// Key hashes are 256 bits, so no leaf is deeper than 256.
pub const MAX_DEPTH: u16 = 256;

/// A proof of one leaf: its key hash and value hash, and its siblings bottom first.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct LeafProof {
    pub key_hash: [u8; 32],
    pub value_hash: [u8; 32],
    /// Number of siblings (the leaf's depth).
    pub depth: u16,
    /// Bit `i` (byte `i / 8`, least significant bit first) set: sibling `i` (bottom first) is
    /// empty. Exactly `ceil(depth / 8)` bytes, unused bits zero.
    pub empty_siblings: Vec<u8>,
    /// Hashes of the non-empty siblings, bottom first.
    pub siblings: Vec<[u8; 32]>,
}

pub fn leaf_hash(key_hash: &[u8; 32], value_hash: &[u8; 32]) -> [u8; 32] {
    hashv(&[LEAF_DOMAIN, key_hash, value_hash]).to_bytes()
}

pub fn internal_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    hashv(&[INTERNAL_DOMAIN, left, right]).to_bytes()
}

/// Bit `i` of a 256-bit hash, most significant bit of byte 0 first (jmt's `iter_bits`).
pub fn bit(hash: &[u8; 32], i: usize) -> bool {
    (hash[i / 8] >> (7 - i % 8)) & 1 == 1
}

impl LeafProof {
    fn is_empty(&self, i: usize) -> bool {
        (self.empty_siblings[i / 8] >> (i % 8)) & 1 == 1
    }

    /// Shape checks: depth, bitmap length and unused bits, one hash per non-empty sibling.
    fn check_shape(&self) -> Result<()> {
        let depth = self.depth as usize;
        require!(self.depth <= MAX_DEPTH, StakeError::ProofMalformed);
        require!(self.empty_siblings.len() == depth.div_ceil(8), StakeError::ProofMalformed);
        if !depth.is_multiple_of(8) {
            let last = self.empty_siblings[depth / 8];
            require!(last >> (depth % 8) == 0, StakeError::ProofMalformed);
        }
        let empty: usize = self.empty_siblings.iter().map(|b| b.count_ones() as usize).sum();
        require!(empty + self.siblings.len() == depth, StakeError::ProofMalformed);
        Ok(())
    }

    /// Checks that this leaf is the one `point` selects and that the proof leads to `root`.
    /// SHA-256 calls: `depth + 1`.
    pub fn verify_target(&self, root: &[u8; 32], point: &[u8; 32]) -> Result<()> {
        self.check_shape()?;
        let depth = self.depth as usize;
        for d in 0..depth {
            if bit(&self.key_hash, d) != bit(point, d) {
                require!(self.is_empty(depth - 1 - d), StakeError::TargetMismatch);
            }
        }
        let mut hash = leaf_hash(&self.key_hash, &self.value_hash);
        let mut hashes = self.siblings.iter();
        for i in 0..depth {
            let sibling = if self.is_empty(i) {
                PLACEHOLDER
            } else {
                // check_shape guarantees one hash per non-empty sibling.
                *hashes.next().ok_or(StakeError::ProofMalformed)?
            };
            hash = if bit(&self.key_hash, depth - 1 - i) {
                internal_hash(&sibling, &hash)
            } else {
                internal_hash(&hash, &sibling)
            };
        }
        require!(&hash == root, StakeError::ProofRootMismatch);
        Ok(())
    }
}

/// A root with nothing to challenge: never written (all zeros) or an empty tree.
pub fn is_empty_root(root: &[u8; 32]) -> bool {
    *root == [0; 32] || *root == PLACEHOLDER
}
