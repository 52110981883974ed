//! One shard served by this keeper: the write path (group commit), reads with proofs, the
//! batcher that anchors roots on-chain, and key rotation.
//!
//! Write path: encrypt → blob add → tree update → durable local commit → acknowledge. Writes queue
//! to a single writer task that takes up to `max_group` of them at a time and commits them as one
//! JMT version in one fsync'd transaction (group commit). The batcher prepares at most one on-chain
//! update at a time per shard and records it durably before sending it, so a crash can only
//! leave an update to resubmit, never two competing ones.
use std::collections::HashMap;
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
use tokio::sync::{mpsc, oneshot, Mutex, Notify, RwLock};

use crate::blobs::{BlobError, BlobStore};
use crate::chain::{Chain, ChainError, ShardOnChain};
use crate::crypto::{self, CryptoError, Padding, RecordContext};
use crate::keys::{AppId, Kek, KeyError, KeySource};
use crate::manifest::{self, ManifestError, CHECKPOINT_EVERY};
use crate::recovery::{self, confirm_pending, FailedClosed, Startup};
use crate::tree::{self, PendingUpdate, RecordLeaf, RecordProof, ShardState, ShardStore, StoreError};

#[derive(Clone, Debug)]
pub struct ShardConfig {
    pub app: AppId,
    pub shard: u16,
    /// Where the shard's database lives.
    pub store_path: PathBuf,
    /// Commit on-chain after this many acknowledged writes...
    pub commit_every_writes: u64,
    /// ...or after this long, whichever comes first.
    pub commit_interval: Duration,
    /// Most writes in one local group commit.
    pub max_group: usize,
    pub padding: Padding,
}

impl ShardConfig {
    pub fn new(app: AppId, shard: u16, store_path: PathBuf) -> Self {
        ShardConfig {
            app,
            shard,
            store_path,
            commit_every_writes: 1024,
            commit_interval: Duration::from_millis(500),
            max_group: 1024,
            padding: Padding::Buckets,
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
    #[error("shard {0} has no account on-chain (create the app and its shards first)")]
    ShardNotOnChain(u16),
    #[error("the chain holds seq {chain_seq} root {chain_root} where this keeper prepared seq {seq}: another writer")]
    ChainDiverged { seq: u64, chain_seq: u64, chain_root: String },
    #[error("shard {0} is not served by this keeper")]
    ShardNotServed(u16),
    #[error("the keeper is shutting down")]
    ShuttingDown,
}

impl From<StoreError> for KeeperError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::RootChanged { expected, current } => KeeperError::RootChanged { expected, current },
            other => KeeperError::Store(other),
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
}

/// An acknowledged write: durable locally, not yet necessarily on-chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteReceipt {
    pub version: u64,
    /// Shard root after the write's group.
    pub root: [u8; 32],
    pub tree_version: u64,
}

/// A record read with its proof.
#[derive(Debug)]
pub struct ReadResult {
    pub value: Vec<u8>,
    pub leaf: RecordLeaf,
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
    pub proof: RecordProof,
    pub root: [u8; 32],
    pub committed: bool,
    pub seq: u64,
}

/// What one commit did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    NothingToCommit,
    Committed { seq: u64, root: [u8; 32], manifest: String, entries: u64, tx_bytes: usize, checkpoint: bool },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardStatus {
    pub shard: u16,
    pub local_seq: u64,
    pub local_root: [u8; 32],
    pub confirmed_root: [u8; 32],
    pub tree_version: u64,
    pub pending_seq: Option<u64>,
    pub uncommitted_writes: u64,
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
    commit_lock: Mutex<()>,
    uncommitted: AtomicU64,
    commits: AtomicU64,
    last_commit_tx_bytes: AtomicU64,
    wake_batcher: Arc<Notify>,
    startup: Startup,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
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
        let chain_state: ShardOnChain = chain
            .shard(cfg.app.as_bytes(), cfg.shard)
            .await?
            .ok_or(KeeperError::ShardNotOnChain(cfg.shard))?;
        let (store, quarantined) = recovery::open_or_quarantine(&cfg.store_path)?;
        let (store, startup) = recovery::reconcile(
            store,
            &chain_state,
            blobs.as_ref(),
            keys.as_ref(),
            cfg.app,
            cfg.shard as u32,
            quarantined.is_some(),
            |manifests, entries| tracing::info!(manifests, entries, "rebuilding"),
        )
        .await?;
        tracing::info!(shard = cfg.shard, ?startup, "shard reconciled with the chain");
        let state = store.state()?;
        let kek = keys.app_kek(&cfg.app, state.key_epoch).await?;
        let (tx, rx) = mpsc::channel(cfg.max_group * 4);
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
            commit_lock: Mutex::new(()),
            uncommitted: AtomicU64::new(u64::from(state.root != state.confirmed_root)),
            commits: AtomicU64::new(0),
            last_commit_tx_bytes: AtomicU64::new(0),
            wake_batcher: Arc::new(Notify::new()),
            startup,
            tasks: Mutex::new(Vec::new()),
        });
        let writer = tokio::spawn(Self::writer_loop(Arc::downgrade(&keeper), rx));
        let batcher = tokio::spawn(Self::batcher_loop(Arc::downgrade(&keeper)));
        keeper.tasks.lock().await.extend([writer, batcher]);
        if state.pending.is_some() {
            keeper.wake_batcher.notify_one();
        }
        Ok(keeper)
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
    /// durable either way).
    pub async fn shutdown(&self) {
        let tasks: Vec<_> = self.tasks.lock().await.drain(..).collect();
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }

    pub async fn put(
        &self,
        key: &[u8],
        value: Bytes,
        expected_root: Option<[u8; 32]>,
    ) -> Result<WriteReceipt, KeeperError> {
        check_key(key)?;
        self.submit(WriteOp::Put { key: key.to_vec(), value }, expected_root).await
    }

    pub async fn delete(
        &self,
        key: &[u8],
        expected_root: Option<[u8; 32]>,
    ) -> Result<WriteReceipt, KeeperError> {
        check_key(key)?;
        match self.store.record(key)? {
            Some(meta) if !meta.leaf.tombstone => {}
            _ => return Err(KeeperError::NotFound),
        }
        self.submit(WriteOp::Delete { key: key.to_vec() }, expected_root).await
    }

    async fn submit(
        &self,
        op: WriteOp,
        expected_root: Option<[u8; 32]>,
    ) -> Result<WriteReceipt, KeeperError> {
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(WriteRequest { op, expected_root, reply })
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

    async fn writer_loop(keeper: std::sync::Weak<Self>, mut rx: mpsc::Receiver<WriteRequest>) {
        let mut deferred: Option<WriteRequest> = None;
        loop {
            let first = match deferred.take() {
                Some(req) => req,
                None => match rx.recv().await {
                    Some(req) => req,
                    None => return,
                },
            };
            let Some(keeper) = keeper.upgrade() else { return };
            let mut group = vec![first];
            // A write with an expected root commits alone, checked against the exact root before it.
            if group[0].expected_root.is_none() {
                while group.len() < keeper.cfg.max_group {
                    match rx.try_recv() {
                        Ok(req) if req.expected_root.is_none() => group.push(req),
                        Ok(req) => {
                            deferred = Some(req);
                            break;
                        }
                        Err(_) => break,
                    }
                }
            }
            keeper.commit_group(group).await;
        }
    }

    async fn commit_group(&self, group: Vec<WriteRequest>) {
        let expected_root = group[0].expected_root;
        let result = self.apply_group(&group, expected_root).await;
        let n = group.len() as u64;
        self.metrics.groups.fetch_add(1, Ordering::Relaxed);
        self.metrics.grouped_writes.fetch_add(n, Ordering::Relaxed);
        if let Err(KeeperError::Blob(_)) = &result {
            self.metrics.blob_errors.fetch_add(1, Ordering::Relaxed);
        }
        match result {
            Ok((receipts, state)) => {
                for (req, version) in group.into_iter().zip(receipts) {
                    let receipt = version.map(|version| WriteReceipt {
                        version,
                        root: state.root,
                        tree_version: state.tree_version,
                    });
                    let _ = req.reply.send(receipt);
                }
                if self.uncommitted.fetch_add(n, Ordering::Relaxed) + n >= self.cfg.commit_every_writes {
                    self.wake_batcher.notify_one();
                }
            }
            Err(e) => {
                let message = e.to_string();
                let mut first = Some(e);
                for req in group {
                    let err =
                        first.take().unwrap_or_else(|| KeeperError::Store(StoreError::Io(message.clone())));
                    let _ = req.reply.send(Err(err));
                }
            }
        }
    }

    /// Encrypts, stores blobs, and commits the group; per request, its new version or why it was
    /// skipped.
    async fn apply_group(
        &self,
        group: &[WriteRequest],
        expected_root: Option<[u8; 32]>,
    ) -> Result<(Vec<Result<u64, KeeperError>>, ShardState), KeeperError> {
        let state = self.store.state()?;
        let kek = self.kek(state.key_epoch).await?;
        let mut versions: HashMap<Vec<u8>, (u64, bool)> = HashMap::new();
        let mut plan: Vec<(usize, Vec<u8>, u64, Option<Bytes>)> = Vec::with_capacity(group.len());
        let mut outcomes: Vec<Result<u64, KeeperError>> = Vec::with_capacity(group.len());
        let mut rewraps: Vec<(usize, Vec<u8>, RecordLeaf)> = Vec::new();
        for (i, req) in group.iter().enumerate() {
            let key = match &req.op {
                WriteOp::Put { key, .. } | WriteOp::Delete { key } | WriteOp::Rewrap { key, .. } => key,
            };
            let (current, live) = match versions.get(key) {
                Some(v) => *v,
                None => {
                    self.store.record(key)?.map(|m| (m.leaf.version, !m.leaf.tombstone)).unwrap_or((0, false))
                }
            };
            match &req.op {
                WriteOp::Put { value, .. } => {
                    versions.insert(key.clone(), (current + 1, true));
                    plan.push((i, key.clone(), current + 1, Some(value.clone())));
                    outcomes.push(Ok(current + 1));
                }
                WriteOp::Delete { .. } if !live => outcomes.push(Err(KeeperError::NotFound)),
                WriteOp::Delete { .. } => {
                    versions.insert(key.clone(), (current + 1, false));
                    plan.push((i, key.clone(), current + 1, None));
                    outcomes.push(Ok(current + 1));
                }
                WriteOp::Rewrap { version, leaf, .. } => {
                    if *version == current && live {
                        rewraps.push((i, key.clone(), leaf.clone()));
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

        // Encryption is CPU-bound: do it off the async workers.
        let app = self.cfg.app;
        let shard = self.cfg.shard as u32;
        let padding = self.cfg.padding;
        let epoch = kek.epoch();
        let to_seal: Vec<(Vec<u8>, u64, Bytes)> = plan
            .iter()
            .filter_map(|(_, k, v, value)| value.clone().map(|value| (k.clone(), *v, value)))
            .collect();
        let sealed = tokio::task::spawn_blocking(move || {
            to_seal
                .iter()
                .map(|(key, version, value)| {
                    let ctx = RecordContext { app, shard, key, version: *version };
                    crypto::seal(&kek, &ctx, value, padding).map(Bytes::from)
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| KeeperError::Store(StoreError::Io(e.to_string())))??;
        let hashes: Vec<[u8; 32]> = sealed.iter().map(|b| Sha256::digest(b).into()).collect();
        let cids = self.blobs.put_many(sealed).await?;

        let mut changes: Vec<(Vec<u8>, RecordLeaf)> = Vec::with_capacity(plan.len() + rewraps.len());
        let mut stored = cids.into_iter().zip(hashes);
        for (_, key, version, value) in &plan {
            let leaf = match value {
                Some(_) => {
                    let (cid, hash) = stored.next().expect("one blob per put");
                    RecordLeaf {
                        version: *version,
                        cid: cid.to_bytes(),
                        ciphertext_hash: hash,
                        key_epoch: epoch,
                        tombstone: false,
                    }
                }
                None => RecordLeaf {
                    version: *version,
                    cid: Vec::new(),
                    ciphertext_hash: [0; 32],
                    key_epoch: epoch,
                    tombstone: true,
                },
            };
            changes.push((key.clone(), leaf));
        }
        changes.extend(rewraps.into_iter().map(|(_, k, l)| (k, l)));
        if changes.is_empty() {
            return Ok((outcomes, state));
        }
        let store = self.store.clone();
        let state = tokio::task::spawn_blocking(move || store.commit_group(&changes, expected_root))
            .await
            .map_err(|e| KeeperError::Store(StoreError::Io(e.to_string())))??;
        Ok((outcomes, state))
    }

    /// Reads a record, checking its blob against the tree and decrypting it.
    pub async fn get(&self, key: &[u8]) -> Result<ReadResult, KeeperError> {
        check_key(key)?;
        let proof = self.proof(key).await?;
        let leaf = match &proof.leaf {
            Some(leaf) if !leaf.tombstone => leaf.clone(),
            _ => return Err(KeeperError::NotFound),
        };
        let cid = Cid::try_from(leaf.cid.as_slice())
            .map_err(|e| KeeperError::Store(StoreError::Corrupt(e.to_string())))?;
        let blob = self.blobs.get(&cid).await?;
        if <[u8; 32]>::from(Sha256::digest(&blob)) != leaf.ciphertext_hash {
            return Err(KeeperError::CiphertextMismatch);
        }
        let kek = self.kek(leaf.key_epoch).await?;
        let ctx =
            RecordContext { app: self.cfg.app, shard: self.cfg.shard as u32, key, version: leaf.version };
        let value = crypto::open(&kek, &ctx, &blob)?.to_vec();
        Ok(ReadResult {
            value,
            leaf,
            proof: proof.proof,
            root: proof.root,
            committed: proof.committed,
            seq: proof.seq,
        })
    }

    /// Inclusion (or non-inclusion) proof of `key`: against the on-chain root when the record's
    /// latest state is committed, else against the current local (pending) root.
    pub async fn proof(&self, key: &[u8]) -> Result<ProofResult, KeeperError> {
        let store = self.store.clone();
        let key = key.to_vec();
        tokio::task::spawn_blocking(move || -> Result<ProofResult, KeeperError> {
            let state = store.state()?;
            if state.tree_version == 0 {
                return Err(KeeperError::NotFound);
            }
            let meta = store.record(&key)?;
            let committed = state.confirmed_tree_version > 0
                && meta.as_ref().is_none_or(|m| m.tree_version <= state.confirmed_tree_version);
            let (version, root, seq) = if committed {
                (state.confirmed_tree_version, state.confirmed_root, state.confirmed_seq)
            } else {
                (state.tree_version, state.root, state.confirmed_seq + 1)
            };
            let (leaf, proof) = store.prove(&key, version)?;
            Ok(ProofResult { leaf, proof, root, committed, seq })
        })
        .await
        .map_err(|e| KeeperError::Store(StoreError::Io(e.to_string())))?
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
            key_epoch: state.key_epoch,
            record_count: state.record_count,
            commits: self.commits.load(Ordering::Relaxed),
            last_commit_tx_bytes: self.last_commit_tx_bytes.load(Ordering::Relaxed) as usize,
        })
    }

    async fn batcher_loop(keeper: std::sync::Weak<Self>) {
        loop {
            let (interval, wake) = match keeper.upgrade() {
                Some(this) => (this.cfg.commit_interval, this.wake_batcher.clone()),
                None => return,
            };
            let _ = tokio::time::timeout(interval, wake.notified()).await;
            let Some(this) = keeper.upgrade() else { return };
            if let Err(e) = this.commit().await {
                tracing::warn!(shard = this.cfg.shard, error = %e, "commit failed; will retry");
            }
        }
    }

    /// Prepares (if needed) and submits the shard's next on-chain update; waits for confirmation.
    pub async fn commit(&self) -> Result<CommitOutcome, KeeperError> {
        let started = Instant::now();
        let outcome = self.commit_inner().await;
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

    async fn commit_inner(&self) -> Result<CommitOutcome, KeeperError> {
        let _one_at_a_time = self.commit_lock.lock().await;
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
        let args = UpdateShardArgs {
            shard_id: self.cfg.shard,
            prev_root: pending.prev_root,
            new_root: pending.root,
            new_seq: pending.seq,
            manifest_cid: pending.manifest_cid.clone(),
        };
        let tx_bytes = self.submit_with_retry(args, &pending).await?;
        let state = self.store.update_state(|s| {
            if s.pending.as_ref() == Some(&pending) {
                confirm_pending(s);
            }
            s.clone()
        })?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.last_commit_tx_bytes.store(tx_bytes as u64, Ordering::Relaxed);
        if state.tree_version == state.confirmed_tree_version {
            self.uncommitted.store(0, Ordering::Relaxed);
        }
        // Roots older than the confirmed one are no longer served: their stale nodes can go.
        let store = self.store.clone();
        let keep_from = state.confirmed_tree_version;
        let _ = tokio::task::spawn_blocking(move || store.prune(keep_from)).await;
        let manifest =
            Cid::try_from(pending.manifest_cid.as_slice()).map(|c| c.to_string()).unwrap_or_default();
        Ok(CommitOutcome::Committed {
            seq: pending.seq,
            root: pending.root,
            manifest,
            entries,
            tx_bytes,
            checkpoint: pending.checkpoint,
        })
    }

    /// Publishes the manifest for the current root and records the prepared update durably.
    async fn prepare(&self) -> Result<(PendingUpdate, u64), KeeperError> {
        let state = self.store.state()?;
        let checkpoint =
            state.confirmed_manifest.is_empty() || state.deltas_since_checkpoint + 1 >= CHECKPOINT_EVERY;
        let store = self.store.clone();
        let (snapshot, entries) = tokio::task::spawn_blocking(move || store.manifest_snapshot(checkpoint))
            .await
            .map_err(|e| KeeperError::Store(StoreError::Io(e.to_string())))??;
        let seq = snapshot.confirmed_seq + 1;
        let kek = self.kek(snapshot.key_epoch).await?;
        let count = entries.len() as u64;
        let prev = (!checkpoint).then(|| snapshot.confirmed_manifest.clone());
        let cid = manifest::publish(
            self.blobs.as_ref(),
            &kek,
            self.cfg.app,
            self.cfg.shard as u32,
            seq,
            snapshot.root,
            prev,
            entries,
        )
        .await?;
        let pending = PendingUpdate {
            seq,
            prev_root: snapshot.confirmed_root,
            root: snapshot.root,
            tree_version: snapshot.tree_version,
            manifest_cid: cid.to_bytes(),
            checkpoint,
        };
        let recorded = pending.clone();
        self.store.update_state(move |s| s.pending = Some(recorded))?;
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
                    let chain = self
                        .chain
                        .shard(self.cfg.app.as_bytes(), self.cfg.shard)
                        .await?
                        .ok_or(KeeperError::ShardNotOnChain(self.cfg.shard))?;
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
                    .map_err(|e| KeeperError::Store(StoreError::Corrupt(e.to_string())))?;
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

/// Checks a read's proof against a root (e.g. the on-chain shard root).
pub fn verify_read(root: &[u8; 32], key: &[u8], leaf: Option<&RecordLeaf>, proof: &RecordProof) -> bool {
    tree::verify_record_proof(root, key, leaf, proof)
}
