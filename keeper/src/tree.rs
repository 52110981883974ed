//! The shard's authenticated state: a Jellyfish Merkle tree (Penumbra's `jmt`) keyed by the
//! record's tree key (see [`TreeKeyMode`]), the record index, a change log and the shard's commit
//! state, all in one embedded redb database so that every group of writes lands in one durable
//! transaction.
//!
//! # Record keys never leave the TEE in clear
//!
//! The tree's positions are `HMAC-SHA256(tree key, record key)` under a key from the
//! [`KeySource`] ([`TreeKeyMode::Keyed`], the default), or `SHA-256(record key)`
//! ([`TreeKeyMode::Public`], so any client can derive a record's position). The record index and
//! the change log are keyed by that position; the record key itself is stored only sealed
//! (AES-256-GCM under a key derived from the store's sealing key, padded to 32-byte buckets, bound
//! to app, shard and position). So in keyed mode the file holds neither a record key nor a
//! dictionary-attackable hash of one. The mode is pinned in the sealed state when the store is
//! created; opening it in the other mode is [`StoreError::TreeKeyModeChanged`].
//!
//! # What the keeper trusts from this file, and why it may
//!
//! The operator can edit the file while the keeper is down. So the commit state (state row:
//! seq, roots, the prepared update, key epoch, manifest pointer) is sealed: an HMAC-SHA256 under
//! a key from the [`KeySource`](crate::keys::KeySource), bound to the app, the shard and this
//! store's random identity, checked on every read. Opening checks that the tree's root nodes hash
//! to the sealed roots; every tree node a group commit reads is checked against its parent's
//! recorded hash down from the sealed root (so a new root is only ever computed from
//! authenticated nodes; the top levels come from memory, as earlier groups built them, where the
//! parent names that very node), and the record index entry of every written key is checked against the
//! tree. Reads check their proof against the sealed root before serving. A check that fails is
//! [`StoreError::Forged`]: the store is treated as lost.
//!
//! # The record index: a row per group, merged in bulk
//!
//! A group's index entries (position → sealed key and [`RecordMeta`]) are written as one row
//! keyed by the group's version, sorted by position, with a directory (each entry's position,
//! extent and SHA-256) sealed by an HMAC bound to the version and the store: directories are
//! checked when the store opens, entries against their hash when read. They are not inserted at
//! their random positions, which dirtied about one index page per record. Once enough entries wait
//! ([`StoreOptions::index_merge_entries`]), a group commit merges the rows into the
//! position-keyed index in position order in its transaction. Lookups read an in-memory map of
//! the unmerged positions (rebuilt from the rows at open) first; a read transaction that began
//! before a merge sees the rows the merge removed, and reads them through a map of its own.
//!
//! One process at a time: a lock file beside the database (`<file>.lock`, `flock`), held for the
//! store's lifetime; a second opener gets [`StoreError::InUse`] and changes nothing.
//!
//! Leaf values are [`RecordLeaf`]s: `(version, cid, ciphertext hash, key epoch, tombstone)`, so a
//! leaf is `H(H(key), H(version ‖ cid ‖ ciphertext hash ‖ …))`. Deletes are tombstones, never
//! removals: a deleted record's history stays provable and its version keeps increasing.
use std::borrow::Borrow;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aes_gcm::aead::rand_core::{OsRng, RngCore};
use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use borsh::{BorshDeserialize, BorshSerialize};
use hkdf::hmac::{Hmac, Mac};
use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, ValueHash, Version};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableError};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::keys::{AppId, KeyError, KeySource, ShardId};

/// Root of a shard that was never written (what the chain holds before the first update).
pub const EMPTY_ROOT: [u8; 32] = [0; 32];

/// [`encode_node_key`] → Borsh node. Keys lead with the version in big-endian, so a group's new
/// nodes are appended at the end of the table instead of spread over it.
const NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_nodes_v2");
/// (key hash, jmt version) → the [`RecordLeaf`] a later version of the key replaced. A key's
/// current value is its record index entry (with the version that wrote it), so a write of a new
/// key adds no row here, and an overwrite moves the replaced value here.
const SUPERSEDED: TableDefinition<([u8; 32], u64), &[u8]> = TableDefinition::new("jmt_superseded_values");
/// jmt version → the encoded node keys that version made stale, each after its length byte: one
/// row per group (not one per node), so a prune deletes a handful of rows here.
const STALE: TableDefinition<u64, &[u8]> = TableDefinition::new("jmt_stale_by_version");
/// tree key (the record's position) → [`IndexEntry`] (sealed record key and [`RecordMeta`]):
/// the merged record index. A group's entries go to [`UNMERGED`] first and are merged in here in
/// bulk (see [`StoreOptions::index_merge_entries`]).
const RECORDS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("record_index");
/// jmt version → that group's record index entries ([`IndexEntry`]s back to back, sorted by
/// position; their directory is the [`UNMERGED_DIRS`] row of the same version): one row per
/// group, appended, where inserting each entry at its random position in [`RECORDS`] dirtied
/// about one page per record. An entry here is newer than the one in [`RECORDS`] at its
/// position, and a newer row's entry newer than an older row's.
const UNMERGED: TableDefinition<u64, &[u8]> = TableDefinition::new("record_index_unmerged");
/// jmt version → the directory of that group's [`UNMERGED`] row, sealed (see [`UnmergedDir`]):
/// apart from the entries, so that opening the store reads and checks 68 bytes per unmerged
/// entry, not the whole entry.
const UNMERGED_DIRS: TableDefinition<u64, &[u8]> = TableDefinition::new("record_index_unmerged_dirs");
/// jmt version → the tree keys (positions, 32 bytes each) that group changed, for manifest
/// deltas: one row per group.
const CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("change_log_by_version");
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
/// Binary CID → (): blobs no kept root references any more, written in the same transaction as
/// the prune that made them unreachable and deleted once the blob store released them, so a crash
/// in between loses no garbage.
const DEAD_BLOBS: TableDefinition<&[u8], ()> = TableDefinition::new("dead_blobs");
/// Update seq → the blobs of the manifest published for it (see [`encode_manifest_blobs`]), kept
/// until no state the chain can still show needs them (see [`ShardStore::retire_manifests`]).
const MANIFEST_BLOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("manifest_blobs_by_seq");
const STATE_KEY: &str = "shard";
/// The store's random identity, written once when the store is created.
const STORE_ID_KEY: &str = "store_id";
const STATE_MAC_DOMAIN: &[u8] = b"ironroot/v1/store-state";
const UNMERGED_MAC_DOMAIN: &[u8] = b"ironroot/v1/unmerged-index-row";
/// Derivation label of the key that seals record keys in the index (from the store-sealing key).
const NAME_KEY_LABEL: &[u8] = b"ironroot/v1/record-name-key";
/// Derives the key that seals the group log's records from the store-sealing key.
const GROUP_LOG_KEY_LABEL: &[u8] = b"ironroot/v1/group-log-key";
/// Associated data of a sealed group log record (with app, shard and store id).
const GROUP_LOG_AAD_DOMAIN: &[u8] = b"ironroot/v1/group-log";
const GROUP_LOG_NONCE_LEN: usize = 12;
const NAME_AAD_DOMAIN: &[u8] = b"ironroot/v1/record-name";
/// Sealed record keys are padded to a multiple of this, so the file shows only a length bucket.
const NAME_BUCKET: usize = 32;
const NAME_NONCE_LEN: usize = 12;
const NAME_TAG_LEN: usize = 16;
const MAC_LEN: usize = 32;
/// Hash of an empty JMT subtree (jmt's placeholder).
const PLACEHOLDER_HASH: [u8; 32] = *b"SPARSE_MERKLE_PLACEHOLDER_HASH__";

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
    /// Another process (or another handle in this one) holds the store.
    #[error("STORE_IN_USE: local store at {path} is held by another process; nothing was changed")]
    InUse { path: PathBuf },
    /// What the keeper trusts from the store failed verification (edited, forged or mixed).
    #[error("local store failed verification: {0}")]
    Forged(String),
    /// A bulk load (rebuild) into a store that already holds a tree.
    #[error("a bulk load needs an empty store, this one is at tree version {version}")]
    NotEmpty { version: u64 },
    /// The store was created in one tree-key mode and is opened in the other: its positions
    /// (and every root the chain holds for it) belong to the pinned mode.
    #[error("the store's tree key mode is pinned to {pinned}, the keeper is configured for {configured}: a mode cannot change for an existing app")]
    TreeKeyModeChanged { pinned: TreeKeyMode, configured: TreeKeyMode },
}

/// The underlying error of a store failure (redb, Borsh, the file system), kept as the source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn io(e: impl Into<BoxError>) -> StoreError {
    StoreError::Io(e.into())
}

fn corrupt(e: impl Into<BoxError>) -> StoreError {
    StoreError::Corrupt(e.into())
}

fn forged(what: impl Into<String>) -> StoreError {
    StoreError::Forged(what.into())
}

/// A jmt error: the store's own error when a tree read returned one (a forgery stays
/// [`StoreError::Forged`]), else [`StoreError::Corrupt`].
fn from_jmt(e: anyhow::Error) -> StoreError {
    e.downcast::<StoreError>().unwrap_or_else(corrupt)
}

/// How a record key becomes its position in the shard's tree. Fixed for an app's lifetime: every
/// root it anchors depends on it.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TreeKeyMode {
    /// `HMAC-SHA256(tree key, record key)` under a TEE-derived key: the disk, IPFS and proofs show
    /// no dictionary-attackable hash of a key; a verifier checks a value under the position the
    /// proof names but cannot derive that position from the key itself.
    #[default]
    Keyed,
    /// `SHA-256(record key)`: any client derives a record's position and checks inclusion and
    /// non-inclusion of a key by itself; anyone can test guessed keys against the tree.
    Public,
}

impl std::str::FromStr for TreeKeyMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "keyed" => Ok(TreeKeyMode::Keyed),
            "public" => Ok(TreeKeyMode::Public),
            other => Err(format!("tree key mode must be \"keyed\" or \"public\", not {other:?}")),
        }
    }
}

impl std::fmt::Display for TreeKeyMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TreeKeyMode::Keyed => "keyed",
            TreeKeyMode::Public => "public",
        })
    }
}

/// The tree position of a record key in [`TreeKeyMode::Public`]: SHA-256 of the key.
pub fn public_key_hash(key: &[u8]) -> KeyHash {
    KeyHash::with::<TreeHasher>(key)
}

/// Maps record keys to tree positions in one [`TreeKeyMode`] (with its key when keyed).
#[derive(Clone)]
pub struct TreeKey {
    /// `None` in public mode.
    key: Option<Zeroizing<[u8; 32]>>,
}

impl std::fmt::Debug for TreeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeKey").field("mode", &self.mode()).finish_non_exhaustive()
    }
}

impl TreeKey {
    pub fn public() -> Self {
        TreeKey { key: None }
    }

    pub fn keyed(key: Zeroizing<[u8; 32]>) -> Self {
        TreeKey { key: Some(key) }
    }

    /// The tree key of `app` in `mode` (keyed: from the key source).
    pub async fn derive(keys: &dyn KeySource, app: &AppId, mode: TreeKeyMode) -> Result<Self, KeyError> {
        Ok(match mode {
            TreeKeyMode::Keyed => TreeKey::keyed(keys.tree_key(app).await?),
            TreeKeyMode::Public => TreeKey::public(),
        })
    }

    pub fn mode(&self) -> TreeKeyMode {
        match self.key {
            Some(_) => TreeKeyMode::Keyed,
            None => TreeKeyMode::Public,
        }
    }

    /// The tree position of `record_key`.
    pub fn hash(&self, record_key: &[u8]) -> KeyHash {
        match &self.key {
            Some(key) => {
                let mut mac =
                    <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref()).expect("HMAC accepts any key length");
                mac.update(record_key);
                KeyHash(mac.finalize().into_bytes().into())
            }
            None => public_key_hash(record_key),
        }
    }
}

/// The key and identity that seal one shard's store: state rows carry an HMAC under `key` over
/// (app, shard, store id, state), so a state row edited, forged, or copied from another shard's
/// or another store's file does not verify. It also carries the app's [`TreeKey`] and the key
/// that seals record keys in the index.
#[derive(Clone)]
pub struct StoreSeal {
    key: Zeroizing<[u8; 32]>,
    app: AppId,
    shard: ShardId,
    tree: TreeKey,
    names: Zeroizing<[u8; 32]>,
    group_log: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for StoreSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSeal")
            .field("app", &self.app)
            .field("shard", &self.shard)
            .finish_non_exhaustive()
    }
}

impl StoreSeal {
    pub fn new(key: Zeroizing<[u8; 32]>, app: AppId, shard: ShardId, tree: TreeKey) -> Self {
        let derive = |label: &[u8]| {
            let mut mac =
                <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref()).expect("HMAC accepts any key length");
            mac.update(label);
            Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()))
        };
        let (names, group_log) = (derive(NAME_KEY_LABEL), derive(GROUP_LOG_KEY_LABEL));
        StoreSeal { key, app, shard, tree, names, group_log }
    }

    pub fn app(&self) -> AppId {
        self.app
    }

    pub fn shard(&self) -> ShardId {
        self.shard
    }

    pub fn tree_key(&self) -> &TreeKey {
        &self.tree
    }

    /// The seal of (`app`, `shard`) under the key source's store-sealing key, with the app's tree
    /// key in `mode`.
    pub async fn derive(
        keys: &dyn KeySource,
        app: AppId,
        shard: ShardId,
        mode: TreeKeyMode,
    ) -> Result<Self, KeyError> {
        let tree = TreeKey::derive(keys, &app, mode).await?;
        Ok(StoreSeal::new(keys.store_seal_key(&app).await?, app, shard, tree))
    }

    fn name_aad(&self, position: &[u8; 32]) -> Vec<u8> {
        [NAME_AAD_DOMAIN, self.app.as_bytes(), &self.shard.wire().to_le_bytes(), position].concat()
    }

    /// Seals a record key for the index: nonce ‖ AES-256-GCM(len ‖ key ‖ zero padding), under
    /// `nonce` (random, fresh for every sealing).
    #[cfg(test)]
    fn seal_name(
        &self,
        position: &[u8; 32],
        name: &[u8],
        nonce: [u8; NAME_NONCE_LEN],
    ) -> Result<Vec<u8>, StoreError> {
        let mut sealed = Vec::with_capacity(sealed_name_len(name.len()));
        self.seal_name_into(&self.name_cipher(), position, name, nonce, &mut sealed)?;
        Ok(sealed)
    }

    /// The cipher that seals record keys (one per group: its key schedule is not redone per key).
    fn name_cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.names.as_ref().into())
    }

    /// [`StoreSeal::seal_name`] under `cipher` (from [`StoreSeal::name_cipher`]), appended to
    /// `out`: encrypted in place in the row's own buffer, no plaintext copy left.
    fn seal_name_into(
        &self,
        cipher: &Aes256Gcm,
        position: &[u8; 32],
        name: &[u8],
        nonce: [u8; NAME_NONCE_LEN],
        out: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        let len = u16::try_from(name.len()).map_err(|_| io("record key longer than 65535 bytes"))?;
        let start = out.len();
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(name);
        out.resize(start + sealed_name_len(name.len()) - NAME_TAG_LEN, 0);
        let aad = self.name_aad(position);
        let tag = cipher.encrypt_in_place_detached(
            Nonce::from_slice(&nonce),
            &aad,
            &mut out[start + NAME_NONCE_LEN..],
        );
        match tag {
            Ok(tag) => {
                out.extend_from_slice(&tag);
                Ok(())
            }
            Err(_) => {
                out[start..].zeroize();
                out.truncate(start);
                Err(io("sealing a record key failed"))
            }
        }
    }

    /// Opens a sealed record key and checks that it maps to `position`.
    fn open_name(&self, position: &[u8; 32], sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        let bad = || forged("a sealed record key in the index does not open (edited, or moved)");
        if sealed.len() < NAME_NONCE_LEN {
            return Err(bad());
        }
        let (nonce, body) = sealed.split_at(NAME_NONCE_LEN);
        let aad = self.name_aad(position);
        let plain = Zeroizing::new(
            Aes256Gcm::new(self.names.as_ref().into())
                .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad: &aad })
                .map_err(|_| bad())?,
        );
        let len = plain.get(..2).map(|l| u16::from_le_bytes([l[0], l[1]]) as usize).ok_or_else(bad)?;
        let name = plain.get(2..2 + len).ok_or_else(bad)?.to_vec();
        if self.tree.hash(&name).0 != *position {
            return Err(forged("a record key in the index is not at its tree position"));
        }
        Ok(name)
    }

    /// HMAC over `domain`, app, shard, `store_id` and `parts` (a state row, an unmerged index
    /// row with its version).
    fn mac(&self, domain: &[u8], store_id: &[u8; 16], parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_ref()).expect("HMAC accepts any key length");
        mac.update(domain);
        mac.update(self.app.as_bytes());
        mac.update(&self.shard.wire().to_le_bytes());
        mac.update(store_id);
        for part in parts {
            mac.update(part);
        }
        mac
    }
}

/// Seals and opens state rows of one store.
struct StateCodec {
    seal: StoreSeal,
    store_id: [u8; 16],
}

impl StateCodec {
    fn encode(&self, state: &ShardState) -> Result<Vec<u8>, StoreError> {
        let mut bytes = borsh::to_vec(state).map_err(io)?;
        let tag = self.seal.mac(STATE_MAC_DOMAIN, &self.store_id, &[&bytes]).finalize().into_bytes();
        bytes.extend_from_slice(&tag);
        Ok(bytes)
    }

    fn decode(&self, row: &[u8]) -> Result<ShardState, StoreError> {
        let split = row.len().checked_sub(MAC_LEN).ok_or_else(|| forged("state row too short"))?;
        let (body, tag) = row.split_at(split);
        self.seal
            .mac(STATE_MAC_DOMAIN, &self.store_id, &[body])
            .verify_slice(tag)
            .map_err(|_| forged("the state row's seal does not verify (edited, or from another store)"))?;
        ShardState::try_from_slice(body).or_else(|e| {
            // A row from a release before the last fields existed decodes with them at their
            // defaults: `manifest_entries` (last) zeros, `log` (before it) none,
            // `index_merged_through` (before that) nothing merged yet. Borsh reads every byte, so
            // only the padding for the row's release fits.
            const ENTRIES: &[u8] = &[0; 16];
            let paddings: [&[&[u8]]; 3] = [&[ENTRIES], &[&[0], ENTRIES], &[&[0; 8], &[0], ENTRIES]];
            paddings
                .iter()
                .find_map(|padding| {
                    ShardState::try_from_slice(&[&[body][..], padding].concat().concat()).ok()
                })
                .ok_or_else(|| corrupt(e))
        })
    }
}

impl StateCodec {
    /// The [`UNMERGED`] row of group `version` and its sealed [`UNMERGED_DIRS`] directory: its
    /// entries (position, encoded [`IndexEntry`]), sorted by position, one per position.
    fn encode_unmerged_row<'e>(
        &self,
        version: u64,
        entries: impl ExactSizeIterator<Item = (&'e [u8; 32], &'e [u8])> + Clone,
    ) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
        let count = u32::try_from(entries.len()).map_err(|_| io("too many entries for one row"))?;
        let mut dir = Vec::with_capacity(4 + entries.len() * UNMERGED_DIR_ENTRY + MAC_LEN);
        let mut row = Vec::with_capacity(entries.clone().map(|(_, e)| e.len()).sum());
        dir.extend_from_slice(&count.to_le_bytes());
        for (position, entry) in entries {
            row.extend_from_slice(entry);
            dir.extend_from_slice(position);
            let end = u32::try_from(row.len()).map_err(|_| io("an unmerged row over 4 GiB"))?;
            dir.extend_from_slice(&end.to_le_bytes());
            dir.extend_from_slice(&<Sha256 as sha2::Digest>::digest(entry));
        }
        let tag = self.seal.mac(UNMERGED_MAC_DOMAIN, &self.store_id, &[&version.to_le_bytes(), &dir]);
        dir.extend_from_slice(&tag.finalize().into_bytes());
        Ok((dir, row))
    }

    /// Checks the seal of the [`UNMERGED_DIRS`] row stored under `version`: an edited directory,
    /// or one moved to another version or copied from another store, is [`StoreError::Forged`].
    /// (Each entry is checked against its hash here when it is read.)
    fn check_unmerged_dir(&self, version: u64, dir: &[u8]) -> Result<(), StoreError> {
        let bad = || forged(format!("the unmerged index directory of version {version} does not verify"));
        let split = dir.len().checked_sub(MAC_LEN).ok_or_else(bad)?;
        let (body, tag) = dir.split_at(split);
        self.seal
            .mac(UNMERGED_MAC_DOMAIN, &self.store_id, &[&version.to_le_bytes(), body])
            .verify_slice(tag)
            .map_err(|_| bad())
    }
}

/// Bytes of one entry of an [`UnmergedDir`]: the position, where its entry ends in the row, the
/// entry's SHA-256.
const UNMERGED_DIR_ENTRY: usize = 32 + 4 + 32;

/// A parsed [`UNMERGED_DIRS`] row: `count` (u32), `count` × (position, end of its entry in the
/// [`UNMERGED`] row, SHA-256 of the entry) sorted by position, the seal (see
/// [`StateCodec::encode_unmerged_row`]). An entry read through it is checked against its hash,
/// so an edited, moved or swapped entry row is [`StoreError::Forged`] when it is used.
struct UnmergedDir<'r> {
    directory: &'r [u8],
}

impl<'r> UnmergedDir<'r> {
    fn parse(dir: &'r [u8]) -> Result<Self, StoreError> {
        let bad = || corrupt("an unmerged index directory is cut short");
        let count = dir.get(..4).ok_or_else(bad)?;
        let count = u32::from_le_bytes(count.try_into().expect("4 bytes")) as usize;
        let end = count.checked_mul(UNMERGED_DIR_ENTRY).and_then(|d| d.checked_add(4)).ok_or_else(bad)?;
        if dir.len().checked_sub(MAC_LEN) != Some(end) {
            return Err(bad());
        }
        Ok(UnmergedDir { directory: &dir[4..end] })
    }

    fn len(&self) -> usize {
        self.directory.len() / UNMERGED_DIR_ENTRY
    }

    fn field(&self, i: usize, at: usize, len: usize) -> &'r [u8] {
        let start = i * UNMERGED_DIR_ENTRY + at;
        &self.directory[start..start + len]
    }

    fn position(&self, i: usize) -> [u8; 32] {
        self.field(i, 0, 32).try_into().expect("32 bytes")
    }

    fn end(&self, i: usize) -> usize {
        u32::from_le_bytes(self.field(i, 32, 4).try_into().expect("4 bytes")) as usize
    }

    /// Where entry `i` lies in a row of `row_len` bytes.
    fn entry_range(&self, i: usize, row_len: usize) -> Result<std::ops::Range<usize>, StoreError> {
        let start = if i == 0 { 0 } else { self.end(i - 1) };
        let end = self.end(i);
        if start > end || end > row_len {
            return Err(forged("an unmerged index entry is not where its directory says"));
        }
        Ok(start..end)
    }

    /// Where entry `i` lies in `row`, the entry checked against its hash.
    fn checked_range(&self, i: usize, row: &[u8]) -> Result<std::ops::Range<usize>, StoreError> {
        let range = self.entry_range(i, row.len())?;
        if <Sha256 as sha2::Digest>::digest(&row[range.clone()]).as_slice() != self.field(i, 36, 32) {
            return Err(forged("an unmerged index entry does not match its sealed directory"));
        }
        Ok(range)
    }

    /// Entry `i` of `row`, checked against its hash.
    fn entry<'e>(&self, i: usize, row: &'e [u8]) -> Result<&'e [u8], StoreError> {
        Ok(&row[self.checked_range(i, row)?])
    }

    /// The index of `position`'s entry, if the row holds one.
    fn find(&self, position: &[u8; 32]) -> Option<usize> {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = (low + high) / 2;
            match self.position(mid).cmp(position) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }
}

/// The first 8 bytes of a position: what the in-memory map of unmerged entries keys by (a
/// collision only costs a look into one more row).
fn position_prefix(position: &[u8; 32]) -> u64 {
    u64::from_be_bytes(position[..8].try_into().expect("8 bytes"))
}

/// Which unmerged rows hold an entry at which position, in memory: (position prefix, version)
/// for every entry of every [`UNMERGED`] row, built at open from the (sealed) rows, then kept in
/// step by the group commits and merges. 16 bytes per entry (about 25 with the B-tree's slack),
/// bounded by [`StoreOptions::index_merge_entries`].
#[derive(Default)]
struct Unmerged {
    entries: std::collections::BTreeSet<(u64, u64)>,
    /// Merges this store made (each dropped the rows it merged from here): a read transaction
    /// that began before one still sees some of those rows, and then looks them up in its own
    /// map (see [`UnmergedLookup`]).
    merges: u64,
}

impl Unmerged {
    /// Every entry named by the directories `dirs`, each directory's seal checked when `codec`
    /// is given.
    fn read(
        dirs: &impl ReadableTable<u64, &'static [u8]>,
        codec: Option<&StateCodec>,
    ) -> Result<Self, StoreError> {
        let mut entries = Vec::new();
        for item in dirs.iter().map_err(io)? {
            let (version, dir) = item.map_err(io)?;
            let (version, dir) = (version.value(), dir.value());
            if let Some(codec) = codec {
                codec.check_unmerged_dir(version, dir)?;
            }
            let dir = UnmergedDir::parse(dir)?;
            entries.extend((0..dir.len()).map(|i| (position_prefix(&dir.position(i)), version)));
        }
        // Built from sorted entries in one pass.
        entries.sort_unstable();
        Ok(Unmerged { entries: entries.into_iter().collect(), merges: 0 })
    }

    /// The versions of the rows that may hold `position`, newest first.
    fn versions(&self, position: &[u8; 32]) -> Vec<u64> {
        let prefix = position_prefix(position);
        self.entries.range((prefix, 0)..=(prefix, u64::MAX)).rev().map(|(_, v)| *v).collect()
    }

    fn add(&mut self, version: u64, positions: &[KeyHash]) {
        self.entries.extend(positions.iter().map(|p| (position_prefix(&p.0), version)));
    }

    fn remove(&mut self, version: u64, positions: &[KeyHash]) {
        for position in positions {
            self.entries.remove(&(position_prefix(&position.0), version));
        }
    }

    /// Forgets the rows up to `version`, merged by a durable transaction.
    fn merged(&mut self, version: u64) {
        self.entries.retain(|(_, v)| *v > version);
        self.merges += 1;
    }
}

/// How one transaction finds the unmerged rows that may hold a position: the store's map while
/// no merge has happened since the transaction began (a row the map names but the transaction
/// does not see is newer than it, or merged in its view: skipped), else a map built once from the
/// transaction's own rows.
struct UnmergedLookup {
    shared: Arc<Mutex<Unmerged>>,
    /// The shared map's `merges` read before the transaction began.
    seen: u64,
    own: std::sync::OnceLock<Unmerged>,
}

impl UnmergedLookup {
    /// Read before beginning the transaction it serves.
    fn new(shared: &Arc<Mutex<Unmerged>>) -> Self {
        let seen = shared.lock().unwrap_or_else(|p| p.into_inner()).merges;
        UnmergedLookup { shared: shared.clone(), seen, own: std::sync::OnceLock::new() }
    }

    fn versions(
        &self,
        position: &[u8; 32],
        dirs: &impl ReadableTable<u64, &'static [u8]>,
    ) -> Result<Vec<u64>, StoreError> {
        if let Some(own) = self.own.get() {
            return Ok(own.versions(position));
        }
        {
            let shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
            if shared.merges == self.seen {
                return Ok(shared.versions(position));
            }
        }
        let own = Unmerged::read(dirs, None)?;
        Ok(self.own.get_or_init(|| own).versions(position))
    }
}

/// The bytes of an index entry found in one transaction's view.
enum FoundEntry<'t> {
    Unmerged(redb::AccessGuard<'t, &'static [u8]>, std::ops::Range<usize>),
    Merged(redb::AccessGuard<'t, &'static [u8]>),
}

impl FoundEntry<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            FoundEntry::Unmerged(row, range) => &row.value()[range.clone()],
            FoundEntry::Merged(entry) => entry.value(),
        }
    }
}

/// The record index in a read transaction.
type ReadIndexView<'l> = IndexView<
    'l,
    redb::ReadOnlyTable<[u8; 32], &'static [u8]>,
    redb::ReadOnlyTable<u64, &'static [u8]>,
    redb::ReadOnlyTable<u64, &'static [u8]>,
>;

/// The record index in a write transaction (its tables open for writing).
type WriteIndexView<'t, 'l> = IndexView<
    'l,
    redb::Table<'t, [u8; 32], &'static [u8]>,
    redb::Table<'t, u64, &'static [u8]>,
    redb::Table<'t, u64, &'static [u8]>,
>;

/// The record index as the write transaction `txn` sees it.
fn write_index_view<'t, 'l>(
    txn: &'t redb::WriteTransaction,
    lookup: &'l UnmergedLookup,
) -> Result<WriteIndexView<'t, 'l>, StoreError> {
    Ok(IndexView {
        records: txn.open_table(RECORDS).map_err(corrupt)?,
        dirs: txn.open_table(UNMERGED_DIRS).map_err(corrupt)?,
        entries: txn.open_table(UNMERGED).map_err(corrupt)?,
        lookup,
    })
}

/// The record index in one transaction: [`RECORDS`] under the [`UNMERGED`] rows.
struct IndexView<'l, R, D, E> {
    records: R,
    dirs: D,
    entries: E,
    lookup: &'l UnmergedLookup,
}

impl<'l, R, D, E> IndexView<'l, R, D, E>
where
    R: ReadableTable<[u8; 32], &'static [u8]>,
    D: ReadableTable<u64, &'static [u8]>,
    E: ReadableTable<u64, &'static [u8]>,
{
    /// The newest entry at `position` in this view.
    fn entry(&self, position: &[u8; 32]) -> Result<Option<FoundEntry<'_>>, StoreError> {
        self.entry_in(self.lookup.versions(position, &self.dirs)?, position)
    }

    /// [`IndexView::entry`] with the candidate rows' versions (newest first) already looked up.
    fn entry_in(
        &self,
        versions: Vec<u64>,
        position: &[u8; 32],
    ) -> Result<Option<FoundEntry<'_>>, StoreError> {
        for version in versions {
            let Some(dir) = self.dirs.get(version).map_err(io)? else { continue };
            let dir = UnmergedDir::parse(dir.value())?;
            if let Some(i) = dir.find(position) {
                return self.unmerged_entry(version, &dir, i).map(Some);
            }
        }
        Ok(self.records.get(position).map_err(io)?.map(FoundEntry::Merged))
    }

    /// Entry `i` of the row of `version` whose directory is `dir`, checked against its hash.
    fn unmerged_entry(
        &self,
        version: u64,
        dir: &UnmergedDir,
        i: usize,
    ) -> Result<FoundEntry<'_>, StoreError> {
        let row =
            self.entries.get(version).map_err(io)?.ok_or_else(|| {
                forged(format!("the unmerged index entries of version {version} are missing"))
            })?;
        let range = dir.checked_range(i, row.value())?;
        Ok(FoundEntry::Unmerged(row, range))
    }

    fn meta(&self, position: &[u8; 32]) -> Result<Option<RecordMeta>, StoreError> {
        self.entry(position)?.map(|e| IndexEntry::decode_meta(e.bytes())).transpose()
    }
}

/// An exclusive `flock` on `<store file>.lock`, held while the store is open (released by the
/// kernel when the process dies, so a crash never leaves a stale lock).
#[derive(Debug)]
pub struct StoreLock {
    _file: std::fs::File,
}

impl StoreLock {
    /// Takes the lock of the store at `store_path`, or [`StoreError::InUse`] if anyone holds it.
    pub fn acquire(store_path: &Path) -> Result<Arc<Self>, StoreError> {
        if let Some(dir) = store_path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut name = store_path.as_os_str().to_owned();
        name.push(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(PathBuf::from(name))
            .map_err(io)?;
        // SAFETY: flock on a file descriptor this function owns; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                Some(libc::EWOULDBLOCK) => StoreError::InUse { path: store_path.to_path_buf() },
                _ => io(err),
            });
        }
        Ok(Arc::new(StoreLock { _file: file }))
    }
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
    /// Borsh: version, CID (u32 length, bytes), ciphertext hash, key epoch, tombstone.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Sized exactly: `borsh::to_vec` starts every vector at 1 KiB, which a rebuild holding a
        // shard's leaves (about 80 bytes each) kept per leaf.
        let mut out = Vec::with_capacity(8 + 4 + self.cid.len() + 32 + 4 + 1);
        self.serialize(&mut out).expect("serialize into Vec");
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        Self::try_from_slice(bytes).map_err(corrupt)
    }
}

/// Bytes of a sealed record key of `name_len` bytes: nonce, the padded length and key, tag.
fn sealed_name_len(name_len: usize) -> usize {
    NAME_NONCE_LEN + (2 + name_len).div_ceil(NAME_BUCKET) * NAME_BUCKET + NAME_TAG_LEN
}

/// Appends a record index entry (an [`IndexEntry`]'s Borsh) to `out`, its record key sealed
/// straight into it.
fn encode_index_entry(
    seal: &StoreSeal,
    cipher: &Aes256Gcm,
    (position, name, nonce): (&[u8; 32], &[u8], [u8; NAME_NONCE_LEN]),
    leaf: &RecordLeaf,
    tree_version: u64,
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    let sealed_len = u32::try_from(sealed_name_len(name.len())).map_err(io)?;
    out.extend_from_slice(&sealed_len.to_le_bytes());
    seal.seal_name_into(cipher, position, name, nonce, out)?;
    leaf.serialize(out).map_err(io)?;
    tree_version.serialize(out).map_err(io)
}

/// The record index entry: the leaf plus the JMT version that wrote it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RecordMeta {
    pub leaf: RecordLeaf,
    pub tree_version: u64,
}

/// A row of the record index: the record key, sealed, and its [`RecordMeta`].
#[derive(BorshSerialize, BorshDeserialize)]
struct IndexEntry {
    sealed_key: Vec<u8>,
    meta: RecordMeta,
}

impl IndexEntry {
    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        IndexEntry::try_from_slice(bytes).map_err(corrupt)
    }

    /// The entry's [`RecordMeta`] alone (the sealed key skipped, not copied).
    fn decode_meta(bytes: &[u8]) -> Result<RecordMeta, StoreError> {
        let (len, rest) = bytes.split_at_checked(4).ok_or_else(|| corrupt("index entry too short"))?;
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let meta = rest.get(len..).ok_or_else(|| corrupt("index entry too short"))?;
        RecordMeta::try_from_slice(meta).map_err(corrupt)
    }
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
    /// The app's shard count (routing), pinned at first start; 0 = not pinned yet.
    pub shard_count: u16,
    /// How record keys map to tree positions, pinned when the store was created.
    pub tree_key_mode: TreeKeyMode,
    /// The newest group whose record index row was merged (0: none yet): an unmerged row of this
    /// version or older is a copy put back after its merge.
    pub index_merged_through: u64,
    /// Where the group log continues this state (`None`: no group was logged since the store was
    /// created or since a release without the log wrote it). See [`crate::group_log`].
    pub log: Option<LogCursor>,
    /// Entries of the manifests published since the last checkpoint, which decide the next one
    /// (see [`crate::manifest::checkpoint_due`]); zeros in a state from a release before them.
    pub manifest_entries: ManifestEntries,
}

/// Entries of the shard's manifest chain: counted as manifests are published (a prepared update
/// that is never confirmed still counts, which only brings the next checkpoint earlier).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, BorshSerialize, BorshDeserialize)]
pub struct ManifestEntries {
    /// Records in the last checkpoint.
    pub at_checkpoint: u64,
    /// Entries of the deltas published after it.
    pub since_checkpoint: u64,
}

impl ManifestEntries {
    /// Counts a published manifest of `entries` entries.
    pub fn published(&mut self, checkpoint: bool, entries: u64) {
        if checkpoint {
            *self = ManifestEntries { at_checkpoint: entries, since_checkpoint: 0 };
        } else {
            self.since_checkpoint = self.since_checkpoint.saturating_add(entries);
        }
    }
}

/// Where in the group log the groups after a state begin: replay reads the log from `from` and
/// follows the records chained after `head`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, BorshSerialize, BorshDeserialize)]
pub struct LogCursor {
    /// No record of a later group lies before this position.
    pub from: (u64, u64),
    /// Digest of the record of the newest group in the state (zeros: none).
    pub head: [u8; 32],
}

/// The index's record keys, opened, in key order (for listing; tombstones included).
type NameIndex = std::collections::BTreeSet<Box<[u8]>>;

/// redb's page cache per store unless configured: redb's own default (1 GiB per database) grows
/// with a large store until it dominates the keeper's memory, and a written page stays cached, so
/// every shard's cache fills. 16 MiB: four shards filled with 1 M records peaked at 228 MiB
/// RSS (297 MiB with 32) at the same CPU time per record.
pub const DEFAULT_STORE_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Stale tree nodes a store lets pile up before a prune handed to the group commits runs (see
/// [`ShardStore::prune_with_next_group`]), unless configured. The nodes of one version go stale
/// across many later groups, and a prune rewrites every page it deletes from: pruning after every
/// confirmed update rewrote the same old pages again and again. Measured (write-path bench, 60,000
/// new keys of 1 KiB in groups of about 500, CPU): pruning after every update cost 3.1 µs per
/// pruned node and 13.3 µs per write in the commit (8 µs without prunes); in sweeps of 16 Ki
/// nodes 1.7 µs and 8.8 µs; of 64 Ki, 1.2 µs and 7.5 µs. What a sweep of 16 Ki holds back: node
/// rows of about 370 bytes on average (6 MiB; at most 14 MiB, were every one a full internal
/// node of 840 bytes) and, through [`SWEEP_VALUE_WEIGHT`], the blobs of at most 1 Ki replaced
/// values.
pub const DEFAULT_PRUNE_SWEEP_NODES: u64 = 16 * 1024;

/// How a store uses memory and disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// redb's page cache for this store, in bytes (pages it misses come from the OS page cache).
    pub cache_bytes: usize,
    /// A prune handed to the group commits runs once at least this many stale tree nodes wait
    /// (0: with the next group). Each sweep rewrites an old page once for all its stale nodes.
    pub prune_sweep_nodes: u64,
    /// The group commit that finds at least this many record index entries in unmerged rows
    /// merges them into the position-keyed index first (0: every group merges the rows before
    /// it). A merge rewrites each index page once for all its new entries; the unmerged entries
    /// cost memory (about 25 bytes each) and time at open (their directories, 68 bytes per
    /// entry, are read and checked).
    pub index_merge_entries: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_bytes: DEFAULT_STORE_CACHE_BYTES,
            prune_sweep_nodes: DEFAULT_PRUNE_SWEEP_NODES,
            index_merge_entries: DEFAULT_INDEX_MERGE_ENTRIES,
        }
    }
}

/// Unmerged record index entries a store lets pile up before a group commit merges them (see
/// [`StoreOptions::index_merge_entries`]), unless configured. Inserting each group's entries at
/// their random positions dirtied about 1.3 pages per record at 85,000 records per shard; a
/// merge of n entries into an index of p pages dirties about p(1 - e^(-n/p)) pages, so per
/// record about 0.25 at 85,000 records (about 4,200 pages) and 0.55 at 250,000. Filling four
/// shards with 1 M records peaked at 263–265 MiB RSS with 16 Ki, as without the merge, and at
/// 288–307 MiB with 32 Ki (the shards, filled alike, merge at about the same time), at the same
/// CPU per record; 8 Ki merged so often that the full path lost its gain.
pub const DEFAULT_INDEX_MERGE_ENTRIES: u64 = 16 * 1024;

/// A replaced value weighs as this many stale nodes in the sweep's trigger: its blob (up to a
/// whole record) stays on disk until a prune, so overwrites sweep once 1 Ki replaced values wait
/// (at the default sweep: about what one on-chain update's writes replace), while new keys'
/// writes, which replace no value, let nodes pile up to the full sweep.
const SWEEP_VALUE_WEIGHT: u64 = 16;

/// What waits for a prune: stale tree nodes listed in the stale index, and replaced values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Backlog {
    nodes: u64,
    values: u64,
}

impl Backlog {
    /// Whether a prune handed to the group commits should run now (see
    /// [`StoreOptions::prune_sweep_nodes`]).
    fn sweep_due(&self, sweep_nodes: u64) -> bool {
        self.nodes >= sweep_nodes || self.values.saturating_mul(SWEEP_VALUE_WEIGHT) >= sweep_nodes
    }
}

/// One shard's local store.
pub struct ShardStore {
    db: Database,
    path: PathBuf,
    codec: StateCodec,
    lock: Arc<StoreLock>,
    options: StoreOptions,
    /// The opened record keys, built on the first listing (opening every sealed key costs O(n)
    /// time and memory, which start-up should not pay), then kept in step with the record index:
    /// a group commit updates it under this lock, held across its commit.
    names: Mutex<Option<NameIndex>>,
    /// The top levels of the current tree, as group commits built them (see [`NodeCache`]).
    node_cache: Mutex<NodeCache>,
    /// The verifying reader's child table, kept between groups (see [`ChildRecords`]).
    child_records: Mutex<ChildRecords>,
    /// A prune a later group commit carries out (see [`ShardStore::prune_with_next_group`]).
    pending_prune: Mutex<Option<u64>>,
    /// Where the unmerged record index entries are (see [`Unmerged`]).
    unmerged: Arc<Mutex<Unmerged>>,
    /// What a prune would find: the stale index's nodes and the replaced values (in step with
    /// the tables after every durable transaction).
    backlog: Mutex<Backlog>,
    /// Where group commits spent their time (see [`CommitTimes`]).
    times: CommitTimes,
    /// The last computed group, until it is written: the base of the next group's tree.
    computed: Arc<Mutex<Option<Arc<ComputedTree>>>>,
    /// Written groups whose top levels are not cached yet (see [`ShardStore::write_group`]).
    cache_updates: Mutex<Vec<Arc<ComputedTree>>>,
}

/// Records a bulk load writes per transaction (and tree version): a transaction holds its dirty
/// pages, and jmt its whole batch of nodes, in memory until it commits, so a rebuild of 250,000
/// records in one transaction held hundreds of MiB.
const BULK_LOAD_PART: usize = 50_000;

/// Where this store's group commits spent their time since it was opened (for metrics and
/// benches): per [`CommitPhase`], wall and (when [`ShardStore::time_commit_cpu`] is on) CPU (this
/// thread's) microseconds summed over groups.
#[derive(Debug, Default)]
pub struct CommitTimes {
    /// Groups committed.
    pub groups: std::sync::atomic::AtomicU64,
    /// Tree nodes the prunes folded into groups deleted.
    pub pruned_nodes: std::sync::atomic::AtomicU64,
    /// Merges of the record index's unmerged rows, and the entries they wrote.
    pub index_merges: std::sync::atomic::AtomicU64,
    pub merged_entries: std::sync::atomic::AtomicU64,
    wall: [std::sync::atomic::AtomicU64; CommitPhase::COUNT],
    cpu: [std::sync::atomic::AtomicU64; CommitPhase::COUNT],
    /// The prune's and the write phase's CPU microseconds (this thread's) per [`GroupPart`].
    part_cpu: [std::sync::atomic::AtomicU64; GroupPart::COUNT],
    /// Pages each [`GroupPart`] dirtied (copied on write, split or added), counted only while
    /// [`ShardStore::count_dirty_pages`] is on: counting walks every table.
    part_pages: [std::sync::atomic::AtomicU64; GroupPart::COUNT],
    count_pages: std::sync::atomic::AtomicBool,
    /// Whether the CPU times are taken (see [`ShardStore::time_commit_cpu`]).
    time_cpu: std::sync::atomic::AtomicBool,
}

/// The parts of a group's transaction before its commit, by the tables they write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupPart {
    /// A prune folded into the group (stale index, nodes, change log, superseded values).
    Prune,
    /// A merge of the unmerged record index rows into the position-keyed index.
    Merge,
    /// The group's new tree nodes (keyed by version, then path: appended).
    Nodes,
    /// The stale-node index row.
    Stale,
    /// The record index entries: the check of what each key had, and the group's unmerged row.
    Records,
    /// Superseded values, the change-log row and the state row.
    Rest,
}

impl GroupPart {
    const COUNT: usize = 6;
    pub const ALL: [GroupPart; GroupPart::COUNT] = [
        GroupPart::Prune,
        GroupPart::Merge,
        GroupPart::Nodes,
        GroupPart::Stale,
        GroupPart::Records,
        GroupPart::Rest,
    ];
}

/// The phases of a group commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitPhase {
    /// Waiting for the store's single writer (another transaction, e.g. a state write, holds it).
    Wait,
    /// A prune folded into the group's transaction.
    Prune,
    /// Computing the group's tree (verified node reads, new nodes, hashing) and encoding its
    /// rows (see [`ShardStore::compute_group`]; it may overlap the previous group's write).
    Tree,
    /// Inserting nodes, the stale index, the record index (with a merge of its unmerged rows,
    /// when due) and the change log.
    Write,
    /// The durable commit (redb's page writes and syncs).
    Commit,
}

impl CommitPhase {
    const COUNT: usize = 5;
    pub const ALL: [CommitPhase; CommitPhase::COUNT] =
        [CommitPhase::Wait, CommitPhase::Prune, CommitPhase::Tree, CommitPhase::Write, CommitPhase::Commit];
}

/// A point in wall and this thread's CPU time.
#[derive(Clone, Copy)]
struct Stamp {
    wall: std::time::Instant,
    cpu: Duration,
}

impl Stamp {
    /// Now; this thread's CPU time only if `cpu` (reading it is a system call, about a dozen per
    /// group: over a percent of a small group's commit).
    fn now(cpu: bool) -> Self {
        let cpu = if cpu {
            let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: clock_gettime only writes into the struct passed to it.
            let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
            if rc == 0 {
                Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
            } else {
                Duration::ZERO
            }
        } else {
            Duration::ZERO
        };
        Stamp { wall: std::time::Instant::now(), cpu }
    }
}

impl CommitTimes {
    fn stamp(&self) -> Stamp {
        Stamp::now(self.time_cpu.load(Ordering::Relaxed))
    }

    /// Adds the time since `since` to `phase`; now.
    fn add(&self, phase: CommitPhase, since: Stamp) -> Stamp {
        let now = self.stamp();
        let i = phase as usize;
        self.wall[i].fetch_add((now.wall - since.wall).as_micros() as u64, Ordering::Relaxed);
        self.cpu[i].fetch_add(now.cpu.saturating_sub(since.cpu).as_micros() as u64, Ordering::Relaxed);
        now
    }

    /// Wall and CPU microseconds spent in `phase`.
    pub fn micros(&self, phase: CommitPhase) -> (u64, u64) {
        let i = phase as usize;
        (self.wall[i].load(Ordering::Relaxed), self.cpu[i].load(Ordering::Relaxed))
    }

    /// CPU microseconds spent in `part`, and the pages it dirtied while they were counted.
    pub fn part(&self, part: GroupPart) -> (u64, u64) {
        let i = part as usize;
        (self.part_cpu[i].load(Ordering::Relaxed), self.part_pages[i].load(Ordering::Relaxed))
    }

    /// Adds the CPU time since `since` (and, if counted, the pages allocated since `pages`) to
    /// `part`; now.
    fn add_part(
        &self,
        part: GroupPart,
        txn: &redb::WriteTransaction,
        (since, pages): (Stamp, u64),
    ) -> Result<(Stamp, u64), StoreError> {
        let now = self.stamp();
        let i = part as usize;
        self.part_cpu[i].fetch_add(now.cpu.saturating_sub(since.cpu).as_micros() as u64, Ordering::Relaxed);
        if !self.count_pages.load(Ordering::Relaxed) {
            return Ok((now, 0));
        }
        let allocated = self.allocated_pages(txn)?;
        self.part_pages[i].fetch_add(allocated.saturating_sub(pages), Ordering::Relaxed);
        // The count's own time goes to no part.
        Ok((self.stamp(), allocated))
    }

    /// Pages allocated in the file (each page a transaction dirties is a fresh copy; a committed
    /// one is freed only after the commit), or 0 when pages are not counted.
    fn allocated_pages(&self, txn: &redb::WriteTransaction) -> Result<u64, StoreError> {
        if !self.count_pages.load(Ordering::Relaxed) {
            return Ok(0);
        }
        Ok(txn.stats().map_err(io)?.allocated_pages())
    }
}

/// Rows encoded back to back in one buffer, each ending where `ends` says.
#[derive(Default)]
struct EncodedRows {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl EncodedRows {
    fn rows(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(start, end)| &self.bytes[start..*end])
    }
}

/// A group's new tree version, built on `base` (version, root).
struct ComputedTree {
    base: (u64, [u8; 32]),
    version: u64,
    root: [u8; 32],
    batch: TreeUpdateBatch,
}

/// A group whose tree is computed but not written yet (see [`ShardStore::compute_group`]).
/// Dropped unwritten, it stops being the next group's base.
pub struct ComputedGroup<C: Borrow<[(Vec<u8>, RecordLeaf)]>> {
    changes: C,
    expected_root: Option<[u8; 32]>,
    /// The batch's nodes (in its order).
    rows: EncodedRows,
    /// The group's [`UNMERGED_DIRS`] and [`UNMERGED`] rows (none for a group of no changes).
    unmerged_row: Option<(Vec<u8>, Vec<u8>)>,
    positions: Vec<KeyHash>,
    /// Key hash → hash of its leaf node in the base tree, for every leaf the computation read.
    authenticated_leaves: foldhash::HashMap<[u8; 32], [u8; 32]>,
    tree: Arc<ComputedTree>,
    in_flight: Arc<Mutex<Option<Arc<ComputedTree>>>>,
    written: bool,
}

impl<C: Borrow<[(Vec<u8>, RecordLeaf)]>> ComputedGroup<C> {
    /// The root the group's version will have.
    pub fn root(&self) -> [u8; 32] {
        self.tree.root
    }
}

impl<C: Borrow<[(Vec<u8>, RecordLeaf)]>> Drop for ComputedGroup<C> {
    fn drop(&mut self) {
        if !self.written {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            if in_flight.as_ref().is_some_and(|g| Arc::ptr_eq(g, &self.tree)) {
                *in_flight = None;
            }
        }
    }
}

impl ShardStore {
    /// Opens (or creates) the store under its lock and verifies it (see the module docs): a file
    /// that is not a valid database is [`StoreError::Corrupt`], one whose sealed state or roots
    /// do not verify is [`StoreError::Forged`], one another process holds is
    /// [`StoreError::InUse`].
    pub fn open(path: impl AsRef<Path>, seal: StoreSeal) -> Result<Self, StoreError> {
        let lock = StoreLock::acquire(path.as_ref())?;
        Self::open_locked(path, seal, lock)
    }

    /// [`ShardStore::open`] under a lock the caller already holds for `path`.
    pub fn open_locked(
        path: impl AsRef<Path>,
        seal: StoreSeal,
        lock: Arc<StoreLock>,
    ) -> Result<Self, StoreError> {
        Self::open_locked_with(path, seal, lock, StoreOptions::default())
    }

    /// [`ShardStore::open_locked`] with `options`.
    pub fn open_locked_with(
        path: impl AsRef<Path>,
        seal: StoreSeal,
        lock: Arc<StoreLock>,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let db =
            Database::builder().set_cache_size(options.cache_bytes).create(&path).map_err(|e| match e {
                redb::DatabaseError::Storage(redb::StorageError::Corrupted(m)) => {
                    StoreError::Corrupt(m.into())
                }
                // redb's "not a redb database" (bad magic number): the file's content, not its access.
                redb::DatabaseError::Storage(redb::StorageError::Io(e))
                    if e.kind() == std::io::ErrorKind::InvalidData =>
                {
                    StoreError::Corrupt(e.into())
                }
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse { path: path.clone() },
                source => StoreError::Open { path: path.clone(), source },
            })?;
        let store_id = init_tables(&db, &seal)?;
        let store = ShardStore {
            db,
            path,
            codec: StateCodec { seal, store_id },
            lock,
            options,
            names: Mutex::default(),
            node_cache: Mutex::default(),
            child_records: Mutex::default(),
            pending_prune: Mutex::default(),
            unmerged: Arc::default(),
            backlog: Mutex::default(),
            times: CommitTimes::default(),
            computed: Arc::default(),
            cache_updates: Mutex::default(),
        };
        let state = store.state()?;
        let configured = store.codec.seal.tree.mode();
        if state.tree_key_mode != configured {
            // A store that never held a record places nothing yet: re-pinning it is what deleting
            // it would do (e.g. after a start in the wrong mode failed to rebuild).
            let empty = state.tree_version == 0 && state.confirmed_seq == 0 && state.pending.is_none();
            if !empty {
                return Err(StoreError::TreeKeyModeChanged { pinned: state.tree_key_mode, configured });
            }
            store.put_state(&ShardState { tree_key_mode: configured, ..state.clone() })?;
        }
        store.verify_roots()?;
        store.read_unmerged(&state)?;
        store.check_tree_key()?;
        *store.backlog.lock().unwrap_or_else(|p| p.into_inner()) = store.count_backlog()?;
        Ok(store)
    }

    /// Builds the map of unmerged index entries from the [`UNMERGED_DIRS`] directories, each
    /// directory's seal checked (an edited, moved or foreign one is [`StoreError::Forged`]; the
    /// entries are checked against it when read), and every version between the last merge and
    /// the sealed tree version (see [`check_unmerged_version`]). Bounded by the merge
    /// (see [`StoreOptions::index_merge_entries`]).
    fn read_unmerged(&self, state: &ShardState) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let dirs = txn.open_table(UNMERGED_DIRS).map_err(corrupt)?;
        for end in [dirs.first().map_err(io)?, dirs.last().map_err(io)?].into_iter().flatten() {
            check_unmerged_version(end.0.value(), state)?;
        }
        let map = Unmerged::read(&dirs, Some(&self.codec))?;
        *self.unmerged.lock().unwrap_or_else(|p| p.into_inner()) = map;
        Ok(())
    }

    /// Checks that the records were placed with this store's tree key: the first index entry's
    /// sealed key opens and sits at its position. A wrong key (another app's, a KMS answering
    /// differently) moves every record, so one entry tells at open; every other entry is
    /// checked when it is used (listing, checkpoints).
    fn check_tree_key(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(RECORDS).map_err(corrupt)?;
        if let Some((position, entry)) = table.first().map_err(io)? {
            let entry = IndexEntry::decode(entry.value())?;
            self.codec.seal.open_name(&position.value(), &entry.sealed_key)?;
            return Ok(());
        }
        let lookup = UnmergedLookup::new(&self.unmerged);
        let index = Self::index_view(&txn, &lookup)?;
        if let Some((version, dir)) = index.dirs.first().map_err(io)? {
            let dir = UnmergedDir::parse(dir.value())?;
            if dir.len() > 0 {
                let entry = index.unmerged_entry(version.value(), &dir, 0)?;
                let entry = IndexEntry::decode(entry.bytes())?;
                self.codec.seal.open_name(&dir.position(0), &entry.sealed_key)?;
            }
        }
        Ok(())
    }

    /// The stale nodes and replaced values stored: bounded by the prune sweep (see
    /// [`StoreOptions::prune_sweep_nodes`]) plus the unanchored groups', so counting them at open
    /// stays cheap.
    fn count_backlog(&self) -> Result<Backlog, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let stale = txn.open_table(STALE).map_err(corrupt)?;
        let mut nodes = 0;
        for item in stale.iter().map_err(io)? {
            // A malformed row is the prune's to report (and drop); the store still opens.
            nodes += StaleNodeKeys(item.map_err(io)?.1.value()).take_while(Result::is_ok).count() as u64;
        }
        let values = txn.open_table(SUPERSEDED).map_err(corrupt)?.len().map_err(io)?;
        Ok(Backlog { nodes, values })
    }

    /// The memory settings this store was opened with (a store that replaces it reuses them).
    pub fn options(&self) -> StoreOptions {
        self.options
    }

    /// Runs `f` on the name index, built now if this is its first use: every sealed record key
    /// opened and checked against its position (an edited or moved one is [`StoreError::Forged`], and the
    /// index stays unbuilt). Built from a read begun under the lock, which a group commit holds
    /// across its commit, so no commit falls between the read and the index.
    fn with_names<T>(&self, f: impl FnOnce(&NameIndex) -> T) -> Result<T, StoreError> {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(names) = names.as_ref() {
            return Ok(f(names));
        }
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(RECORDS).map_err(corrupt)?;
        let mut built = NameIndex::new();
        for item in table.iter().map_err(io)? {
            let (position, entry) = item.map_err(io)?;
            let entry = IndexEntry::decode(entry.value())?;
            built.insert(self.codec.seal.open_name(&position.value(), &entry.sealed_key)?.into());
        }
        // The unmerged rows' keys (a key there may also be in the merged index: it is one name).
        let lookup = UnmergedLookup::new(&self.unmerged);
        let index = Self::index_view(&txn, &lookup)?;
        for item in index.dirs.iter().map_err(io)? {
            let (version, dir) = item.map_err(io)?;
            let dir = UnmergedDir::parse(dir.value())?;
            for i in 0..dir.len() {
                let entry = index.unmerged_entry(version.value(), &dir, i)?;
                let entry = IndexEntry::decode(entry.bytes())?;
                built.insert(self.codec.seal.open_name(&dir.position(i), &entry.sealed_key)?.into());
            }
        }
        Ok(f(names.insert(built)))
    }

    /// Whether the name index has been built (it is, once anything listed records).
    pub fn names_loaded(&self) -> bool {
        self.names.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// The tree position of `key` in this store's mode.
    pub fn key_hash(&self, key: &[u8]) -> KeyHash {
        self.codec.seal.tree.hash(key)
    }

    pub fn tree_key_mode(&self) -> TreeKeyMode {
        self.codec.seal.tree.mode()
    }

    /// The seal (app, shard, keys) this store's state rows and record keys are checked under.
    pub fn seal(&self) -> &StoreSeal {
        &self.codec.seal
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock this store holds (to hand over to a store that replaces it at the same path).
    pub fn lock(&self) -> Arc<StoreLock> {
        self.lock.clone()
    }

    /// Checks that the tree nodes stored for the sealed versions hash to the sealed roots, and
    /// that a prepared update extends the confirmed state: the keeper only signs roots that
    /// verify here.
    fn verify_roots(&self) -> Result<(), StoreError> {
        let state = self.state()?;
        let (txn, unmerged) = self.begin_read()?;
        let reader = ReadTxnReader { txn: &txn, unmerged: &unmerged };
        let tree = JellyfishMerkleTree::<_, TreeHasher>::new(&reader);
        let root_at = |version: u64| -> Result<[u8; 32], StoreError> {
            if version == 0 {
                return Ok(EMPTY_ROOT);
            }
            match tree.get_root_hash_option(version).map_err(corrupt)? {
                Some(root) => Ok(root.0),
                None => Err(forged(format!("no tree root stored for version {version}"))),
            }
        };
        let mut checks = vec![("current", state.tree_version, state.root)];
        if state.confirmed_seq > 0 {
            checks.push(("confirmed", state.confirmed_tree_version, state.confirmed_root));
        }
        if let Some(p) = &state.pending {
            if p.seq != state.confirmed_seq + 1 || p.prev_root != state.confirmed_root {
                return Err(forged(format!(
                    "prepared update seq {} does not extend the confirmed state",
                    p.seq
                )));
            }
            if p.tree_version > state.tree_version {
                return Err(forged("prepared update names a tree version this store never wrote"));
            }
            checks.push(("prepared", p.tree_version, p.root));
        }
        for (what, version, sealed) in checks {
            let stored = root_at(version)?;
            if stored != sealed {
                return Err(forged(format!(
                    "{what} root {} (version {version}) is not the sealed {}",
                    hex::encode(stored),
                    hex::encode(sealed)
                )));
            }
        }
        Ok(())
    }

    pub fn state(&self) -> Result<ShardState, StoreError> {
        self.snapshot()?.state()
    }

    /// A consistent read view: state and records as of now, while writers go on.
    pub fn snapshot(&self) -> Result<StoreSnapshot<'_>, StoreError> {
        let (txn, unmerged) = self.begin_read()?;
        Ok(StoreSnapshot { txn, unmerged, store: self })
    }

    /// A read transaction with how it finds its unmerged index entries.
    fn begin_read(&self) -> Result<(redb::ReadTransaction, UnmergedLookup), StoreError> {
        let lookup = UnmergedLookup::new(&self.unmerged);
        Ok((self.db.begin_read().map_err(io)?, lookup))
    }

    /// The record index as `txn` sees it.
    fn index_view<'l>(
        txn: &redb::ReadTransaction,
        lookup: &'l UnmergedLookup,
    ) -> Result<ReadIndexView<'l>, StoreError> {
        Ok(IndexView {
            records: txn.open_table(RECORDS).map_err(corrupt)?,
            dirs: txn.open_table(UNMERGED_DIRS).map_err(corrupt)?,
            entries: txn.open_table(UNMERGED).map_err(corrupt)?,
            lookup,
        })
    }

    /// Persists a new commit state durably (pending/confirmed bookkeeping, key epoch).
    pub fn put_state(&self, state: &ShardState) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(io)?;
        txn.set_durability(redb::Durability::Immediate).map_err(io)?;
        self.write_state(&txn, state)?;
        txn.commit().map_err(io)
    }

    fn read_state(&self, txn: &redb::WriteTransaction) -> Result<ShardState, StoreError> {
        let table = txn.open_table(STATE).map_err(corrupt)?;
        let row = table.get(STATE_KEY).map_err(io)?.ok_or_else(|| forged("the state row is missing"))?;
        self.codec.decode(row.value())
    }

    fn write_state(&self, txn: &redb::WriteTransaction, state: &ShardState) -> Result<(), StoreError> {
        let mut table = txn.open_table(STATE).map_err(corrupt)?;
        table.insert(STATE_KEY, self.codec.encode(state)?.as_slice()).map_err(io)?;
        Ok(())
    }

    /// Reads, changes and durably writes the commit state in one transaction, so it never
    /// overwrites a concurrent group commit.
    pub fn update_state<T>(&self, f: impl FnOnce(&mut ShardState) -> T) -> Result<T, StoreError> {
        self.update_state_with(redb::Durability::Immediate, f, |_| Ok(()))
    }

    /// [`ShardStore::update_state`] without waiting for the disk: the change is visible at once
    /// and made durable by the next durable write (the writer's next group, a prune, a prepare).
    /// Only for facts the keeper can learn again after a crash, such as a confirmation the chain
    /// holds (recovery confirms a prepared update the chain shows).
    pub fn update_state_unsynced<T>(&self, f: impl FnOnce(&mut ShardState) -> T) -> Result<T, StoreError> {
        self.update_state_with(redb::Durability::None, f, |_| Ok(()))
    }

    /// The state changed by `f`, and whatever `also` writes, in one transaction.
    fn update_state_with<T>(
        &self,
        durability: redb::Durability,
        f: impl FnOnce(&mut ShardState) -> T,
        also: impl FnOnce(&redb::WriteTransaction) -> Result<(), StoreError>,
    ) -> Result<T, StoreError> {
        let mut txn = self.db.begin_write().map_err(io)?;
        txn.set_durability(durability).map_err(io)?;
        let mut state = self.read_state(&txn)?;
        let out = f(&mut state);
        self.write_state(&txn, &state)?;
        also(&txn)?;
        txn.commit().map_err(io)?;
        Ok(out)
    }

    /// [`ShardStore::update_state`] that also records the blobs of the manifest published for
    /// update `seq` (a checkpoint or not), in the same transaction: a prepared update's manifest
    /// is always known to [`ShardStore::retire_manifests`]. A seq is prepared once (a prepared
    /// update is resubmitted until the chain confirms it); a manifest published by a prepare
    /// whose state write then failed, or that a crash cut short, is never recorded, so its blobs
    /// are never released.
    pub fn update_state_with_manifest<T>(
        &self,
        seq: u64,
        checkpoint: bool,
        blobs: &[Vec<u8>],
        f: impl FnOnce(&mut ShardState) -> T,
    ) -> Result<T, StoreError> {
        let row = encode_manifest_blobs(checkpoint, blobs)?;
        self.update_state_with(redb::Durability::Immediate, f, |txn| {
            txn.open_table(MANIFEST_BLOBS).map_err(corrupt)?.insert(seq, row.as_slice()).map_err(io)?;
            Ok(())
        })
    }

    /// Records the blobs of manifests published before this store knew them (those a rebuild or
    /// a restore read: (seq, checkpoint, blobs)), so [`ShardStore::retire_manifests`] releases
    /// them too.
    pub fn record_manifests(&self, manifests: &[(u64, bool, Vec<Vec<u8>>)]) -> Result<(), StoreError> {
        let rows = manifests
            .iter()
            .map(|(seq, checkpoint, blobs)| Ok((*seq, encode_manifest_blobs(*checkpoint, blobs)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let txn = self.db.begin_write().map_err(io)?;
        {
            let mut table = txn.open_table(MANIFEST_BLOBS).map_err(corrupt)?;
            for (seq, row) in &rows {
                table.insert(seq, row.as_slice()).map_err(io)?;
            }
        }
        txn.commit().map_err(io)
    }

    /// Hands the blobs of every manifest older than the newest checkpoint at or before
    /// `finalized_seq` to the dead blobs (released like any other, see
    /// [`ShardKeeper::release_dead_blobs`](crate::shard::ShardKeeper::release_dead_blobs)), in
    /// one durable transaction: rebuilding any state from that checkpoint on (every state the
    /// chain can still show) walks back no further. How many manifests were retired.
    pub fn retire_manifests(&self, finalized_seq: u64) -> Result<usize, StoreError> {
        let txn = self.db.begin_write().map_err(io)?;
        let retired = {
            let mut table = txn.open_table(MANIFEST_BLOBS).map_err(corrupt)?;
            let mut keep_from = None;
            for item in table.range(..=finalized_seq).map_err(io)?.rev() {
                let (seq, row) = item.map_err(io)?;
                if decode_manifest_blobs(row.value())?.0 {
                    keep_from = Some(seq.value());
                    break;
                }
            }
            let Some(keep_from) = keep_from else { return Ok(0) };
            let mut retired = Vec::new();
            for item in table.range(..keep_from).map_err(io)? {
                let (seq, row) = item.map_err(io)?;
                retired.push((seq.value(), decode_manifest_blobs(row.value())?.1));
            }
            let mut dead = txn.open_table(DEAD_BLOBS).map_err(corrupt)?;
            for (seq, blobs) in &retired {
                for cid in blobs {
                    dead.insert(cid.as_slice(), ()).map_err(io)?;
                }
                table.remove(seq).map_err(io)?;
            }
            retired.len()
        };
        txn.commit().map_err(io)?;
        Ok(retired)
    }

    /// The records of the next manifest, read part by part from one consistent read (see
    /// [`ManifestRecords`]): every record (`checkpoint`) or the records changed since the
    /// confirmed tree version. Nothing is read until the parts are asked for, so a checkpoint of
    /// a large shard never sits in memory whole.
    pub fn manifest_records(&self, checkpoint: bool) -> Result<ManifestRecords, StoreError> {
        let (txn, lookup) = self.begin_read()?;
        let state = {
            let table = txn.open_table(STATE).map_err(corrupt)?;
            let row = table.get(STATE_KEY).map_err(io)?.ok_or_else(|| forged("the state row is missing"))?;
            self.codec.decode(row.value())?
        };
        let changed = if checkpoint {
            None
        } else {
            // Positions only (32 bytes each): a delta holds at most the unanchored writes.
            let changes = txn.open_table(CHANGES).map_err(corrupt)?;
            let mut positions: Vec<[u8; 32]> = Vec::new();
            for item in changes.range(state.confirmed_tree_version + 1..).map_err(io)? {
                let (_, row) = item.map_err(io)?;
                let row = row.value();
                if !row.len().is_multiple_of(32) {
                    return Err(corrupt("a change log row is not a list of positions"));
                }
                positions.extend(row.chunks_exact(32).map(|p| <[u8; 32]>::try_from(p).expect("32 bytes")));
            }
            positions.sort_unstable();
            positions.dedup();
            positions.reverse();
            Some(positions)
        };
        Ok(ManifestRecords {
            txn,
            lookup,
            seal: self.codec.seal.clone(),
            state,
            changed,
            unmerged: None,
            after: None,
            done: false,
        })
    }

    pub fn record(&self, key: &[u8]) -> Result<Option<RecordMeta>, StoreError> {
        let (txn, lookup) = self.begin_read()?;
        Self::index_view(&txn, &lookup)?.meta(&self.key_hash(key).0)
    }

    /// The index entries of `keys` (in order), read in one snapshot.
    pub fn records_of<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k [u8]>,
    ) -> Result<Vec<Option<RecordMeta>>, StoreError> {
        let (txn, lookup) = self.begin_read()?;
        let index = Self::index_view(&txn, &lookup)?;
        keys.into_iter().map(|key| index.meta(&self.key_hash(key).0)).collect()
    }

    /// Records in key order after `after` (exclusive), at most `limit`, tombstones included.
    pub fn records_after(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, RecordMeta)>, StoreError> {
        self.snapshot()?.records_after(after, limit)
    }

    /// Applies one group of record changes as one JMT version, in one durable transaction.
    /// `expected_root`, if given, must equal the root before the group.
    pub fn commit_group(
        &self,
        changes: &[(Vec<u8>, RecordLeaf)],
        expected_root: Option<[u8; 32]>,
    ) -> Result<ShardState, StoreError> {
        self.write_group(&mut self.compute_group(changes, expected_root)?)
    }

    /// The first half of a group commit, outside the store's single write transaction: the
    /// group's new tree (nodes, root) computed from authenticated reads. Its base is the tree a
    /// group computed before it leaves, while that one is still being written (so the next
    /// group's tree work overlaps the previous group's commit and sync), else the committed tree.
    /// [`ShardStore::write_group`] stores it, checking that its base is still the committed tree.
    /// `expected_root`, if given, must equal the base root.
    pub fn compute_group<C: Borrow<[(Vec<u8>, RecordLeaf)]>>(
        &self,
        changes: C,
        expected_root: Option<[u8; 32]>,
    ) -> Result<ComputedGroup<C>, StoreError> {
        let started = self.times.stamp();
        // Read before the snapshot: a group written in between is then in the snapshot too, and
        // no longer the base (its base is not the committed tree any more).
        let in_flight = self.computed.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let snapshot = self.snapshot()?;
        let state = snapshot.state()?;
        let base_group = in_flight.filter(|g| g.base == (state.tree_version, state.root));
        let (base_version, base_root) =
            base_group.as_ref().map(|g| (g.version, g.root)).unwrap_or((state.tree_version, state.root));
        if let Some(expected) = expected_root {
            if expected != base_root {
                return Err(StoreError::RootChanged {
                    expected: hex::encode(expected),
                    current: hex::encode(base_root),
                });
            }
        }
        let version = base_version + 1;
        let list = changes.borrow();
        let positions: Vec<KeyHash> = list.iter().map(|(key, _)| self.key_hash(key)).collect();
        // In group order: jmt's batch insert sorts the set by key, the last change of a key winning.
        let value_set: Vec<(KeyHash, OwnedValue)> =
            positions.iter().zip(list).map(|(position, (_, leaf))| (*position, leaf.to_bytes())).collect();
        let nodes = snapshot.txn.open_table(NODES).map_err(corrupt)?;
        let mut cache = self.node_cache.lock().unwrap_or_else(|p| p.into_inner());
        self.apply_cache_updates(&mut cache);
        let child_records =
            std::mem::take(&mut *self.child_records.lock().unwrap_or_else(|p| p.into_inner()));
        let (root, batch, authenticated_leaves) = {
            let reader = VerifyingReader::new(
                GroupNodes { written: base_group.as_deref().map(|g| &g.batch.node_batch), nodes: &nodes },
                base_version,
                base_root,
                &cache,
                positions.len(),
                child_records,
            );
            let tree = JellyfishMerkleTree::<_, TreeHasher>::new(&reader);
            // One pass over the group (each touched node read, rebuilt and hashed once) rather
            // than one root-to-leaf walk per key, which rehashes the upper levels for every key.
            // The tree (nodes, keys, root) is the same either way; a group never removes a key.
            let (root, batch) = if value_set.is_empty() {
                tree.put_value_set(std::iter::empty(), version).map_err(|e| reader.classify(e))?
            } else {
                let (roots, batch) = tree
                    .batch_put_value_sets(vec![value_set], None, version)
                    .map_err(|e| reader.classify(e))?;
                (roots[0], batch)
            };
            let (leaves, child_records) = reader.into_parts();
            if let Some(kept) = child_records.recycle() {
                *self.child_records.lock().unwrap_or_else(|p| p.into_inner()) = kept;
            }
            (root, batch, leaves)
        };
        drop(cache);
        // Everything the write transaction stores is encoded here, outside it: the nodes, and
        // each index entry (its record key sealed under a fresh nonce, its leaf, the version).
        let mut rows = EncodedRows::default();
        for node in batch.node_batch.nodes().values() {
            node.serialize(&mut rows.bytes).map_err(io)?;
            rows.ends.push(rows.bytes.len());
        }
        let mut nonces = vec![0u8; NAME_NONCE_LEN * list.len()];
        OsRng.try_fill_bytes(&mut nonces).map_err(io)?;
        let seal = &self.codec.seal;
        let cipher = seal.name_cipher();
        let mut entries = EncodedRows::default();
        for ((position, (key, leaf)), nonce) in
            positions.iter().zip(list).zip(nonces.chunks_exact(NAME_NONCE_LEN))
        {
            let nonce = nonce.try_into().expect("chunks of the nonce length");
            encode_index_entry(seal, &cipher, (&position.0, key, nonce), leaf, version, &mut entries.bytes)?;
            entries.ends.push(entries.bytes.len());
        }
        // The group's unmerged row: its entries by position, the last change of a key winning.
        let entries: Vec<&[u8]> = entries.rows().collect();
        let mut order: Vec<usize> = (0..positions.len()).collect();
        order.sort_by(|a, b| positions[*a].cmp(&positions[*b]).then(b.cmp(a)));
        order.dedup_by_key(|i| positions[*i]);
        let unmerged_row = if order.is_empty() {
            None
        } else {
            Some(
                self.codec
                    .encode_unmerged_row(version, order.iter().map(|i| (&positions[*i].0, entries[*i])))?,
            )
        };

        self.times.add(CommitPhase::Tree, started);
        let tree = Arc::new(ComputedTree { base: (base_version, base_root), version, root: root.0, batch });
        *self.computed.lock().unwrap_or_else(|p| p.into_inner()) = Some(tree.clone());
        Ok(ComputedGroup {
            changes,
            expected_root,
            rows,
            unmerged_row,
            positions,
            authenticated_leaves,
            tree,
            in_flight: self.computed.clone(),
            written: false,
        })
    }

    /// Stores a computed group (see [`ShardStore::compute_group`]) in one durable transaction,
    /// with the prune the batcher handed to the next group. The group stays the caller's, so its
    /// memory can be freed off the committing thread.
    pub fn write_group<C: Borrow<[(Vec<u8>, RecordLeaf)]>>(
        &self,
        group: &mut ComputedGroup<C>,
    ) -> Result<ShardState, StoreError> {
        self.write_group_with(group, self.prune_due(), None)
    }

    /// The prune a group commit carries out first: the one waiting, once its sweep is due.
    fn prune_due(&self) -> Option<u64> {
        let pending = *self.pending_prune.lock().unwrap_or_else(|p| p.into_inner());
        let due =
            self.backlog.lock().unwrap_or_else(|p| p.into_inner()).sweep_due(self.options.prune_sweep_nodes);
        pending.filter(|_| due)
    }

    /// [`ShardStore::write_group`] of a group whose record is in the group log at `cursor`: the
    /// state records the cursor, and the transaction waits for the disk only if `durable` (the
    /// log holds the group until a later durable commit covers it; see [`crate::group_log`]).
    pub fn write_group_logged<C: Borrow<[(Vec<u8>, RecordLeaf)]>>(
        &self,
        group: &mut ComputedGroup<C>,
        cursor: LogCursor,
        durable: bool,
    ) -> Result<ShardState, StoreError> {
        self.write_group_with(group, self.prune_due(), Some((cursor, durable)))
    }

    /// Durably records that the state continues at `cursor` in the group log (a checkpoint: every
    /// group committed before it is durable in the store from here on).
    pub fn checkpoint_log(&self, cursor: LogCursor) -> Result<ShardState, StoreError> {
        self.update_state(|state| {
            state.log = Some(cursor);
            state.clone()
        })
    }

    /// Seals a group log record's body: nonce ‖ AES-256-GCM under the store's group log key,
    /// bound to the app, the shard and this store.
    pub fn seal_log_record(&self, body: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; GROUP_LOG_NONCE_LEN];
        OsRng.try_fill_bytes(&mut nonce).map_err(io)?;
        let sealed = Aes256Gcm::new(self.codec.seal.group_log.as_ref().into())
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: body, aad: &self.log_aad() })
            .map_err(|_| io("sealing a group log record failed"))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// Opens a record [`ShardStore::seal_log_record`] sealed for this store; `None` if it does
    /// not open (another store's, edited, or not a record).
    pub fn open_log_record(&self, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let (nonce, body) = sealed.split_at_checked(GROUP_LOG_NONCE_LEN)?;
        Aes256Gcm::new(self.codec.seal.group_log.as_ref().into())
            .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad: &self.log_aad() })
            .ok()
            .map(Zeroizing::new)
    }

    fn log_aad(&self) -> Vec<u8> {
        let seal = &self.codec.seal;
        [GROUP_LOG_AAD_DOMAIN, seal.app.as_bytes(), &seal.shard.wire().to_le_bytes(), &self.codec.store_id]
            .concat()
    }

    /// [`ShardStore::write_group`], first carrying out a prune up to `prune` in its transaction;
    /// with `logged`, see [`ShardStore::write_group_logged`].
    fn write_group_with<C: Borrow<[(Vec<u8>, RecordLeaf)]>>(
        &self,
        group: &mut ComputedGroup<C>,
        prune: Option<u64>,
        logged: Option<(LogCursor, bool)>,
    ) -> Result<ShardState, StoreError> {
        let times = &self.times;
        let started = times.stamp();
        let mut txn = self.db.begin_write().map_err(io)?;
        let mut at = times.add(CommitPhase::Wait, started);
        let durable = logged.is_none_or(|(_, durable)| durable);
        let durability = if durable { redb::Durability::Immediate } else { redb::Durability::None };
        txn.set_durability(durability).map_err(io)?;
        let mut state = self.read_state(&txn)?;
        if (state.tree_version, state.root) != group.tree.base {
            // Computed on a tree that is not the committed one (the group before was written
            // without computing ahead, or was not written): computed again on the committed tree.
            drop(txn);
            let mut again = self.compute_group(group.changes.borrow(), group.expected_root)?;
            return self.write_group_with(&mut again, prune, logged);
        }
        // A prune is no reason to refuse writes: one that fails is dropped (the transaction
        // rolled back, the group committed without it) and the next confirmed update asks again.
        let mut pruned = Backlog::default();
        let mut part = (at, times.allocated_pages(&txn)?);
        if let Some(keep_from) = prune.filter(|k| *k <= state.tree_version) {
            match prune_in(&txn, keep_from, &UnmergedLookup::new(&self.unmerged)) {
                Ok(removed) => {
                    pruned = removed;
                    at = times.add(CommitPhase::Prune, at);
                    part = times.add_part(GroupPart::Prune, &txn, part)?;
                }
                Err(e) => {
                    drop(txn);
                    tracing::warn!(path = %self.path.display(), error = %e, "prune failed; committing the group without it");
                    self.clear_pending_prune(keep_from);
                    return self.write_group_with(group, None, logged);
                }
            }
        }
        // The unmerged rows merged into the position-keyed index, once enough wait: in
        // position order, each index page rewritten once for all its new entries.
        let merge_due = {
            let unmerged = self.unmerged.lock().unwrap_or_else(|p| p.into_inner());
            !unmerged.entries.is_empty() && unmerged.entries.len() as u64 >= self.options.index_merge_entries
        };
        let mut merged = None;
        if merge_due {
            merged = merge_unmerged(&txn, &self.codec, &state)?;
            if let Some(merged) = &merged {
                state.index_merged_through = merged.through;
            }
            part = times.add_part(GroupPart::Merge, &txn, part)?;
        }
        let ComputedTree { version, root, ref batch, .. } = *group.tree;
        let changes = group.changes.borrow();
        // Each written key's index entry before this group (checked against the tree).
        let mut previous: foldhash::HashMap<[u8; 32], Option<RecordMeta>> =
            foldhash::HashMap::with_capacity_and_hasher(group.positions.len(), Default::default());
        {
            let mut nodes = txn.open_table(NODES).map_err(corrupt)?;
            for ((key, _), row) in batch.node_batch.nodes().iter().zip(group.rows.rows()) {
                nodes.insert(encode_node_key(key).as_slice(), row).map_err(io)?;
            }
        }
        part = times.add_part(GroupPart::Nodes, &txn, part)?;
        write_stale_index(&txn, batch)?;
        part = times.add_part(GroupPart::Stale, &txn, part)?;
        {
            // A write transaction sees every merge that happened (merges are write
            // transactions), so the store's map serves it.
            let lookup = UnmergedLookup::new(&self.unmerged);
            let candidates: Vec<Vec<u64>> = {
                let unmerged = self.unmerged.lock().unwrap_or_else(|p| p.into_inner());
                group.positions.iter().map(|p| unmerged.versions(&p.0)).collect()
            };
            let index = write_index_view(&txn, &lookup)?;
            let mut changed = Vec::with_capacity(32 * group.positions.len());
            for (position, versions) in group.positions.iter().zip(candidates) {
                changed.extend_from_slice(&position.0);
                if previous.contains_key(&position.0) {
                    continue; // written earlier in this group: what it replaced was checked then
                }
                // The record index decides the next version of every written key: it must say
                // what the (authenticated) tree said before this group. Inserting a key reads the
                // node at its position, so the leaves the insert authenticated are exactly the
                // keys' previous leaves (a key with none was not in the tree). A mismatch aborts
                // the transaction: nothing of the group is written.
                let indexed = index
                    .entry_in(versions, &position.0)?
                    .map(|e| IndexEntry::decode_meta(e.bytes()))
                    .transpose()?;
                if group.authenticated_leaves.get(&position.0)
                    != indexed.as_ref().map(|m| leaf_node_hash(*position, &m.leaf)).as_ref()
                {
                    return Err(forged("the record index disagrees with the tree"));
                }
                previous.insert(position.0, indexed);
            }
            let IndexView { mut dirs, mut entries, .. } = index;
            if let Some((dir, row)) = &group.unmerged_row {
                dirs.insert(version, dir.as_slice()).map_err(io)?;
                entries.insert(version, row.as_slice()).map_err(io)?;
            }
            drop((dirs, entries));
            part = times.add_part(GroupPart::Records, &txn, part)?;
            let mut superseded = txn.open_table(SUPERSEDED).map_err(corrupt)?;
            for (position, meta) in &previous {
                if let Some(meta) = meta {
                    superseded
                        .insert((*position, meta.tree_version), meta.leaf.to_bytes().as_slice())
                        .map_err(io)?;
                }
            }
            if !changed.is_empty() {
                txn.open_table(CHANGES).map_err(corrupt)?.insert(version, changed.as_slice()).map_err(io)?;
            }
        }
        state.record_count += previous.values().filter(|m| m.is_none()).count() as u64;
        state.tree_version = version;
        state.root = root;
        if let Some((cursor, _)) = logged {
            state.log = Some(cursor);
        }
        self.write_state(&txn, &state)?;
        times.add_part(GroupPart::Rest, &txn, part)?;
        // Held across the commit, so listings see groups in commit order.
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        at = times.add(CommitPhase::Write, at);
        // In the map before the commit, so no reader misses the row once it is committed; a
        // reader that does not see it yet skips it (see [`IndexView::entry_in`]).
        self.unmerged.lock().unwrap_or_else(|p| p.into_inner()).add(version, &group.positions);
        if let Err(e) = txn.commit() {
            self.unmerged.lock().unwrap_or_else(|p| p.into_inner()).remove(version, &group.positions);
            return Err(io(e));
        }
        if let Some(merged) = merged {
            self.index_merged(merged);
        }
        times.add(CommitPhase::Commit, at);
        times.groups.fetch_add(1, Ordering::Relaxed);
        times.pruned_nodes.fetch_add(pruned.nodes, Ordering::Relaxed);
        let added = Backlog {
            nodes: batch.stale_node_index_batch.len() as u64,
            values: previous.values().filter(|m| m.is_some()).count() as u64,
        };
        self.count_backlog_change(added, pruned);
        group.written = true;
        if let Some(keep_from) = prune {
            self.clear_pending_prune(keep_from);
        }
        {
            let mut in_flight = self.computed.lock().unwrap_or_else(|p| p.into_inner());
            if in_flight.as_ref().is_some_and(|g| Arc::ptr_eq(g, &group.tree)) {
                *in_flight = None;
            }
        }
        // Only once durable: a group that failed may reuse its version for other nodes. The next
        // group's computation may hold the cache right now: then it is cached by whoever takes the
        // cache next, in commit order.
        self.cache_updates.lock().unwrap_or_else(|p| p.into_inner()).push(group.tree.clone());
        if let Ok(mut cache) = self.node_cache.try_lock() {
            self.apply_cache_updates(&mut cache);
        }
        if let Some(names) = names.as_mut() {
            names.extend(changes.iter().map(|(key, _)| key.as_slice().into()));
        }
        Ok(state)
    }

    /// Caches the top levels of the groups written since the cache was last updated, in order.
    fn apply_cache_updates(&self, cache: &mut NodeCache) {
        let written = std::mem::take(&mut *self.cache_updates.lock().unwrap_or_else(|p| p.into_inner()));
        for tree in written {
            cache_new_nodes(cache, &tree.batch.node_batch, tree.root);
        }
    }

    /// Fills an empty store with `records` (distinct keys): what a rebuild from manifests does.
    /// The leaves, sorted by position, go in in parts of [`BULK_LOAD_PART`], each one tree version
    /// and one durable transaction (a rebuild builds beside the live store and renames it in only
    /// once complete and checked, so a crash between parts loses nothing). Each part is one jmt
    /// batch insert instead of key by key; the nodes are jmt's own,
    /// so the root is the one inserting the same leaves would give. The caller checks that root
    /// against the chain. No change log is written: the caller marks the result confirmed, and
    /// the next manifest is a checkpoint. A store that is not empty is
    /// [`StoreError::NotEmpty`]; no records is a plain [`ShardStore::commit_group`].
    pub fn bulk_load(&self, records: &[KeyedLeaf]) -> Result<ShardState, StoreError> {
        self.bulk_load_in_parts(records, BULK_LOAD_PART)
    }

    /// [`ShardStore::bulk_load`], `part` records (by position) per transaction and tree version.
    fn bulk_load_in_parts(&self, records: &[KeyedLeaf], part: usize) -> Result<ShardState, StoreError> {
        if records.is_empty() {
            return self.commit_group(records, None);
        }
        let state = self.state()?;
        if state.tree_version != 0 || state.record_count != 0 {
            return Err(StoreError::NotEmpty { version: state.tree_version });
        }
        let mut by_position: Vec<(KeyHash, &KeyedLeaf)> =
            records.iter().map(|record| (self.key_hash(&record.0), record)).collect();
        by_position.sort_unstable_by_key(|(position, _)| *position);
        if by_position.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(corrupt("two records at one tree position"));
        }
        let mut state = state;
        for part in by_position.chunks(part.max(1)) {
            state = self.bulk_load_part(part, state)?;
        }
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(names) = names.as_mut() {
            names.extend(records.iter().map(|(key, _)| key.as_slice().into()));
        }
        Ok(state)
    }

    /// Adds one part of a bulk load (sorted by position, after the parts before it) as the next
    /// tree version, in one durable transaction. The parts before are read back through the
    /// verifying reader, from the root this load built.
    fn bulk_load_part(
        &self,
        part: &[(KeyHash, &KeyedLeaf)],
        before: ShardState,
    ) -> Result<ShardState, StoreError> {
        let mut txn = self.db.begin_write().map_err(io)?;
        txn.set_durability(redb::Durability::Immediate).map_err(io)?;
        let mut state = self.read_state(&txn)?;
        if (state.tree_version, state.root) != (before.tree_version, before.root) {
            return Err(forged("the store changed during a bulk load"));
        }
        let version = state.tree_version + 1;
        let value_set: Vec<(KeyHash, OwnedValue)> =
            part.iter().map(|(position, (_, leaf))| (*position, leaf.to_bytes())).collect();
        let unmerged = UnmergedLookup::new(&self.unmerged);
        let (roots, batch) = if state.tree_version == 0 {
            JellyfishMerkleTree::<_, TreeHasher>::new(&EmptyTree(TxnReader {
                txn: &txn,
                unmerged: &unmerged,
            }))
            .batch_put_value_sets(vec![value_set], None, version)
            .map_err(corrupt)?
        } else {
            let cache = NodeCache::default();
            let reader = VerifyingReader::new(
                TxnReader { txn: &txn, unmerged: &unmerged },
                state.tree_version,
                state.root,
                &cache,
                0,
                ChildRecords::default(),
            );
            JellyfishMerkleTree::<_, TreeHasher>::new(&reader)
                .batch_put_value_sets(vec![value_set], None, version)
                .map_err(|e| reader.classify(e))?
        };
        let root = roots.first().ok_or_else(|| corrupt("the batch insert returned no root"))?;
        write_batch(&txn, &batch)?;
        let stale_nodes = batch.stale_node_index_batch.len() as u64;
        {
            let mut index = txn.open_table(RECORDS).map_err(corrupt)?;
            let mut nonces = vec![0u8; NAME_NONCE_LEN * part.len()];
            OsRng.try_fill_bytes(&mut nonces).map_err(io)?;
            let mut entry = Vec::new();
            let seal = &self.codec.seal;
            let cipher = seal.name_cipher();
            for ((position, (key, leaf)), nonce) in part.iter().zip(nonces.chunks_exact(NAME_NONCE_LEN)) {
                let nonce = nonce.try_into().map_err(|_| io("a nonce of the wrong length"))?;
                entry.clear();
                encode_index_entry(seal, &cipher, (&position.0, key, nonce), leaf, version, &mut entry)?;
                index.insert(position.0, entry.as_slice()).map_err(io)?;
            }
        }
        state.tree_version = version;
        state.root = root.0;
        state.record_count += part.len() as u64;
        self.write_state(&txn, &state)?;
        txn.commit().map_err(io)?;
        self.count_backlog_change(Backlog { nodes: stale_nodes, values: 0 }, Backlog::default());
        Ok(state)
    }

    /// The record's leaf (if any) with a proof against the root of JMT version `version`:
    /// an inclusion proof, or a non-inclusion proof when the key was never written.
    pub fn prove(&self, key: &[u8], version: u64) -> Result<(Option<RecordLeaf>, RecordProof), StoreError> {
        let (txn, unmerged) = self.begin_read()?;
        let reader = ReadTxnReader { txn: &txn, unmerged: &unmerged };
        let (value, proof) = JellyfishMerkleTree::<_, TreeHasher>::new(&reader)
            .get_with_proof(self.key_hash(key), version)
            .map_err(from_jmt)?;
        Ok((value.map(|v| RecordLeaf::from_bytes(&v)).transpose()?, proof))
    }

    /// The leaf under `key_hash` (if any) with jmt's proof against version `version`: what a
    /// challenge's target walk asks for, whose probes are points in the key-hash space, not
    /// record keys. Unverified here: the caller checks the final proof against the root.
    pub fn prove_key_hash(
        &self,
        key_hash: [u8; 32],
        version: u64,
    ) -> Result<(Option<RecordLeaf>, RecordProof), StoreError> {
        let (txn, unmerged) = self.begin_read()?;
        let reader = ReadTxnReader { txn: &txn, unmerged: &unmerged };
        let (value, proof) = JellyfishMerkleTree::<_, TreeHasher>::new(&reader)
            .get_with_proof(KeyHash(key_hash), version)
            .map_err(from_jmt)?;
        Ok((value.map(|v| RecordLeaf::from_bytes(&v)).transpose()?, proof))
    }

    /// [`ShardStore::prove`], checked against the (sealed) `root` of `version` before it is
    /// served: a tree edited on disk yields [`StoreError::Forged`], never a wrong answer.
    pub fn prove_against(
        &self,
        key: &[u8],
        version: u64,
        root: &[u8; 32],
    ) -> Result<(Option<RecordLeaf>, RecordProof), StoreError> {
        let (leaf, proof) = self.prove(key, version)?;
        if !verify_record_proof(root, self.key_hash(key), leaf.as_ref(), &proof) {
            return Err(forged(format!(
                "the tree's proof for a key does not verify against root {}",
                hex::encode(root)
            )));
        }
        Ok((leaf, proof))
    }

    /// Deletes tree nodes that stopped being part of any root at or after `keep_from`, the values
    /// only those roots named, and the change-log entries up to `keep_from` (manifest deltas
    /// start after it). Roots of versions >= `keep_from` stay provable.
    pub fn prune(&self, keep_from: u64) -> Result<usize, StoreError> {
        let mut txn = self.db.begin_write().map_err(io)?;
        txn.set_durability(redb::Durability::Immediate).map_err(io)?;
        let removed = prune_in(&txn, keep_from, &UnmergedLookup::new(&self.unmerged))?;
        txn.commit().map_err(io)?;
        self.count_backlog_change(Backlog::default(), removed);
        Ok(removed.nodes as usize)
    }

    /// Merges the unmerged record index rows into the position-keyed index now, in a durable
    /// transaction of its own (group commits merge them once enough wait, see
    /// [`StoreOptions::index_merge_entries`]); how many rows it merged.
    pub fn merge_index(&self) -> Result<usize, StoreError> {
        let mut txn = self.db.begin_write().map_err(io)?;
        txn.set_durability(redb::Durability::Immediate).map_err(io)?;
        let rows = txn.open_table(UNMERGED_DIRS).map_err(corrupt)?.len().map_err(io)? as usize;
        let part = (self.times.stamp(), self.times.allocated_pages(&txn)?);
        let mut state = self.read_state(&txn)?;
        let Some(merged) = merge_unmerged(&txn, &self.codec, &state)? else { return Ok(0) };
        state.index_merged_through = merged.through;
        self.write_state(&txn, &state)?;
        self.times.add_part(GroupPart::Merge, &txn, part)?;
        txn.commit().map_err(io)?;
        self.index_merged(merged);
        Ok(rows)
    }

    /// Keeps the map and the counters in step with a durable merge.
    fn index_merged(&self, merged: Merged) {
        self.unmerged.lock().unwrap_or_else(|p| p.into_inner()).merged(merged.through);
        self.times.index_merges.fetch_add(1, Ordering::Relaxed);
        self.times.merged_entries.fetch_add(merged.entries, Ordering::Relaxed);
    }

    /// Record index entries waiting in unmerged rows (for tests and benches).
    pub fn unmerged_entries(&self) -> u64 {
        self.unmerged.lock().unwrap_or_else(|p| p.into_inner()).entries.len() as u64
    }

    /// Carries out the prune waiting for a group commit (see
    /// [`ShardStore::prune_with_next_group`]) now, in a durable transaction of its own: for when
    /// writes have stopped, so no group would. How many nodes it removed (0 if none waited).
    pub fn prune_pending_now(&self) -> Result<usize, StoreError> {
        let Some(keep_from) = *self.pending_prune.lock().unwrap_or_else(|p| p.into_inner()) else {
            return Ok(0);
        };
        // Nothing stale is stored: no transaction (and sync) for nothing.
        if self.prune_backlog() == (0, 0) {
            self.clear_pending_prune(keep_from);
            return Ok(0);
        }
        let removed = self.prune(keep_from)?;
        self.clear_pending_prune(keep_from);
        Ok(removed)
    }

    /// Keeps the backlog in step with a durable transaction that listed `added` and pruned
    /// `removed`.
    fn count_backlog_change(&self, added: Backlog, removed: Backlog) {
        let mut backlog = self.backlog.lock().unwrap_or_else(|p| p.into_inner());
        backlog.nodes = (backlog.nodes + added.nodes).saturating_sub(removed.nodes);
        backlog.values = (backlog.values + added.values).saturating_sub(removed.values);
    }

    /// [`ShardStore::prune`] as part of a later group commit's transaction (no transaction and
    /// sync of its own): the first group that finds the backlog at the sweep (see
    /// [`StoreOptions::prune_sweep_nodes`]) carries it out. Its dead blobs are durable, and
    /// [`ShardStore::dead_blobs`] lists them, once that group is. Requests before that group
    /// merge into the newest; one lost in a crash is covered by the next prune (a prune covers
    /// every version before its own).
    pub fn prune_with_next_group(&self, keep_from: u64) {
        let mut pending = self.pending_prune.lock().unwrap_or_else(|p| p.into_inner());
        *pending = Some(pending.map_or(keep_from, |p| p.max(keep_from)));
    }

    /// Forgets the pending prune if it is still the one up to `keep_from` (a newer one stays).
    fn clear_pending_prune(&self, keep_from: u64) {
        let mut pending = self.pending_prune.lock().unwrap_or_else(|p| p.into_inner());
        if *pending == Some(keep_from) {
            *pending = None;
        }
    }

    /// What waits for a prune: (stale tree nodes, replaced values) stored.
    pub fn prune_backlog(&self) -> (u64, u64) {
        let backlog = self.backlog.lock().unwrap_or_else(|p| p.into_inner());
        (backlog.nodes, backlog.values)
    }

    /// The bytes of the stale tree nodes stored (each node's row: key and value), read from the
    /// tables (for benches and tests: it reads every stale node).
    pub fn stale_node_bytes(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let stale = txn.open_table(STALE).map_err(corrupt)?;
        let nodes = txn.open_table(NODES).map_err(corrupt)?;
        let mut bytes = 0;
        for item in stale.iter().map_err(io)? {
            for key in StaleNodeKeys(item.map_err(io)?.1.value()) {
                let key = key?;
                if let Some(node) = nodes.get(key).map_err(io)? {
                    bytes += (key.len() + node.value().len()) as u64;
                }
            }
        }
        Ok(bytes)
    }

    /// Where this store's group commits spent their time.
    pub fn commit_times(&self) -> &CommitTimes {
        &self.times
    }

    /// Counts the pages each part of a group commit dirties (see [`CommitTimes::part`]); slow
    /// (every count walks every table), for measurements.
    pub fn count_dirty_pages(&self, on: bool) {
        self.times.count_pages.store(on, Ordering::Relaxed);
    }

    /// Takes each commit phase's CPU time too (see [`CommitTimes`]): a system call per phase, so
    /// for benches.
    pub fn time_commit_cpu(&self, on: bool) {
        self.times.time_cpu.store(on, Ordering::Relaxed);
    }

    /// Whether a prune waits for the next group commit (see [`ShardStore::prune_with_next_group`]).
    pub fn prune_pending(&self) -> bool {
        self.pending_prune.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// How many tree nodes are stored (for tests and metrics).
    pub fn node_count(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let nodes = txn.open_table(NODES).map_err(corrupt)?;
        nodes.len().map_err(io)
    }

    /// Up to `limit` CIDs of blobs that no kept root references (see [`ShardStore::prune`]).
    pub fn dead_blobs(&self, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(io)?;
        let Some(table) = open(txn.open_table(DEAD_BLOBS)).map_err(|e| io(e.to_string()))? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in table.iter().map_err(io)?.take(limit) {
            out.push(item.map_err(io)?.0.value().to_vec());
        }
        Ok(out)
    }

    /// Forgets dead blobs the blob store has released.
    pub fn forget_dead_blobs(&self, cids: &[Vec<u8>]) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(io)?;
        txn.set_durability(redb::Durability::Immediate).map_err(io)?;
        {
            let mut table = txn.open_table(DEAD_BLOBS).map_err(corrupt)?;
            for cid in cids {
                table.remove(cid.as_slice()).map_err(io)?;
            }
        }
        txn.commit().map_err(io)
    }
}

/// A [`MANIFEST_BLOBS`] row: 1 for a checkpoint (else 0), then each blob's CID after its length
/// (u16, little-endian).
fn encode_manifest_blobs(checkpoint: bool, blobs: &[Vec<u8>]) -> Result<Vec<u8>, StoreError> {
    let mut row = vec![u8::from(checkpoint)];
    for cid in blobs {
        let len = u16::try_from(cid.len()).map_err(|_| io("a CID over 64 KiB"))?;
        row.extend_from_slice(&len.to_le_bytes());
        row.extend_from_slice(cid);
    }
    Ok(row)
}

/// (checkpoint, blobs) of a [`MANIFEST_BLOBS`] row.
fn decode_manifest_blobs(row: &[u8]) -> Result<(bool, Vec<Vec<u8>>), StoreError> {
    let bad = || corrupt("a manifest blobs row is malformed");
    let (&flag, mut rest) = row.split_first().ok_or_else(bad)?;
    let mut blobs = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<2>().ok_or_else(bad)?;
        let (cid, tail) = tail.split_at_checked(usize::from(u16::from_le_bytes(*len))).ok_or_else(bad)?;
        blobs.push(cid.to_vec());
        rest = tail;
    }
    match flag {
        0 | 1 => Ok((flag == 1, blobs)),
        _ => Err(bad()),
    }
}

/// Bytes of an encoded node key that name its version and depth (the version, then the first
/// byte of the nibble count: a path has at most 64 nibbles).
const LEVEL_PREFIX: usize = 9;

/// Fewest stale nodes of one level of one version that a prune removes in one scan over their
/// span rather than one by one.
const SCAN_RUN_MIN: usize = 16;

/// [`ShardStore::prune`]'s deletes, in `txn`; what went (index entries of stale nodes, values).
fn prune_in(
    txn: &redb::WriteTransaction,
    keep_from: u64,
    unmerged: &UnmergedLookup,
) -> Result<Backlog, StoreError> {
    let mut removed = Backlog::default();
    {
        let mut stale = txn.open_table(STALE).map_err(corrupt)?;
        let mut nodes = txn.open_table(NODES).map_err(corrupt)?;
        let mut doomed: Vec<u8> = Vec::new();
        stale
            .retain_in(..=keep_from, |_, node_keys| {
                doomed.extend_from_slice(node_keys);
                false
            })
            .map_err(io)?;
        let mut doomed_keys = StaleNodeKeys(&doomed).collect::<Result<Vec<&[u8]>, _>>()?;
        removed.nodes = doomed_keys.len() as u64;
        doomed_keys.sort_unstable();
        doomed_keys.dedup();
        let mut touched_keys = std::collections::BTreeSet::new();
        // By level of one version (keys sort by version, then depth): a level's stale nodes
        // lie close together (the top levels go stale whole), and one scan over their span
        // rewrites each page once, where removing them one by one rebuilds a page per node.
        let mut rest = &doomed_keys[..];
        while let Some(first) = rest.first() {
            let level = &first[..first.len().min(LEVEL_PREFIX)];
            let (run, tail) = rest.split_at(rest.iter().take_while(|k| k.starts_with(level)).count());
            rest = tail;
            if run.len() < SCAN_RUN_MIN {
                for node_key in run {
                    if let Some(node) = nodes.remove(*node_key).map_err(io)? {
                        touched_keys.extend(encoded_leaf_key(node.value()));
                    }
                }
                continue;
            }
            let mut next = 0;
            nodes
                .retain_in::<&[u8], _>(run[0]..=run[run.len() - 1], |key, node| {
                    while run.get(next).is_some_and(|doomed| *doomed < key) {
                        next += 1;
                    }
                    if run.get(next) != Some(&key) {
                        return true;
                    }
                    touched_keys.extend(encoded_leaf_key(node));
                    false
                })
                .map_err(io)?;
        }
        txn.open_table(CHANGES).map_err(corrupt)?.retain_in(..=keep_from, |_, _| false).map_err(io)?;
        // A leaf can move to a new node key and keep its old value, so a value is only
        // garbage once a newer value of the same key exists at or before `keep_from`. The
        // blob of such a value is then referenced by no root the keeper still serves.
        let mut superseded = txn.open_table(SUPERSEDED).map_err(corrupt)?;
        let index = write_index_view(txn, unmerged)?;
        let mut dead_blobs = txn.open_table(DEAD_BLOBS).map_err(corrupt)?;
        for key_hash in touched_keys {
            // The key's versions up to `keep_from`, oldest first: replaced ones, then the
            // current one (the newest) if it is that old.
            let mut versions = Vec::new();
            for item in superseded.range((key_hash, 0u64)..=(key_hash, keep_from)).map_err(io)? {
                versions.push(item.map_err(io)?.0.value().1);
            }
            if versions.is_empty() {
                // Only the current value can be that old, and the value served at `keep_from`
                // stays (a new key's leaf that moved down the tree).
                continue;
            }
            let current = index.meta(&key_hash)?;
            if let Some(meta) = current.as_ref().filter(|m| m.tree_version <= keep_from) {
                versions.push(meta.tree_version);
            }
            // The value served at `keep_from` stays.
            versions.pop();
            let Some(&newest_removed) = versions.last() else { continue };
            // Blobs the kept versions (the served one and any newer) still name.
            let mut kept_cids: std::collections::BTreeSet<Vec<u8>> =
                current.into_iter().map(|m| m.leaf.cid).collect();
            for item in superseded.range((key_hash, newest_removed + 1)..=(key_hash, u64::MAX)).map_err(io)? {
                if let Ok(leaf) = RecordLeaf::from_bytes(item.map_err(io)?.1.value()) {
                    kept_cids.insert(leaf.cid);
                }
            }
            for version in versions {
                let Some(old) = superseded.remove((key_hash, version)).map_err(io)? else { continue };
                removed.values += 1;
                let leaf = RecordLeaf::from_bytes(old.value()).ok();
                drop(old);
                if let Some(leaf) = leaf.filter(|l| !l.cid.is_empty() && !kept_cids.contains(&l.cid)) {
                    dead_blobs.insert(leaf.cid.as_slice(), ()).map_err(io)?;
                }
            }
        }
    }
    Ok(removed)
}

/// What a merge of the unmerged index rows did.
#[derive(Clone, Copy)]
struct Merged {
    /// The newest row merged.
    through: u64,
    /// Entries written to [`RECORDS`] (one per position).
    entries: u64,
}

/// An unmerged row's version must lie after the last merge and at most at the sealed tree
/// version (a group's row commits with its state): any other is a row put back or planted.
fn check_unmerged_version(version: u64, state: &ShardState) -> Result<(), StoreError> {
    if version > state.tree_version {
        return Err(forged("an unmerged index row is newer than the sealed tree version"));
    }
    if version <= state.index_merged_through {
        return Err(forged(format!(
            "the unmerged index row of version {version} was merged already (through {})",
            state.index_merged_through
        )));
    }
    Ok(())
}

/// Merges every [`UNMERGED`] row into [`RECORDS`] in `txn`, in position order (the newest entry
/// of a position winning), and deletes the rows; `None` if there were none. Each directory's
/// seal is checked again, and its version against the sealed `state` (see
/// [`check_unmerged_version`]): a row planted or put back while the store is open is
/// [`StoreError::Forged`], never merged.
fn merge_unmerged(
    txn: &redb::WriteTransaction,
    codec: &StateCodec,
    state: &ShardState,
) -> Result<Option<Merged>, StoreError> {
    let mut dirs = txn.open_table(UNMERGED_DIRS).map_err(corrupt)?;
    let mut rows = txn.open_table(UNMERGED).map_err(corrupt)?;
    let mut records = txn.open_table(RECORDS).map_err(corrupt)?;
    let merged = {
        // (version, directory, entries) of every row.
        let mut held = Vec::new();
        for item in dirs.range::<u64>(..).map_err(io)? {
            let (version, dir) = item.map_err(io)?;
            let version = version.value();
            check_unmerged_version(version, state)?;
            codec.check_unmerged_dir(version, dir.value())?;
            let row = rows.get(version).map_err(io)?.ok_or_else(|| {
                forged(format!("the unmerged index entries of version {version} are missing"))
            })?;
            held.push((version, dir, row));
        }
        let Some(through) = held.last().map(|(version, _, _)| *version) else { return Ok(None) };
        // (position, row, entry), the newest row's entry of a position first.
        let mut order: Vec<([u8; 32], u32, u32)> = Vec::new();
        for (r, (_, dir, _)) in held.iter().enumerate() {
            let dir = UnmergedDir::parse(dir.value())?;
            order.extend((0..dir.len()).map(|i| (dir.position(i), r as u32, i as u32)));
        }
        order.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        order.dedup_by_key(|(position, _, _)| *position);
        for (position, r, i) in &order {
            let (_, dir, row) = &held[*r as usize];
            let entry = UnmergedDir::parse(dir.value())?.entry(*i as usize, row.value())?;
            records.insert(position, entry).map_err(io)?;
        }
        Merged { through, entries: order.len() as u64 }
    };
    dirs.retain_in(..=merged.through, |_, _| false).map_err(io)?;
    rows.retain_in(..=merged.through, |_, _| false).map_err(io)?;
    Ok(Some(merged))
}

/// The records of one manifest, read in parts from one redb read transaction (the state and
/// records as of one moment while writers go on), in tree-position order. Every record key is
/// opened and checked against its position as it is read (an edited or moved one is
/// [`StoreError::Forged`]).
pub struct ManifestRecords {
    txn: redb::ReadTransaction,
    lookup: UnmergedLookup,
    seal: StoreSeal,
    state: ShardState,
    /// A delta's changed positions, last first (popped from the end); `None` for a checkpoint.
    changed: Option<Vec<[u8; 32]>>,
    /// A checkpoint's unmerged entries in this view: (position, version of the newest row
    /// holding it), by position; built for its first part.
    unmerged: Option<Vec<([u8; 32], u64)>>,
    /// A checkpoint's last position read.
    after: Option<[u8; 32]>,
    done: bool,
}

impl ManifestRecords {
    /// The commit state the records belong to.
    pub fn state(&self) -> &ShardState {
        &self.state
    }

    /// Up to `max` further records (at least one while any are left); empty once all were read.
    pub fn next_part(&mut self, max: usize) -> Result<Vec<KeyedLeaf>, StoreError> {
        let max = max.max(1);
        let mut out = Vec::new();
        if self.done {
            return Ok(out);
        }
        let index = ShardStore::index_view(&self.txn, &self.lookup)?;
        let open = |position: &[u8; 32], entry: &FoundEntry| -> Result<KeyedLeaf, StoreError> {
            let entry = IndexEntry::decode(entry.bytes())?;
            Ok((self.seal.open_name(position, &entry.sealed_key)?, entry.meta.leaf))
        };
        match &mut self.changed {
            Some(changed) => {
                while out.len() < max {
                    let Some(position) = changed.pop() else { break };
                    let entry = index
                        .entry(&position)?
                        .ok_or_else(|| corrupt("change log names a missing record"))?;
                    out.push(open(&position, &entry)?);
                }
            }
            None => {
                if self.unmerged.is_none() {
                    self.unmerged = Some(unmerged_by_position(&index.dirs)?);
                }
                let unmerged = self.unmerged.as_deref().unwrap_or_default();
                // The merged index and the unmerged entries, merged by position; an unmerged entry
                // is the newer one at its position.
                let mut next_unmerged = match self.after {
                    Some(after) => unmerged.partition_point(|(p, _)| *p <= after),
                    None => 0,
                };
                let range = match self.after {
                    Some(after) => {
                        index.records.range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                    }
                    None => index.records.range::<[u8; 32]>(..),
                };
                let mut merged = range.map_err(io)?.peekable();
                while out.len() < max {
                    let merged_next = match merged.peek() {
                        Some(Ok((position, _))) => Some(position.value()),
                        Some(Err(_)) => {
                            return Err(io(merged.next().and_then(Result::err).expect("peeked an error")))
                        }
                        None => None,
                    };
                    let unmerged_next = unmerged.get(next_unmerged);
                    let position = match (merged_next, unmerged_next) {
                        (None, None) => break,
                        (merged_next, Some((position, version)))
                            if merged_next.is_none_or(|m| *position <= m) =>
                        {
                            if merged_next == Some(*position) {
                                merged.next(); // replaced by the unmerged entry
                            }
                            next_unmerged += 1;
                            let entry = index
                                .entry_in(vec![*version], position)?
                                .ok_or_else(|| corrupt("an unmerged index entry went missing"))?;
                            out.push(open(position, &entry)?);
                            *position
                        }
                        (_, _) => {
                            let (position, entry) = merged.next().expect("peeked a record").map_err(io)?;
                            let position = position.value();
                            out.push(open(&position, &FoundEntry::Merged(entry))?);
                            position
                        }
                    };
                    self.after = Some(position);
                }
            }
        }
        self.done = out.len() < max;
        Ok(out)
    }
}

/// Every unmerged entry named by the directories `dirs` as (position, version of the newest row
/// holding it), sorted by position.
fn unmerged_by_position(
    dirs: &impl ReadableTable<u64, &'static [u8]>,
) -> Result<Vec<([u8; 32], u64)>, StoreError> {
    let mut all = Vec::new();
    for item in dirs.iter().map_err(io)? {
        let (version, dir) = item.map_err(io)?;
        let dir = UnmergedDir::parse(dir.value())?;
        all.extend((0..dir.len()).map(|i| (dir.position(i), version.value())));
    }
    // Newest first within a position, then the first of each position kept.
    all.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    all.dedup_by_key(|(position, _)| *position);
    Ok(all)
}

/// One consistent view of a store (a redb read transaction): its state and records as of one
/// moment while writers go on, e.g. for a backup streamed from a running keeper.
pub struct StoreSnapshot<'a> {
    txn: redb::ReadTransaction,
    unmerged: UnmergedLookup,
    store: &'a ShardStore,
}

impl StoreSnapshot<'_> {
    pub fn state(&self) -> Result<ShardState, StoreError> {
        let table = self.txn.open_table(STATE).map_err(corrupt)?;
        let row = table.get(STATE_KEY).map_err(io)?.ok_or_else(|| forged("the state row is missing"))?;
        self.store.codec.decode(row.value())
    }

    /// [`ShardStore::record`] in this snapshot.
    pub fn record(&self, key: &[u8]) -> Result<Option<RecordMeta>, StoreError> {
        ShardStore::index_view(&self.txn, &self.unmerged)?.meta(&self.store.key_hash(key).0)
    }

    /// [`ShardStore::prove_against`] in this snapshot: the proof is checked against `root`.
    pub fn prove_against(
        &self,
        key: &[u8],
        version: u64,
        root: &[u8; 32],
    ) -> Result<(Option<RecordLeaf>, RecordProof), StoreError> {
        let key_hash = self.store.key_hash(key);
        let reader = ReadTxnReader { txn: &self.txn, unmerged: &self.unmerged };
        let (value, proof) = JellyfishMerkleTree::<_, TreeHasher>::new(&reader)
            .get_with_proof(key_hash, version)
            .map_err(from_jmt)?;
        let leaf = value.map(|v| RecordLeaf::from_bytes(&v)).transpose()?;
        if !verify_record_proof(root, key_hash, leaf.as_ref(), &proof) {
            return Err(forged(format!(
                "the tree's proof for a key does not verify against root {}",
                hex::encode(root)
            )));
        }
        Ok((leaf, proof))
    }

    /// Records (tombstones included) after `after` (exclusive), in key order.
    pub fn records_after(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, RecordMeta)>, StoreError> {
        let index = ShardStore::index_view(&self.txn, &self.unmerged)?;
        let mut out = Vec::new();
        let mut cursor = after.map(<[u8]>::to_vec);
        while out.len() < limit {
            let keys: Vec<Vec<u8>> = self.store.with_names(|names| {
                let range = match &cursor {
                    Some(after) => names.range::<[u8], _>((
                        std::ops::Bound::Excluded(after.as_slice()),
                        std::ops::Bound::Unbounded,
                    )),
                    None => names.range::<[u8], _>(..),
                };
                range.take(limit - out.len()).map(|k| k.to_vec()).collect()
            })?;
            let Some(last) = keys.last().cloned() else { break };
            for key in keys {
                // A key written after this snapshot is not in it.
                if let Some(meta) = index.meta(&self.store.key_hash(&key).0)? {
                    out.push((key, meta));
                }
            }
            cursor = Some(last);
        }
        Ok(out)
    }
}

/// Creates the tables, and on a new store its identity and sealed empty state; returns the
/// store's identity. A file with tree data but no identity or no state row does not verify.
fn init_tables(db: &Database, seal: &StoreSeal) -> Result<[u8; 16], StoreError> {
    let mut txn = db.begin_write().map_err(io)?;
    txn.set_durability(redb::Durability::Immediate).map_err(io)?;
    let store_id = {
        txn.open_table(NODES).map_err(corrupt)?;
        txn.open_table(SUPERSEDED).map_err(corrupt)?;
        txn.open_table(STALE).map_err(corrupt)?;
        txn.open_table(CHANGES).map_err(corrupt)?;
        txn.open_table(UNMERGED).map_err(corrupt)?;
        txn.open_table(UNMERGED_DIRS).map_err(corrupt)?;
        let records = txn.open_table(RECORDS).map_err(corrupt)?;
        let mut state = txn.open_table(STATE).map_err(corrupt)?;
        let existing = state.get(STORE_ID_KEY).map_err(io)?.map(|v| v.value().to_vec());
        match existing {
            Some(id) => id.try_into().map_err(|_| forged("malformed store identity"))?,
            None => {
                let nodes = txn.open_table(NODES).map_err(corrupt)?;
                if !records.is_empty().map_err(io)?
                    || !nodes.is_empty().map_err(io)?
                    || state.len().map_err(io)? > 0
                {
                    return Err(forged("a store with data but no identity"));
                }
                let mut id = [0u8; 16];
                OsRng.try_fill_bytes(&mut id).map_err(io)?;
                let codec = StateCodec { seal: seal.clone(), store_id: id };
                state.insert(STORE_ID_KEY, &id[..]).map_err(io)?;
                // The tree-key mode is pinned here, when the store is created.
                let fresh = ShardState { tree_key_mode: seal.tree.mode(), ..ShardState::default() };
                state.insert(STATE_KEY, codec.encode(&fresh)?.as_slice()).map_err(io)?;
                id
            }
        }
    };
    txn.commit().map_err(io)?;
    Ok(store_id)
}

/// A node's hash as its parent records it.
fn node_hash(node: &Node) -> [u8; 32] {
    match node {
        Node::Internal(n) => n.hash::<TreeHasher>(),
        Node::Leaf(l) => l.hash::<TreeHasher>(),
        Node::Null => PLACEHOLDER_HASH,
    }
}

/// Where a node sits: (number of nibbles, nibbles packed two per byte), without an allocation
/// per node (a group reads hundreds of nodes).
type NodePath = (u8, [u8; 32]);

fn node_path(key: &NodeKey) -> NodePath {
    let mut packed = [0u8; 32];
    let mut len = 0u8;
    for nibble in key.nibble_path().nibbles() {
        packed = with_nibble(packed, len, u8::from(nibble));
        len += 1;
    }
    (len, packed)
}

/// `packed` with nibble number `index` set to `nibble` (high half of a byte first).
fn with_nibble(mut packed: [u8; 32], index: u8, nibble: u8) -> [u8; 32] {
    let byte = &mut packed[usize::from(index / 2)];
    *byte |= if index.is_multiple_of(2) { nibble << 4 } else { nibble & 0x0f };
    packed
}

/// Nibble number `index` of `packed`, and `packed` with that nibble cleared.
fn split_nibble(mut packed: [u8; 32], index: u8) -> (usize, [u8; 32]) {
    let byte = &mut packed[usize::from(index / 2)];
    let nibble = if index.is_multiple_of(2) {
        let n = *byte >> 4;
        *byte &= 0x0f;
        n
    } else {
        let n = *byte & 0x0f;
        *byte &= 0xf0;
        n
    };
    (usize::from(nibble), packed)
}

/// What an authenticated internal node records for each of its 16 children: (version, hash), or
/// `None` where it has no child.
/// What the authenticated internal nodes of one group's reads record for their children, kept
/// compact and reused from group to group: a fresh table of 16 slots per node cost a large
/// allocation per group, whose untouched pages faulted in (with TLB shootdowns) on every group.
#[derive(Default)]
struct ChildRecords {
    /// Path of an internal node → (bitmap of the nibbles it has children at, index of its first
    /// child's record in `records`).
    nodes: foldhash::HashMap<NodePath, (u16, u32)>,
    /// (version, hash) of each child, in nibble order within a node.
    records: Vec<(u64, [u8; 32])>,
}

impl ChildRecords {
    /// Nodes a table kept for the next group may hold room for, and children (40 bytes each: at
    /// most 2.6 MiB kept per store): a larger one (a very large group's) is dropped, not kept.
    const KEEP_MAX: usize = 4 * READER_PRESIZE_MAX;
    const KEEP_MAX_RECORDS: usize = 16 * READER_PRESIZE_MAX;

    /// Records a node's children: (nibble, version, hash), in nibble order.
    fn insert(&mut self, at: NodePath, children: impl Iterator<Item = (u8, u64, [u8; 32])>) {
        let Ok(first) = u32::try_from(self.records.len()) else { return };
        let mut present = 0u16;
        for (nibble, version, hash) in children {
            present |= 1 << nibble;
            self.records.push((version, hash));
        }
        self.nodes.insert(at, (present, first));
    }

    /// What the node at `at` records for its child at `nibble`, if it was authenticated.
    fn get(&self, at: &NodePath, nibble: usize) -> Option<(u64, [u8; 32])> {
        let (present, first) = *self.nodes.get(at)?;
        if present & (1 << nibble) == 0 {
            return None;
        }
        let before = (present & ((1u16 << nibble) - 1)).count_ones();
        self.records.get(first as usize + before as usize).copied()
    }

    /// Empties the table for the next group, or drops it if it grew past [`Self::KEEP_MAX`] or
    /// [`Self::KEEP_MAX_RECORDS`].
    fn recycle(mut self) -> Option<Self> {
        if self.nodes.capacity() > Self::KEEP_MAX || self.records.capacity() > Self::KEEP_MAX_RECORDS {
            return None;
        }
        self.nodes.clear();
        self.records.clear();
        Some(self)
    }
}

/// Most entries a verifying reader's maps are sized for up front (they grow past it as needed).
const READER_PRESIZE_MAX: usize = 4096;

/// A tree reader that serves only nodes authenticated from a trusted root: each node read must
/// hash to what its (already authenticated) parent records for it, and each value to what its
/// authenticated leaf records. The JMT reads top-down, so every node it asks for has its parent
/// read first. All nodes read in one group belong to one root, so a path names one node.
struct VerifyingReader<'c, R> {
    inner: R,
    /// Nodes known to be authentic (built in memory by earlier groups): one whose (version, hash)
    /// is what the authenticated parent records is served from here, neither read nor rehashed.
    cache: &'c NodeCache,
    /// The sealed version and root (`None`: nothing written yet, the tree is empty).
    root: Option<(u64, [u8; 32])>,
    /// What each authenticated internal node records for its children: one entry per internal
    /// node read, looked up by its children.
    internal: Mutex<ChildRecords>,
    /// Key hash → hash of its authenticated leaf node.
    leaves: Mutex<foldhash::HashMap<[u8; 32], [u8; 32]>>,
    /// Set when a read failed verification (the JMT's own error type is `anyhow`).
    forged: Mutex<Option<String>>,
}

impl<'c, R: TreeReader> VerifyingReader<'c, R> {
    /// A reader for a group of `keys` writes, filling `internal` (empty; kept from an earlier
    /// group, or new: then sized for about two internal nodes per key plus the top levels,
    /// capped, as a restore commits a whole backup as one group).
    fn new(
        inner: R,
        version: u64,
        root: [u8; 32],
        cache: &'c NodeCache,
        keys: usize,
        mut internal: ChildRecords,
    ) -> Self {
        let presize = |n: usize| n.min(READER_PRESIZE_MAX);
        internal.nodes.reserve(presize(2 * keys + 300));
        VerifyingReader {
            inner,
            cache,
            root: (version > 0).then_some((version, root)),
            internal: Mutex::new(internal),
            leaves: Mutex::new(foldhash::HashMap::with_capacity_and_hasher(
                presize(keys),
                Default::default(),
            )),
            forged: Mutex::new(None),
        }
    }

    /// Records what an authenticated node (hashing to `hash`) says about its children or its key.
    fn remember(&self, at: NodePath, node: &Node, hash: [u8; 32]) {
        match node {
            Node::Internal(internal) => {
                let children = internal.children_sorted().map(|(n, c)| (u8::from(n), c.version, c.hash));
                self.internal.lock().unwrap_or_else(|p| p.into_inner()).insert(at, children);
            }
            Node::Leaf(leaf) => {
                self.leaves.lock().unwrap_or_else(|p| p.into_inner()).insert(leaf.key_hash().0, hash);
            }
            Node::Null => {}
        }
    }

    /// The hash the authenticated parent (or the sealed root) records for the node at
    /// (`version`, `path`), if any.
    fn expected(&self, version: u64, (depth, packed): NodePath) -> Option<[u8; 32]> {
        let recorded = match depth.checked_sub(1) {
            None => self.root,
            Some(parent_depth) => {
                let (nibble, parent) = split_nibble(packed, parent_depth);
                let internal = self.internal.lock().unwrap_or_else(|p| p.into_inner());
                internal.get(&(parent_depth, parent), nibble)
            }
        };
        recorded.filter(|(v, _)| *v == version).map(|(_, hash)| hash)
    }

    fn reject(&self, what: String) -> anyhow::Error {
        let error = anyhow::anyhow!(what.clone());
        *self.forged.lock().unwrap_or_else(|p| p.into_inner()) = Some(what);
        error
    }

    /// A JMT error, as [`StoreError::Forged`] when it came from a failed verification.
    fn classify(&self, e: anyhow::Error) -> StoreError {
        match self.forged.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(what) => StoreError::Forged(what),
            None => corrupt(e),
        }
    }
}

impl<R> VerifyingReader<'_, R> {
    /// Key hash → hash of its authenticated leaf node, for every leaf read; and the child table,
    /// for the next group.
    fn into_parts(self) -> (foldhash::HashMap<[u8; 32], [u8; 32]>, ChildRecords) {
        let leaves = self.leaves.into_inner().unwrap_or_else(|p| p.into_inner());
        (leaves, self.internal.into_inner().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The JMT leaf node hash of a record's leaf under `key_hash`.
fn leaf_node_hash(key_hash: KeyHash, leaf: &RecordLeaf) -> [u8; 32] {
    LeafNode::new(key_hash, ValueHash::with::<TreeHasher>(leaf.to_bytes())).hash::<TreeHasher>()
}

impl<R: TreeReader> TreeReader for VerifyingReader<'_, R> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        if self.root.is_none() && node_key.version() == 0 && node_key.nibble_path().is_empty() {
            // The root of the empty tree: a placeholder the batched insert starts from.
            return Ok(Some(Node::Null));
        }
        let at = node_path(node_key);
        let expected = self.expected(node_key.version(), at);
        if let Some(hash) = expected {
            let cached = self.cache.get(&at).filter(|c| c.version == node_key.version() && c.hash == hash);
            if let Some(cached) = cached {
                self.remember(at, &cached.node, hash);
                return Ok(Some(cached.node.clone()));
            }
        }
        let node = self.inner.get_node_option(node_key)?;
        let node = match (node, expected) {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(self.reject(format!(
                    "tree node at {:?} is not reachable from the sealed root",
                    (node_key.version(), at)
                )))
            }
            (None, Some(_)) => {
                return Err(self.reject(format!("tree node at {:?} is missing", (node_key.version(), at))))
            }
            (Some(node), Some(hash)) if node_hash(&node) == hash => {
                self.remember(at, &node, hash);
                node
            }
            (Some(_), Some(_)) => {
                return Err(self.reject(format!(
                    "tree node at {:?} does not match its parent",
                    (node_key.version(), at)
                )))
            }
        };
        Ok(Some(node))
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        let value = self.inner.get_value_option(max_version, key_hash)?;
        if let Some(v) = &value {
            let leaf = self.leaves.lock().unwrap_or_else(|p| p.into_inner()).get(&key_hash.0).copied();
            let computed = LeafNode::new(key_hash, ValueHash::with::<TreeHasher>(v)).hash::<TreeHasher>();
            if leaf != Some(computed) {
                return Err(self.reject(format!("value of {key_hash:?} does not match its leaf")));
            }
        }
        Ok(value)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        self.inner.get_rightmost_leaf()
    }
}

/// Tree levels the node cache keeps: 0 to 3, at most 1 + 16 + 256 + 4,096 nodes. An internal
/// node takes about 1 KiB in memory (16 child slots of 56 bytes, plus the entry), so the cache
/// holds at most about 4.5 MiB per store. Every group reads and rewrites the nodes of these levels
/// above its keys (all of them once a group has more keys than a level has nodes), and a deeper
/// level would cost 16 times more memory.
const CACHED_DEPTH: u8 = 4;

/// An authentic node of the current tree, with its hash as its parent records it.
struct CachedNode {
    version: u64,
    hash: [u8; 32],
    node: Node,
}

/// The newest cached node at each path of the top [`CACHED_DEPTH`] levels. Memory inside the TEE
/// is trusted: these are the nodes a group commit built (never bytes read from the disk), kept
/// once the group is durable. A group uses one only where its authenticated parent records that
/// very (version, hash), so an entry that went stale (the store rolled back or replaced under
/// the keeper) is just never used.
type NodeCache = foldhash::HashMap<NodePath, CachedNode>;

/// Puts a durable group's new nodes of the cached levels into `cache`, each with the hash its new
/// parent records (the root's is the group's `root`), so none is hashed again.
fn cache_new_nodes(cache: &mut NodeCache, batch: &NodeBatch, root: [u8; 32]) {
    // Node keys sort by version, then by nibble count: parents come before their children.
    for (key, node) in batch.nodes() {
        let (depth, packed) = node_path(key);
        if depth >= CACHED_DEPTH || matches!(node, Node::Null) {
            continue;
        }
        let hash = match depth.checked_sub(1) {
            None => Some(root),
            Some(parent_depth) => {
                let (nibble, parent) = split_nibble(packed, parent_depth);
                match cache.get(&(parent_depth, parent)) {
                    Some(CachedNode { version, node: Node::Internal(parent), .. })
                        if *version == key.version() =>
                    {
                        parent
                            .children_unsorted()
                            .find(|(n, _)| usize::from(u8::from(*n)) == nibble)
                            .map(|(_, child)| child.hash)
                    }
                    _ => None,
                }
            }
        };
        match hash {
            Some(hash) => {
                cache
                    .insert((depth, packed), CachedNode { version: key.version(), hash, node: node.clone() });
            }
            None => {
                cache.remove(&(depth, packed));
            }
        }
    }
}

/// A store without a tree, read by jmt's batch insert: that one reads the previous version's root
/// node, where the key-by-key insert takes a missing root for the empty tree, so here the missing
/// root of version 0 reads as the empty tree.
struct EmptyTree<R>(R);

impl<R: TreeReader> TreeReader for EmptyTree<R> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        match self.0.get_node_option(node_key)? {
            None if node_key.version() == 0 && node_key.nibble_path().is_empty() => Ok(Some(Node::Null)),
            node => Ok(node),
        }
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        self.0.get_value_option(max_version, key_hash)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        self.0.get_rightmost_leaf()
    }
}

/// Stores the batch's nodes and stale-node index. Its values are not stored here: the caller puts
/// them in the record index (and moves the replaced ones to [`SUPERSEDED`]).
fn write_batch(txn: &redb::WriteTransaction, batch: &TreeUpdateBatch) -> Result<(), StoreError> {
    write_node_batch(&mut txn.open_table(NODES).map_err(corrupt)?, &batch.node_batch)?;
    write_stale_index(txn, batch)
}

/// Records which nodes the batch made stale, for [`ShardStore::prune`]: one row per version (a
/// group's nodes all go stale at its own version).
fn write_stale_index(txn: &redb::WriteTransaction, batch: &TreeUpdateBatch) -> Result<(), StoreError> {
    let mut rows: std::collections::BTreeMap<u64, Vec<u8>> = std::collections::BTreeMap::new();
    for index in &batch.stale_node_index_batch {
        let key = encode_node_key(&index.node_key);
        let row = rows.entry(index.stale_since_version).or_default();
        row.push(key.len);
        row.extend_from_slice(key.as_slice());
    }
    let mut stale = txn.open_table(STALE).map_err(corrupt)?;
    for (version, mut row) in rows {
        // A version is written by one group; should a row exist, the nodes it names stay listed.
        if let Some(existing) = stale.get(version).map_err(io)? {
            row.splice(0..0, existing.value().iter().copied());
        }
        stale.insert(version, row.as_slice()).map_err(io)?;
    }
    Ok(())
}

/// The node keys of stale-index rows (each after its length byte).
struct StaleNodeKeys<'a>(&'a [u8]);

impl<'a> Iterator for StaleNodeKeys<'a> {
    type Item = Result<&'a [u8], StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&len, rest) = self.0.split_first()?;
        let Some((key, rest)) = rest.split_at_checked(usize::from(len)) else {
            self.0 = &[];
            return Some(Err(corrupt("a stale-node row is cut short")));
        };
        self.0 = rest;
        Some(Ok(key))
    }
}

fn write_node_batch(nodes: &mut redb::Table<&[u8], &[u8]>, batch: &NodeBatch) -> Result<(), StoreError> {
    // One buffer for the batch: `borsh::to_vec` would allocate 1 KiB per node.
    let mut bytes = Vec::with_capacity(1024);
    for (key, node) in batch.nodes() {
        bytes.clear();
        node.serialize(&mut bytes).map_err(io)?;
        nodes.insert(encode_node_key(key).as_slice(), bytes.as_slice()).map_err(io)?;
    }
    Ok(())
}

/// Longest encoded node key: version, then the nibble path's Borsh (nibble count as u64, u32
/// length, up to 32 bytes).
const NODE_KEY_MAX: usize = 8 + 8 + 4 + 32;

/// A node's key in the table, on the stack.
struct EncodedNodeKey {
    bytes: [u8; NODE_KEY_MAX],
    len: u8,
}

impl EncodedNodeKey {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// A node's key in the table: version (big-endian, so keys sort by version) ‖ Borsh nibble path.
fn encode_node_key(key: &NodeKey) -> EncodedNodeKey {
    let mut bytes = [0u8; NODE_KEY_MAX];
    bytes[..8].copy_from_slice(&key.version().to_be_bytes());
    let unused = {
        let mut rest = &mut bytes[8..];
        key.nibble_path().serialize(&mut rest).expect("a nibble path fits its 44 bytes");
        rest.len()
    };
    EncodedNodeKey { bytes, len: (NODE_KEY_MAX - unused) as u8 }
}

#[cfg(test)]
fn decode_node_key(bytes: &[u8]) -> Result<NodeKey, StoreError> {
    let (version, path) = bytes.split_at_checked(8).ok_or_else(|| corrupt("node key too short"))?;
    let version = u64::from_be_bytes(version.try_into().expect("8 bytes"));
    let path = jmt::storage::NibblePath::try_from_slice(path).map_err(corrupt)?;
    Ok(NodeKey::new(version, path))
}

/// Borsh tag of [`Node::Leaf`] (variants: Null, Internal, Leaf).
const LEAF_NODE_TAG: u8 = 2;

/// The key hash of an encoded leaf node (tag, key hash, value hash), read without decoding:
/// prune only needs to know which keys lost a leaf, and most stale nodes are internal.
fn encoded_leaf_key(node: &[u8]) -> Option<[u8; 32]> {
    match node {
        [LEAF_NODE_TAG, rest @ ..] if rest.len() == 64 => rest[..32].try_into().ok(),
        _ => None,
    }
}

/// jmt's node reads for a group: the nodes of the group computed before it (built in memory and
/// still being written), then the committed node table of one read snapshot (opened once, not
/// once per node). A group insert reads no values.
struct GroupNodes<'a> {
    written: Option<&'a NodeBatch>,
    nodes: &'a redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl TreeReader for GroupNodes<'_> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        if let Some(node) = self.written.and_then(|batch| batch.nodes().get(node_key)) {
            return Ok(Some(node.clone()));
        }
        let key = encode_node_key(node_key);
        Ok(match self.nodes.get(key.as_slice())? {
            Some(bytes) => Some(Node::try_from_slice(bytes.value())?),
            None => None,
        })
    }

    fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        anyhow::bail!("a group insert reads no values")
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("a group insert reads no rightmost leaf")
    }
}

/// JMT reads inside the write transaction that will store the batch.
struct TxnReader<'a> {
    txn: &'a redb::WriteTransaction,
    unmerged: &'a UnmergedLookup,
}

/// JMT reads from a read-only snapshot.
struct ReadTxnReader<'a> {
    txn: &'a redb::ReadTransaction,
    unmerged: &'a UnmergedLookup,
}

macro_rules! tree_reader {
    ($reader:ty) => {
        impl TreeReader for $reader {
            fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
                let nodes = open(self.txn.open_table(NODES))?;
                let Some(nodes) = nodes else { return Ok(None) };
                let key = encode_node_key(node_key);
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
                // The current value, if it is not newer than asked for; else the latest replaced one.
                let Some(records) = open(self.txn.open_table(RECORDS))? else { return Ok(None) };
                let Some(dirs) = open(self.txn.open_table(UNMERGED_DIRS))? else { return Ok(None) };
                let Some(entries) = open(self.txn.open_table(UNMERGED))? else { return Ok(None) };
                let index = IndexView { records, dirs, entries, lookup: self.unmerged };
                if let Some(meta) = index.meta(&key_hash.0)? {
                    if meta.tree_version <= max_version {
                        return Ok(Some(meta.leaf.to_bytes()));
                    }
                }
                drop(index);
                let Some(superseded) = open(self.txn.open_table(SUPERSEDED))? else { return Ok(None) };
                let mut range = superseded.range((key_hash.0, 0u64)..=(key_hash.0, max_version))?;
                let value = match range.next_back() {
                    Some(item) => Some(item?.1.value().to_vec()),
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

/// Checks a record proof against a shard root: inclusion of `leaf` at tree position `key_hash`,
/// or (with `None`) that nothing was ever written there. In public mode the position is
/// [`public_key_hash`] of the record key; in keyed mode only the keeper can compute it.
pub fn verify_record_proof(
    root: &[u8; 32],
    key_hash: KeyHash,
    leaf: Option<&RecordLeaf>,
    proof: &RecordProof,
) -> bool {
    proof.verify(jmt::RootHash(*root), key_hash, leaf.map(|l| l.to_bytes())).is_ok()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;

    use super::*;

    fn tree_key() -> TreeKey {
        TreeKey::keyed(Zeroizing::new([5; 32]))
    }

    fn seal(shard: u16) -> StoreSeal {
        StoreSeal::new(Zeroizing::new([9; 32]), AppId([1; 32]), ShardId(shard), tree_key())
    }

    fn open_store(path: &Path) -> ShardStore {
        ShardStore::open(path, seal(0)).unwrap()
    }

    /// A store whose prunes handed to the group commits wait for `sweep` stale nodes.
    fn open_sweeping(path: &Path, sweep: u64) -> ShardStore {
        open_with(path, sweep, DEFAULT_INDEX_MERGE_ENTRIES)
    }

    /// A store whose group commits merge the record index once `merge` entries wait.
    fn open_merging(path: &Path, merge: u64) -> ShardStore {
        open_with(path, DEFAULT_PRUNE_SWEEP_NODES, merge)
    }

    fn open_with(path: &Path, sweep: u64, merge: u64) -> ShardStore {
        let options =
            StoreOptions { prune_sweep_nodes: sweep, index_merge_entries: merge, ..StoreOptions::default() };
        ShardStore::open_locked_with(path, seal(0), StoreLock::acquire(path).unwrap(), options).unwrap()
    }

    /// The operator's view: the file as a plain redb database, edited while the keeper is down.
    fn edit_raw(path: &Path, edit: impl FnOnce(&redb::WriteTransaction)) {
        let db = Database::create(path).unwrap();
        let txn = db.begin_write().unwrap();
        edit(&txn);
        txn.commit().unwrap();
    }

    /// A closed store holding two groups of 30 records (tree versions 1 and 2).
    fn two_versions_of_30(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("s.redb");
        let store = open_store(&path);
        fill(&store, 30, 1);
        fill(&store, 30, 2);
        path
    }

    /// Drops the last byte of `table`'s row for `version`.
    fn cut_version_row(txn: &redb::WriteTransaction, table: TableDefinition<u64, &[u8]>, version: u64) {
        let mut rows = txn.open_table(table).unwrap();
        let row = rows.get(version).unwrap().unwrap().value().to_vec();
        rows.insert(version, &row[..row.len() - 1]).unwrap();
    }

    fn raw_row(path: &Path, key: &str) -> Vec<u8> {
        let db = Database::create(path).unwrap();
        let txn = db.begin_read().unwrap();
        let row = txn.open_table(STATE).unwrap().get(key).unwrap().unwrap().value().to_vec();
        row
    }

    fn put_row(txn: &redb::WriteTransaction, key: &str, row: &[u8]) {
        txn.open_table(STATE).unwrap().insert(key, row).unwrap();
    }

    /// Every record of the next manifest, read in parts of `part` (each part checked full but
    /// the last).
    fn all_parts(store: &ShardStore, checkpoint: bool, part: usize) -> Vec<KeyedLeaf> {
        let mut records = store.manifest_records(checkpoint).unwrap();
        let mut all = Vec::new();
        loop {
            let next = records.next_part(part).unwrap();
            assert!(next.len() <= part);
            let last = next.len() < part;
            all.extend(next);
            if last {
                assert!(records.next_part(part).unwrap().is_empty(), "nothing after a short part");
                return all;
            }
        }
    }

    fn fill(store: &ShardStore, keys: u8, round: u64) -> ShardState {
        let changes: Vec<_> = (0..keys).map(|k| (vec![k + 1], leaf(round, round as u8, false))).collect();
        store.commit_group(&changes, None).unwrap()
    }

    fn is_forged<T>(r: Result<T, StoreError>) -> bool {
        matches!(r, Err(StoreError::Forged(_)))
    }

    #[test]
    fn an_edited_state_row_does_not_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = open_store(&path);
        fill(&store, 20, 1);
        let mut state = store.state().unwrap();
        state.confirmed_seq = 1;
        state.confirmed_root = state.root;
        state.confirmed_tree_version = state.tree_version;
        store.put_state(&state).unwrap();
        drop(store);
        // The attacker rewrites the state (here: an older confirmed seq, a forged prepared update)
        // and keeps the old tag, or drops the tag.
        let row = raw_row(&path, STATE_KEY);
        let (body, tag) = row.split_at(row.len() - MAC_LEN);
        let mut forged_state = ShardState::try_from_slice(body).unwrap();
        forged_state.pending = Some(PendingUpdate {
            seq: 2,
            prev_root: forged_state.confirmed_root,
            root: [0xAB; 32],
            tree_version: forged_state.tree_version,
            manifest_cid: vec![1],
            checkpoint: false,
        });
        let forged_body = borsh::to_vec(&forged_state).unwrap();
        for row in [[&forged_body[..], tag].concat(), forged_body.clone(), Vec::new()] {
            edit_raw(&path, |txn| put_row(txn, STATE_KEY, &row));
            assert!(is_forged(ShardStore::open(&path, seal(0))));
        }
        // Deleting the state row (to look like a fresh store with old data) fails too.
        edit_raw(&path, |txn| {
            txn.open_table(STATE).unwrap().remove(STATE_KEY).unwrap();
        });
        assert!(is_forged(ShardStore::open(&path, seal(0))));
        // And so does deleting the identity with it.
        edit_raw(&path, |txn| {
            txn.open_table(STATE).unwrap().remove(STORE_ID_KEY).unwrap();
        });
        assert!(is_forged(ShardStore::open(&path, seal(0))));
    }

    #[test]
    fn a_state_row_from_another_store_or_shard_does_not_verify() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.redb"), dir.path().join("b.redb"));
        let store_a = open_store(&a);
        fill(&store_a, 5, 1);
        let store_b = open_store(&b);
        fill(&store_b, 5, 1);
        fill(&store_b, 5, 2);
        drop((store_a, store_b));
        // The same tree contents, but B's newer state row pasted into A: A's identity differs.
        let row_b = raw_row(&b, STATE_KEY);
        let saved_a = raw_row(&a, STATE_KEY);
        edit_raw(&a, |txn| put_row(txn, STATE_KEY, &row_b));
        assert!(is_forged(ShardStore::open(&a, seal(0))));
        // Identity copied too: the rows verify, but the roots they name are not A's tree.
        let id_b = raw_row(&b, STORE_ID_KEY);
        edit_raw(&a, |txn| put_row(txn, STORE_ID_KEY, &id_b));
        assert!(is_forged(ShardStore::open(&a, seal(0))));
        // A's own rows verify under A's seal, not under another shard's or app's.
        edit_raw(&a, |txn| {
            put_row(txn, STATE_KEY, &saved_a);
        });
        assert!(is_forged(ShardStore::open(&a, seal(0))));
        assert!(is_forged(ShardStore::open(&b, seal(1))));
        let other_app = StoreSeal::new(Zeroizing::new([9; 32]), AppId([2; 32]), ShardId(0), tree_key());
        assert!(is_forged(ShardStore::open(&b, other_app)));
        assert!(ShardStore::open(&b, seal(0)).is_ok());
    }

    #[test]
    fn an_edited_tree_node_is_never_served_or_built_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = open_store(&path);
        fill(&store, 40, 1);
        let state = store.state().unwrap();
        drop(store);
        // Replace one leaf node (not the root) by a leaf of the same key with another value.
        let target = tree_key().hash(&[7]);
        edit_raw(&path, |txn| {
            let mut nodes = txn.open_table(NODES).unwrap();
            let mut hit = None;
            for item in nodes.range::<&[u8]>(..).unwrap() {
                let (k, v) = item.unwrap();
                if let Ok(Node::Leaf(l)) = Node::try_from_slice(v.value()) {
                    if l.key_hash() == target {
                        hit = Some(k.value().to_vec());
                    }
                }
            }
            let forged_leaf = Node::Leaf(LeafNode::new(target, ValueHash::with::<TreeHasher>(b"forged")));
            nodes.insert(hit.unwrap().as_slice(), borsh::to_vec(&forged_leaf).unwrap().as_slice()).unwrap();
        });
        // Opening checks only the root node; the edit is deeper.
        let store = open_store(&path);
        assert!(is_forged(store.prove_against(&[7], state.tree_version, &state.root)));
        // A write of that key would compute a root over the forged leaf: refused.
        assert!(is_forged(store.commit_group(&[(vec![7], leaf(2, 2, false))], None)));
        // Nothing changed.
        assert_eq!(store.state().unwrap(), state);
        // Other keys are still served.
        assert!(store.prove_against(&[30], state.tree_version, &state.root).is_ok());
    }

    #[test]
    fn an_edited_root_node_or_record_index_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = open_store(&path);
        fill(&store, 10, 1);
        fill(&store, 10, 2);
        assert_eq!(store.merge_index().unwrap(), 2);
        drop(store);
        // The record index is rolled back for one key (it decides the next version).
        edit_raw(&path, |txn| {
            let mut records = txn.open_table(RECORDS).unwrap();
            let position = tree_key().hash(&[3]).0;
            let mut entry = IndexEntry::decode(records.get(position).unwrap().unwrap().value()).unwrap();
            entry.meta = RecordMeta { leaf: leaf(1, 1, false), tree_version: 1 };
            records.insert(position, borsh::to_vec(&entry).unwrap().as_slice()).unwrap();
        });
        let store = open_store(&path);
        assert!(is_forged(store.commit_group(&[(vec![3], leaf(2, 3, false))], None)));
        assert!(store.commit_group(&[(vec![4], leaf(3, 3, false))], None).is_ok());
        drop(store);
        // The current root node is replaced by the previous version's.
        edit_raw(&path, |txn| {
            let mut nodes = txn.open_table(NODES).unwrap();
            let mut roots = std::collections::BTreeMap::new();
            for item in nodes.range::<&[u8]>(..).unwrap() {
                let (k, v) = item.unwrap();
                let key = decode_node_key(k.value()).unwrap();
                if key.nibble_path().is_empty() {
                    roots.insert(key.version(), (k.value().to_vec(), v.value().to_vec()));
                }
            }
            let (_, old_root) = &roots[&1];
            let (new_key, _) = &roots[&3];
            nodes.insert(new_key.as_slice(), old_root.as_slice()).unwrap();
        });
        assert!(is_forged(ShardStore::open(&path, seal(0))));
    }

    #[test]
    fn a_second_opener_gets_in_use_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = open_store(&path);
        let state = fill(&store, 3, 1);
        assert!(matches!(ShardStore::open(&path, seal(0)), Err(StoreError::InUse { .. })));
        assert_eq!(store.state().unwrap(), state);
        drop(store);
        assert_eq!(open_store(&path).state().unwrap(), state);
    }

    fn leaf(version: u64, tag: u8, tombstone: bool) -> RecordLeaf {
        RecordLeaf { version, cid: vec![tag; 36], ciphertext_hash: [tag; 32], key_epoch: 0, tombstone }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Write {
            key: u8,
            tag: u8,
            tombstone: bool,
        },
        Prune,
        /// A prune handed to the group commits (lands with the sweep).
        PruneLater,
        /// A merge of the record index's unmerged rows of its own.
        MergeIndex,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u8..12, any::<u8>(), prop::bool::weighted(0.2))
                .prop_map(|(key, tag, tombstone)| Op::Write { key, tag, tombstone }),
            1 => Just(Op::Prune),
            1 => Just(Op::PruneLater),
            1 => Just(Op::MergeIndex),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Whatever the interleaving of group commits, prunes (of their own, or handed to the
        /// group commits with any sweep) and record index merges (at any bound, or of their
        /// own), every root from the pruning point on still proves every key's value (or its
        /// absence) exactly as a plain map says, the record index says what the map says (before
        /// and after reopening), and the backlog is what the tables hold.
        #[test]
        fn pruning_never_breaks_a_kept_root(
            groups in prop::collection::vec(prop::collection::vec(op(), 1..6), 1..14),
            sweep in 0u64..80,
            merge in 0u64..24,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let store = open_with(&dir.path().join("s.redb"), sweep, merge);
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
                        Op::PruneLater => {
                            if let Some((version, _, _)) = history.last() {
                                kept_from = *version;
                                store.prune_with_next_group(kept_from);
                            }
                        }
                        Op::MergeIndex => {
                            store.merge_index().unwrap();
                        }
                    }
                }
                if changes.is_empty() {
                    continue;
                }
                let state = store.commit_group(&changes, None).unwrap();
                history.push((state.tree_version, state.root, model.clone()));
                for key in 0u8..12 {
                    let indexed = store.record(&[key + 1]).unwrap().map(|m| m.leaf);
                    prop_assert_eq!(indexed.as_ref(), model.get(&key), "key {} indexed", key);
                }
            }
            for (version, root, snapshot) in history.iter().filter(|(v, _, _)| *v >= kept_from) {
                for key in 0u8..12 {
                    let (found, proof) = store.prove(&[key + 1], *version).unwrap();
                    prop_assert_eq!(found.as_ref(), snapshot.get(&key), "key {} at version {}", key, version);
                    prop_assert!(verify_record_proof(root, store.key_hash(&[key + 1]), found.as_ref(), &proof));
                }
            }
            let backlog = store.prune_backlog();
            let unmerged = store.unmerged_entries();
            let path = store.path().to_path_buf();
            drop(store);
            let store = open_with(&path, sweep, merge);
            prop_assert_eq!(store.prune_backlog(), backlog);
            prop_assert_eq!(store.unmerged_entries(), unmerged);
            for key in 0u8..12 {
                let indexed = store.record(&[key + 1]).unwrap().map(|m| m.leaf);
                prop_assert_eq!(indexed.as_ref(), model.get(&key), "key {} indexed after reopening", key);
            }
        }
    }

    /// jmt's reference insert (one root-to-leaf walk per key) over an in-memory tree.
    #[derive(Default)]
    struct ReferenceTree {
        nodes: Mutex<HashMap<NodeKey, Node>>,
    }

    impl TreeReader for ReferenceTree {
        fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
            Ok(self.nodes.lock().unwrap().get(node_key).cloned())
        }
        fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
            anyhow::bail!("the reference insert reads no values")
        }
        fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
            anyhow::bail!("not needed")
        }
    }

    impl ReferenceTree {
        fn put(&self, changes: &[(Vec<u8>, RecordLeaf)], version: u64) -> [u8; 32] {
            let values = changes.iter().map(|(k, l)| (tree_key().hash(k), Some(l.to_bytes())));
            let (root, batch) =
                JellyfishMerkleTree::<_, TreeHasher>::new(self).put_value_set(values, version).unwrap();
            self.nodes.lock().unwrap().extend(batch.node_batch.nodes().clone());
            root.0
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// The batched group insert builds the tree jmt's per-key insert builds: the same root
        /// after every group (new keys, rewritten keys, keys repeated within a group).
        #[test]
        fn a_group_commit_gives_the_per_key_insert_root(
            groups in prop::collection::vec(prop::collection::vec((0u16..600, any::<u8>()), 1..80), 1..10)
        ) {
            let dir = tempfile::tempdir().unwrap();
            let store = open_store(&dir.path().join("s.redb"));
            let reference = ReferenceTree::default();
            let mut versions: HashMap<u16, u64> = HashMap::new();
            for (i, group) in groups.iter().enumerate() {
                let changes: Vec<_> = group
                    .iter()
                    .map(|(key, tag)| {
                        let version = versions.entry(*key).or_default();
                        *version += 1;
                        (key.to_le_bytes().to_vec(), leaf(*version, *tag, false))
                    })
                    .collect();
                let state = store.commit_group(&changes, None).unwrap();
                prop_assert_eq!(state.root, reference.put(&changes, i as u64 + 1), "group {}", i);
            }
        }
    }

    #[test]
    fn a_leaf_key_is_read_from_its_encoding() {
        let key = tree_key().hash(b"k");
        let leaf = Node::Leaf(LeafNode::new(key, ValueHash::with::<TreeHasher>(b"v")));
        assert_eq!(encoded_leaf_key(&borsh::to_vec(&leaf).unwrap()), Some(key.0));
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&dir.path().join("s.redb"));
        fill(&store, 40, 1);
        let txn = store.db.begin_read().unwrap();
        let (mut leaves, mut internal) = (0, 0);
        for item in txn.open_table(NODES).unwrap().iter().unwrap() {
            let (_, bytes) = item.unwrap();
            let expected = match Node::try_from_slice(bytes.value()).unwrap() {
                Node::Leaf(l) => Some(l.key_hash().0),
                _ => None,
            };
            leaves += usize::from(expected.is_some());
            internal += usize::from(expected.is_none());
            assert_eq!(encoded_leaf_key(bytes.value()), expected);
        }
        assert_eq!(leaves, 40);
        assert!(internal > 0);
        assert_eq!(encoded_leaf_key(&borsh::to_vec(&Node::Null).unwrap()), None);
    }

    /// A replaced value's blob is dead once no kept root names it, and only then: not while the
    /// served version or a newer one names the same blob.
    #[test]
    fn pruning_marks_only_unreferenced_blobs_dead() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&dir.path().join("s.redb"));
        store.commit_group(&[(vec![1], leaf(1, 1, false)), (vec![2], leaf(1, 9, false))], None).unwrap();
        store.commit_group(&[(vec![1], leaf(2, 2, false))], None).unwrap();
        // The third version names the first one's blob again.
        let state = store.commit_group(&[(vec![1], leaf(3, 1, false))], None).unwrap();
        store.prune(2).unwrap();
        assert_eq!(store.dead_blobs(16).unwrap(), Vec::<Vec<u8>>::new());
        // Version 2 is still served at tree version 2.
        let (found, proof) = store.prove(&[1], 2).unwrap();
        assert_eq!(found, Some(leaf(2, 2, false)));
        let root_2 = {
            let (txn, unmerged) = store.begin_read().unwrap();
            let reader = ReadTxnReader { txn: &txn, unmerged: &unmerged };
            JellyfishMerkleTree::<_, TreeHasher>::new(&reader).get_root_hash(2).unwrap().0
        };
        assert!(verify_record_proof(&root_2, store.key_hash(&[1]), found.as_ref(), &proof));
        store.prune(3).unwrap();
        assert_eq!(store.dead_blobs(16).unwrap(), vec![vec![2u8; 36]]);
        for (key, expected) in [(1u8, leaf(3, 1, false)), (2, leaf(1, 9, false))] {
            let (found, proof) = store.prove(&[key], 3).unwrap();
            assert_eq!(found.as_ref(), Some(&expected));
            assert!(verify_record_proof(&state.root, store.key_hash(&[key]), found.as_ref(), &proof));
        }
    }

    #[test]
    fn node_keys_sort_by_version() {
        // Borsh: number of nibbles (u64), then the packed bytes (u32 length, bytes).
        let path = |nibbles: u64, bytes: &[u8]| {
            let encoded = [&nibbles.to_le_bytes()[..], &(bytes.len() as u32).to_le_bytes(), bytes].concat();
            jmt::storage::NibblePath::try_from_slice(&encoded).unwrap()
        };
        let keys = [
            NodeKey::new(1, path(3, &[0xff, 0x30])),
            NodeKey::new(2, path(0, &[])),
            NodeKey::new(256, path(1, &[0x00])),
            NodeKey::new(257, path(0, &[])),
        ];
        let encoded: Vec<Vec<u8>> = keys.iter().map(|k| encode_node_key(k).as_slice().to_vec()).collect();
        assert!(encoded.windows(2).all(|w| w[0] < w[1]));
        for (key, bytes) in keys.iter().zip(&encoded) {
            assert_eq!(
                bytes,
                &[&key.version().to_be_bytes()[..], &borsh::to_vec(key.nibble_path()).unwrap()].concat()
            );
            assert_eq!(&decode_node_key(bytes).unwrap(), key);
        }
    }

    #[test]
    fn pruning_removes_superseded_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&dir.path().join("s.redb"));
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
            assert!(verify_record_proof(&root, store.key_hash(&[k + 1]), found.as_ref(), &proof));
        }
    }

    /// The encoded keys of every node reachable from the root of `version`.
    fn reachable_nodes(store: &ShardStore, version: u64, into: &mut std::collections::BTreeSet<Vec<u8>>) {
        let txn = store.db.begin_read().unwrap();
        let nodes = txn.open_table(NODES).unwrap();
        let root_path = jmt::storage::NibblePath::try_from_slice(&[0u8; 12]).unwrap();
        let mut todo = vec![NodeKey::new(version, root_path)];
        while let Some(key) = todo.pop() {
            let encoded = encode_node_key(&key).as_slice().to_vec();
            let node = Node::try_from_slice(nodes.get(encoded.as_slice()).unwrap().unwrap().value()).unwrap();
            into.insert(encoded);
            if let Node::Internal(internal) = node {
                let (depth, packed) = node_path(&key);
                for (nibble, child) in internal.children_unsorted() {
                    let path = with_nibble(packed, depth, u8::from(nibble));
                    let len = usize::from(depth + 1).div_ceil(2);
                    let borsh =
                        [&u64::from(depth + 1).to_le_bytes()[..], &(len as u32).to_le_bytes(), &path[..len]]
                            .concat();
                    let path = jmt::storage::NibblePath::try_from_slice(&borsh).unwrap();
                    todo.push(NodeKey::new(child.version, path));
                }
            }
        }
    }

    /// A prune leaves exactly the nodes the kept roots reach, whether it removed a level's stale
    /// nodes in one scan (large groups: long runs) or one by one (a few keys rewritten).
    #[test]
    fn a_prune_keeps_exactly_the_nodes_of_the_kept_roots() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&dir.path().join("s.redb"));
        for round in 0..8u16 {
            let mut changes: Vec<KeyedLeaf> = if round % 2 == 0 {
                (0..400u16)
                    .map(|i| ((round * 400 + i).to_le_bytes().to_vec(), leaf(1, i as u8, false)))
                    .collect()
            } else {
                Vec::new()
            };
            changes.extend(
                (0..5u16).map(|i| (i.to_le_bytes().to_vec(), leaf(u64::from(round) + 2, round as u8, false))),
            );
            store.commit_group(&changes, None).unwrap();
        }
        let mut kept = std::collections::BTreeSet::new();
        for version in 5..=8 {
            reachable_nodes(&store, version, &mut kept);
        }
        store.prune(5).unwrap();
        let txn = store.db.begin_read().unwrap();
        let stored: std::collections::BTreeSet<Vec<u8>> = txn
            .open_table(NODES)
            .unwrap()
            .iter()
            .unwrap()
            .map(|item| item.unwrap().0.value().to_vec())
            .collect();
        assert_eq!(stored, kept);
    }

    fn rows<K: redb::Key + 'static, V: redb::Value + 'static>(
        store: &ShardStore,
        table: TableDefinition<K, V>,
    ) -> u64 {
        store.db.begin_read().unwrap().open_table(table).unwrap().len().unwrap()
    }

    /// A group adds one stale-index row and one change-log row, however many keys and nodes it
    /// wrote; a prune deletes the rows of the versions it covers, and deltas still list every
    /// key changed after the confirmed version.
    #[test]
    fn a_group_writes_one_stale_row_and_one_change_row() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&dir.path().join("s.redb"));
        for round in 1..=6u64 {
            let changes: Vec<_> =
                (0..200u16).map(|k| (k.to_le_bytes().to_vec(), leaf(round, round as u8, false))).collect();
            store.commit_group(&changes, None).unwrap();
            assert_eq!(rows(&store, CHANGES), round);
            // The first group replaces nothing (the empty tree has no stored node).
            assert_eq!(rows(&store, STALE), round - 1);
        }
        let nodes = store.node_count().unwrap();
        assert!(nodes > 200, "{nodes} nodes");
        let removed = store.prune(4).unwrap();
        assert!(removed as u64 > 3 * 200, "each of versions 2 to 4 made every leaf stale: {removed}");
        assert_eq!((rows(&store, STALE), rows(&store, CHANGES)), (2, 2));
        let mut state = store.state().unwrap();
        state.confirmed_tree_version = 4;
        store.put_state(&state).unwrap();
        store.commit_group(&[(vec![9, 9], leaf(1, 1, false))], None).unwrap();
        let mut delta: Vec<_> = all_parts(&store, false, 64).into_iter().map(|(k, _)| k).collect();
        delta.sort();
        let mut expected: Vec<Vec<u8>> = (0..200u16).map(|k| k.to_le_bytes().to_vec()).collect();
        expected.push(vec![9, 9]);
        expected.sort();
        assert_eq!(delta, expected, "versions 5 to 7, each key once");
    }

    /// While asked to, a group commit counts the pages each part dirties: new keys write node,
    /// stale-index and record-index pages, a prune frees and rewrites node pages; otherwise
    /// nothing is counted (counting walks every table).
    #[test]
    fn dirty_pages_are_counted_by_part_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        // Sweeps of 0: a prune handed to the next group runs with it.
        let store = open_sweeping(&dir.path().join("s.redb"), 0);
        let group = |round: u16| -> Vec<_> {
            (0..300u16).map(|k| ((round * 1000 + k).to_le_bytes().to_vec(), leaf(1, 1, false))).collect()
        };
        store.commit_group(&group(1), None).unwrap();
        store.commit_group(&group(2), None).unwrap();
        let pages = |part| store.commit_times().part(part).1;
        assert!(GroupPart::ALL.iter().all(|p| pages(*p) == 0));
        store.count_dirty_pages(true);
        store.commit_group(&group(3), None).unwrap();
        for part in [GroupPart::Nodes, GroupPart::Stale, GroupPart::Records, GroupPart::Rest] {
            assert!(pages(part) > 0, "{part:?}");
        }
        assert_eq!(pages(GroupPart::Prune), 0);
        store.prune_with_next_group(3);
        store.commit_group(&group(4), None).unwrap();
        assert!(pages(GroupPart::Prune) > 0);
        assert!(store.commit_times().pruned_nodes.load(Ordering::Relaxed) > 0);
        store.count_dirty_pages(false);
        let counted = GroupPart::ALL.map(pages);
        store.commit_group(&group(5), None).unwrap();
        assert_eq!(GroupPart::ALL.map(pages), counted);
    }

    /// The child table answers for exactly the children each node recorded, after a recycle too.
    #[test]
    fn child_records_name_each_recorded_child_and_no_other() {
        let mut table = ChildRecords::default();
        for round in 0..2u8 {
            let sparse = [(3u8, 30u64, [3 + round; 32]), (7, 70, [7; 32]), (15, 150, [15; 32])];
            let full: Vec<_> = (0..16u8).map(|n| (n, u64::from(n), [n ^ round; 32])).collect();
            table.insert((1, [1; 32]), sparse.into_iter());
            table.insert((0, [0; 32]), full.clone().into_iter());
            for nibble in 0..16u8 {
                let expected = sparse.iter().find(|(n, ..)| *n == nibble).map(|(_, v, h)| (*v, *h));
                assert_eq!(table.get(&(1, [1; 32]), usize::from(nibble)), expected, "{nibble}");
                let (_, v, h) = full[usize::from(nibble)];
                assert_eq!(table.get(&(0, [0; 32]), usize::from(nibble)), Some((v, h)));
            }
            assert_eq!(table.get(&(2, [1; 32]), 3), None);
            table = table.recycle().expect("a small table is kept");
            assert_eq!(table.get(&(1, [1; 32]), 3), None);
        }
        // A table grown past its bounds (a very large group's) is not kept.
        let mut large = ChildRecords::default();
        large.records.reserve(ChildRecords::KEEP_MAX_RECORDS + 1);
        assert!(large.recycle().is_none());
    }

    /// Commit phases are timed by the wall clock; their CPU time (a system call per stamp) only
    /// while asked to.
    #[test]
    fn commit_cpu_is_timed_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&dir.path().join("s.redb"));
        let group = |round: u16| -> Vec<_> {
            (0..2000u16).map(|k| ([round, k].map(u16::to_le_bytes).concat(), leaf(1, 1, false))).collect()
        };
        let cpu = || CommitPhase::ALL.map(|p| store.commit_times().micros(p).1).iter().sum::<u64>();
        let wall = || store.commit_times().micros(CommitPhase::Tree).0;
        store.commit_group(&group(1), None).unwrap();
        assert!(wall() > 0);
        assert_eq!(cpu(), 0);
        store.time_commit_cpu(true);
        store.commit_group(&group(2), None).unwrap();
        assert!(cpu() > 0);
    }

    /// A stale-index row cut short, or a change-log row that is not whole positions, is a
    /// corrupt store, not a silent skip.
    #[test]
    fn a_cut_stale_or_change_row_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = two_versions_of_30(dir.path());
        edit_raw(&path, |txn| {
            cut_version_row(txn, STALE, 2);
            cut_version_row(txn, CHANGES, 2);
        });
        let store = open_store(&path);
        assert!(matches!(store.manifest_records(false), Err(StoreError::Corrupt(_))));
        assert!(matches!(store.prune(2), Err(StoreError::Corrupt(_))));
    }

    /// The node cache holds only the top levels, bounded, and each entry is the node the disk
    /// holds under its key, with that node's hash: what a group reads from it is what it would
    /// have read (and authenticated) from the disk.
    #[test]
    fn the_node_cache_holds_the_current_top_levels_as_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&dir.path().join("s.redb"));
        for round in 0..12u32 {
            let changes: Vec<_> = (0..500u32)
                .map(|i| ((round * 500 + i).to_le_bytes().to_vec(), leaf(1, i as u8, false)))
                .collect();
            store.commit_group(&changes, None).unwrap();
        }
        let state = store.state().unwrap();
        let cache = store.node_cache.lock().unwrap();
        assert!(cache.len() > 1 + 16 + 256, "6,000 keys fill three levels: {}", cache.len());
        assert!(cache.len() <= 1 + 16 + 256 + 4096);
        let (txn, unmerged) = store.begin_read().unwrap();
        let reader = ReadTxnReader { txn: &txn, unmerged: &unmerged };
        for (&(depth, packed), cached) in cache.iter() {
            assert!(depth < CACHED_DEPTH);
            let bytes = &packed[..usize::from(depth).div_ceil(2)];
            let path =
                [&u64::from(depth).to_le_bytes()[..], &(bytes.len() as u32).to_le_bytes(), bytes].concat();
            let key = NodeKey::new(cached.version, jmt::storage::NibblePath::try_from_slice(&path).unwrap());
            let stored = reader.get_node_option(&key).unwrap().expect("a cached node is stored");
            assert_eq!(stored, cached.node);
            assert_eq!(node_hash(&stored), cached.hash);
        }
        assert_eq!(cache.get(&(0, [0; 32])).map(|c| (c.version, c.hash)), Some((12, state.root)));
    }

    /// The verifier serves a cached node only where the authenticated parent records that very
    /// (version, hash): then the disk is not read at all; an entry that does not match (another
    /// version, or a node that is not the one recorded) is ignored and the disk's node checked.
    #[test]
    fn the_verifier_uses_a_cached_node_only_when_its_parent_names_it() {
        struct NoDisk;
        impl TreeReader for NoDisk {
            fn get_node_option(&self, _: &NodeKey) -> anyhow::Result<Option<Node>> {
                anyhow::bail!("the disk was read")
            }
            fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
                anyhow::bail!("the disk was read")
            }
            fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
                anyhow::bail!("the disk was read")
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&dir.path().join("s.redb"));
        let state = fill(&store, 40, 1);
        let root_key =
            NodeKey::new(state.tree_version, jmt::storage::NibblePath::try_from_slice(&[0; 12]).unwrap());
        let (txn, unmerged) = store.begin_read().unwrap();
        let disk = ReadTxnReader { txn: &txn, unmerged: &unmerged };
        let root = disk.get_node_option(&root_key).unwrap().unwrap();
        let entry = |version, hash, node: &Node| {
            let mut cache = NodeCache::default();
            cache.insert((0, [0; 32]), CachedNode { version, hash, node: node.clone() });
            cache
        };
        // Named by the sealed root: served from memory.
        let cache = entry(state.tree_version, state.root, &root);
        let reader =
            VerifyingReader::new(NoDisk, state.tree_version, state.root, &cache, 1, ChildRecords::default());
        assert_eq!(reader.get_node_option(&root_key).unwrap(), Some(root.clone()));
        // Another node under the root's hash (a poisoned entry), or the right one at another
        // version: not used, the disk is read.
        let leaf_node = Node::Leaf(LeafNode::new(KeyHash([1; 32]), ValueHash([2; 32])));
        for cache in
            [entry(state.tree_version, node_hash(&leaf_node), &leaf_node), entry(9, state.root, &root)]
        {
            let reader = VerifyingReader::new(
                NoDisk,
                state.tree_version,
                state.root,
                &cache,
                1,
                ChildRecords::default(),
            );
            assert!(reader.get_node_option(&root_key).is_err(), "went to the disk");
            let disk = ReadTxnReader { txn: &txn, unmerged: &unmerged };
            let reader = VerifyingReader::new(
                disk,
                state.tree_version,
                state.root,
                &cache,
                1,
                ChildRecords::default(),
            );
            assert_eq!(reader.get_node_option(&root_key).unwrap(), Some(root.clone()));
        }
    }

    /// Groups of 40 keys per round: round 1 writes keys 0..40, round 2 keys 20..60 (20 of them
    /// overwrites), round 3 keys 50..90.
    fn three_rounds() -> Vec<Vec<KeyedLeaf>> {
        [(0..40u8, 1), (20..60u8, 2), (50..90u8, 3)]
            .into_iter()
            .map(|(keys, round)| {
                keys.map(|k| (vec![k], leaf(round, k.wrapping_add(round as u8), false))).collect()
            })
            .collect()
    }

    /// A store under test, a second store for the same groups committed one after the other,
    /// and the groups ([`three_rounds`]).
    fn store_and_serial_twin() -> (tempfile::TempDir, ShardStore, ShardStore, Vec<Vec<KeyedLeaf>>) {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&dir.path().join("store.redb"));
        let serial = open_store(&dir.path().join("serial.redb"));
        (dir, store, serial, three_rounds())
    }

    /// The writer computes a group's tree while the group before is still being written: on
    /// top of that group's nodes in memory. Written in order, they give the tree, records and
    /// proofs of one commit after the other.
    #[test]
    fn a_group_computed_on_an_unwritten_group_writes_the_same_tree() {
        let (_dir, ahead, serial, rounds) = store_and_serial_twin();
        let expected =
            [serial.commit_group(&rounds[0], None).unwrap(), serial.commit_group(&rounds[1], None).unwrap()];
        let mut first = ahead.compute_group(rounds[0].as_slice(), None).unwrap();
        let mut second = ahead.compute_group(rounds[1].as_slice(), None).unwrap();
        assert_eq!(ahead.state().unwrap().tree_version, 0, "nothing written yet");
        assert_eq!(second.root(), expected[1].root, "computed on top of the first group");
        let written = [ahead.write_group(&mut first).unwrap(), ahead.write_group(&mut second).unwrap()];
        for (written, expected) in written.iter().zip(&expected) {
            assert_eq!((written.tree_version, written.root), (expected.tree_version, expected.root));
        }
        assert_eq!(written[1].record_count, 60);
        for k in [0u8, 25, 59] {
            let (found, _) = ahead.prove_against(&[k], 2, &written[1].root).unwrap();
            let round = if k < 20 { 1 } else { 2 };
            assert_eq!(found, Some(leaf(round, k.wrapping_add(round as u8), false)));
        }
        // The overlap is only for the group right after: a third group computes on the store.
        let mut third = ahead.compute_group(rounds[2].as_slice(), None).unwrap();
        assert_eq!(
            ahead.write_group(&mut third).unwrap().root,
            serial.commit_group(&rounds[2], None).unwrap().root
        );
    }

    /// A computed group whose base is not what the store holds when it is written (its base was
    /// dropped unwritten, e.g. its blobs failed; or another group was committed first) is
    /// computed again on the committed tree instead of failing or writing a tree on a wrong base.
    #[test]
    fn a_group_whose_base_was_not_written_is_computed_again_on_the_committed_tree() {
        let (_dir, store, serial, rounds) = store_and_serial_twin();
        let alone = serial.commit_group(&rounds[1], None).unwrap().root;
        drop(store.compute_group(rounds[0].as_slice(), None).unwrap());
        assert_eq!(
            store.compute_group(rounds[1].as_slice(), None).unwrap().root(),
            alone,
            "not on the dropped group"
        );
        let dropped = store.compute_group(rounds[0].as_slice(), None).unwrap();
        let mut on_dropped = store.compute_group(rounds[1].as_slice(), None).unwrap();
        drop(dropped);
        let state = store.write_group(&mut on_dropped).unwrap();
        assert_eq!((state.tree_version, state.root), (1, alone));
        assert_eq!(store.record(&[0]).unwrap(), None, "nothing of the dropped group");

        let mut late = store.compute_group(rounds[2].as_slice(), None).unwrap();
        let first = store.commit_group(&rounds[0], None).unwrap();
        assert_eq!(first.root, serial.commit_group(&rounds[0], None).unwrap().root);
        let state = store.write_group(&mut late).unwrap();
        assert_eq!(state.tree_version, 3);
        assert_eq!(state.root, serial.commit_group(&rounds[2], None).unwrap().root);

        // A root expected before the group is still checked against the committed one.
        let mut stale = store.compute_group(rounds[0].as_slice(), Some(state.root)).unwrap();
        store.commit_group(&rounds[1], None).unwrap();
        assert!(matches!(store.write_group(&mut stale), Err(StoreError::RootChanged { .. })));
    }

    /// A prune handed to the next group commit changes nothing until that group commits, and
    /// then lands with it: the same nodes, rows and dead blobs as a prune of its own, kept roots
    /// still provable. Requests merge into the newest.
    #[test]
    fn a_prune_with_the_next_group_lands_in_its_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let folded = open_sweeping(&dir.path().join("folded.redb"), 0);
        let alone = open_store(&dir.path().join("alone.redb"));
        let groups: Vec<Vec<KeyedLeaf>> = (1..=6u64)
            .map(|round| {
                (0..40u8).map(|k| (vec![k], leaf(round, (round as u8 - 1) * 40 + k, false))).collect()
            })
            .collect();
        let mut roots = vec![EMPTY_ROOT];
        for group in &groups[..5] {
            roots.push(folded.commit_group(group, None).unwrap().root);
            alone.commit_group(group, None).unwrap();
        }
        let nodes = folded.node_count().unwrap();
        folded.prune_with_next_group(2);
        folded.prune_with_next_group(4);
        folded.prune_with_next_group(3);
        assert!(folded.prune_pending());
        assert_eq!(folded.node_count().unwrap(), nodes, "nothing pruned before the group");
        assert_eq!(folded.dead_blobs(1000).unwrap(), Vec::<Vec<u8>>::new());
        alone.prune(4).unwrap();
        roots.push(folded.commit_group(&groups[5], None).unwrap().root);
        alone.commit_group(&groups[5], None).unwrap();
        assert!(!folded.prune_pending());
        assert_eq!(folded.node_count().unwrap(), alone.node_count().unwrap());
        assert!(folded.node_count().unwrap() < nodes);
        assert_eq!(
            (rows(&folded, STALE), rows(&folded, CHANGES)),
            (rows(&alone, STALE), rows(&alone, CHANGES))
        );
        let dead = folded.dead_blobs(1000).unwrap();
        assert_eq!(dead.len(), 3 * 40, "the values of versions 1 to 3");
        assert_eq!(dead, alone.dead_blobs(1000).unwrap());
        for version in 4..=6u64 {
            for k in [0u8, 17, 39] {
                let (found, _) = folded.prove_against(&[k], version, &roots[version as usize]).unwrap();
                assert_eq!(found, Some(leaf(version, (version as u8 - 1) * 40 + k, false)));
            }
        }
    }

    /// A prune handed to the group commits waits while fewer stale nodes than the sweep are
    /// stored (the confirmed updates' requests merge), then lands whole with one group: the same
    /// tables as a prune of its own. The backlog is kept in step with the tables (as counted
    /// again at open), and every root from the pruning point on stays provable.
    #[test]
    fn a_prune_sweep_waits_for_its_backlog_then_lands_whole() {
        const SWEEP: u64 = 150;
        let dir = tempfile::tempdir().unwrap();
        let swept = open_sweeping(&dir.path().join("swept.redb"), SWEEP);
        let alone = open_store(&dir.path().join("alone.redb"));
        // New keys only (nodes go stale, no value is replaced); one overwrite of key 0 at the
        // end of round 2, so one blob dies.
        let group = |round: u8| -> Vec<KeyedLeaf> {
            let mut g: Vec<KeyedLeaf> = (0..20u8).map(|k| (vec![round, k], leaf(1, k, false))).collect();
            if round == 2 {
                g.push((vec![1, 0], leaf(2, 99, false)));
            }
            g
        };
        let mut roots = vec![EMPTY_ROOT];
        let mut round = 0u8;
        let mut waited = 0;
        let kept_from = loop {
            round += 1;
            let nodes_before = swept.node_count().unwrap();
            let due = swept.prune_backlog().0 >= SWEEP;
            let state = swept.commit_group(&group(round), None).unwrap();
            alone.commit_group(&group(round), None).unwrap();
            roots.push(state.root);
            if round >= 3 && due {
                // This group carried out the merged request.
                assert!(!swept.prune_pending());
                break u64::from(round) - 2;
            }
            if round >= 3 {
                waited += 1;
                assert!(swept.prune_pending(), "round {round}: waits for the sweep");
                assert!(swept.node_count().unwrap() > nodes_before, "round {round}: nothing pruned");
                assert_eq!(swept.dead_blobs(10).unwrap(), Vec::<Vec<u8>>::new());
            }
            if round >= 2 {
                // As the batcher does after each confirmed update: keep the previous root on.
                swept.prune_with_next_group(u64::from(round) - 1);
            }
        };
        assert!(waited >= 2, "the backlog grew across several groups first ({waited})");
        alone.prune(kept_from).unwrap();
        assert_eq!(swept.node_count().unwrap(), alone.node_count().unwrap());
        assert_eq!(
            (rows(&swept, STALE), rows(&swept, CHANGES)),
            (rows(&alone, STALE), rows(&alone, CHANGES))
        );
        assert_eq!(swept.dead_blobs(10).unwrap(), vec![leaf(1, 0, false).cid], "round 1's value of key 0");
        assert_eq!(swept.prune_backlog(), alone.prune_backlog());
        for version in kept_from..=u64::from(round) {
            let (found, _) = swept.prove_against(&[1, 0], version, &roots[version as usize]).unwrap();
            assert_eq!(found, Some(leaf(2, 99, false)));
            let (found, _) = swept.prove_against(&[round, 5], version, &roots[version as usize]).unwrap();
            assert_eq!(found.is_some(), version == u64::from(round));
        }
        let backlog = swept.prune_backlog();
        assert!(backlog.0 > 0 && backlog.0 < SWEEP, "the last groups' nodes wait: {backlog:?}");
        let path = swept.path().to_path_buf();
        drop(swept);
        assert_eq!(open_sweeping(&path, SWEEP).prune_backlog(), backlog, "counted again at open");
    }

    /// Overwrites sweep sooner: a replaced value counts as [`SWEEP_VALUE_WEIGHT`] stale nodes
    /// (its blob waits for the prune), so a few overwrites start the sweep long before their
    /// nodes would, and the replaced values' blobs come out dead.
    #[test]
    fn replaced_values_start_a_sweep_before_their_nodes_would() {
        const SWEEP: u64 = 10 * SWEEP_VALUE_WEIGHT;
        let dir = tempfile::tempdir().unwrap();
        let store = open_sweeping(&dir.path().join("s.redb"), SWEEP);
        let round = |version: u64, keys: std::ops::Range<u8>| -> Vec<KeyedLeaf> {
            keys.map(|k| (vec![k], leaf(version, k.wrapping_add(version as u8 * 50), false))).collect()
        };
        store.commit_group(&round(1, 0..30), None).unwrap();
        store.commit_group(&round(2, 0..9), None).unwrap();
        store.prune_with_next_group(2);
        // 9 replaced values (144 < 160) and far fewer stale nodes than the sweep: it waits.
        assert!(store.prune_backlog().0 < SWEEP);
        assert_eq!(store.prune_backlog().1, 9);
        store.commit_group(&round(3, 30..40), None).unwrap();
        assert!(store.prune_pending());
        store.commit_group(&round(4, 9..10), None).unwrap();
        store.prune_with_next_group(3);
        // The tenth replaced value: the next group carries the sweep out.
        assert!(store.prune_backlog().0 < SWEEP);
        store.commit_group(&round(5, 40..41), None).unwrap();
        assert!(!store.prune_pending());
        assert_eq!(store.prune_backlog().1, 1, "key 9's version-1 value: replaced at 4 > 3, kept");
        let mut dead = store.dead_blobs(100).unwrap();
        dead.sort();
        let mut expected: Vec<Vec<u8>> = (0..9u8).map(|k| leaf(1, k.wrapping_add(50), false).cid).collect();
        expected.sort();
        assert_eq!(dead, expected, "round 1's values of keys 0 to 8");
    }

    /// A prune that fails inside a group commit does not cost the group: the group commits
    /// without it and the request is dropped.
    #[test]
    fn a_failed_prune_with_the_next_group_does_not_fail_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let path = two_versions_of_30(dir.path());
        edit_raw(&path, |txn| cut_version_row(txn, STALE, 2));
        let store = open_sweeping(&path, 0);
        let nodes = store.node_count().unwrap();
        store.prune_with_next_group(2);
        let state = fill(&store, 30, 3);
        assert_eq!(state.tree_version, 3);
        assert!(!store.prune_pending());
        assert!(store.node_count().unwrap() > nodes, "the group's nodes, none pruned");
        assert_eq!(store.record(&[1]).unwrap().unwrap().leaf, leaf(3, 3, false));
    }

    /// Every byte of the store's files (database and lock).
    fn file_bytes(dir: &Path) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            all.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        all
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn secret_keys() -> Vec<Vec<u8>> {
        (0..50).map(|i| format!("patient/{i:04}/diagnosis-record").into_bytes()).collect()
    }

    /// The operator reads the file: in keyed mode it holds no record key and no SHA-256 of one;
    /// the keeper still lists them in key order and puts them (opened) into manifests.
    #[test]
    fn the_store_file_reveals_no_record_key_nor_its_hash() {
        for mode in [TreeKeyMode::Keyed, TreeKeyMode::Public] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.redb");
            let tree = match mode {
                TreeKeyMode::Keyed => tree_key(),
                TreeKeyMode::Public => TreeKey::public(),
            };
            let seal = StoreSeal::new(Zeroizing::new([9; 32]), AppId([1; 32]), ShardId(0), tree);
            let store = ShardStore::open(&path, seal.clone()).unwrap();
            let keys = secret_keys();
            let changes: Vec<_> = keys.iter().map(|k| (k.clone(), leaf(1, 3, false))).collect();
            store.commit_group(&changes[..30], None).unwrap();
            let mut state = store.state().unwrap();
            state.confirmed_tree_version = state.tree_version;
            store.put_state(&state).unwrap();
            store.commit_group(&changes[30..], None).unwrap();
            store.commit_group(&[(keys[0].clone(), leaf(2, 4, true))], None).unwrap();
            // The keeper sees the keys: listing (key order), deltas and checkpoints.
            let listed: Vec<_> =
                store.records_after(None, 100).unwrap().into_iter().map(|(k, _)| k).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(listed, sorted);
            let after: Vec<_> =
                store.records_after(Some(&sorted[9]), 3).unwrap().into_iter().map(|(k, _)| k).collect();
            assert_eq!(after, sorted[10..13].to_vec());
            let mut delta: Vec<_> = all_parts(&store, false, 7).into_iter().map(|(k, _)| k).collect();
            delta.sort();
            let mut changed: Vec<_> = keys[30..].to_vec();
            changed.push(keys[0].clone());
            changed.sort();
            assert_eq!(delta, changed);
            assert_eq!(all_parts(&store, true, 7).len(), keys.len());
            drop(store);
            // Reopened, the index still opens (and lists the same).
            let store = ShardStore::open(&path, seal).unwrap();
            assert_eq!(store.records_after(None, 100).unwrap().len(), keys.len());
            assert_eq!(store.record(&keys[0]).unwrap().unwrap().leaf, leaf(2, 4, true));
            drop(store);
            let bytes = file_bytes(dir.path());
            for key in &keys {
                assert!(!contains(&bytes, key), "{mode}: a record key is in the file in clear");
                let sha = public_key_hash(key).0;
                assert_eq!(
                    contains(&bytes, &sha),
                    mode == TreeKeyMode::Public,
                    "{mode}: SHA-256 of a key in the file"
                );
            }
        }
    }

    #[test]
    fn a_store_opened_in_the_other_tree_key_mode_fails_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let state = fill(&open_store(&path), 5, 1);
        let public = StoreSeal::new(Zeroizing::new([9; 32]), AppId([1; 32]), ShardId(0), TreeKey::public());
        assert!(matches!(
            ShardStore::open(&path, public.clone()),
            Err(StoreError::TreeKeyModeChanged {
                pinned: TreeKeyMode::Keyed,
                configured: TreeKeyMode::Public
            })
        ));
        // Another tree key in keyed mode puts every key elsewhere: the index does not open.
        let other = StoreSeal::new(
            Zeroizing::new([9; 32]),
            AppId([1; 32]),
            ShardId(0),
            TreeKey::keyed(Zeroizing::new([6; 32])),
        );
        assert!(is_forged(ShardStore::open(&path, other)));
        // Nothing changed: the pinned mode still opens.
        assert_eq!(open_store(&path).state().unwrap(), state);
        // An empty store takes the mode it is opened in (as a deleted one would).
        let empty_path = dir.path().join("e.redb");
        drop(open_store(&empty_path));
        let store = ShardStore::open(&empty_path, public.clone()).unwrap();
        assert_eq!(store.state().unwrap().tree_key_mode, TreeKeyMode::Public);
        drop(store);
        let public_path = dir.path().join("p.redb");
        fill(&ShardStore::open(&public_path, public).unwrap(), 5, 1);
        assert!(matches!(
            ShardStore::open(&public_path, seal(0)),
            Err(StoreError::TreeKeyModeChanged {
                pinned: TreeKeyMode::Public,
                configured: TreeKeyMode::Keyed
            })
        ));
    }

    #[test]
    fn a_sealed_record_key_moved_to_another_position_is_caught_when_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = open_store(&path);
        fill(&store, 5, 1);
        store.merge_index().unwrap();
        drop(store);
        // Swap the sealed keys of two entries (the operator wants one key listed as another),
        // not the first by position (opening checks that one).
        let mut positions: Vec<[u8; 32]> = (1..=5u8).map(|k| tree_key().hash(&[k]).0).collect();
        positions.sort();
        edit_raw(&path, |txn| {
            let mut records = txn.open_table(RECORDS).unwrap();
            let (a, b) = (positions[3], positions[4]);
            let mut ea = IndexEntry::decode(records.get(a).unwrap().unwrap().value()).unwrap();
            let mut eb = IndexEntry::decode(records.get(b).unwrap().unwrap().value()).unwrap();
            std::mem::swap(&mut ea.sealed_key, &mut eb.sealed_key);
            records.insert(a, borsh::to_vec(&ea).unwrap().as_slice()).unwrap();
            records.insert(b, borsh::to_vec(&eb).unwrap().as_slice()).unwrap();
        });
        // Opening does not open record keys any more; every use of them checks each one.
        let store = open_store(&path);
        assert!(is_forged(store.records_after(None, 10)));
        assert!(is_forged(store.records_after(None, 10)), "a failed build is not kept as an index");
        assert!(!store.names_loaded());
        assert!(is_forged(store.manifest_records(true).and_then(|mut r| r.next_part(10))));
        // Reads by key go by position and never serve the swapped names.
        assert_eq!(store.record(&[1]).unwrap().unwrap().leaf, leaf(1, 1, false));
        drop(store);
        // The first entry moved: opening catches it.
        edit_raw(&path, |txn| {
            let mut records = txn.open_table(RECORDS).unwrap();
            let mut first = IndexEntry::decode(records.get(positions[0]).unwrap().unwrap().value()).unwrap();
            let second = IndexEntry::decode(records.get(positions[1]).unwrap().unwrap().value()).unwrap();
            first.sealed_key = second.sealed_key;
            records.insert(positions[0], borsh::to_vec(&first).unwrap().as_slice()).unwrap();
        });
        assert!(is_forged(ShardStore::open(&path, seal(0))));
    }

    /// Opening a store does not open its record keys: the first listing builds the index, and
    /// from then on every group commit keeps it in step, as do commits before it was built.
    #[test]
    fn the_name_index_is_built_on_the_first_listing_and_kept_in_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = open_store(&path);
        fill(&store, 6, 1);
        store.commit_group(&[(vec![3], leaf(2, 2, true))], None).unwrap();
        drop(store);
        let store = open_store(&path);
        assert!(!store.names_loaded(), "opening opened no record key");
        // Written before the index exists: found by the build.
        store.commit_group(&[(vec![9], leaf(1, 9, false))], None).unwrap();
        assert!(!store.names_loaded());
        let listed = |store: &ShardStore, after: Option<&[u8]>, limit| -> Vec<(Vec<u8>, u64, bool)> {
            let page = store.records_after(after, limit).unwrap();
            page.into_iter().map(|(k, m)| (k, m.leaf.version, m.leaf.tombstone)).collect()
        };
        let first = listed(&store, None, 3);
        assert!(store.names_loaded());
        assert_eq!(first, vec![(vec![1], 1, false), (vec![2], 1, false), (vec![3], 2, true)]);
        // Written after the build: kept in step by the commit.
        store.commit_group(&[(vec![0], leaf(1, 0, false)), (vec![4], leaf(2, 4, false))], None).unwrap();
        let all = listed(&store, None, 100);
        let keys: Vec<u8> = all.iter().map(|(k, _, _)| k[0]).collect();
        assert_eq!(keys, vec![0, 1, 2, 3, 4, 5, 6, 9]);
        assert_eq!(all[4], (vec![4], 2, false));
        assert_eq!(listed(&store, Some(&[4]), 2), vec![(vec![5], 1, false), (vec![6], 1, false)]);
        // A snapshot taken before a commit lists only what it holds.
        let snapshot = store.snapshot().unwrap();
        store.commit_group(&[(vec![7], leaf(1, 7, false))], None).unwrap();
        let in_snapshot: Vec<u8> =
            snapshot.records_after(None, 100).unwrap().iter().map(|(k, _)| k[0]).collect();
        assert_eq!(in_snapshot, vec![0, 1, 2, 3, 4, 5, 6, 9]);
    }

    /// A sealed record key is nonce ‖ AES-256-GCM(len ‖ key ‖ padding) ‖ tag, byte for byte what
    /// the AEAD's one-shot encryption gives, and opens to the key.
    #[test]
    fn a_sealed_record_key_is_nonce_then_aead_output() {
        let seal = seal(3);
        for name in [&b""[..], b"k", &[7u8; 30], &[9u8; 31], &[1u8; 200]] {
            let position = seal.tree.hash(name).0;
            let nonce = [4u8; NAME_NONCE_LEN];
            let sealed = seal.seal_name(&position, name, nonce).unwrap();
            let padded = (2 + name.len()).div_ceil(NAME_BUCKET) * NAME_BUCKET;
            let mut plain = (name.len() as u16).to_le_bytes().to_vec();
            plain.extend_from_slice(name);
            plain.resize(padded, 0);
            let aad = seal.name_aad(&position);
            let expected = Aes256Gcm::new(seal.names.as_ref().into())
                .encrypt(Nonce::from_slice(&nonce), Payload { msg: &plain, aad: &aad })
                .unwrap();
            assert_eq!(sealed, [&nonce[..], &expected].concat());
            assert_eq!(sealed.len(), sealed.capacity());
            assert_eq!(seal.open_name(&position, &sealed).unwrap(), name);
        }
    }

    /// An index entry encoded with its key sealed in place is an [`IndexEntry`]'s Borsh (after
    /// whatever the buffer held), and its meta reads alone; a cut entry is corrupt.
    #[test]
    fn an_index_entry_reads_whole_or_meta_alone() {
        let seal = seal(3);
        let meta = RecordMeta { leaf: leaf(4, 2, false), tree_version: 9 };
        let name = &b"a record key"[..];
        let position = seal.tree.hash(name).0;
        let nonce = [6u8; NAME_NONCE_LEN];
        let mut bytes = vec![1, 2, 3];
        encode_index_entry(&seal, &seal.name_cipher(), (&position, name, nonce), &meta.leaf, 9, &mut bytes)
            .unwrap();
        assert_eq!(bytes[..3], [1, 2, 3]);
        let bytes = bytes.split_off(3);
        let sealed_key = seal.seal_name(&position, name, nonce).unwrap();
        assert_eq!(bytes, borsh::to_vec(&IndexEntry { sealed_key, meta: meta.clone() }).unwrap());
        assert_eq!(seal.open_name(&position, &IndexEntry::decode(&bytes).unwrap().sealed_key).unwrap(), name);
        assert_eq!(IndexEntry::decode(&bytes).unwrap().meta, meta);
        assert_eq!(IndexEntry::decode_meta(&bytes).unwrap(), meta);
        for cut in [2, 30, bytes.len() - 1] {
            assert!(matches!(IndexEntry::decode_meta(&bytes[..cut]), Err(StoreError::Corrupt(_))), "{cut}");
        }
    }

    #[test]
    fn leaf_bytes_are_borsh_and_sized_exactly() {
        for leaf in [leaf(7, 3, false), RecordLeaf { cid: Vec::new(), ..leaf(9, 1, true) }] {
            let bytes = leaf.to_bytes();
            assert_eq!(bytes, borsh::to_vec(&leaf).unwrap());
            assert_eq!(bytes.capacity(), bytes.len());
            assert_eq!(RecordLeaf::from_bytes(&bytes).unwrap(), leaf);
        }
    }

    /// A manifest's records come from one read: commits after it do not change what the parts
    /// hold; a checkpoint is every record in position order, a delta the keys changed since the
    /// confirmed version, each once, with its latest leaf.
    #[test]
    fn manifest_records_are_one_snapshot_read_in_parts() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&dir.path().join("s.redb"));
        let first: Vec<KeyedLeaf> = (0..40u8).map(|k| (vec![k], leaf(1, k, false))).collect();
        store.commit_group(&first, None).unwrap();
        let mut state = store.state().unwrap();
        state.confirmed_tree_version = state.tree_version;
        store.put_state(&state).unwrap();
        // The first group merged into the position-keyed index, the later ones unmerged.
        assert_eq!(store.merge_index().unwrap(), 1);
        store.commit_group(&[(vec![3], leaf(2, 30, false)), (vec![50], leaf(1, 50, false))], None).unwrap();
        let at = store.commit_group(&[(vec![3], leaf(3, 31, true))], None).unwrap();
        let mut checkpoint = store.manifest_records(true).unwrap();
        let mut delta = store.manifest_records(false).unwrap();
        // Written (and merged) after the reads began: in neither.
        store.commit_group(&[(vec![4], leaf(2, 40, false)), (vec![60], leaf(1, 60, false))], None).unwrap();
        assert_eq!(store.merge_index().unwrap(), 3);
        assert_eq!(checkpoint.state(), &at);
        assert_eq!(delta.state(), &at);
        let mut all = Vec::new();
        loop {
            let part = checkpoint.next_part(9).unwrap();
            let short = part.len() < 9;
            all.extend(part);
            if short {
                break;
            }
        }
        assert_eq!(checkpoint.next_part(9).unwrap(), vec![]);
        let positions: Vec<[u8; 32]> = all.iter().map(|(k, _)| store.key_hash(k).0).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "position order, each once");
        let mut expected: Vec<KeyedLeaf> = first.clone();
        expected[3].1 = leaf(3, 31, true);
        expected.push((vec![50], leaf(1, 50, false)));
        all.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(all, expected);
        let mut changed = delta.next_part(100).unwrap();
        changed.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(changed, vec![(vec![3], leaf(3, 31, true)), (vec![50], leaf(1, 50, false))]);
        assert_eq!(delta.next_part(100).unwrap(), vec![]);
    }

    /// A bulk load gives the root, proofs and index that inserting the same records gives, and
    /// the store verifies and serves them after reopening; it refuses a store that holds a tree.
    #[test]
    fn a_bulk_load_matches_grouped_inserts_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<KeyedLeaf> = (0u32..3000)
            .map(|i| {
                (format!("record-{i}").into_bytes(), leaf(u64::from(i % 7) + 1, (i % 251) as u8, i % 13 == 0))
            })
            .collect();
        let grouped = ShardStore::open(dir.path().join("grouped.redb"), seal(0)).unwrap();
        for chunk in records.chunks(700) {
            grouped.commit_group(chunk, None).unwrap();
        }
        let in_one = ShardStore::open(dir.path().join("one.redb"), seal(0)).unwrap();
        let one = in_one.commit_group(&records, None).unwrap();
        let path = dir.path().join("bulk.redb");
        let bulk = open_store(&path);
        let state = bulk.bulk_load(&records).unwrap();
        assert_eq!(state.root, grouped.state().unwrap().root);
        assert_eq!(state.root, one.root);
        assert_eq!((state.tree_version, state.record_count), (1, 3000));
        assert!(matches!(bulk.bulk_load(&records[..1]), Err(StoreError::NotEmpty { version: 1 })));
        drop(bulk);
        let bulk = open_store(&path);
        assert_eq!(bulk.state().unwrap(), state);
        for (key, leaf) in records.iter().step_by(97) {
            let (proved, _) = bulk.prove_against(key, 1, &state.root).unwrap();
            assert_eq!(proved.as_ref(), Some(leaf));
            assert_eq!(bulk.record(key).unwrap().unwrap().leaf, *leaf);
        }
        let (absent, _) = bulk.prove_against(b"never written", 1, &state.root).unwrap();
        assert_eq!(absent, None);
        let mut sorted = records.clone();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let listed: Vec<KeyedLeaf> =
            bulk.records_after(None, 5000).unwrap().into_iter().map(|(k, m)| (k, m.leaf)).collect();
        assert_eq!(listed, sorted);
        let mut checkpoint = all_parts(&bulk, true, 1000);
        checkpoint.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(checkpoint, sorted);
        // In parts (a version each), the same tree and index.
        let parted = open_store(&dir.path().join("parted.redb"));
        let in_parts = parted.bulk_load_in_parts(&records, 700).unwrap();
        assert_eq!((in_parts.root, in_parts.tree_version, in_parts.record_count), (state.root, 5, 3000));
        drop(parted);
        let parted = open_store(&dir.path().join("parted.redb"));
        for (key, leaf) in records.iter().step_by(97) {
            assert_eq!(parted.prove_against(key, 5, &state.root).unwrap().0.as_ref(), Some(leaf));
            assert_eq!(parted.record(key).unwrap().unwrap().leaf, *leaf);
        }
        // Group commits build on the loaded tree (through the verifying reader).
        let next = bulk.commit_group(&[(b"record-5".to_vec(), leaf(9, 9, false))], None).unwrap();
        let expected = grouped.commit_group(&[(b"record-5".to_vec(), leaf(9, 9, false))], None).unwrap();
        assert_eq!(next.root, expected.root);
        assert_eq!(next.record_count, 3000);
    }

    /// Keys read the same whether their newest entry is merged, unmerged, or unmerged over an
    /// older merged one; listings and proofs too; a merge moves entries without changing an
    /// answer, and one landing in a group's transaction too.
    #[test]
    fn the_index_reads_merged_and_unmerged_entries_alike() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_merging(&dir.path().join("s.redb"), 15);
        let mut model: BTreeMap<Vec<u8>, RecordLeaf> = BTreeMap::new();
        let check = |store: &ShardStore, model: &BTreeMap<Vec<u8>, RecordLeaf>| {
            let state = store.state().unwrap();
            for key in (0..40u8).map(|k| vec![k]) {
                let indexed = store.record(&key).unwrap().map(|m| m.leaf);
                assert_eq!(indexed.as_ref(), model.get(&key), "key {key:?}");
                let (proved, _) = store.prove_against(&key, state.tree_version, &state.root).unwrap();
                assert_eq!(proved.as_ref(), model.get(&key));
            }
            let keys: Vec<Vec<u8>> = (0..40u8).map(|k| vec![k]).collect();
            let batch: Vec<Option<RecordLeaf>> = store
                .records_of(keys.iter().map(Vec::as_slice))
                .unwrap()
                .into_iter()
                .map(|m| m.map(|m| m.leaf))
                .collect();
            let expected: Vec<Option<RecordLeaf>> = keys.iter().map(|k| model.get(k).cloned()).collect();
            assert_eq!(batch, expected);
            let listed: Vec<KeyedLeaf> =
                store.records_after(None, 100).unwrap().into_iter().map(|(k, m)| (k, m.leaf)).collect();
            assert_eq!(listed, model.clone().into_iter().collect::<Vec<_>>());
            let mut checkpoint = all_parts(store, true, 7);
            checkpoint.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(checkpoint, listed);
        };
        // 10 keys, merged; then overwrites of some and new keys, unmerged.
        for round in 1..=4u64 {
            let changes: Vec<KeyedLeaf> = (0..10u8)
                .map(|k| k * round as u8 % 37)
                .map(|k| {
                    let version = model.get(&vec![k]).map_or(1, |l| l.version + 1);
                    (vec![k], leaf(version, k ^ round as u8, round == 3 && k % 3 == 0))
                })
                .collect();
            let before = store.unmerged_entries();
            store.commit_group(&changes, None).unwrap();
            model.extend(changes);
            if round == 1 {
                assert_eq!(store.unmerged_entries(), 10);
                check(&store, &model);
                assert_eq!(store.merge_index().unwrap(), 1);
                assert_eq!(store.unmerged_entries(), 0);
            } else if before >= 15 {
                // The group's own commit merged the rows before it.
                assert_eq!(store.unmerged_entries(), 10, "round {round}");
            } else {
                assert_eq!(store.unmerged_entries(), before + 10, "round {round}");
            }
            check(&store, &model);
        }
        assert!(store.names_loaded());
        let path = store.path().to_path_buf();
        drop(store);
        check(&open_merging(&path, 15), &model);
    }

    /// A snapshot (and a checkpoint's read) taken before a merge reads what it read before the
    /// merge, whether the merge ran on its own or in a group's transaction: the store's map no
    /// longer names the merged rows, which the snapshot still sees unmerged.
    #[test]
    fn a_merge_while_a_snapshot_is_open_keeps_the_snapshot_whole() {
        for merge_in_group in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.redb");
            let store = open_merging(&path, if merge_in_group { 1 } else { DEFAULT_INDEX_MERGE_ENTRIES });
            let first: Vec<KeyedLeaf> = (0..20u8).map(|k| (vec![k], leaf(1, k, false))).collect();
            store.commit_group(&first, None).unwrap();
            store.commit_group(&[(vec![1], leaf(2, 101, false))], None).unwrap();
            let snapshot = store.snapshot().unwrap();
            let at = snapshot.state().unwrap();
            let mut checkpoint = store.manifest_records(true).unwrap();
            // Later: an overwrite, a new key, and a merge of everything before them (or of
            // everything but the last group, when groups merge).
            store
                .commit_group(&[(vec![1], leaf(3, 102, false)), (vec![30], leaf(1, 30, false))], None)
                .unwrap();
            store.commit_group(&[(vec![2], leaf(2, 103, false))], None).unwrap();
            if !merge_in_group {
                store.merge_index().unwrap();
            }
            assert!(store.unmerged_entries() <= 1, "merged ({merge_in_group})");
            assert_eq!(snapshot.record(&[1]).unwrap().unwrap().leaf, leaf(2, 101, false));
            assert_eq!(snapshot.record(&[2]).unwrap().unwrap().leaf, leaf(1, 2, false));
            assert_eq!(snapshot.record(&[30]).unwrap(), None);
            let (proved, _) = snapshot.prove_against(&[1], at.tree_version, &at.root).unwrap();
            assert_eq!(proved, Some(leaf(2, 101, false)));
            let listed: Vec<KeyedLeaf> =
                snapshot.records_after(None, 100).unwrap().into_iter().map(|(k, m)| (k, m.leaf)).collect();
            let mut expected = first.clone();
            expected[1].1 = leaf(2, 101, false);
            assert_eq!(listed, expected);
            let mut read = Vec::new();
            loop {
                let part = checkpoint.next_part(6).unwrap();
                if part.is_empty() {
                    break;
                }
                read.extend(part);
            }
            read.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(read, expected);
            // A snapshot after the merge reads the new entries.
            assert_eq!(store.record(&[1]).unwrap().unwrap().leaf, leaf(3, 102, false));
            assert_eq!(store.snapshot().unwrap().record(&[2]).unwrap().unwrap().leaf, leaf(2, 103, false));
        }
    }

    /// A crash after group commits and before their merge (the store dropped with its rows
    /// unmerged, as a kill leaves it: every group commit is durable on its own): reopening reads
    /// the rows back, checks them and serves them, and the next group that finds enough merges
    /// them in its transaction.
    #[test]
    fn reopening_with_unmerged_rows_serves_them_and_merges_later() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = open_merging(&path, 30);
        for round in 1..=3u64 {
            let changes: Vec<KeyedLeaf> = (0..10u8).map(|k| (vec![k], leaf(round, k, false))).collect();
            store.commit_group(&changes, None).unwrap();
        }
        assert_eq!(store.unmerged_entries(), 30);
        drop(store);
        let store = open_merging(&path, 30);
        assert_eq!(store.unmerged_entries(), 30);
        assert_eq!(store.record(&[4]).unwrap().unwrap().leaf, leaf(3, 4, false));
        // Writes check the unmerged entry they replace against the tree, like a merged one.
        store.commit_group(&[(vec![4], leaf(4, 4, false))], None).unwrap();
        assert_eq!(store.unmerged_entries(), 1, "the group merged the 30 entries before it");
        let txn = store.db.begin_read().unwrap();
        assert_eq!(txn.open_table(UNMERGED).unwrap().len().unwrap(), 1);
        assert_eq!(txn.open_table(UNMERGED_DIRS).unwrap().len().unwrap(), 1);
        assert_eq!(txn.open_table(RECORDS).unwrap().len().unwrap(), 10);
        drop(txn);
        assert_eq!(store.record(&[4]).unwrap().unwrap().leaf, leaf(4, 4, false));
        assert_eq!(store.record(&[5]).unwrap().unwrap().leaf, leaf(3, 5, false));
        assert_eq!(store.state().unwrap().record_count, 10);
    }

    /// An unmerged row's directory is sealed to its version and store, and names each entry's
    /// hash: a directory edited, moved to another version or copied from another store fails
    /// the open as forged, and so does one newer than the sealed state; an edited, swapped or
    /// missing entry row is forged when an entry of it is read. An entry rolled back by deleting
    /// its whole row is caught by the write that uses it, as in the merged index.
    /// The operator edits the database under a running store: a directory it plants (edited, or
    /// sealed but newer than the state) is refused by the merge, which changes nothing.
    #[test]
    fn a_row_planted_while_the_store_is_open_is_never_merged() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&dir.path().join("s.redb"));
        fill(&store, 10, 1);
        fill(&store, 10, 2);
        let read_dir = |version: u64| -> Vec<u8> {
            let txn = store.db.begin_read().unwrap();
            let dirs = txn.open_table(UNMERGED_DIRS).unwrap();
            dirs.get(version).unwrap().unwrap().value().to_vec()
        };
        let put_dir = |version: u64, bytes: &[u8]| {
            let txn = store.db.begin_write().unwrap();
            txn.open_table(UNMERGED_DIRS).unwrap().insert(version, bytes).unwrap();
            txn.commit().unwrap();
        };
        let original = read_dir(1);
        let mut edited = original.clone();
        edited[4] ^= 1;
        let (newer, _) =
            store.codec.encode_unmerged_row(3, [(&[7u8; 32], b"entry".as_slice())].into_iter()).unwrap();
        for (what, version, bytes) in [("an edited directory", 1, edited), ("a newer directory", 3, newer)] {
            put_dir(version, &bytes);
            assert!(is_forged(store.merge_index()), "{what}");
            assert_eq!(read_dir(version), bytes, "{what}: the failed merge changed nothing");
            assert_eq!(store.unmerged_entries(), 20, "{what}");
            let txn = store.db.begin_write().unwrap();
            if version == 1 {
                txn.open_table(UNMERGED_DIRS).unwrap().insert(1, original.as_slice()).unwrap();
            } else {
                txn.open_table(UNMERGED_DIRS).unwrap().remove(version).unwrap();
            }
            txn.commit().unwrap();
        }
        assert_eq!(store.merge_index().unwrap(), 2);
        assert_eq!(store.record(&[3]).unwrap().map(|m| m.leaf), Some(leaf(2, 2, false)));
    }

    /// The operator keeps a copy of an unmerged row (genuine: sealed by this store for its
    /// version) and puts it back after the store merged it, so that its older entries would
    /// shadow the merged, newer ones: opening fails as forged (the sealed state says which
    /// versions are merged), and under a running store the next merge refuses it.
    #[test]
    fn an_unmerged_row_restored_after_its_merge_is_forged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = open_store(&path);
        fill(&store, 10, 1);
        let copied: Vec<Vec<u8>> = {
            let txn = store.db.begin_read().unwrap();
            [UNMERGED_DIRS, UNMERGED]
                .map(|table| txn.open_table(table).unwrap().get(1).unwrap().unwrap().value().to_vec())
                .into()
        };
        fill(&store, 10, 2);
        assert_eq!(store.merge_index().unwrap(), 2);
        assert_eq!(store.state().unwrap().index_merged_through, 2);
        let txn = store.db.begin_write().unwrap();
        txn.open_table(UNMERGED_DIRS).unwrap().insert(1, copied[0].as_slice()).unwrap();
        txn.open_table(UNMERGED).unwrap().insert(1, copied[1].as_slice()).unwrap();
        txn.commit().unwrap();
        assert!(is_forged(store.merge_index()), "merged again under a running store");
        assert_eq!(store.record(&[3]).unwrap().map(|m| m.leaf), Some(leaf(2, 2, false)));
        drop(store);
        assert!(is_forged(ShardStore::open(&path, seal(0))), "opened with the restored row");
        edit_raw(&path, |txn| {
            txn.open_table(UNMERGED_DIRS).unwrap().remove(1).unwrap();
            txn.open_table(UNMERGED).unwrap().remove(1).unwrap();
        });
        let store = open_store(&path);
        assert_eq!(store.record(&[3]).unwrap().map(|m| m.leaf), Some(leaf(2, 2, false)));
    }

    /// A manifest's blobs row reads back as written; a cut or edited one is a typed error, not
    /// a panic or a wrong list.
    #[test]
    fn manifest_blobs_rows_round_trip_and_reject_malformed_ones() {
        let blobs = vec![vec![1u8; 36], vec![2u8; 40], Vec::new()];
        let row = encode_manifest_blobs(true, &blobs).unwrap();
        assert_eq!(decode_manifest_blobs(&row).unwrap(), (true, blobs.clone()));
        assert_eq!(
            decode_manifest_blobs(&encode_manifest_blobs(false, &[]).unwrap()).unwrap(),
            (false, vec![])
        );
        for bad in [&row[..row.len() - 1], &row[..2], &[][..], &[2u8][..]] {
            assert!(matches!(decode_manifest_blobs(bad), Err(StoreError::Corrupt(_))), "{bad:?}");
        }
    }

    /// A store written before the state sealed its later fields (its row is that much shorter)
    /// opens with them at their defaults, and the next merge records its version.
    #[test]
    fn a_state_row_from_before_the_merged_version_opens() {
        // Rows of the release before the manifest entry counts (16 bytes cut), of the one before
        // the group log too (its `None` byte) and of the one before the merged version too (8 more
        // bytes).
        for cut in [16, 17, 25] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.redb");
            let store = open_store(&path);
            fill(&store, 10, 1);
            let state = store.state().unwrap();
            assert_eq!((state.index_merged_through, state.log), (0, None));
            let mut body = borsh::to_vec(&state).unwrap();
            body.truncate(body.len() - cut);
            let tag = store
                .codec
                .seal
                .mac(STATE_MAC_DOMAIN, &store.codec.store_id, &[&body])
                .finalize()
                .into_bytes();
            body.extend_from_slice(&tag);
            drop(store);
            edit_raw(&path, |txn| {
                txn.open_table(STATE).unwrap().insert(STATE_KEY, body.as_slice()).unwrap();
            });
            let store = open_store(&path);
            assert_eq!(store.state().unwrap(), state, "cut {cut}");
            assert_eq!(store.merge_index().unwrap(), 1);
            assert_eq!(store.state().unwrap().index_merged_through, 1);
        }
    }

    /// A key written twice in one group: its last write is the one indexed, unmerged and merged.
    #[test]
    fn a_key_written_twice_in_a_group_keeps_its_last_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(&dir.path().join("s.redb"));
        fill(&store, 5, 1);
        let changes =
            vec![(vec![3], leaf(2, 20, false)), (vec![4], leaf(2, 4, false)), (vec![3], leaf(3, 30, false))];
        let state = store.commit_group(&changes, None).unwrap();
        for merged in [false, true] {
            assert_eq!(
                store.record(&[3]).unwrap().map(|m| m.leaf),
                Some(leaf(3, 30, false)),
                "merged: {merged}"
            );
            let (proved, _) = store.prove_against(&[3], state.tree_version, &state.root).unwrap();
            assert_eq!(proved, Some(leaf(3, 30, false)));
            assert_eq!(store.records_after(None, 10).unwrap().len(), 5);
            if !merged {
                assert_eq!(store.merge_index().unwrap(), 2);
            }
        }
    }

    #[test]
    fn a_tampered_moved_or_foreign_unmerged_row_fails_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = open_store(&path);
        fill(&store, 10, 1);
        fill(&store, 10, 2);
        // A directory sealed by this store for a version it never wrote (as one would be that a
        // restored, older state row leaves behind).
        let (newer_dir, _) =
            store.codec.encode_unmerged_row(3, [(&[7u8; 32], b"entry".as_slice())].into_iter()).unwrap();
        drop(store);
        let original = std::fs::read(&path).unwrap();
        let restore = || std::fs::write(&path, &original).unwrap();
        type Edit = Box<dyn Fn(&redb::WriteTransaction)>;
        let edit_row = |table: TableDefinition<'static, u64, &'static [u8]>,
                        from: u64,
                        to: u64,
                        flip: Option<usize>|
         -> Edit {
            Box::new(move |txn| {
                let mut rows = txn.open_table(table).unwrap();
                let mut row = rows.get(from).unwrap().unwrap().value().to_vec();
                if let Some(at) = flip {
                    row[at] ^= 1;
                }
                rows.insert(to, row.as_slice()).unwrap();
            })
        };
        let fails_open: Vec<(&str, Edit)> = vec![
            ("a directory's position", edit_row(UNMERGED_DIRS, 1, 1, Some(4))),
            ("a directory's entry hash", edit_row(UNMERGED_DIRS, 2, 2, Some(4 + 36))),
            ("a directory moved to another version", edit_row(UNMERGED_DIRS, 1, 2, None)),
            ("a directory moved to a newer version", edit_row(UNMERGED_DIRS, 2, 3, None)),
            (
                "a sealed directory newer than the state",
                Box::new(move |txn| {
                    txn.open_table(UNMERGED_DIRS).unwrap().insert(3, newer_dir.as_slice()).unwrap();
                }),
            ),
        ];
        for (what, edit) in &fails_open {
            edit_raw(&path, edit);
            assert!(is_forged(ShardStore::open(&path, seal(0))), "{what}");
            restore();
        }
        let fails_use: Vec<(&str, Edit)> = vec![
            (
                "a byte of key 3's entry",
                Box::new(|txn| {
                    let dir =
                        txn.open_table(UNMERGED_DIRS).unwrap().get(2).unwrap().unwrap().value().to_vec();
                    let dir = UnmergedDir::parse(&dir).unwrap();
                    let i = dir.find(&tree_key().hash(&[3]).0).unwrap();
                    let mut rows = txn.open_table(UNMERGED).unwrap();
                    let mut row = rows.get(2).unwrap().unwrap().value().to_vec();
                    let at = dir.entry_range(i, row.len()).unwrap().start + 5;
                    row[at] ^= 1;
                    rows.insert(2, row.as_slice()).unwrap();
                }),
            ),
            ("the entries of another version", edit_row(UNMERGED, 1, 2, None)),
            (
                "missing entries",
                Box::new(|txn| {
                    txn.open_table(UNMERGED).unwrap().remove(2).unwrap();
                }),
            ),
        ];
        for (what, edit) in &fails_use {
            edit_raw(&path, edit);
            let store = ShardStore::open(&path, seal(0)).unwrap();
            assert!(is_forged(store.record(&[3])), "{what}: read");
            assert!(is_forged(store.commit_group(&[(vec![3], leaf(3, 3, false))], None)), "{what}: write");
            assert!(is_forged(store.merge_index()), "{what}: merge");
            drop(store);
            restore();
        }
        // Another store's row of the same version, same app and shard, same keys.
        let other = dir.path().join("other.redb");
        let other_store = open_store(&other);
        fill(&other_store, 10, 1);
        fill(&other_store, 10, 2);
        drop(other_store);
        let foreign: Vec<Vec<u8>> = {
            let db = Database::create(&other).unwrap();
            let txn = db.begin_read().unwrap();
            [UNMERGED_DIRS, UNMERGED]
                .map(|table| txn.open_table(table).unwrap().get(2).unwrap().unwrap().value().to_vec())
                .into()
        };
        edit_raw(&path, |txn| {
            txn.open_table(UNMERGED_DIRS).unwrap().insert(2, foreign[0].as_slice()).unwrap();
            txn.open_table(UNMERGED).unwrap().insert(2, foreign[1].as_slice()).unwrap();
        });
        assert!(is_forged(ShardStore::open(&path, seal(0))), "a foreign row");
        restore();
        // The newest row deleted: its keys fall back to the older entries, and the next write of
        // one of them is refused (the index disagrees with the tree).
        edit_raw(&path, |txn| {
            txn.open_table(UNMERGED_DIRS).unwrap().remove(2).unwrap();
            txn.open_table(UNMERGED).unwrap().remove(2).unwrap();
        });
        let store = open_store(&path);
        assert_eq!(store.record(&[3]).unwrap().unwrap().leaf, leaf(1, 1, false));
        assert!(is_forged(store.commit_group(&[(vec![3], leaf(2, 3, false))], None)));
        drop(store);
        restore();
        assert!(ShardStore::open(&path, seal(0)).is_ok());
    }
}
