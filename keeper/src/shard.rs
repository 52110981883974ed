//! One shard served by this keeper: the write path (group commit), reads with proofs, the
//! batcher that anchors roots on-chain, and key rotation.
//!
//! Write path: encrypt → blob add → tree update → durable local commit → acknowledge
//! ([`Durability::Local`]), or → acknowledge once an on-chain root containing the write is
//! confirmed ([`Durability::Chain`]; many writes share one update).
//!
//! The rollback window (acknowledged writes not yet anchored, which an operator who restores an
//! older copy of the store can make vanish) is bounded: past `max_unanchored_writes` or
//! `max_unanchored_age`, writes are refused ([`KeeperError::AnchorLagging`]) instead of
//! acknowledged. An update the chain rejects (registration expired, another writer moved the
//! shard) halts the shard's writes with the reason ([`KeeperError::ShardHalted`]); it is not
//! retried forever while writes keep being acknowledged.
//!
//! Write path steps: Writes queue to a single writer task that takes up to `max_group` of them at
//! a time, computes their versions and seals their values, and hands the group to the shard's
//! committer thread, which stores its blobs durably, commits it as one JMT version in one
//! transaction (group commit: made durable by its record in the [`group_log`], synced with the
//! blobs, or by its own sync) and answers its writes: one hand-off per group, no blocking task per
//! stage. While a group commits, the next one fills; once it is answered, the next group may wait
//! briefly (`group_linger`, off by default) for the writers it answered, so busy writers share one
//! group's syncs. The batcher prepares at most one on-chain
//! update at a time per shard and records it durably before sending it, so a crash can only
//! leave an update to resubmit, never two competing ones.
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app_roots::UpdateShardArgs;
use bytes::Bytes;
use cid::Cid;
use sha2::{Digest, Sha256};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Keypair;
use tokio::sync::{mpsc, oneshot, watch, Mutex, Notify, RwLock};

use crate::blobs::{self, BlobError, BlobStore};
use crate::chain::{Chain, ChainError, ShardOnChain};
use crate::crypto::{self, CryptoError, Padding, RecordContext, SealScope};
use crate::failpoint::{self, Step};
use crate::group_log::{self, GroupLog, Logged};
use crate::keys::{AppId, Kek, KeyError, KeySource, ShardId};
use crate::manifest::{self, ManifestError, NewManifest};
use crate::recovery::{self, confirm_pending, FailedClosed, Startup};
use crate::tree::{
    self, ComputedGroup, PendingUpdate, RecordLeaf, RecordProof, ShardState, ShardStore, StoreError,
    StoreOptions, StoreSeal, TreeKeyMode,
};

/// When a write is acknowledged.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// After the durable local commit; anchored on-chain later, within the rollback window.
    #[default]
    Local,
    /// Only once an on-chain root that contains the write is confirmed.
    Chain,
}

impl std::str::FromStr for Durability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(Durability::Local),
            "chain" => Ok(Durability::Chain),
            other => Err(format!("durability must be \"local\" or \"chain\", not {other:?}")),
        }
    }
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Durability::Local => "local",
            Durability::Chain => "chain",
        })
    }
}

#[derive(Clone, Debug)]
pub struct ShardConfig {
    pub app: AppId,
    pub shard: ShardId,
    /// Where the shard's database lives.
    pub store_path: PathBuf,
    /// Commit on-chain after this many acknowledged writes...
    pub commit_every_writes: u64,
    /// ...or after this long, whichever comes first.
    pub commit_interval: Duration,
    /// Most writes in one local group commit.
    pub max_group: usize,
    /// After a group commit, how long the next group may wait for the writers that commit just
    /// answered (they usually write again at once) before it closes: one group of all the busy
    /// writers instead of two alternating halves, each paying the blob and tree syncs. It waits
    /// only until as many writes as that commit answered were queued after its answer; a lone
    /// writer never waits. Zero (the default): no wait. Measured on 2 cores with 32 connections
    /// over 4 shards, two alternating groups of about 4 writes, each filling while the other
    /// commits, gave 7-17 % more single PUTs than one group of about 6.5 with a 1 ms linger, at
    /// the same CPU per PUT (the linger left the committer idle while the writers came back).
    pub group_linger: Duration,
    /// Most bytes (keys and values) of writes queued and not yet answered; past it writes are
    /// refused ([`KeeperError::QueueFull`]) instead of buffered without bound.
    pub max_queued_bytes: u64,
    /// Memory settings of the shard's local store.
    pub store: StoreOptions,
    pub padding: Padding,
    /// Durability of writes that do not ask for one.
    pub durability: Durability,
    /// Most acknowledged writes not yet anchored on-chain; past it writes are refused.
    pub max_unanchored_writes: u64,
    /// Longest an acknowledged write may stay unanchored; past it writes are refused.
    pub max_unanchored_age: Duration,
    /// The app's shard count as the chain reported it at start-up: pinned in the sealed state at
    /// first start, a later change fails the shard closed (`None`: not checked).
    pub shard_count: Option<u16>,
    /// How record keys map to tree positions; pinned in the store when it is created, a later
    /// change fails the shard closed.
    pub tree_key_mode: TreeKeyMode,
    /// At start-up, how long to wait for the finalized chain view to reach the seq this store saw
    /// confirmed (confirmed updates finalize within seconds) before failing closed on it.
    pub finality_wait: Duration,
    /// Most bytes (values, keys, bookkeeping) of recently read records kept decrypted in memory
    /// (0: none).
    pub read_cache_bytes: usize,
}

impl ShardConfig {
    pub fn new(app: AppId, shard: ShardId, store_path: PathBuf) -> Self {
        ShardConfig {
            app,
            shard,
            store_path,
            commit_every_writes: 1024,
            commit_interval: Duration::from_millis(500),
            max_group: 1024,
            group_linger: Duration::ZERO,
            max_queued_bytes: 256 * 1024 * 1024,
            store: StoreOptions::default(),
            padding: Padding::Buckets,
            durability: Durability::Local,
            max_unanchored_writes: 100_000,
            max_unanchored_age: Duration::from_secs(60),
            shard_count: None,
            tree_key_mode: TreeKeyMode::Keyed,
            finality_wait: Duration::from_secs(60),
            read_cache_bytes: 8 * 1024 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeeperError {
    #[error(transparent)]
    FailedClosed(#[from] FailedClosed),
    #[error("record not found")]
    NotFound,
    #[error("write conflict: expected root {expected}, current root {current}")]
    RootChanged { expected: String, current: String },
    #[error("record key must be 1..=1024 bytes and not start with a NUL byte")]
    InvalidKey,
    #[error("value of {len} bytes is larger than the record limit of {max} bytes")]
    ValueTooLarge { len: usize, max: usize },
    #[error("stored ciphertext does not match the tree's hash for this record")]
    CiphertextMismatch,
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("the app has no account on-chain (create it and its shards first)")]
    AppNotOnChain,
    #[error("shard {0} has no account on-chain (create the app and its shards first)")]
    ShardNotOnChain(ShardId),
    #[error("the chain holds seq {chain_seq} root {chain_root} where this keeper prepared seq {seq}: another writer")]
    ChainDiverged { seq: u64, chain_seq: u64, chain_root: String },
    #[error("shard {0} is not served by this keeper")]
    ShardNotServed(ShardId),
    #[error("the keeper is shutting down")]
    ShuttingDown,
    #[error("{unanchored} acknowledged writes are not anchored on-chain yet, the oldest for {oldest_ms} ms: refusing more until the chain catches up")]
    AnchorLagging { unanchored: u64, oldest_ms: u64 },
    #[error("shard stopped accepting writes: {0}")]
    ShardHalted(String),
    #[error("{queued} bytes of writes are queued for this shard, the limit is {max}: retry later")]
    QueueFull { queued: u64, max: u64 },
}

impl From<StoreError> for KeeperError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::RootChanged { expected, current } => KeeperError::RootChanged { expected, current },
            other => KeeperError::Store(other),
        }
    }
}

impl From<group_log::LogError> for KeeperError {
    fn from(e: group_log::LogError) -> Self {
        match e {
            group_log::LogError::Blob(e) => KeeperError::Blob(e),
            group_log::LogError::Store(e) => e.into(),
        }
    }
}

pub const MAX_KEY_LEN: usize = 1024;

fn check_key(key: &[u8]) -> Result<(), KeeperError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || key[0] == 0 {
        return Err(KeeperError::InvalidKey);
    }
    Ok(())
}

enum WriteOp {
    Put {
        key: Vec<u8>,
        value: Bytes,
    },
    Delete {
        key: Vec<u8>,
    },
    /// Key rotation: replace the leaf only if the record is still at `version`.
    Rewrap {
        key: Vec<u8>,
        version: u64,
        leaf: RecordLeaf,
    },
}

struct WriteRequest {
    op: WriteOp,
    expected_root: Option<[u8; 32]>,
    reply: oneshot::Sender<Result<WriteReceipt, KeeperError>>,
    /// Counted in the shard's queued bytes until the writer is done with the request.
    _queued: QueuedBytes,
    /// When it was queued: a writer answered at some instant writes again only after it.
    queued_at: Instant,
}

/// A write's share of the shard's queued bytes, released when the request is dropped (answered,
/// failed, or abandoned by its caller).
struct QueuedBytes {
    total: Arc<AtomicU64>,
    bytes: u64,
}

impl Drop for QueuedBytes {
    fn drop(&mut self) {
        self.total.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

/// Bytes of the values a group puts.
fn value_bytes(group: &[WriteRequest]) -> usize {
    group.iter().map(|req| if let WriteOp::Put { value, .. } = &req.op { value.len() } else { 0 }).sum()
}

fn key_of(req: &WriteRequest) -> &Vec<u8> {
    match &req.op {
        WriteOp::Put { key, .. } | WriteOp::Delete { key } | WriteOp::Rewrap { key, .. } => key,
    }
}

/// Each key a group writes: its new version and whether it is live afterwards.
type Versions = HashMap<Vec<u8>, (u64, bool)>;

/// Per write of a group, its new version or why it is skipped.
type Outcomes = Vec<Result<u64, KeeperError>>;
/// The leaves a group writes.
type Changes = Vec<(Vec<u8>, RecordLeaf)>;

/// One change of a sealed group, in request order.
enum Planned {
    /// A put at `version` (its blob is the next of the group's sealed blobs), or a delete (a
    /// tombstone) when not `put`.
    Record { key: Vec<u8>, version: u64, put: bool },
    /// A rewrap's leaf, complete.
    Leaf { key: Vec<u8>, leaf: RecordLeaf },
}

/// A group with its versions computed and its values sealed: what the committer stores and
/// commits.
struct SealedGroup {
    group: Vec<WriteRequest>,
    outcomes: Outcomes,
    planned: Vec<Planned>,
    /// The puts' sealed values, in request order (taken once stored).
    sealed: Vec<Bytes>,
    /// The group's tree change, once its blobs are stored by the writer (see
    /// [`ShardKeeper::prepare_ahead`]); else the committer stores them.
    tree: Option<GroupTree>,
    /// Per sealed value, its SHA-256 when its CID does not name it (a chunked blob).
    hashes: Vec<Option<[u8; 32]>>,
    key_epoch: u32,
    versions: Arc<Versions>,
    expected_root: Option<[u8; 32]>,
    /// The group's record in the group log, once its blobs are stored with it.
    logged: Option<Logged>,
}

/// A group's tree change, its blobs stored.
enum GroupTree {
    /// Nothing to write (e.g. only deletes of missing keys).
    Unchanged,
    /// Computed while the group before was being written (see [`ShardStore::compute_group`]).
    Computed(ComputedGroup<Changes>),
    /// Computed in the commit itself: for a small group a hand-off of its own would cost more than
    /// the overlap saves.
    Deferred { changes: Changes, expected_root: Option<[u8; 32]> },
}

impl GroupTree {
    fn of(changes: Changes, expected_root: Option<[u8; 32]>) -> Self {
        if changes.is_empty() {
            GroupTree::Unchanged
        } else {
            GroupTree::Deferred { changes, expected_root }
        }
    }
}

/// Groups of at least this many changes are prepared by the writer (blobs stored, tree computed)
/// while the group before is written...
const COMPUTE_AHEAD_MIN_CHANGES: usize = 64;
/// ...unless their values average more than this: then sealing and storing them already takes
/// longer than the tree commit (at 64 KiB, about 300 µs against 40 per write), and computing the
/// tree in the same stage would only lengthen the longer one.
const COMPUTE_AHEAD_MAX_VALUE_BYTES: usize = 8 * 1024;

/// What the group after a commit waits for (see [`ShardConfig::group_linger`]).
struct Awaited {
    /// Writes the commit answered.
    writers: usize,
    answered_at: Instant,
    /// Closes the group even if fewer of them wrote again.
    until: Instant,
}

impl Awaited {
    /// After a successful commit of `writers` writes; nothing after a failed one or with no linger.
    fn after(outcome: Result<Instant, String>, writers: usize, linger: Duration) -> Option<Self> {
        let answered_at = outcome.ok().filter(|_| !linger.is_zero())?;
        Some(Awaited { writers, answered_at, until: Instant::now() + linger })
    }
}

/// A sealed group handed to the shard's committer thread.
struct CommitJob {
    keeper: Arc<ShardKeeper>,
    sealed: SealedGroup,
    /// The group's outcome for the writer: the error message if it was not committed.
    done: oneshot::Sender<Committed>,
}

/// What the committer answers the writer: the group's outcome, and its tree once written, which
/// the writer frees (freeing a large group's nodes and rows would lengthen the committer's
/// stage, the pipeline's longer one).
struct Committed {
    outcome: Result<Instant, String>,
    written: Option<ComputedGroup<Changes>>,
}

/// The group before, storing its blobs and committing while the next one is sealed.
/// Its outcome: when its writes were answered, or the error message.
type InFlightCommit = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Instant, String>> + Send>>;

/// An acknowledged write: durable locally, and with [`Durability::Chain`] anchored on-chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteReceipt {
    pub version: u64,
    /// Shard root after the write's group.
    pub root: [u8; 32],
    pub tree_version: u64,
    /// What the acknowledgement means.
    pub durability: Durability,
    /// The on-chain seq whose root contains the write, when it was anchored before the reply.
    pub anchored_seq: Option<u64>,
}

/// The shard's anchoring as the write path sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Anchoring {
    confirmed_seq: u64,
    confirmed_tree_version: u64,
    halted: Option<String>,
}

/// A record read with its proof.
#[derive(Debug)]
pub struct ReadResult {
    pub value: Vec<u8>,
    pub leaf: RecordLeaf,
    /// The record's tree position (see [`TreeKeyMode`]).
    pub key_hash: [u8; 32],
    /// Proof of `leaf` under `root`.
    pub proof: RecordProof,
    pub root: [u8; 32],
    /// Whether `root` is the shard's on-chain root (else the record is pending a commit).
    pub committed: bool,
    /// The on-chain seq of `root` when committed, else the seq the pending root will get.
    pub seq: u64,
}

/// A proof about a key (inclusion or non-inclusion), without the value.
#[derive(Debug)]
pub struct ProofResult {
    pub leaf: Option<RecordLeaf>,
    /// The tree position the proof is about (see [`TreeKeyMode`]).
    pub key_hash: [u8; 32],
    pub tree_key_mode: TreeKeyMode,
    pub proof: RecordProof,
    pub root: [u8; 32],
    pub committed: bool,
    pub seq: u64,
}

/// The tree version and root a proof of a key is taken against, from one snapshot's state and
/// the key's index entry.
struct ProofTarget {
    tree_version: u64,
    root: [u8; 32],
    committed: bool,
    seq: u64,
}

impl ProofTarget {
    /// The on-chain root when the record's latest state is committed, else the current local
    /// (pending) root; [`KeeperError::NotFound`] while the tree is empty.
    fn of(state: &ShardState, meta: Option<&tree::RecordMeta>) -> Result<Self, KeeperError> {
        if state.tree_version == 0 {
            return Err(KeeperError::NotFound);
        }
        let committed = state.confirmed_tree_version > 0
            && meta.is_none_or(|m| m.tree_version <= state.confirmed_tree_version);
        Ok(if committed {
            ProofTarget {
                tree_version: state.confirmed_tree_version,
                root: state.confirmed_root,
                committed,
                seq: state.confirmed_seq,
            }
        } else {
            ProofTarget {
                tree_version: state.tree_version,
                root: state.root,
                committed,
                seq: state.confirmed_seq + 1,
            }
        })
    }

    fn result(
        self,
        leaf: Option<RecordLeaf>,
        key_hash: [u8; 32],
        tree_key_mode: TreeKeyMode,
        proof: RecordProof,
    ) -> ProofResult {
        let ProofTarget { root, committed, seq, .. } = self;
        ProofResult { leaf, key_hash, tree_key_mode, proof, root, committed, seq }
    }
}

/// What one commit did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    NothingToCommit,
    Committed { seq: u64, root: [u8; 32], manifest: String, entries: u64, tx_bytes: usize, checkpoint: bool },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardStatus {
    pub shard: ShardId,
    pub local_seq: u64,
    pub local_root: [u8; 32],
    pub confirmed_root: [u8; 32],
    pub tree_version: u64,
    pub pending_seq: Option<u64>,
    pub uncommitted_writes: u64,
    /// Acknowledged writes not yet anchored on-chain (the rollback window) and the oldest's age.
    pub unanchored_writes: u64,
    pub oldest_unanchored_ms: u64,
    /// Bytes of writes queued and not yet answered (capped by `max_queued_bytes`).
    pub queued_bytes: u64,
    /// Durability of writes that do not ask for one.
    pub durability: Durability,
    /// Why the shard stopped accepting writes, if it did.
    pub halted: Option<String>,
    pub key_epoch: u32,
    pub record_count: u64,
    pub commits: u64,
    pub last_commit_tx_bytes: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RewrapProgress {
    pub scanned: u64,
    pub rewrapped: u64,
    pub skipped: u64,
}

/// Counters the daemon exports (Prometheus).
#[derive(Debug, Default)]
pub struct ShardMetrics {
    pub groups: AtomicU64,
    pub grouped_writes: AtomicU64,
    pub commits: AtomicU64,
    pub commit_micros_total: AtomicU64,
    pub chain_errors: AtomicU64,
    pub blob_errors: AtomicU64,
    /// Time the writer spent per stage, summed over groups (stages of two groups overlap): sealing
    /// values, storing their blobs (durably), computing the new tree (large groups, while the
    /// group before is written), and the tree commit (durably).
    pub seal_micros_total: AtomicU64,
    pub blob_micros_total: AtomicU64,
    pub tree_compute_micros_total: AtomicU64,
    pub tree_commit_micros_total: AtomicU64,
    /// Group commits that waited for the disk (with the group log, the checkpoints among them).
    pub durable_commits: AtomicU64,
    /// Entries of the manifests published (checkpoints and deltas), and the checkpoints among
    /// them.
    pub manifest_entries: AtomicU64,
    pub manifest_checkpoints: AtomicU64,
    /// Manifests whose blobs were handed to the dead blobs (see [`ShardStore::retire_manifests`]).
    pub manifests_retired: AtomicU64,
}

/// Recently read records: values, decrypted, each with the leaf fields it was opened under, and
/// proofs, each with the tree version and root it verified against.
///
/// A read serves a cached value only when the leaf its proof just verified against the root names
/// the same version and ciphertext hash: that ciphertext opened to this value before, so the blob
/// read, its hash check and the decryption are skipped, never the proof. A read serves a cached
/// proof only when it would prove against the same tree version and root (read from the store's
/// sealed state in the same snapshot as the key's index entry): a version's tree never changes, so
/// walking it again would give the same leaf and proof, already verified against that root. Any
/// write or anchoring changes the version or root the next read proves against, and misses.
/// Bounded by bytes; the oldest entries go first.
struct ReadCache {
    entries: HashMap<Vec<u8>, CachedRecord>,
    /// Keys in insertion order, each once.
    order: VecDeque<Vec<u8>>,
    bytes: usize,
    budget: usize,
}

#[derive(Default)]
struct CachedRecord {
    value: Option<CachedValue>,
    proof: Option<CachedProof>,
}

struct CachedValue {
    version: u64,
    ciphertext_hash: [u8; 32],
    value: Bytes,
}

struct CachedProof {
    tree_version: u64,
    root: [u8; 32],
    leaf: Option<RecordLeaf>,
    proof: RecordProof,
    /// The proof's and leaf's bytes, serialized (for the budget).
    len: usize,
}

impl CachedProof {
    fn new(tree_version: u64, root: [u8; 32], leaf: Option<RecordLeaf>, proof: RecordProof) -> Self {
        let len = borsh::object_length(&proof).unwrap_or(0) + leaf.as_ref().map_or(0, |l| 96 + l.cid.len());
        CachedProof { tree_version, root, leaf, proof, len }
    }
}

impl CachedRecord {
    /// Bytes the entry holds: its value, its proof, its key twice (map and order) and the
    /// bookkeeping, so many small values under long keys stay within the budget too.
    fn size(&self, key: &[u8]) -> usize {
        let value = self.value.as_ref().map_or(0, |v| v.value.len() + 48);
        let proof = self.proof.as_ref().map_or(0, |p| 80 + p.len);
        2 * key.len() + 96 + value + proof
    }
}

impl ReadCache {
    fn new(budget: usize) -> Self {
        ReadCache { entries: HashMap::new(), order: VecDeque::new(), bytes: 0, budget }
    }

    fn enabled(&self) -> bool {
        self.budget > 0
    }

    fn value(&self, key: &[u8], leaf: &RecordLeaf) -> Option<Bytes> {
        self.entries
            .get(key)?
            .value
            .as_ref()
            .filter(|c| c.version == leaf.version && c.ciphertext_hash == leaf.ciphertext_hash)
            .map(|c| c.value.clone())
    }

    fn proof(&self, key: &[u8], tree_version: u64, root: &[u8; 32]) -> Option<&CachedProof> {
        self.entries.get(key)?.proof.as_ref().filter(|p| p.tree_version == tree_version && p.root == *root)
    }

    fn insert_value(&mut self, key: &[u8], leaf: &RecordLeaf, value: Bytes) {
        let cached = CachedValue { version: leaf.version, ciphertext_hash: leaf.ciphertext_hash, value };
        let part = CachedRecord { value: Some(cached), proof: None };
        self.update(key, part, |record, part| record.value = part.value);
    }

    fn insert_proof(&mut self, key: &[u8], proof: CachedProof) {
        let part = CachedRecord { value: None, proof: Some(proof) };
        self.update(key, part, |record, part| record.proof = part.proof);
    }

    fn update(
        &mut self,
        key: &[u8],
        part: CachedRecord,
        merge: impl FnOnce(&mut CachedRecord, CachedRecord),
    ) {
        // One value or proof may take at most a sixteenth of the budget, so a few large reads
        // cannot flush the hot set.
        if part.size(key) > self.budget / 16 {
            return;
        }
        let mut record = match self.entries.remove(key) {
            Some(record) => {
                self.bytes -= record.size(key);
                record
            }
            None => {
                self.order.push_back(key.to_vec());
                CachedRecord::default()
            }
        };
        merge(&mut record, part);
        self.bytes += record.size(key);
        self.entries.insert(key.to_vec(), record);
        while self.bytes > self.budget {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some(old) = self.entries.remove(&oldest) {
                self.bytes -= old.size(&oldest);
            }
        }
    }
}

pub struct ShardKeeper {
    cfg: ShardConfig,
    metrics: ShardMetrics,
    store: Arc<ShardStore>,
    blobs: Arc<dyn BlobStore>,
    keys: Arc<dyn KeySource>,
    chain: Arc<dyn Chain>,
    signer: Arc<Keypair>,
    keks: RwLock<HashMap<u32, Kek>>,
    writes: mpsc::Sender<WriteRequest>,
    /// Bytes of the writes queued and in the writer (see [`ShardConfig::max_queued_bytes`]).
    queued_bytes: Arc<AtomicU64>,
    commit_lock: Mutex<()>,
    uncommitted: AtomicU64,
    commits: AtomicU64,
    last_commit_tx_bytes: AtomicU64,
    wake_batcher: Arc<Notify>,
    anchoring: watch::Sender<Anchoring>,
    /// Unanchored groups: (tree version, writes, when acknowledged), oldest first.
    window: std::sync::Mutex<VecDeque<(u64, u64, Instant)>>,
    startup: Startup,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    read_cache: std::sync::Mutex<ReadCache>,
    /// Writes waiting for [`Durability::Chain`]: while any wait, the batcher anchors first and
    /// prunes later (see [`ShardKeeper::batcher_loop`]).
    chain_waiters: Arc<AtomicU64>,
    /// The committer thread (see [`ShardKeeper::committer_loop`]), joined at shutdown.
    committer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Where groups are logged with their blobs, when the blob store keeps a log: then group
    /// commits do not wait for the disk (see [`group_log`]).
    log: Option<GroupLog>,
}

/// Moves the writes already queued into `group` (up to `max`); a write with an expected root is
/// set aside in `deferred`, to commit alone.
fn take_ready(
    rx: &mut mpsc::Receiver<WriteRequest>,
    group: &mut Vec<WriteRequest>,
    deferred: &mut Option<WriteRequest>,
    max: usize,
) {
    while group.len() < max && deferred.is_none() {
        match rx.try_recv() {
            Ok(req) if req.expected_root.is_none() => group.push(req),
            Ok(req) => *deferred = Some(req),
            Err(_) => break,
        }
    }
}

/// Groups with at most this many value bytes are sealed on the async worker (AES-GCM takes a few
/// microseconds per KiB, about what a hand-off to a blocking thread costs).
const SEAL_INLINE_BYTES: usize = 32 * 1024;

/// When the prune after a confirmed update runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prune {
    /// At once, in a durable transaction of its own (an explicit [`ShardKeeper::commit`]).
    Now,
    /// In the next group commit's transaction (the batcher, while writes flow).
    WithNextGroup,
    /// Not after this update (the batcher, while writes wait for the chain).
    Later,
}

/// Most confirmed updates in a row the batcher anchors without pruning after them while writes
/// wait for the chain; the prune after that covers them all.
const MAX_DEFERRED_PRUNES: u32 = 8;

/// Counts one write waiting for the chain until it is answered or abandoned.
struct ChainWaiter(Arc<AtomicU64>);

impl ChainWaiter {
    fn new(count: &Arc<AtomicU64>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        ChainWaiter(count.clone())
    }
}

impl Drop for ChainWaiter {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ShardKeeper {
    /// Opens the shard's store, reconciles it with the chain (rebuilding or refusing to serve when
    /// they disagree) and starts the writer and batcher tasks.
    pub async fn open(
        cfg: ShardConfig,
        blobs: Arc<dyn BlobStore>,
        keys: Arc<dyn KeySource>,
        chain: Arc<dyn Chain>,
        signer: Arc<Keypair>,
    ) -> Result<Arc<Self>, KeeperError> {
        // Without a chain view (the endpoints agree on) the store is not even opened.
        let first_view = chain
            .shard_finalized(cfg.app.as_bytes(), cfg.shard)
            .await?
            .ok_or(KeeperError::ShardNotOnChain(cfg.shard))?;
        let seal = StoreSeal::derive(keys.as_ref(), cfg.app, cfg.shard, cfg.tree_key_mode).await?;
        let (store, quarantined) = match recovery::open_or_quarantine(&cfg.store_path, seal, cfg.store) {
            Err(e @ StoreError::TreeKeyModeChanged { .. }) => {
                return Err(KeeperError::FailedClosed(FailedClosed {
                    shard: cfg.shard,
                    chain_seq: first_view.seq,
                    chain_root: hex::encode(first_view.root),
                    local_seq: 0,
                    local_root: String::new(),
                    reason: e.to_string(),
                }))
            }
            opened => opened?,
        };
        // The groups acknowledged after the store's last durable commit, before anything reads
        // the store (the chain comparison included).
        group_log::replay_from(&store, blobs.as_ref()).map_err(KeeperError::from)?;
        let chain_state =
            finalized_view(chain.as_ref(), cfg.app, cfg.shard, cfg.finality_wait, &store).await?;
        let (store, startup) = recovery::reconcile(
            store,
            &chain_state,
            blobs.as_ref(),
            keys.as_ref(),
            quarantined,
            |manifests, entries| tracing::info!(manifests, entries, "rebuilding"),
        )
        .await?;
        tracing::info!(shard = %cfg.shard, ?startup, "shard reconciled with the chain");
        if let Some(count) = cfg.shard_count {
            pin_shard_count(&store, &chain_state, cfg.shard, count)?;
        }
        let state = store.state()?;
        let mut window = VecDeque::new();
        if state.tree_version > state.confirmed_tree_version {
            // Acknowledged before a restart: at least one write per group, aged from now.
            window.push_back((
                state.tree_version,
                state.tree_version - state.confirmed_tree_version,
                Instant::now(),
            ));
        }
        let anchoring = Anchoring {
            confirmed_seq: state.confirmed_seq,
            confirmed_tree_version: state.confirmed_tree_version,
            halted: None,
        };
        let kek = keys.app_kek(&cfg.app, state.key_epoch).await?;
        let (tx, rx) = mpsc::channel(cfg.max_group * 4);
        let read_cache = std::sync::Mutex::new(ReadCache::new(cfg.read_cache_bytes));
        let log = blobs.record_log().map(|log| GroupLog::new(log, state.log));
        let keeper = Arc::new(ShardKeeper {
            cfg,
            metrics: ShardMetrics::default(),
            store: Arc::new(store),
            blobs,
            keys,
            chain,
            signer,
            keks: RwLock::new(HashMap::from([(state.key_epoch, kek)])),
            writes: tx,
            queued_bytes: Arc::default(),
            commit_lock: Mutex::new(()),
            uncommitted: AtomicU64::new(u64::from(state.root != state.confirmed_root)),
            commits: AtomicU64::new(0),
            last_commit_tx_bytes: AtomicU64::new(0),
            wake_batcher: Arc::new(Notify::new()),
            anchoring: watch::Sender::new(anchoring),
            window: std::sync::Mutex::new(window),
            startup,
            tasks: Mutex::new(Vec::new()),
            read_cache,
            chain_waiters: Arc::default(),
            committer: std::sync::Mutex::new(None),
            log,
        });
        let (jobs, queued_jobs) = std::sync::mpsc::channel();
        let runtime = tokio::runtime::Handle::current();
        let weak = Arc::downgrade(&keeper);
        let committer = std::thread::Builder::new()
            .name(format!("shard-{}-commit", keeper.cfg.shard))
            .spawn(move || Self::committer_loop(queued_jobs, runtime, weak))
            .map_err(|e| KeeperError::Store(StoreError::Io(e.into())))?;
        *keeper.committer.lock().unwrap_or_else(|p| p.into_inner()) = Some(committer);
        let writer = tokio::spawn(Self::writer_loop(Arc::downgrade(&keeper), rx, jobs));
        let batcher = tokio::spawn(Self::batcher_loop(Arc::downgrade(&keeper)));
        keeper.tasks.lock().await.extend([writer, batcher]);
        if state.pending.is_some() {
            keeper.wake_batcher.notify_one();
        }
        Ok(keeper)
    }

    /// The tree position of `key` in this shard's [`TreeKeyMode`].
    pub fn key_hash(&self, key: &[u8]) -> [u8; 32] {
        self.store.key_hash(key).0
    }

    /// The shard's local store (reads only: writes go through the writer).
    pub fn store(&self) -> &ShardStore {
        &self.store
    }

    pub fn metrics(&self) -> &ShardMetrics {
        &self.metrics
    }

    pub fn startup(&self) -> &Startup {
        &self.startup
    }

    pub fn config(&self) -> &ShardConfig {
        &self.cfg
    }

    pub fn signer(&self) -> Pubkey {
        solana_sdk::signature::Signer::pubkey(self.signer.as_ref())
    }

    /// Stops the background tasks and waits until they are gone, so no task still holds the store
    /// when the keeper is dropped and the database closes cleanly (every acknowledged write is
    /// durable either way), then merges the store's record index.
    pub async fn shutdown(&self) {
        let tasks: Vec<_> = self.tasks.lock().await.drain(..).collect();
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        // The writer held the committer's queue: the thread finishes its group and stops.
        let committer = self.committer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(committer) = committer {
            let _ = tokio::task::spawn_blocking(move || committer.join()).await;
        }
        // Every group is committed: the log continues past everything in it now.
        if let Some(log) = &self.log {
            if let Err(error) = log.checkpoint(&self.store) {
                tracing::warn!(shard = self.cfg.shard.0, %error, "the group log checkpoint at shutdown failed; the next start replays");
            }
        }
        // The record index's unmerged rows merged now, so the next start has none to read and
        // check (after a crash it does, and a later group commit merges them).
        let store = self.store.clone();
        let merged = tokio::task::spawn_blocking(move || store.merge_index()).await;
        if let Err(error) = merged.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
            tracing::warn!(shard = self.cfg.shard.0, %error, "merging the record index at shutdown failed");
        }
    }

    /// Writes `value` under `key` with the shard's default durability.
    pub async fn put(
        &self,
        key: &[u8],
        value: Bytes,
        expected_root: Option<[u8; 32]>,
    ) -> Result<WriteReceipt, KeeperError> {
        self.put_with(key, value, expected_root, None).await
    }

    /// Writes `value` under `key`; `durability` overrides the shard's default.
    pub async fn put_with(
        &self,
        key: &[u8],
        value: Bytes,
        expected_root: Option<[u8; 32]>,
        durability: Option<Durability>,
    ) -> Result<WriteReceipt, KeeperError> {
        check_key(key)?;
        // Refused here, before it is queued: it would fail its whole group at sealing.
        if value.len() > crypto::MAX_VALUE_LEN {
            return Err(KeeperError::ValueTooLarge { len: value.len(), max: crypto::MAX_VALUE_LEN });
        }
        let durability = durability.unwrap_or(self.cfg.durability);
        self.admit()?;
        let receipt = self.submit(WriteOp::Put { key: key.to_vec(), value }, expected_root).await?;
        self.acknowledge(receipt, durability).await
    }

    pub async fn delete(
        &self,
        key: &[u8],
        expected_root: Option<[u8; 32]>,
    ) -> Result<WriteReceipt, KeeperError> {
        self.delete_with(key, expected_root, None).await
    }

    pub async fn delete_with(
        &self,
        key: &[u8],
        expected_root: Option<[u8; 32]>,
        durability: Option<Durability>,
    ) -> Result<WriteReceipt, KeeperError> {
        check_key(key)?;
        match self.store.record(key)? {
            Some(meta) if !meta.leaf.tombstone => {}
            _ => return Err(KeeperError::NotFound),
        }
        let durability = durability.unwrap_or(self.cfg.durability);
        self.admit()?;
        let receipt = self.submit(WriteOp::Delete { key: key.to_vec() }, expected_root).await?;
        self.acknowledge(receipt, durability).await
    }

    /// Refuses a write the shard may not acknowledge: halted, or its rollback window is full.
    fn admit(&self) -> Result<(), KeeperError> {
        if let Some(reason) = &self.anchoring.borrow().halted {
            return Err(KeeperError::ShardHalted(reason.clone()));
        }
        let (unanchored, oldest) = self.window_now();
        if unanchored >= self.cfg.max_unanchored_writes || oldest > self.cfg.max_unanchored_age {
            self.wake_batcher.notify_one();
            return Err(KeeperError::AnchorLagging { unanchored, oldest_ms: oldest.as_millis() as u64 });
        }
        Ok(())
    }

    /// (unanchored writes, age of the oldest).
    fn window_now(&self) -> (u64, Duration) {
        let window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let count = window.iter().map(|(_, n, _)| n).sum();
        (count, window.front().map(|(_, _, at)| at.elapsed()).unwrap_or_default())
    }

    /// The reply to a locally committed write: at once for [`Durability::Local`]; for
    /// [`Durability::Chain`] once a confirmed on-chain root contains it.
    async fn acknowledge(
        &self,
        receipt: WriteReceipt,
        durability: Durability,
    ) -> Result<WriteReceipt, KeeperError> {
        if durability == Durability::Local {
            return Ok(receipt);
        }
        let mut anchoring = self.anchoring.subscribe();
        let _waiting = ChainWaiter::new(&self.chain_waiters);
        self.wake_batcher.notify_one();
        let wanted = receipt.tree_version;
        let waited = tokio::time::timeout(
            self.cfg.max_unanchored_age,
            anchoring.wait_for(|a| a.halted.is_some() || a.confirmed_tree_version >= wanted),
        )
        .await;
        let anchored = match waited {
            Ok(Ok(a)) => a.clone(),
            Ok(Err(_)) => return Err(KeeperError::ShuttingDown),
            Err(_) => {
                let (unanchored, oldest) = self.window_now();
                return Err(KeeperError::AnchorLagging { unanchored, oldest_ms: oldest.as_millis() as u64 });
            }
        };
        if let Some(reason) = anchored.halted {
            if anchored.confirmed_tree_version < wanted {
                return Err(KeeperError::ShardHalted(format!(
                    "{reason}; this write is committed locally at tree version {wanted} but was not anchored"
                )));
            }
        }
        Ok(WriteReceipt {
            durability: Durability::Chain,
            anchored_seq: Some(anchored.confirmed_seq),
            ..receipt
        })
    }

    async fn submit(
        &self,
        op: WriteOp,
        expected_root: Option<[u8; 32]>,
    ) -> Result<WriteReceipt, KeeperError> {
        let bytes = match &op {
            WriteOp::Put { key, value } => key.len() + value.len(),
            WriteOp::Delete { key } | WriteOp::Rewrap { key, .. } => key.len(),
        } as u64;
        let queued = self.queued_bytes.fetch_add(bytes, Ordering::SeqCst) + bytes;
        let share = QueuedBytes { total: self.queued_bytes.clone(), bytes };
        // One write larger than the cap still goes through when nothing else is queued.
        if queued > self.cfg.max_queued_bytes && queued > bytes {
            return Err(KeeperError::QueueFull { queued: queued - bytes, max: self.cfg.max_queued_bytes });
        }
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(WriteRequest { op, expected_root, reply, _queued: share, queued_at: Instant::now() })
            .await
            .map_err(|_| KeeperError::ShuttingDown)?;
        answer.await.map_err(|_| KeeperError::ShuttingDown)?
    }

    async fn kek(&self, epoch: u32) -> Result<Kek, KeeperError> {
        if let Some(kek) = self.keks.read().await.get(&epoch) {
            return Ok(kek.clone());
        }
        let kek = self.keys.app_kek(&self.cfg.app, epoch).await?;
        self.keks.write().await.insert(epoch, kek.clone());
        Ok(kek)
    }

    /// The single writer, a two-stage pipeline: while one group's blobs are stored and its tree
    /// commit runs (on the shard's committer thread), the next group fills and is sealed. The next
    /// group's versions are computed on top of the committing group's (an overlay), so if that
    /// group fails the next one fails with it. A write with an expected root is never overlapped:
    /// it is checked against the committed root.
    async fn writer_loop(
        keeper: std::sync::Weak<Self>,
        mut rx: mpsc::Receiver<WriteRequest>,
        committer: std::sync::mpsc::Sender<CommitJob>,
    ) {
        let mut deferred: Option<WriteRequest> = None;
        let mut committing: Option<InFlightCommit> = None;
        let mut overlay: Arc<Versions> = Arc::default();
        // Writes of the group committing; once it is answered, how many writes the next group
        // waits for (up to `linger`): the writers it answered, who likely write again at once,
        // recognised by being queued after the answer.
        let mut committing_len = 0usize;
        let mut awaited: Option<Awaited> = None;
        let Some(linger) = keeper.upgrade().map(|k| k.cfg.group_linger) else { return };
        loop {
            let first = match deferred.take() {
                Some(req) => req,
                None => {
                    let next = match committing.as_mut() {
                        Some(commit) => tokio::select! {
                            outcome = commit => {
                                committing = None;
                                overlay = Arc::default();
                                awaited = Awaited::after(outcome, committing_len, linger);
                                continue;
                            }
                            req = rx.recv() => req,
                        },
                        None => rx.recv().await,
                    };
                    match next {
                        Some(req) => req,
                        None => {
                            if let Some(commit) = committing.take() {
                                let _ = commit.await;
                            }
                            return;
                        }
                    }
                }
            };
            let Some(keeper) = keeper.upgrade() else { return };
            let mut group = vec![first];
            let serial = group[0].expected_root.is_some();
            // A write with an expected root commits alone, checked against the exact root before it.
            if !serial {
                // While the previous group commits, let this one fill until that commit is done:
                // started on the first arrival, a group under moderate load would hold about one
                // write and pay the blob store's and the tree's syncs alone.
                let mut previous = None;
                if let Some(commit) = committing.as_mut() {
                    while group.len() < keeper.cfg.max_group && deferred.is_none() {
                        tokio::select! {
                            biased;
                            outcome = &mut *commit => {
                                previous = Some(outcome);
                                break;
                            }
                            req = rx.recv() => match req {
                                Some(req) if req.expected_root.is_none() => group.push(req),
                                Some(req) => deferred = Some(req),
                                None => break,
                            },
                        }
                    }
                }
                if let Some(outcome) = previous {
                    // Its writes are in the store now: versions come from there, not the overlay.
                    committing = None;
                    overlay = Arc::default();
                    awaited = Awaited::after(outcome, committing_len, linger);
                }
                take_ready(&mut rx, &mut group, &mut deferred, keeper.cfg.max_group);
                // The writers the previous group just answered send their next writes as soon as
                // their replies reach them: waiting for them (briefly) makes one group of all busy
                // writers, not two alternating halves that each pay the blob and tree syncs.
                if let Some(awaited) = awaited.take() {
                    let mut returned = group.iter().filter(|r| r.queued_at >= awaited.answered_at).count();
                    while returned < awaited.writers
                        && group.len() < keeper.cfg.max_group
                        && deferred.is_none()
                    {
                        tokio::select! {
                            _ = tokio::time::sleep_until(awaited.until.into()) => break,
                            req = rx.recv() => match req {
                                Some(req) if req.expected_root.is_none() => {
                                    returned += usize::from(req.queued_at >= awaited.answered_at);
                                    group.push(req);
                                }
                                Some(req) => deferred = Some(req),
                                None => break,
                            },
                        }
                    }
                }
            }
            if serial {
                if let Some(commit) = committing.take() {
                    let _ = commit.await;
                    overlay = Arc::default();
                }
            }
            // A group sealed while the one before commits (a full group: the writes come faster
            // than the commits), or a large one, is prepared now, overlapping that commit; a small
            // one goes to the committer whole: one hand-off for its blobs and its tree.
            let overlapped = committing.is_some();
            let seal = async {
                let sealed = keeper.seal_group(group, overlay.clone()).await?;
                if overlapped || sealed.planned.len() >= COMPUTE_AHEAD_MIN_CHANGES {
                    keeper.prepare_ahead(sealed).await
                } else {
                    Ok(sealed)
                }
            };
            let (sealed, previous) = match committing.take() {
                Some(commit) => tokio::join!(seal, commit),
                None => (seal.await, Ok(Instant::now())),
            };
            overlay = Arc::default();
            let sealed = match (sealed, previous) {
                (Ok(sealed), Ok(_)) => sealed,
                (Ok(sealed), Err(message)) => {
                    // Its versions were counted on top of the group that just failed.
                    if let Some(log) = &keeper.log {
                        log.failed(sealed.logged.as_ref());
                    }
                    let error = || {
                        KeeperError::Store(StoreError::Io(
                            format!("not written: the group before it failed to commit: {message}").into(),
                        ))
                    };
                    keeper.finish_failed(sealed.group, error);
                    continue;
                }
                (Err((group, e)), _) => {
                    keeper.fail_group(group, e);
                    continue;
                }
            };
            overlay = sealed.versions.clone();
            committing_len = sealed.group.len();
            awaited = None;
            let commit = keeper.start_commit(&committer, sealed);
            if serial {
                let _ = commit.await;
                overlay = Arc::default();
            } else {
                committing = Some(commit);
            }
        }
    }

    /// Hands a sealed group to the committer thread; the returned future ends with its outcome.
    fn start_commit(
        self: &Arc<Self>,
        committer: &std::sync::mpsc::Sender<CommitJob>,
        sealed: SealedGroup,
    ) -> InFlightCommit {
        let (done, finished) = oneshot::channel();
        let job = CommitJob { keeper: self.clone(), sealed, done };
        if let Err(std::sync::mpsc::SendError(job)) = committer.send(job) {
            self.finish_failed(job.sealed.group, || KeeperError::ShuttingDown);
            return Box::pin(std::future::ready(Err(KeeperError::ShuttingDown.to_string())));
        }
        // A committer that stopped without answering (it panicked) dropped the group's replies too.
        Box::pin(async move {
            match finished.await {
                Ok(Committed { outcome, written }) => {
                    // Freed here, in the writer's task.
                    drop(written);
                    outcome
                }
                Err(_) => Err(KeeperError::ShuttingDown.to_string()),
            }
        })
    }

    /// The shard's committer thread: stores each group's blobs and commits it to the tree (durably
    /// with the blobs' sync when logged, see [`group_log`]), then answers its writes, so a group crosses one hand-off (writer to committer) and
    /// its replies go straight to the waiting requests. Stops when the writer drops its queue.
    /// Idle for [`group_log::IDLE_CHECKPOINT`], it makes the logged commits durable.
    fn committer_loop(
        jobs: std::sync::mpsc::Receiver<CommitJob>,
        runtime: tokio::runtime::Handle,
        keeper: std::sync::Weak<Self>,
    ) {
        use std::sync::mpsc::RecvTimeoutError;
        // Checkpoints failing one after another (a store that cannot be written) log once.
        let mut failing = false;
        loop {
            match jobs.recv_timeout(group_log::IDLE_CHECKPOINT) {
                Ok(CommitJob { keeper, sealed, done }) => {
                    let mut written = None;
                    let outcome = keeper.store_and_commit(sealed, &runtime, &mut written);
                    let _ = done.send(Committed { outcome, written });
                }
                Err(RecvTimeoutError::Timeout) => {
                    let Some(keeper) = keeper.upgrade() else { return };
                    if let Some(log) = &keeper.log {
                        match log.checkpoint(&keeper.store) {
                            Err(error) if !failing => {
                                failing = true;
                                tracing::warn!(shard = keeper.cfg.shard.0, %error, "group log checkpoint failed; retrying while idle (not logged again until one succeeds)");
                            }
                            Err(_) => {}
                            Ok(_) => failing = false,
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Answers every write of a group that was not written.
    fn finish_failed(&self, group: Vec<WriteRequest>, mut error: impl FnMut() -> KeeperError) {
        self.metrics.groups.fetch_add(1, Ordering::Relaxed);
        self.metrics.grouped_writes.fetch_add(group.len() as u64, Ordering::Relaxed);
        for req in group {
            let _ = req.reply.send(Err(error()));
        }
    }

    /// Fails every write of a group with `e` (the first) or its message (the others); the message.
    fn fail_group(&self, group: Vec<WriteRequest>, e: KeeperError) -> String {
        let message = e.to_string();
        let mut first = Some(e);
        self.finish_failed(group, || {
            first.take().unwrap_or_else(|| KeeperError::Store(StoreError::Io(message.clone().into())))
        });
        message
    }

    /// On the committer thread: stores a sealed group's blobs (durably), then commits its leaves
    /// into the tree durably and acknowledges its writes; the error message if it failed, in which
    /// case each of its writes was answered with the error.
    fn store_and_commit(
        &self,
        sealed: SealedGroup,
        runtime: &tokio::runtime::Handle,
        written: &mut Option<ComputedGroup<Changes>>,
    ) -> Result<Instant, String> {
        let SealedGroup {
            group,
            outcomes,
            planned,
            sealed,
            tree,
            hashes,
            key_epoch,
            expected_root,
            logged,
            ..
        } = sealed;
        let (tree, logged) = match tree {
            Some(tree) => (tree, logged),
            None => match self.store_blobs_computing_tree(
                sealed,
                planned,
                hashes,
                key_epoch,
                expected_root,
                runtime,
            ) {
                Ok(stored) => {
                    failpoint::hit(Step::WriterAfterBlobs);
                    stored
                }
                Err(e) => {
                    let e = self.blob_failed(e);
                    return Err(self.fail_group(group, e));
                }
            },
        };
        let n = group.len() as u64;
        let committing = Instant::now();
        let committed = self.write_tree(tree, logged.as_ref(), group.len(), written);
        self.metrics
            .tree_commit_micros_total
            .fetch_add(committing.elapsed().as_micros() as u64, Ordering::Relaxed);
        let state = match committed {
            Ok(state) => state,
            Err(e) => {
                if let Some(log) = &self.log {
                    log.failed(logged.as_ref());
                }
                return Err(self.fail_group(group, e.into()));
            }
        };
        failpoint::hit(Step::WriterAfterTreeCommit);
        // A failed group is counted by `finish_failed`, so each group counts once.
        self.metrics.groups.fetch_add(1, Ordering::Relaxed);
        self.metrics.grouped_writes.fetch_add(n, Ordering::Relaxed);
        let written = outcomes.iter().filter(|r| r.is_ok()).count() as u64;
        // Counted under the window's lock, where a confirmed commit recounts what is left.
        let anchor_due = {
            let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
            if written > 0 && window.back().is_none_or(|(v, _, _)| *v < state.tree_version) {
                window.push_back((state.tree_version, written, Instant::now()));
            }
            self.uncommitted.fetch_add(written, Ordering::Relaxed) + written >= self.cfg.commit_every_writes
        };
        let answered_at = Instant::now();
        for (req, version) in group.into_iter().zip(outcomes) {
            let receipt = version.map(|version| WriteReceipt {
                version,
                root: state.root,
                tree_version: state.tree_version,
                durability: Durability::Local,
                anchored_seq: None,
            });
            let _ = req.reply.send(receipt);
        }
        if anchor_due {
            self.wake_batcher.notify_one();
        }
        Ok(answered_at)
    }

    /// Commits a group's tree change: through the group log when it was logged (waiting for the
    /// disk only as the log plans it), else durably. A written tree goes to `written`.
    fn write_tree(
        &self,
        tree: GroupTree,
        logged: Option<&Logged>,
        writes: usize,
        written: &mut Option<ComputedGroup<Changes>>,
    ) -> Result<ShardState, StoreError> {
        let mut computed = match tree {
            GroupTree::Unchanged => return self.store.state(),
            GroupTree::Computed(computed) => computed,
            GroupTree::Deferred { changes, expected_root } => match (&self.log, logged) {
                (Some(_), Some(_)) => self.store.compute_group(changes, expected_root)?,
                _ => return self.store.commit_group(&changes, expected_root),
            },
        };
        let committed = match (&self.log, logged) {
            (Some(log), Some(logged)) => {
                let (cursor, durable) = log.plan_commit(logged, writes);
                let committed = self.store.write_group_logged(&mut computed, cursor, durable);
                if committed.is_ok() {
                    log.committed(logged, writes, durable);
                    if durable {
                        self.metrics.durable_commits.fetch_add(1, Ordering::Relaxed);
                    }
                }
                committed
            }
            _ => {
                let committed = self.store.write_group(&mut computed);
                if committed.is_ok() {
                    self.metrics.durable_commits.fetch_add(1, Ordering::Relaxed);
                }
                committed
            }
        };
        // A group that was not written is dropped here and now: it stops being the next
        // group's base at once.
        if committed.is_ok() {
            *written = Some(computed);
        }
        committed
    }

    /// On the committer thread: writes a group's blobs, computes its tree, then waits until the
    /// blobs are durable and returns the tree change. Computing between the append and the wait
    /// gives a sync another shard's committer runs meanwhile the time to cover this group's blobs
    /// (then this one syncs nothing); the tree is written only after they are durable, so an index
    /// entry never becomes durable before its bytes.
    fn store_blobs_computing_tree(
        &self,
        sealed: Vec<Bytes>,
        planned: Vec<Planned>,
        hashes: Vec<Option<[u8; 32]>>,
        key_epoch: u32,
        expected_root: Option<[u8; 32]>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<(GroupTree, Option<Logged>), KeeperError> {
        let storing = Instant::now();
        let (staged, changes, logged) = match &self.log {
            Some(log) => {
                // The CIDs first: the group's record (its leaves) goes in the blobs' append.
                let planned_blobs = blobs::PlannedBlobs::new(sealed)?;
                let changes = leaves(planned, planned_blobs.cids().to_vec(), hashes, key_epoch)?;
                if changes.is_empty() {
                    (None, changes, None)
                } else {
                    let (staged, logged) = log.stage(&self.store, planned_blobs, &changes)?;
                    (Some(staged), changes, Some(logged))
                }
            }
            None => {
                let staged = if sealed.is_empty() {
                    None
                } else {
                    Some(self.blobs.stage_many_blocking(sealed, runtime)?)
                };
                let cids = staged.as_ref().map_or_else(Vec::new, |s| s.cids().to_vec());
                (staged, leaves(planned, cids, hashes, key_epoch)?, None)
            }
        };
        let computing = Instant::now();
        let tree = if changes.is_empty() {
            Ok(GroupTree::Unchanged)
        } else {
            self.store.compute_group(changes, expected_root).map(GroupTree::Computed)
        };
        let computed = computing.elapsed();
        let durable = staged.map_or(Ok(()), |staged| staged.durable());
        let stored = match (tree, durable) {
            (Ok(tree), Ok(())) => Ok((tree, logged)),
            (Err(e), _) => Err(KeeperError::from(e)),
            (_, Err(e)) => Err(KeeperError::from(e)),
        };
        if let (Err(_), Some(log)) = (&stored, &self.log) {
            log.failed(logged.as_ref());
        }
        self.metrics.tree_compute_micros_total.fetch_add(computed.as_micros() as u64, Ordering::Relaxed);
        self.metrics
            .blob_micros_total
            .fetch_add(storing.elapsed().saturating_sub(computed).as_micros() as u64, Ordering::Relaxed);
        stored
    }

    /// From the writer, while the group before commits: stores a sealed group's blobs (durably)
    /// and, for a large group, computes its tree on top of that group's (see
    /// [`ShardStore::compute_group`]) while its blobs are written: the leaves need only the blobs'
    /// CIDs, which hashing gives before anything is stored. The committer then only writes the
    /// tree, and gets the group only once its blobs are durable.
    async fn prepare_ahead(
        self: &Arc<Self>,
        mut sealed: SealedGroup,
    ) -> Result<SealedGroup, (Vec<WriteRequest>, KeeperError)> {
        let compute_ahead = sealed.planned.len() >= COMPUTE_AHEAD_MIN_CHANGES
            && value_bytes(&sealed.group) <= sealed.planned.len() * COMPUTE_AHEAD_MAX_VALUE_BYTES;
        let blobs = std::mem::take(&mut sealed.sealed);
        let planned = std::mem::take(&mut sealed.planned);
        let hashes = std::mem::take(&mut sealed.hashes);
        let key_epoch = sealed.key_epoch;
        let expected_root = sealed.expected_root;
        let storing = Instant::now();
        let planned_blobs = match blobs::PlannedBlobs::new(blobs) {
            Ok(planned_blobs) => planned_blobs,
            Err(e) => return Err((sealed.group, self.blob_failed(e.into()))),
        };
        let changes = match leaves(planned, planned_blobs.cids().to_vec(), hashes, key_epoch) {
            Ok(changes) => changes,
            Err(e) => return Err((sealed.group, self.blob_failed(e))),
        };
        // Logged: the group's record goes with its blobs (on a blocking thread: file I/O).
        let logging = self.log.is_some() && !changes.is_empty();
        let log_record = logging.then(|| changes.clone());
        let store_blobs = async {
            let stored = match log_record {
                Some(changes) => {
                    let keeper = self.clone();
                    let logged = tokio::task::spawn_blocking(move || {
                        let log = keeper.log.as_ref().expect("logging only with a log");
                        let (staged, logged) = log.stage(&keeper.store, planned_blobs, &changes)?;
                        if let Err(e) = staged.durable() {
                            log.failed(Some(&logged));
                            return Err(KeeperError::Blob(e));
                        }
                        Ok(logged)
                    })
                    .await;
                    match logged {
                        Ok(Ok(logged)) => Ok(Some(logged)),
                        Ok(Err(e)) => Err(e),
                        Err(e) => Err(KeeperError::Store(StoreError::Io(e.into()))),
                    }
                }
                None if planned_blobs.cids().is_empty() => Ok(None),
                None => self.blobs.put_planned(planned_blobs).await.map(|_| None).map_err(KeeperError::from),
            };
            self.metrics.blob_micros_total.fetch_add(storing.elapsed().as_micros() as u64, Ordering::Relaxed);
            stored
        };
        let (stored, tree) = if compute_ahead {
            let store = self.store.clone();
            let compute = async {
                let computing = Instant::now();
                let computed =
                    tokio::task::spawn_blocking(move || store.compute_group(changes, expected_root)).await;
                self.metrics
                    .tree_compute_micros_total
                    .fetch_add(computing.elapsed().as_micros() as u64, Ordering::Relaxed);
                match computed {
                    Ok(Ok(computed)) => Ok(GroupTree::Computed(computed)),
                    Ok(Err(e)) => Err(KeeperError::from(e)),
                    Err(e) => Err(KeeperError::Store(StoreError::Io(e.into()))),
                }
            };
            tokio::join!(store_blobs, compute)
        } else {
            (store_blobs.await, Ok(GroupTree::of(changes, expected_root)))
        };
        // A tree computed for blobs that were not stored is dropped unwritten (and stops being the
        // next group's base); blobs stored for a tree that failed are dead, like any failed group's.
        let logged = match stored {
            Ok(logged) => logged,
            Err(e) => return Err((sealed.group, self.blob_failed(e))),
        };
        let tree = match tree {
            Ok(tree) => tree,
            Err(e) => {
                if let Some(log) = &self.log {
                    log.failed(logged.as_ref());
                }
                return Err((sealed.group, e));
            }
        };
        failpoint::hit(Step::WriterAfterBlobs);
        sealed.tree = Some(tree);
        sealed.logged = logged;
        Ok(sealed)
    }

    /// Counts a failed blob store write; `e` back.
    fn blob_failed(&self, e: KeeperError) -> KeeperError {
        if let KeeperError::Blob(_) = &e {
            self.metrics.blob_errors.fetch_add(1, Ordering::Relaxed);
        }
        e
    }

    /// Computes the group's versions (on top of `overlay`, the group still committing) and seals
    /// its values: everything but the blob store and the tree commit.
    async fn seal_group(
        &self,
        group: Vec<WriteRequest>,
        overlay: Arc<Versions>,
    ) -> Result<SealedGroup, (Vec<WriteRequest>, KeeperError)> {
        match self.plan_and_seal(&group, &overlay).await {
            Ok((outcomes, planned, sealed, hashes, key_epoch, versions)) => {
                let expected_root = group[0].expected_root;
                Ok(SealedGroup {
                    group,
                    outcomes,
                    planned,
                    sealed,
                    tree: None,
                    logged: None,
                    hashes,
                    key_epoch,
                    versions: Arc::new(versions),
                    expected_root,
                })
            }
            Err(e) => Err((group, e)),
        }
    }

    #[allow(clippy::type_complexity)]
    async fn plan_and_seal(
        &self,
        group: &[WriteRequest],
        overlay: &Versions,
    ) -> Result<(Outcomes, Vec<Planned>, Vec<Bytes>, Vec<Option<[u8; 32]>>, u32, Versions), KeeperError> {
        let state = self.store.state()?;
        let kek = self.kek(state.key_epoch).await?;
        let mut versions: Versions = HashMap::new();
        let mut planned: Vec<Planned> = Vec::with_capacity(group.len());
        let mut outcomes: Vec<Result<u64, KeeperError>> = Vec::with_capacity(group.len());
        let mut to_seal: Vec<(Vec<u8>, u64, Bytes)> = Vec::new();
        // The stored versions of the group's keys, in one read (not one transaction per key).
        let unseen: Vec<&[u8]> =
            group.iter().map(key_of).filter(|k| !overlay.contains_key(*k)).map(|k| k.as_slice()).collect();
        let stored: HashMap<&[u8], (u64, bool)> = unseen
            .iter()
            .copied()
            .zip(self.store.records_of(unseen.iter().copied())?)
            .map(|(k, m)| (k, m.map(|m| (m.leaf.version, !m.leaf.tombstone)).unwrap_or((0, false))))
            .collect();
        for req in group {
            let key = key_of(req);
            let (current, live) = match versions.get(key).or_else(|| overlay.get(key)) {
                Some(v) => *v,
                None => stored.get(key.as_slice()).copied().unwrap_or((0, false)),
            };
            match &req.op {
                WriteOp::Put { value, .. } => {
                    versions.insert(key.clone(), (current + 1, true));
                    to_seal.push((key.clone(), current + 1, value.clone()));
                    planned.push(Planned::Record { key: key.clone(), version: current + 1, put: true });
                    outcomes.push(Ok(current + 1));
                }
                WriteOp::Delete { .. } if !live => outcomes.push(Err(KeeperError::NotFound)),
                WriteOp::Delete { .. } => {
                    versions.insert(key.clone(), (current + 1, false));
                    planned.push(Planned::Record { key: key.clone(), version: current + 1, put: false });
                    outcomes.push(Ok(current + 1));
                }
                WriteOp::Rewrap { version, leaf, .. } => {
                    if *version == current && live {
                        planned.push(Planned::Leaf { key: key.clone(), leaf: leaf.clone() });
                        outcomes.push(Ok(current));
                    } else {
                        outcomes.push(Err(KeeperError::RootChanged {
                            expected: format!("version {version}"),
                            current: format!("version {current}"),
                        }));
                    }
                }
            }
        }

        // Encryption is CPU-bound: off the async workers, unless the group is small enough that
        // handing it to a blocking thread (two context switches) would cost more than sealing it.
        let app = self.cfg.app;
        let scope = SealScope::Shard(self.cfg.shard);
        let padding = self.cfg.padding;
        let epoch = kek.epoch();
        let to_seal_bytes: usize = to_seal.iter().map(|(_, _, value)| value.len()).sum();
        let sealing = Instant::now();
        let seal_all = move || {
            to_seal
                .iter()
                .map(|(key, version, value)| {
                    let ctx = RecordContext { app, scope, key, version: *version };
                    crypto::seal(&kek, &ctx, value, padding).map(Bytes::from)
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let sealed = if to_seal_bytes <= SEAL_INLINE_BYTES {
            seal_all()?
        } else {
            tokio::task::spawn_blocking(seal_all)
                .await
                .map_err(|e| KeeperError::Store(StoreError::Io(e.into())))??
        };
        // A blob stored as one block is named by its SHA-256: no need to hash it twice.
        let hashes: Vec<Option<[u8; 32]>> =
            sealed.iter().map(|b| (!blobs::is_single_block(b)).then(|| Sha256::digest(b).into())).collect();
        self.metrics.seal_micros_total.fetch_add(sealing.elapsed().as_micros() as u64, Ordering::Relaxed);
        Ok((outcomes, planned, sealed, hashes, epoch, versions))
    }

    /// Reads a record, checking its blob against the tree and decrypting it.
    pub async fn get(&self, key: &[u8]) -> Result<ReadResult, KeeperError> {
        check_key(key)?;
        let proof = self.proof(key).await?;
        let leaf = match &proof.leaf {
            Some(leaf) if !leaf.tombstone => leaf.clone(),
            _ => return Err(KeeperError::NotFound),
        };
        let cached = self.read_cache.lock().unwrap_or_else(|p| p.into_inner()).value(key, &leaf);
        let value = match cached {
            Some(value) => value.to_vec(),
            None => {
                let value = self.open_record(key, &leaf).await?;
                self.read_cache.lock().unwrap_or_else(|p| p.into_inner()).insert_value(
                    key,
                    &leaf,
                    Bytes::copy_from_slice(&value),
                );
                value
            }
        };
        Ok(ReadResult {
            value,
            leaf,
            key_hash: proof.key_hash,
            proof: proof.proof,
            root: proof.root,
            committed: proof.committed,
            seq: proof.seq,
        })
    }

    /// The value `leaf` names: its blob fetched, checked against the leaf's ciphertext hash and
    /// decrypted.
    async fn open_record(&self, key: &[u8], leaf: &RecordLeaf) -> Result<Vec<u8>, KeeperError> {
        let cid = Cid::try_from(leaf.cid.as_slice())
            .map_err(|e| KeeperError::Store(StoreError::Corrupt(e.into())))?;
        let blob = self.blobs.get(&cid).await?;
        if <[u8; 32]>::from(Sha256::digest(&blob)) != leaf.ciphertext_hash {
            return Err(KeeperError::CiphertextMismatch);
        }
        let kek = self.kek(leaf.key_epoch).await?;
        let ctx =
            RecordContext { app: self.cfg.app, scope: self.cfg.shard.into(), key, version: leaf.version };
        Ok(crypto::open(&kek, &ctx, &blob)?.to_vec())
    }

    /// Inclusion (or non-inclusion) proof of `key`: against the on-chain root when the record's
    /// latest state is committed, else against the current local (pending) root. State, index
    /// and tree are read in one snapshot. A proof the read cache holds for the same tree version
    /// and root is answered at once; else the tree is walked off the async workers.
    pub async fn proof(&self, key: &[u8]) -> Result<ProofResult, KeeperError> {
        if let Some(cached) = self.cached_proof(key)? {
            return Ok(cached);
        }
        let store = self.store.clone();
        let owned_key = key.to_vec();
        let (result, tree_version) =
            tokio::task::spawn_blocking(move || -> Result<(ProofResult, u64), KeeperError> {
                let snapshot = store.snapshot()?;
                let state = snapshot.state()?;
                let meta = snapshot.record(&owned_key)?;
                let target = ProofTarget::of(&state, meta.as_ref())?;
                let (leaf, proof) = snapshot.prove_against(&owned_key, target.tree_version, &target.root)?;
                let key_hash = store.key_hash(&owned_key).0;
                let tree_version = target.tree_version;
                Ok((target.result(leaf, key_hash, store.tree_key_mode(), proof), tree_version))
            })
            .await
            .map_err(|e| KeeperError::Store(StoreError::Io(e.into())))??;
        let cached = CachedProof::new(tree_version, result.root, result.leaf.clone(), result.proof.clone());
        self.read_cache.lock().unwrap_or_else(|p| p.into_inner()).insert_proof(key, cached);
        Ok(result)
    }

    /// The proof of `key` from the read cache, if it holds one for the version and root a proof
    /// would be taken against now. Cheap (one read transaction: the sealed state row and the
    /// key's index entry, both in the store's page cache when hot), so done on the async worker.
    fn cached_proof(&self, key: &[u8]) -> Result<Option<ProofResult>, KeeperError> {
        if !self.read_cache.lock().unwrap_or_else(|p| p.into_inner()).enabled() {
            return Ok(None);
        }
        let snapshot = self.store.snapshot()?;
        let state = snapshot.state()?;
        let meta = snapshot.record(key)?;
        let target = ProofTarget::of(&state, meta.as_ref())?;
        let cache = self.read_cache.lock().unwrap_or_else(|p| p.into_inner());
        let Some(cached) = cache.proof(key, target.tree_version, &target.root) else {
            return Ok(None);
        };
        let (leaf, proof) = (cached.leaf.clone(), cached.proof.clone());
        drop(cache);
        Ok(Some(target.result(leaf, self.store.key_hash(key).0, self.store.tree_key_mode(), proof)))
    }

    /// Keys after `after` (exclusive), live records only.
    pub fn list(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, RecordLeaf)>, KeeperError> {
        let mut out = Vec::new();
        let mut cursor = after.map(|a| a.to_vec());
        while out.len() < limit {
            let page = self.store.records_after(cursor.as_deref(), limit)?;
            let Some((last, _)) = page.last() else { break };
            cursor = Some(last.clone());
            out.extend(page.into_iter().filter(|(_, m)| !m.leaf.tombstone).map(|(k, m)| (k, m.leaf)));
        }
        out.truncate(limit);
        Ok(out)
    }

    pub fn status(&self) -> Result<ShardStatus, KeeperError> {
        let state = self.store.state()?;
        Ok(ShardStatus {
            shard: self.cfg.shard,
            local_seq: state.confirmed_seq,
            local_root: state.root,
            confirmed_root: state.confirmed_root,
            tree_version: state.tree_version,
            pending_seq: state.pending.as_ref().map(|p| p.seq),
            uncommitted_writes: self.uncommitted.load(Ordering::Relaxed),
            unanchored_writes: self.window_now().0,
            oldest_unanchored_ms: self.window_now().1.as_millis() as u64,
            queued_bytes: self.queued_bytes.load(Ordering::SeqCst),
            durability: self.cfg.durability,
            halted: self.anchoring.borrow().halted.clone(),
            key_epoch: state.key_epoch,
            record_count: state.record_count,
            commits: self.commits.load(Ordering::Relaxed),
            last_commit_tx_bytes: self.last_commit_tx_bytes.load(Ordering::Relaxed) as usize,
        })
    }

    /// Anchors the shard's writes: every `commit_every_writes` writes (the writer wakes it), every
    /// `commit_interval`, or at once for a write waiting for the chain. While writes wait for the
    /// chain, the prune after a confirmed update (and the release of the blobs it frees) is put
    /// off, up to [`MAX_DEFERRED_PRUNES`] updates, so the next update is not queued behind it.
    async fn batcher_loop(keeper: std::sync::Weak<Self>) {
        let mut deferred_prunes = 0;
        let mut last_attempt = Instant::now();
        loop {
            let (interval, wake) = match keeper.upgrade() {
                Some(this) => (this.cfg.commit_interval, this.wake_batcher.clone()),
                None => return,
            };
            let woken =
                tokio::time::timeout(interval.saturating_sub(last_attempt.elapsed()), wake.notified())
                    .await
                    .is_ok();
            let Some(this) = keeper.upgrade() else { return };
            if this.anchoring.borrow().halted.is_some() {
                continue;
            }
            // A wake can be stale: the writer counts against the batch an update in flight was
            // taking, so it may have woken us for writes that update has since anchored.
            if woken && !this.anchor_due() {
                continue;
            }
            let prune = if deferred_prunes >= MAX_DEFERRED_PRUNES
                || this.chain_waiters.load(Ordering::Relaxed) == 0
            {
                Prune::WithNextGroup
            } else {
                Prune::Later
            };
            match this.commit_and_prune(prune).await {
                Ok(CommitOutcome::Committed { .. }) if prune == Prune::Later => deferred_prunes += 1,
                // A quiet interval: nothing was written since the last update, so no group will
                // carry out the prune waiting for one; its stale nodes and dead blobs go now.
                Ok(CommitOutcome::NothingToCommit) if !woken => {
                    deferred_prunes = 0;
                    if let Err(e) = this.prune_when_idle().await {
                        tracing::warn!(shard = %this.cfg.shard, error = %e, "idle prune failed; the next group carries it out");
                    }
                }
                Ok(_) => deferred_prunes = 0,
                // The chain refused the update and does not hold it: retrying cannot help, and
                // acknowledging more writes would only grow what cannot be anchored.
                Err(e @ KeeperError::ChainDiverged { .. }) => {
                    tracing::error!(shard = %this.cfg.shard, error = %e, "shard update rejected; halting writes");
                    this.anchoring.send_modify(|a| a.halted = Some(e.to_string()));
                }
                Err(e) => tracing::warn!(shard = %this.cfg.shard, error = %e, "commit failed; will retry"),
            }
            last_attempt = Instant::now();
        }
    }

    /// Carries out a prune that waits for the next group commit, then releases the blobs it found
    /// dead (its transaction is durable when it returns).
    async fn prune_when_idle(&self) -> Result<(), KeeperError> {
        if !self.store.prune_pending() {
            return Ok(());
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.prune_pending_now())
            .await
            .map_err(|e| KeeperError::Store(StoreError::Io(e.into())))??;
        self.release_dead_blobs().await?;
        Ok(())
    }

    /// Whether an update should go out now rather than at the end of the interval: a full batch
    /// of writes, a write waiting for the chain, a full rollback window, or an update prepared
    /// before a restart or a failed attempt.
    fn anchor_due(&self) -> bool {
        if self.uncommitted.load(Ordering::Relaxed) >= self.cfg.commit_every_writes
            || self.chain_waiters.load(Ordering::Relaxed) > 0
        {
            return true;
        }
        let (unanchored, oldest) = self.window_now();
        unanchored >= self.cfg.max_unanchored_writes
            || oldest > self.cfg.max_unanchored_age
            || self.store.state().map_or(true, |s| s.pending.is_some())
    }

    /// Prepares (if needed) and submits the shard's next on-chain update; waits for confirmation,
    /// then prunes what the confirmed root no longer needs.
    pub async fn commit(&self) -> Result<CommitOutcome, KeeperError> {
        self.commit_and_prune(Prune::Now).await
    }

    async fn commit_and_prune(&self, prune: Prune) -> Result<CommitOutcome, KeeperError> {
        let started = Instant::now();
        let outcome = self.commit_inner(prune).await;
        match &outcome {
            Ok(CommitOutcome::Committed { .. }) => {
                self.metrics.commits.fetch_add(1, Ordering::Relaxed);
                self.metrics
                    .commit_micros_total
                    .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            }
            Err(KeeperError::Chain(_)) | Err(KeeperError::ChainDiverged { .. }) => {
                self.metrics.chain_errors.fetch_add(1, Ordering::Relaxed);
            }
            Err(KeeperError::Manifest(_)) | Err(KeeperError::Blob(_)) => {
                self.metrics.blob_errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        outcome
    }

    async fn commit_inner(&self, prune: Prune) -> Result<CommitOutcome, KeeperError> {
        let _one_at_a_time = self.commit_lock.lock().await;
        let started = Instant::now();
        let state = self.store.state()?;
        let (pending, entries) = match state.pending.clone() {
            Some(p) => (p, 0),
            None => {
                if state.root == state.confirmed_root || state.tree_version == state.confirmed_tree_version {
                    self.uncommitted.store(0, Ordering::Relaxed);
                    return Ok(CommitOutcome::NothingToCommit);
                }
                self.prepare().await?
            }
        };
        let prepared_at = Instant::now();
        let args = UpdateShardArgs {
            shard_id: self.cfg.shard.0,
            prev_root: pending.prev_root,
            new_root: pending.root,
            new_seq: pending.seq,
            manifest_cid: pending.manifest_cid.clone(),
        };
        let tx_bytes = self.submit_with_retry(args, &pending).await?;
        let confirmed_at = Instant::now();
        failpoint::hit(Step::BatcherAfterConfirm);
        let confirmed = pending.clone();
        let store = self.store.clone();
        // Not synced: the chain holds the update, and after a crash recovery confirms a prepared
        // update the chain shows. The next durable write (the next group, a prune) syncs it.
        let state = tokio::task::spawn_blocking(move || {
            store.update_state_unsynced(|s| {
                if s.pending.as_ref() == Some(&confirmed) {
                    confirm_pending(s);
                }
                s.clone()
            })
        })
        .await
        .map_err(|e| KeeperError::Store(StoreError::Io(e.into())))??;
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.last_commit_tx_bytes.store(tx_bytes as u64, Ordering::Relaxed);
        {
            let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
            while window.front().is_some_and(|(v, _, _)| *v <= state.confirmed_tree_version) {
                window.pop_front();
            }
            // What is left was acknowledged after this update was prepared: the next update's
            // writes. Counting from zero (or not at all) would anchor early (or back to back) and
            // put fewer writes in each update at full rate.
            self.uncommitted.store(window.iter().map(|(_, n, _)| n).sum(), Ordering::Relaxed);
        }
        self.anchoring.send_modify(|a| {
            a.confirmed_seq = state.confirmed_seq;
            a.confirmed_tree_version = state.confirmed_tree_version;
        });
        failpoint::hit(Step::BatcherAfterAnswer);
        if pending.checkpoint {
            self.retire_manifests().await;
        }
        // Roots older than the confirmed one are no longer served: their stale nodes can go, and
        // with them the blobs of record versions no kept root references. (A later prune covers
        // every version before its own confirmed one, so a skipped one loses nothing.)
        if prune != Prune::Later {
            let keep_from = state.confirmed_tree_version;
            if prune == Prune::Now {
                let store = self.store.clone();
                let _ = tokio::task::spawn_blocking(move || store.prune(keep_from)).await;
            } else {
                // No transaction of its own: the next group carries it out, and the blobs it
                // frees are released after a later update (once that group is durable).
                self.store.prune_with_next_group(keep_from);
            }
            if let Err(e) = self.release_dead_blobs().await {
                self.metrics.blob_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(shard = %self.cfg.shard, error = %e, "releasing dead blobs failed; will retry after the next commit");
            }
        }
        let manifest =
            Cid::try_from(pending.manifest_cid.as_slice()).map(|c| c.to_string()).unwrap_or_default();
        tracing::debug!(
            shard = %self.cfg.shard,
            seq = pending.seq,
            entries,
            prepare_ms = (prepared_at - started).as_secs_f64() * 1e3,
            submit_ms = (confirmed_at - prepared_at).as_secs_f64() * 1e3,
            after_ms = confirmed_at.elapsed().as_secs_f64() * 1e3,
            "shard update confirmed"
        );
        Ok(CommitOutcome::Committed {
            seq: pending.seq,
            root: pending.root,
            manifest,
            entries,
            tx_bytes,
            checkpoint: pending.checkpoint,
        })
    }

    /// Hands the blobs the last prunes found unreachable to the blob store (the local store drops
    /// them and compacts its segments), then forgets them; how many blobs were released.
    pub async fn release_dead_blobs(&self) -> Result<u64, KeeperError> {
        const PER_ROUND: usize = 4096;
        let mut released = 0;
        loop {
            let store = self.store.clone();
            let dead = tokio::task::spawn_blocking(move || store.dead_blobs(PER_ROUND))
                .await
                .map_err(|e| KeeperError::Store(StoreError::Io(e.into())))??;
            if dead.is_empty() {
                return Ok(released);
            }
            let cids = dead
                .iter()
                .map(|c| Cid::try_from(c.as_slice()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| KeeperError::Store(StoreError::Corrupt(e.into())))?;
            self.blobs.release(cids).await?;
            released += dead.len() as u64;
            let store = self.store.clone();
            let done = dead.len() < PER_ROUND;
            tokio::task::spawn_blocking(move || store.forget_dead_blobs(&dead))
                .await
                .map_err(|e| KeeperError::Store(StoreError::Io(e.into())))??;
            if done {
                return Ok(released);
            }
        }
    }

    /// After a confirmed checkpoint: hands the manifests no state the chain can still show needs
    /// (those before the newest checkpoint the chain has finalized) to the dead blobs, released
    /// with the next ones. A failure leaves them for the next checkpoint.
    async fn retire_manifests(&self) {
        let finalized = match self.chain.shard_finalized(self.cfg.app.as_bytes(), self.cfg.shard).await {
            Ok(Some(finalized)) => finalized.seq,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(shard = %self.cfg.shard, error = %e, "reading the finalized shard failed; old manifests are retired after the next checkpoint");
                return;
            }
        };
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.retire_manifests(finalized)).await {
            Ok(Ok(retired)) => {
                self.metrics.manifests_retired.fetch_add(retired as u64, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                tracing::warn!(shard = %self.cfg.shard, error = %e, "retiring old manifests failed; retried after the next checkpoint");
            }
            Err(e) => tracing::warn!(shard = %self.cfg.shard, error = %e, "retiring old manifests panicked"),
        }
    }

    /// Publishes the manifest for the current root and records the prepared update durably.
    async fn prepare(&self) -> Result<(PendingUpdate, u64), KeeperError> {
        let state = self.store.state()?;
        let checkpoint = manifest::checkpoint_due(&state);
        let store = self.store.clone();
        let records = tokio::task::spawn_blocking(move || store.manifest_records(checkpoint))
            .await
            .map_err(|e| KeeperError::Store(StoreError::Io(e.into())))??;
        let snapshot = records.state().clone();
        let seq = snapshot.confirmed_seq + 1;
        let kek = self.kek(snapshot.key_epoch).await?;
        let prev = (!checkpoint).then(|| snapshot.confirmed_manifest.clone());
        let new_manifest =
            NewManifest { app: self.cfg.app, shard: self.cfg.shard, seq, root: snapshot.root, prev };
        let published = manifest::publish(self.blobs.as_ref(), &kek, new_manifest, records).await?;
        failpoint::hit(Step::BatcherAfterManifest);
        let count = published.entries;
        let pending = PendingUpdate {
            seq,
            prev_root: snapshot.confirmed_root,
            root: snapshot.root,
            tree_version: snapshot.tree_version,
            manifest_cid: published.header.to_bytes(),
            checkpoint,
        };
        let recorded = pending.clone();
        let store = self.store.clone();
        // A durable write waits for the writer's group commit (one redb writer at a time) and then
        // for its sync: on a blocking thread, not one of the runtime's few workers.
        tokio::task::spawn_blocking(move || {
            store.update_state_with_manifest(seq, checkpoint, &published.blobs(), |s| {
                s.pending = Some(recorded);
                s.manifest_entries.published(checkpoint, count);
            })
        })
        .await
        .map_err(|e| KeeperError::Store(StoreError::Io(e.into())))??;
        self.metrics.manifest_entries.fetch_add(count, Ordering::Relaxed);
        if checkpoint {
            self.metrics.manifest_checkpoints.fetch_add(1, Ordering::Relaxed);
        }
        failpoint::hit(Step::BatcherAfterPrepare);
        Ok((pending, count))
    }

    /// Sends the update until it is confirmed; a rejection is re-checked against the chain (the
    /// update may have landed before a lost reply).
    async fn submit_with_retry(
        &self,
        args: UpdateShardArgs,
        pending: &PendingUpdate,
    ) -> Result<usize, KeeperError> {
        let mut delay = Duration::from_millis(50);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.chain.submit_update(&self.signer, self.cfg.app.as_bytes(), args.clone()).await {
                Ok(receipt) => return Ok(receipt.tx_bytes),
                Err(ChainError::Rejected { code }) => {
                    // A replay or fork rejection means a newer bank already holds an update at
                    // this seq (ours, landed before a lost reply, or another writer's); the view
                    // read here (at the acknowledging commitment) may not show it yet.
                    let newer_on_chain = code == u32::from(app_roots::error::AppRootsError::SequenceReplay)
                        || code == u32::from(app_roots::error::AppRootsError::RootMismatch);
                    let chain = loop {
                        let chain = self
                            .chain
                            .shard(self.cfg.app.as_bytes(), self.cfg.shard)
                            .await?
                            .ok_or(KeeperError::ShardNotOnChain(self.cfg.shard))?;
                        if !newer_on_chain || chain.seq >= pending.seq || Instant::now() >= deadline {
                            break chain;
                        }
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    };
                    if chain.seq == pending.seq && chain.root == pending.root {
                        return Ok(0);
                    }
                    tracing::error!(code, chain_seq = chain.seq, "shard update rejected");
                    return Err(KeeperError::ChainDiverged {
                        seq: pending.seq,
                        chain_seq: chain.seq,
                        chain_root: hex::encode(chain.root),
                    });
                }
                Err(e) if Instant::now() < deadline => {
                    tracing::warn!(error = %e, "submitting shard update; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Starts a new key epoch: new records are sealed under it; old ones stay readable.
    pub async fn rotate_key_epoch(&self) -> Result<u32, KeeperError> {
        let epoch = self.store.state()?.key_epoch + 1;
        self.kek(epoch).await?;
        self.store.update_state(|s| s.key_epoch = epoch)?;
        Ok(epoch)
    }

    /// Re-wraps the data keys of records sealed under older epochs (the data is untouched) and
    /// goes through the writer, so a record changed meanwhile is skipped, never overwritten.
    pub async fn rewrap_old_epochs(
        &self,
        mut progress: impl FnMut(RewrapProgress),
    ) -> Result<RewrapProgress, KeeperError> {
        let target = self.store.state()?.key_epoch;
        let new_kek = self.kek(target).await?;
        let mut report = RewrapProgress::default();
        let mut cursor: Option<Vec<u8>> = None;
        loop {
            let page = self.store.records_after(cursor.as_deref(), 256)?;
            let Some((last, _)) = page.last() else { break };
            cursor = Some(last.clone());
            for (key, meta) in page {
                report.scanned += 1;
                let leaf = meta.leaf;
                if leaf.tombstone || leaf.key_epoch >= target {
                    continue;
                }
                let cid = Cid::try_from(leaf.cid.as_slice())
                    .map_err(|e| KeeperError::Store(StoreError::Corrupt(e.into())))?;
                let blob = self.blobs.get(&cid).await?;
                let old_kek = self.kek(leaf.key_epoch).await?;
                let rewrapped = Bytes::from(crypto::rewrap(&blob, &old_kek, &new_kek)?);
                let hash: [u8; 32] = Sha256::digest(&rewrapped).into();
                let new_cid = self.blobs.put(rewrapped).await?;
                let new_leaf = RecordLeaf {
                    cid: new_cid.to_bytes(),
                    ciphertext_hash: hash,
                    key_epoch: target,
                    ..leaf.clone()
                };
                match self.submit(WriteOp::Rewrap { key, version: leaf.version, leaf: new_leaf }, None).await
                {
                    Ok(_) => report.rewrapped += 1,
                    Err(KeeperError::RootChanged { .. }) => report.skipped += 1,
                    Err(e) => return Err(e),
                }
            }
            progress(report);
        }
        Ok(report)
    }
}

/// The shard's finalized on-chain state, for start-up decisions. A finalized view older than the
/// seq this store saw confirmed (sealed) is re-read for up to `finality_wait`, since a confirmed
/// update finalizes within seconds; one still older after that is returned as it is, and
/// reconciling fails closed on it.
pub async fn finalized_view(
    chain: &dyn Chain,
    app: AppId,
    shard: ShardId,
    finality_wait: Duration,
    store: &ShardStore,
) -> Result<ShardOnChain, KeeperError> {
    let seen = store.state()?.confirmed_seq;
    let deadline = Instant::now() + finality_wait;
    loop {
        let view =
            chain.shard_finalized(app.as_bytes(), shard).await?.ok_or(KeeperError::ShardNotOnChain(shard))?;
        if view.seq >= seen || Instant::now() >= deadline {
            return Ok(view);
        }
        tracing::info!(shard = shard.0, finalized = view.seq, seen, "waiting for the chain to finalize");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Pins the app's shard count (routing) in the sealed state at first start; a different count
/// later fails the shard closed rather than routing keys to other shards.
fn pin_shard_count(
    store: &ShardStore,
    chain: &ShardOnChain,
    shard: ShardId,
    count: u16,
) -> Result<(), KeeperError> {
    let pinned = store.update_state(|s| {
        if s.shard_count == 0 {
            s.shard_count = count;
        }
        s.shard_count
    })?;
    if pinned != count {
        let state = store.state()?;
        return Err(KeeperError::FailedClosed(FailedClosed {
            shard,
            chain_seq: chain.seq,
            chain_root: hex::encode(chain.root),
            local_seq: state.confirmed_seq,
            local_root: hex::encode(state.confirmed_root),
            reason: format!("the chain reports {count} shards but this store was pinned to {pinned}"),
        }));
    }
    Ok(())
}

/// A sealed group's leaves in request order: each put's leaf names its stored blob (`cids`, with
/// `hashes` for the blobs their CID does not hash).
fn leaves(
    planned: Vec<Planned>,
    cids: Vec<Cid>,
    hashes: Vec<Option<[u8; 32]>>,
    key_epoch: u32,
) -> Result<Changes, KeeperError> {
    let mut stored = cids.into_iter().zip(hashes);
    planned
        .into_iter()
        .map(|change| {
            let (key, leaf) = match change {
                Planned::Record { key, version, put: true } => {
                    let (cid, hash) = stored.next().ok_or_else(|| {
                        KeeperError::Store(StoreError::Io("the blob store returned too few CIDs".into()))
                    })?;
                    let hash = match hash {
                        Some(hash) => hash,
                        None => cid
                            .hash()
                            .digest()
                            .try_into()
                            .map_err(|_| KeeperError::Blob(BlobError::UnsupportedCid(cid)))?,
                    };
                    let leaf = RecordLeaf {
                        version,
                        cid: cid.to_bytes(),
                        ciphertext_hash: hash,
                        key_epoch,
                        tombstone: false,
                    };
                    (key, leaf)
                }
                Planned::Record { key, version, put: false } => {
                    let leaf = RecordLeaf {
                        version,
                        cid: Vec::new(),
                        ciphertext_hash: [0; 32],
                        key_epoch,
                        tombstone: true,
                    };
                    (key, leaf)
                }
                Planned::Leaf { key, leaf } => (key, leaf),
            };
            Ok((key, leaf))
        })
        .collect()
}

/// Checks a read's proof against a root (e.g. the on-chain shard root) at tree position
/// `key_hash` ([`ReadResult::key_hash`], or [`tree::public_key_hash`] of the key in public mode).
pub fn verify_read(
    root: &[u8; 32],
    key_hash: &[u8; 32],
    leaf: Option<&RecordLeaf>,
    proof: &RecordProof,
) -> bool {
    tree::verify_record_proof(root, jmt::KeyHash(*key_hash), leaf, proof)
}
