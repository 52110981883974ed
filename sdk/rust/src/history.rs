//! The off-chain mirror of an app's root-history trees, rebuilt from `ShardUpdated` records, and
//! inclusion proofs that "shard s had root R at seq n" against an on-chain tree root.
//!
//! Nothing here trusts the caller: [`authenticate_tree`] checks that a tree is one of the app's
//! history trees (named by the app's `HistoryTree` record, app PDA as the tree's authority), and
//! [`history_records`] only counts records app_roots itself wrote (the noop call sits directly
//! under a top-level app_roots instruction).
use anchor_lang::{AnchorDeserialize, Discriminator};
use app_roots::events::ShardUpdated;
use app_roots::history::history_leaf;
use solana_sdk::account::Account;
use solana_sdk::keccak::hashv;
use solana_sdk::pubkey::Pubkey;
use spl_account_compression::state::{
    ConcurrentMerkleTreeHeader, ConcurrentMerkleTreeHeaderData, CONCURRENT_MERKLE_TREE_HEADER_SIZE_V1,
};

use crate::app_roots::decode_history_tree;
use crate::{pda, SdkError};

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

/// One instruction of a transaction as seen in its meta: the program it called, its data, and for
/// inner instructions the index of the top-level instruction it ran under and its stack height.
#[derive(Clone, Copy, Debug)]
pub struct InnerCall<'a> {
    pub outer_index: usize,
    /// 2 = invoked directly by the top-level instruction.
    pub stack_height: Option<u32>,
    pub program_id: &'a Pubkey,
    pub data: &'a [u8],
}

/// The `ShardUpdated` records of one transaction that app_roots itself wrote: spl-noop calls
/// made directly by a top-level app_roots instruction (`outer_programs[i]` is the program of
/// top-level instruction `i`). Records another program wrote through spl-noop, or wrote after
/// invoking app_roots, do not count.
pub fn history_records<'a>(
    outer_programs: &[Pubkey],
    inner: impl IntoIterator<Item = InnerCall<'a>>,
) -> Vec<ShardUpdated> {
    inner
        .into_iter()
        .filter(|call| outer_programs.get(call.outer_index) == Some(&app_roots::ID))
        .filter(|call| call.stack_height.is_none_or(|height| height == 2))
        .filter(|call| *call.program_id == spl_noop::ID)
        .filter_map(|call| decode_history_record(call.data))
        .collect()
}

/// The header of a concurrent Merkle tree account: (max depth, authority).
pub fn tree_header(tree_account_data: &[u8]) -> Result<(u32, Pubkey), SdkError> {
    let header_bytes = tree_account_data
        .get(..CONCURRENT_MERKLE_TREE_HEADER_SIZE_V1)
        .ok_or(SdkError::Decode("tree header"))?;
    let header = ConcurrentMerkleTreeHeader::try_from_slice(header_bytes)
        .map_err(|_| SdkError::Decode("tree header"))?;
    let ConcurrentMerkleTreeHeaderData::V1(_) = &header.header;
    // The V1 fields are private: authority sits after account type (1), version tag (1),
    // max_buffer_size (4) and max_depth (4).
    let authority: [u8; 32] =
        header_bytes.get(10..42).and_then(|b| b.try_into().ok()).ok_or(SdkError::Decode("tree header"))?;
    Ok((header.get_max_depth(), Pubkey::new_from_array(authority)))
}

/// A tree proven to be history tree number `index` of `app`, with its current root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppTree {
    pub app: Pubkey,
    pub index: u32,
    pub tree: Pubkey,
    pub depth: u32,
    pub root: Node,
}

/// Checks, from fetched accounts only, that `tree` is history tree `index` of `app`: the record at
/// `pda::history_tree(app, index)` is an app_roots `HistoryTree` naming this app and this tree,
/// and the tree account is owned by spl-account-compression with the app PDA as its authority.
pub fn authenticate_tree(
    app: &Pubkey,
    index: u32,
    record_account: &Account,
    tree: &Pubkey,
    tree_account: &Account,
) -> Result<AppTree, SdkError> {
    let record_address = pda::history_tree(app, index);
    let record = decode_history_tree(&record_address, record_account)?;
    if record.app != *app || record.index != index || record.tree != *tree {
        return Err(SdkError::NotAppTree { app: *app, tree: *tree });
    }
    if tree_account.owner != spl_account_compression::ID {
        return Err(SdkError::WrongOwner {
            address: *tree,
            owner: tree_account.owner,
            expected: spl_account_compression::ID,
        });
    }
    let (depth, authority) = tree_header(&tree_account.data)?;
    if authority != *app || depth != record.max_depth {
        return Err(SdkError::NotAppTree { app: *app, tree: *tree });
    }
    let (root, _) = onchain_tree_root(&tree_account.data)?;
    Ok(AppTree { app: *app, index, tree: *tree, depth, root })
}

/// The latest root of an on-chain concurrent Merkle tree account (no canopy assumed), and the
/// tree's depth. Says nothing about whose tree it is: see [`authenticate_tree`].
pub fn onchain_tree_root(tree_account_data: &[u8]) -> Result<(Node, u32), SdkError> {
    let (depth, _) = tree_header(tree_account_data)?;
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

/// Everything needed to show that shard `shard_id` of `app` had `root` at `seq`: the proof names
/// the tree (and its index among the app's trees) it is a proof in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryProof {
    pub app: Pubkey,
    pub tree: Pubkey,
    pub tree_index: u32,
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
    /// Against a tree [`authenticate_tree`] proved to be this app's: the proof must name that app,
    /// tree and index, and its path must reach the tree's root.
    pub fn verify_in(&self, tree: &AppTree) -> bool {
        self.app == tree.app
            && self.tree == tree.tree
            && self.tree_index == tree.index
            && self.siblings.len() == tree.depth as usize
            && self.verify(&tree.root)
    }

    /// Recomputes the leaf from the claimed fields and walks the path: true only if it reaches
    /// `tree_root`. Whose tree that root is, is the caller's to check: use [`Self::verify_in`].
    pub fn verify(&self, tree_root: &Node) -> bool {
        let mut node = history_leaf(
            &self.app,
            &self.tree,
            self.shard_id,
            self.seq,
            &self.root,
            &self.manifest_cid,
            self.slot,
        );
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

/// An append-only mirror of one of an app's history trees.
#[derive(Clone, Debug)]
pub struct HistoryMirror {
    app: Pubkey,
    tree: Pubkey,
    tree_index: u32,
    depth: u32,
    records: Vec<ShardUpdated>,
}

impl HistoryMirror {
    pub fn new(app: Pubkey, tree: Pubkey, tree_index: u32, depth: u32) -> Self {
        HistoryMirror { app, tree, tree_index, depth, records: Vec::new() }
    }

    pub fn tree(&self) -> &Pubkey {
        &self.tree
    }

    pub fn len(&self) -> u64 {
        self.records.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records appended so far, in leaf order.
    pub fn records(&self) -> &[ShardUpdated] {
        &self.records
    }

    /// Appends the next record after checking that it belongs to this app and tree, its position,
    /// and that its leaf hashes from its fields.
    pub fn push(&mut self, record: ShardUpdated) -> Result<(), SdkError> {
        if record.app != self.app || record.tree != self.tree || record.tree_index != self.tree_index {
            return Err(SdkError::NotAppTree { app: record.app, tree: record.tree });
        }
        if record.leaf_index != self.len() {
            return Err(SdkError::HistoryOutOfOrder { index: record.leaf_index, len: self.len() });
        }
        if self.len() >= 1u64 << self.depth {
            return Err(SdkError::HistoryFull(self.depth));
        }
        let leaf = history_leaf(
            &record.app,
            &record.tree,
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
            tree: record.tree,
            tree_index: record.tree_index,
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
