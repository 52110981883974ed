//! The off-chain mirror of an app's root-history tree, rebuilt from `ShardUpdated` records, and
//! inclusion proofs that "shard s had root R at seq n" against the on-chain tree root.
use anchor_lang::{AnchorDeserialize, Discriminator};
use app_roots::events::ShardUpdated;
use app_roots::history::history_leaf;
use solana_sdk::keccak::hashv;
use solana_sdk::pubkey::Pubkey;
use spl_account_compression::state::{ConcurrentMerkleTreeHeader, CONCURRENT_MERKLE_TREE_HEADER_SIZE_V1};

use crate::SdkError;

pub type Node = [u8; 32];

/// The concurrent Merkle tree's parent hash: keccak-256 of left ‖ right.
pub fn hash_pair(left: &Node, right: &Node) -> Node {
    hashv(&[left, right]).to_bytes()
}

/// Root of an all-empty subtree of height `level` (an empty leaf is all zeros).
pub fn empty_node(level: u32) -> Node {
    (0..level).fold([0u8; 32], |node, _| hash_pair(&node, &node))
}

/// A `ShardUpdated` record from spl-noop instruction data (or an Anchor event payload), if it is one.
pub fn decode_history_record(data: &[u8]) -> Option<ShardUpdated> {
    let body = data.strip_prefix(ShardUpdated::DISCRIMINATOR)?;
    ShardUpdated::try_from_slice(body).ok()
}

/// The latest root of an on-chain concurrent Merkle tree account (no canopy assumed), and the
/// tree's depth.
pub fn onchain_tree_root(tree_account_data: &[u8]) -> Result<(Node, u32), SdkError> {
    let header_bytes = tree_account_data
        .get(..CONCURRENT_MERKLE_TREE_HEADER_SIZE_V1)
        .ok_or(SdkError::Decode("tree header"))?;
    let header = ConcurrentMerkleTreeHeader::try_from_slice(header_bytes)
        .map_err(|_| SdkError::Decode("tree header"))?;
    let depth = header.get_max_depth();
    let body = &tree_account_data[CONCURRENT_MERKLE_TREE_HEADER_SIZE_V1..];
    // Layout (repr C): sequence_number u64, active_index u64, buffer_size u64, then change logs of
    // `root, path[depth], index u32, padding u32`.
    let active_index = body
        .get(8..16)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or(SdkError::Decode("tree body"))? as usize;
    let change_log_len = 32 * (depth as usize + 1) + 8;
    let at = 24 + active_index * change_log_len;
    let root = body.get(at..at + 32).ok_or(SdkError::Decode("tree body"))?;
    Ok((root.try_into().expect("32 bytes"), depth))
}

/// Everything needed to show that shard `shard_id` of `app` had `root` at `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryProof {
    pub app: Pubkey,
    pub shard_id: u16,
    pub seq: u64,
    pub root: Node,
    pub manifest_cid: Vec<u8>,
    pub slot: u64,
    pub leaf_index: u64,
    /// Sibling hashes from the leaf up to the root.
    pub siblings: Vec<Node>,
}

impl HistoryProof {
    /// Recomputes the leaf from the claimed fields and walks the path: true only if it reaches
    /// `tree_root`.
    pub fn verify(&self, tree_root: &Node) -> bool {
        let mut node =
            history_leaf(&self.app, self.shard_id, self.seq, &self.root, &self.manifest_cid, self.slot);
        for (level, sibling) in self.siblings.iter().enumerate() {
            node = if (self.leaf_index >> level) & 1 == 0 {
                hash_pair(&node, sibling)
            } else {
                hash_pair(sibling, &node)
            };
        }
        self.leaf_index >> self.siblings.len() == 0 && node == *tree_root
    }
}

/// An append-only mirror of one app's history tree.
#[derive(Clone, Debug)]
pub struct HistoryMirror {
    depth: u32,
    records: Vec<ShardUpdated>,
}

impl HistoryMirror {
    pub fn new(depth: u32) -> Self {
        HistoryMirror { depth, records: Vec::new() }
    }

    pub fn len(&self) -> u64 {
        self.records.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Appends the next record after checking its position and that its leaf hashes from its fields.
    pub fn push(&mut self, record: ShardUpdated) -> Result<(), SdkError> {
        if record.leaf_index != self.len() {
            return Err(SdkError::HistoryOutOfOrder { index: record.leaf_index, len: self.len() });
        }
        if self.len() >= 1u64 << self.depth {
            return Err(SdkError::HistoryFull(self.depth));
        }
        let leaf = history_leaf(
            &record.app,
            record.shard_id,
            record.seq,
            &record.root,
            &record.manifest_cid,
            record.slot,
        );
        if leaf != record.leaf {
            return Err(SdkError::ForgedHistoryRecord { seq: record.seq });
        }
        self.records.push(record);
        Ok(())
    }

    /// Every level of the tree over the appended leaves (level 0 = leaves), empty nodes implied.
    fn levels(&self) -> Vec<Vec<Node>> {
        let mut levels = vec![self.records.iter().map(|r| r.leaf).collect::<Vec<_>>()];
        for level in 0..self.depth {
            let below = &levels[level as usize];
            let empty = empty_node(level);
            let above =
                below.chunks(2).map(|pair| hash_pair(&pair[0], pair.get(1).unwrap_or(&empty))).collect();
            levels.push(above);
        }
        levels
    }

    pub fn root(&self) -> Node {
        self.levels()[self.depth as usize].first().copied().unwrap_or_else(|| empty_node(self.depth))
    }

    /// Proof for the record at `leaf_index`.
    pub fn proof(&self, leaf_index: u64) -> Result<HistoryProof, SdkError> {
        let record = self.records.get(leaf_index as usize).ok_or(SdkError::NoSuchLeaf(leaf_index))?;
        let levels = self.levels();
        let siblings = (0..self.depth)
            .map(|level| {
                let sibling = ((leaf_index >> level) ^ 1) as usize;
                levels[level as usize].get(sibling).copied().unwrap_or_else(|| empty_node(level))
            })
            .collect();
        Ok(HistoryProof {
            app: record.app,
            shard_id: record.shard_id,
            seq: record.seq,
            root: record.root,
            manifest_cid: record.manifest_cid.clone(),
            slot: record.slot,
            leaf_index,
            siblings,
        })
    }

    /// The latest record of `shard_id`, if any.
    pub fn latest(&self, shard_id: u16) -> Option<&ShardUpdated> {
        self.records.iter().rev().find(|r| r.shard_id == shard_id)
    }
}
