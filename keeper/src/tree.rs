//! The shard's authenticated state: a Jellyfish Merkle tree (Penumbra's `jmt`) keyed by
//! SHA-256(record key), the record index, a change log and the shard's commit state, all in one
//! embedded redb database so that every group of writes lands in one durable transaction.
//!
//! Leaf values are [`RecordLeaf`]s: `(version, cid, ciphertext hash, key epoch, tombstone)`, so a
//! leaf is `H(H(key), H(version ‖ cid ‖ ciphertext hash ‖ …))`. Deletes are tombstones, never
//! removals: a deleted record's history stays provable and its version keeps increasing.
use std::path::{Path, PathBuf};

use borsh::{BorshDeserialize, BorshSerialize};
use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, Version};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableError};
use sha2::Sha256;

/// Root of a shard that was never written (what the chain holds before the first update).
pub const EMPTY_ROOT: [u8; 32] = [0; 32];

const NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_nodes");
/// (key hash, jmt version) → 0 (removed) or 1 ‖ value.
const VALUES: TableDefinition<([u8; 32], u64), &[u8]> = TableDefinition::new("jmt_values");
/// (stale since jmt version, node key) → ().
const STALE: TableDefinition<(u64, &[u8]), ()> = TableDefinition::new("jmt_stale");
/// record key → [`RecordMeta`].
const RECORDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("records");
/// (jmt version, record key) → (): which keys each group changed, for manifest deltas.
const CHANGES: TableDefinition<(u64, &[u8]), ()> = TableDefinition::new("changes");
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
const STATE_KEY: &str = "shard";

/// A record key with its leaf.
pub type KeyedLeaf = (Vec<u8>, RecordLeaf);

/// The JMT hasher.
pub type TreeHasher = Sha256;
pub type RecordProof = jmt::proof::SparseMerkleProof<TreeHasher>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("local store at {path} cannot be opened: {source}")]
    Open { path: PathBuf, source: redb::DatabaseError },
    #[error("local store is corrupt: {0}")]
    Corrupt(#[source] BoxError),
    #[error("local store I/O failed: {0}")]
    Io(#[source] BoxError),
    #[error("write conflict: expected root {expected}, current root {current}")]
    RootChanged { expected: String, current: String },
}

/// The underlying error of a store failure (redb, Borsh, the file system), kept as the source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn io(e: impl Into<BoxError>) -> StoreError {
    StoreError::Io(e.into())
}

fn corrupt(e: impl Into<BoxError>) -> StoreError {
    StoreError::Corrupt(e.into())
}

/// What the tree commits to for one record.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RecordLeaf {
    /// 1 for the first write of a key, +1 for every later write or delete.
    pub version: u64,
    /// Binary CID of the encrypted blob (empty for a tombstone).
    pub cid: Vec<u8>,
    /// SHA-256 of the blob's bytes.
    pub ciphertext_hash: [u8; 32],
    /// Key epoch whose KEK wraps the blob's data key.
    pub key_epoch: u32,
    pub tombstone: bool,
}

impl RecordLeaf {
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("serialize into Vec")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        Self::try_from_slice(bytes).map_err(corrupt)
    }
}

/// The record index entry: the leaf plus the JMT version that wrote it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RecordMeta {
    pub leaf: RecordLeaf,
    pub tree_version: u64,
}

/// A shard update that was prepared and may have been sent to the chain.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct PendingUpdate {
    pub seq: u64,
    pub prev_root: [u8; 32],
    pub root: [u8; 32],
    pub tree_version: u64,
    pub manifest_cid: Vec<u8>,
    /// Whether the manifest is a full checkpoint (or a delta on the confirmed one).
    pub checkpoint: bool,
}

/// The shard's commit state.
#[derive(Clone, Debug, PartialEq, Eq, Default, BorshSerialize, BorshDeserialize)]
pub struct ShardState {
    /// Latest JMT version (one per group commit); 0 = nothing written.
    pub tree_version: u64,
    pub root: [u8; 32],
    /// Latest update the chain confirmed.
    pub confirmed_seq: u64,
    pub confirmed_root: [u8; 32],
    pub confirmed_tree_version: u64,
    /// CID of the manifest committed with `confirmed_seq` (the next delta's predecessor).
    pub confirmed_manifest: Vec<u8>,
    /// Commits since the last full manifest checkpoint.
    pub deltas_since_checkpoint: u32,
    pub pending: Option<PendingUpdate>,
    /// Key epoch new records are sealed under.
    pub key_epoch: u32,
    pub record_count: u64,
}

pub fn key_hash(key: &[u8]) -> KeyHash {
    KeyHash::with::<TreeHasher>(key)
}

/// One shard's local store.
pub struct ShardStore {
    db: Database,
    path: PathBuf,
}

impl ShardStore {
    /// Opens (or creates) the store; a file that is not a valid database is [`StoreError::Corrupt`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let db = Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::Storage(redb::StorageError::Corrupted(m)) => StoreError::Corrupt(m.into()),
            source => StoreError::Open { path: path.clone(), source },
        })?;
        let store = ShardStore { db, path };
        store.init_tables()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init_tables(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(io)?;
        {
            txn.open_table(NODES).map_err(corrupt)?;
            txn.open_table(VALUES).map_err(corrupt)?;
            txn.open_table(STALE).map_err(corrupt)?;
            txn.open_table(RECORDS).map_err(corrupt)?;
            txn.open_table(CHANGES).map_err(corrupt)?;
            txn.open_table(STATE).map_err(corrupt)?;
        }
        txn.commit().map_err(io)
    }

    pub fn state(&self) -> Result<ShardState, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(STATE).map_err(corrupt)?;
        let state = table.get(STATE_KEY).map_err(io)?;
        match state {
            Some(bytes) => ShardState::try_from_slice(bytes.value()).map_err(corrupt),
            None => Ok(ShardState::default()),
        }
    }

    /// Persists a new commit state durably (pending/confirmed bookkeeping, key epoch).
    pub fn put_state(&self, state: &ShardState) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(io)?;
        {
            let mut table = txn.open_table(STATE).map_err(corrupt)?;
            table.insert(STATE_KEY, borsh::to_vec(state).map_err(io)?.as_slice()).map_err(io)?;
        }
        txn.commit().map_err(io)
    }

    /// Reads, changes and durably writes the commit state in one transaction, so it never
    /// overwrites a concurrent group commit.
    pub fn update_state<T>(&self, f: impl FnOnce(&mut ShardState) -> T) -> Result<T, StoreError> {
        let mut txn = self.db.begin_write().map_err(io)?;
        txn.set_durability(redb::Durability::Immediate).map_err(io)?;
        let mut state = read_state(&txn)?;
        let out = f(&mut state);
        write_state(&txn, &state)?;
        txn.commit().map_err(io)?;
        Ok(out)
    }

    /// A consistent snapshot for a manifest: the state, and either every record (`checkpoint`) or
    /// the records changed since the confirmed tree version.
    pub fn manifest_snapshot(&self, checkpoint: bool) -> Result<(ShardState, Vec<KeyedLeaf>), StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let state = match txn.open_table(STATE).map_err(corrupt)?.get(STATE_KEY).map_err(io)? {
            Some(bytes) => ShardState::try_from_slice(bytes.value()).map_err(corrupt)?,
            None => ShardState::default(),
        };
        let records = txn.open_table(RECORDS).map_err(corrupt)?;
        let mut out = Vec::new();
        if checkpoint {
            for item in records.range::<&[u8]>(..).map_err(io)? {
                let (k, v) = item.map_err(io)?;
                out.push((k.value().to_vec(), RecordMeta::try_from_slice(v.value()).map_err(corrupt)?.leaf));
            }
        } else {
            let changes = txn.open_table(CHANGES).map_err(corrupt)?;
            let mut keys: Vec<Vec<u8>> = Vec::new();
            for item in changes.range((state.confirmed_tree_version + 1, &[][..])..).map_err(io)? {
                keys.push(item.map_err(io)?.0.value().1.to_vec());
            }
            keys.sort();
            keys.dedup();
            for key in keys {
                let meta = records
                    .get(key.as_slice())
                    .map_err(io)?
                    .ok_or_else(|| corrupt("change log names a missing record"))?;
                out.push((key, RecordMeta::try_from_slice(meta.value()).map_err(corrupt)?.leaf));
            }
        }
        Ok((state, out))
    }

    pub fn record(&self, key: &[u8]) -> Result<Option<RecordMeta>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(RECORDS).map_err(corrupt)?;
        let meta = table.get(key).map_err(io)?;
        meta.map(|m| RecordMeta::try_from_slice(m.value()).map_err(corrupt)).transpose()
    }

    /// Records in key order after `after` (exclusive), at most `limit`, tombstones included.
    pub fn records_after(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, RecordMeta)>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(RECORDS).map_err(corrupt)?;
        let range = match after {
            Some(after) => {
                table.range::<&[u8]>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            }
            None => table.range::<&[u8]>(..),
        }
        .map_err(io)?;
        let mut out = Vec::new();
        for item in range.take(limit) {
            let (k, v) = item.map_err(io)?;
            out.push((k.value().to_vec(), RecordMeta::try_from_slice(v.value()).map_err(corrupt)?));
        }
        Ok(out)
    }

    /// Applies one group of record changes as one JMT version, in one durable transaction.
    /// `expected_root`, if given, must equal the root before the group.
    pub fn commit_group(
        &self,
        changes: &[(Vec<u8>, RecordLeaf)],
        expected_root: Option<[u8; 32]>,
    ) -> Result<ShardState, StoreError> {
        let mut txn = self.db.begin_write().map_err(io)?;
        txn.set_durability(redb::Durability::Immediate).map_err(io)?;
        let mut state = read_state(&txn)?;
        if let Some(expected) = expected_root {
            if expected != state.root {
                return Err(StoreError::RootChanged {
                    expected: hex::encode(expected),
                    current: hex::encode(state.root),
                });
            }
        }
        let version = state.tree_version + 1;
        // The last change of a key in the group wins in the tree; all are in the index order.
        let mut value_set: std::collections::BTreeMap<KeyHash, OwnedValue> =
            std::collections::BTreeMap::new();
        for (key, leaf) in changes {
            value_set.insert(key_hash(key), leaf.to_bytes());
        }
        let (root, batch) = {
            let reader = TxnReader { txn: &txn };
            JellyfishMerkleTree::<_, TreeHasher>::new(&reader)
                .put_value_set(value_set.into_iter().map(|(k, v)| (k, Some(v))), version)
                .map_err(corrupt)?
        };
        write_batch(&txn, &batch)?;
        {
            let mut records = txn.open_table(RECORDS).map_err(corrupt)?;
            let mut log = txn.open_table(CHANGES).map_err(corrupt)?;
            for (key, leaf) in changes {
                let existed = records.get(key.as_slice()).map_err(io)?.is_some();
                let meta = RecordMeta { leaf: leaf.clone(), tree_version: version };
                records.insert(key.as_slice(), borsh::to_vec(&meta).map_err(io)?.as_slice()).map_err(io)?;
                log.insert((version, key.as_slice()), ()).map_err(io)?;
                if !existed {
                    state.record_count += 1;
                }
            }
        }
        state.tree_version = version;
        state.root = root.0;
        write_state(&txn, &state)?;
        txn.commit().map_err(io)?;
        Ok(state)
    }

    /// The record's leaf (if any) with a proof against the root of JMT version `version`:
    /// an inclusion proof, or a non-inclusion proof when the key was never written.
    pub fn prove(&self, key: &[u8], version: u64) -> Result<(Option<RecordLeaf>, RecordProof), StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let reader = ReadTxnReader { txn: &txn };
        let (value, proof) = JellyfishMerkleTree::<_, TreeHasher>::new(&reader)
            .get_with_proof(key_hash(key), version)
            .map_err(corrupt)?;
        Ok((value.map(|v| RecordLeaf::from_bytes(&v)).transpose()?, proof))
    }

    /// Deletes tree nodes that stopped being part of any root at or after `keep_from` (and the
    /// change-log entries before it). Roots of versions >= `keep_from` stay provable.
    pub fn prune(&self, keep_from: u64) -> Result<usize, StoreError> {
        let mut txn = self.db.begin_write().map_err(io)?;
        txn.set_durability(redb::Durability::Immediate).map_err(io)?;
        let mut removed = 0;
        {
            let mut stale = txn.open_table(STALE).map_err(corrupt)?;
            let mut nodes = txn.open_table(NODES).map_err(corrupt)?;
            let mut values = txn.open_table(VALUES).map_err(corrupt)?;
            let mut doomed: Vec<(u64, Vec<u8>)> = Vec::new();
            for item in stale.range((0u64, &[][..])..(keep_from + 1, &[][..])).map_err(io)? {
                let (k, _) = item.map_err(io)?;
                doomed.push((k.value().0, k.value().1.to_vec()));
            }
            let mut touched_keys = std::collections::BTreeSet::new();
            for (since, node_key) in doomed {
                if let Some(node) = nodes.remove(node_key.as_slice()).map_err(io)? {
                    if let Ok(Node::Leaf(leaf)) = Node::try_from_slice(node.value()) {
                        touched_keys.insert(leaf.key_hash().0);
                    }
                }
                stale.remove((since, node_key.as_slice())).map_err(io)?;
                removed += 1;
            }
            // A leaf can move to a new node key and keep its old value, so a value is only
            // garbage once a newer value of the same key exists at or before `keep_from`.
            for key_hash in touched_keys {
                let mut versions = Vec::new();
                for item in values.range((key_hash, 0u64)..=(key_hash, keep_from)).map_err(io)? {
                    versions.push(item.map_err(io)?.0.value().1);
                }
                versions.pop();
                for version in versions {
                    values.remove((key_hash, version)).map_err(io)?;
                }
            }
        }
        txn.commit().map_err(io)?;
        Ok(removed)
    }

    /// How many tree nodes are stored (for tests and metrics).
    pub fn node_count(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let nodes = txn.open_table(NODES).map_err(corrupt)?;
        nodes.len().map_err(io)
    }
}

fn read_state(txn: &redb::WriteTransaction) -> Result<ShardState, StoreError> {
    let table = txn.open_table(STATE).map_err(corrupt)?;
    let state = table.get(STATE_KEY).map_err(io)?;
    match state {
        Some(bytes) => ShardState::try_from_slice(bytes.value()).map_err(corrupt),
        None => Ok(ShardState::default()),
    }
}

fn write_state(txn: &redb::WriteTransaction, state: &ShardState) -> Result<(), StoreError> {
    let mut table = txn.open_table(STATE).map_err(corrupt)?;
    table.insert(STATE_KEY, borsh::to_vec(state).map_err(io)?.as_slice()).map_err(io)?;
    Ok(())
}

fn write_batch(txn: &redb::WriteTransaction, batch: &TreeUpdateBatch) -> Result<(), StoreError> {
    let mut nodes = txn.open_table(NODES).map_err(corrupt)?;
    let mut values = txn.open_table(VALUES).map_err(corrupt)?;
    let mut stale = txn.open_table(STALE).map_err(corrupt)?;
    write_node_batch(&mut nodes, &mut values, &batch.node_batch)?;
    for index in &batch.stale_node_index_batch {
        let key = borsh::to_vec(&index.node_key).map_err(io)?;
        stale.insert((index.stale_since_version, key.as_slice()), ()).map_err(io)?;
    }
    Ok(())
}

fn write_node_batch(
    nodes: &mut redb::Table<&[u8], &[u8]>,
    values: &mut redb::Table<([u8; 32], u64), &[u8]>,
    batch: &NodeBatch,
) -> Result<(), StoreError> {
    for (key, node) in batch.nodes() {
        nodes
            .insert(borsh::to_vec(key).map_err(io)?.as_slice(), borsh::to_vec(node).map_err(io)?.as_slice())
            .map_err(io)?;
    }
    for ((version, key_hash), value) in batch.values() {
        let encoded = match value {
            Some(v) => [&[1u8][..], v].concat(),
            None => vec![0u8],
        };
        values.insert((key_hash.0, *version), encoded.as_slice()).map_err(io)?;
    }
    Ok(())
}

fn decode_value(bytes: &[u8]) -> Option<OwnedValue> {
    match bytes.split_first() {
        Some((1, v)) => Some(v.to_vec()),
        _ => None,
    }
}

/// JMT reads inside the write transaction that will store the batch.
struct TxnReader<'a> {
    txn: &'a redb::WriteTransaction,
}

/// JMT reads from a read-only snapshot.
struct ReadTxnReader<'a> {
    txn: &'a redb::ReadTransaction,
}

macro_rules! tree_reader {
    ($reader:ty) => {
        impl TreeReader for $reader {
            fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
                let nodes = open(self.txn.open_table(NODES))?;
                let Some(nodes) = nodes else { return Ok(None) };
                let key = borsh::to_vec(node_key)?;
                let node = match nodes.get(key.as_slice())? {
                    Some(bytes) => Some(Node::try_from_slice(bytes.value())?),
                    None => None,
                };
                Ok(node)
            }

            fn get_value_option(
                &self,
                max_version: Version,
                key_hash: KeyHash,
            ) -> anyhow::Result<Option<OwnedValue>> {
                let values = open(self.txn.open_table(VALUES))?;
                let Some(values) = values else { return Ok(None) };
                let mut range = values.range((key_hash.0, 0u64)..=(key_hash.0, max_version))?;
                let value = match range.next_back() {
                    Some(item) => decode_value(item?.1.value()),
                    None => None,
                };
                Ok(value)
            }

            fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
                // Only JMT's state-sync restore asks for this; the keeper rebuilds from manifests.
                anyhow::bail!("rightmost-leaf lookup is not supported by the keeper's store")
            }
        }
    };
}

/// A table that does not exist yet (fresh database) reads as empty.
fn open<T>(table: Result<T, TableError>) -> anyhow::Result<Option<T>> {
    match table {
        Ok(t) => Ok(Some(t)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

tree_reader!(TxnReader<'_>);
tree_reader!(ReadTxnReader<'_>);

/// Checks a record proof against a shard root: inclusion of `leaf` under `key`, or (with `None`)
/// that the key was never written.
pub fn verify_record_proof(
    root: &[u8; 32],
    key: &[u8],
    leaf: Option<&RecordLeaf>,
    proof: &RecordProof,
) -> bool {
    proof.verify(jmt::RootHash(*root), key_hash(key), leaf.map(|l| l.to_bytes())).is_ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn leaf(version: u64, tag: u8, tombstone: bool) -> RecordLeaf {
        RecordLeaf { version, cid: vec![tag; 36], ciphertext_hash: [tag; 32], key_epoch: 0, tombstone }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Write { key: u8, tag: u8, tombstone: bool },
        Prune,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u8..12, any::<u8>(), prop::bool::weighted(0.2))
                .prop_map(|(key, tag, tombstone)| Op::Write { key, tag, tombstone }),
            1 => Just(Op::Prune),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Whatever the interleaving of group commits and prunes, every root from the pruning
        /// point on still proves every key's value (or its absence) exactly as a plain map says.
        #[test]
        fn pruning_never_breaks_a_kept_root(groups in prop::collection::vec(prop::collection::vec(op(), 1..6), 1..14)) {
            let dir = tempfile::tempdir().unwrap();
            let store = ShardStore::open(dir.path().join("s.redb")).unwrap();
            let mut model: BTreeMap<u8, RecordLeaf> = BTreeMap::new();
            let mut history: Vec<(u64, [u8; 32], BTreeMap<u8, RecordLeaf>)> = Vec::new();
            let mut kept_from = 0u64;
            for group in groups {
                let mut changes = Vec::new();
                for op in group {
                    match op {
                        Op::Write { key, tag, tombstone } => {
                            let version = model.get(&key).map_or(1, |l| l.version + 1);
                            let l = leaf(version, tag, tombstone);
                            model.insert(key, l.clone());
                            changes.retain(|(k, _): &(Vec<u8>, RecordLeaf)| k != &vec![key + 1]);
                            changes.push((vec![key + 1], l));
                        }
                        Op::Prune => {
                            if let Some((version, _, _)) = history.last() {
                                kept_from = *version;
                                store.prune(kept_from).unwrap();
                            }
                        }
                    }
                }
                if changes.is_empty() {
                    continue;
                }
                let state = store.commit_group(&changes, None).unwrap();
                history.push((state.tree_version, state.root, model.clone()));
            }
            for (version, root, snapshot) in history.iter().filter(|(v, _, _)| *v >= kept_from) {
                for key in 0u8..12 {
                    let (found, proof) = store.prove(&[key + 1], *version).unwrap();
                    prop_assert_eq!(found.as_ref(), snapshot.get(&key), "key {} at version {}", key, version);
                    prop_assert!(verify_record_proof(root, &[key + 1], found.as_ref(), &proof));
                }
            }
        }
    }

    #[test]
    fn pruning_removes_superseded_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let store = ShardStore::open(dir.path().join("s.redb")).unwrap();
        for round in 0..20u64 {
            let changes: Vec<_> =
                (0..8u8).map(|k| (vec![k + 1], leaf(round + 1, round as u8, false))).collect();
            store.commit_group(&changes, None).unwrap();
        }
        let before = store.node_count().unwrap();
        let removed = store.prune(20).unwrap();
        let after = store.node_count().unwrap();
        assert!(removed > 0 && after < before / 4, "{before} → {after} ({removed} removed)");
        let root = store.state().unwrap().root;
        for k in 0..8u8 {
            let (found, proof) = store.prove(&[k + 1], 20).unwrap();
            assert_eq!(found, Some(leaf(20, 19, false)));
            assert!(verify_record_proof(&root, &[k + 1], found.as_ref(), &proof));
        }
    }
}
