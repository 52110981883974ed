//! Start-up: compare the local store with the chain and never serve stale data.
//!
//! * equal → serve;
//! * local ahead (a prepared update the chain has not seen) → serve and resubmit it;
//! * behind or different (rolled back, lost, corrupt, forked) → rebuild from the manifest the chain
//!   names, check it reproduces the on-chain root, then serve;
//! * anything else, or a rebuild that does not reproduce the root → refuse to serve, naming both
//!   sides.
//!
//! The local side is only what verified: the store's sealed state and roots (see [`crate::tree`]).
//! A store that fails verification is moved aside (kept, reported) and rebuilt; a store held by
//! another process is an error that changes nothing; a store with writes the chain has not
//! anchored is moved aside, never deleted, before anything replaces it.
use std::path::{Path, PathBuf};

use crate::blobs::BlobStore;
use crate::chain::ShardOnChain;
use crate::keys::{KeySource, ShardId};
use crate::manifest;
use crate::tree::{
    KeyedLeaf, ShardState, ShardStore, StoreError, StoreLock, StoreOptions, StoreSeal, TreeKeyMode,
    EMPTY_ROOT,
};

/// What start-up found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Startup {
    /// Nothing committed anywhere yet.
    Fresh,
    InSync {
        seq: u64,
    },
    /// A prepared update was confirmed while the keeper was down, or is to be resubmitted.
    LocalAhead {
        chain_seq: u64,
        pending_seq: u64,
    },
    /// The local store was rebuilt from the chain and the manifest chain.
    Rebuilt {
        local_seq: u64,
        chain_seq: u64,
        records: u64,
        reason: String,
    },
}

#[derive(Clone, Debug, thiserror::Error)]
#[error(
    "refusing to serve shard {shard}: on-chain seq {chain_seq} root {chain_root}, local seq {local_seq} root {local_root}: {reason}"
)]
pub struct FailedClosed {
    pub shard: ShardId,
    pub chain_seq: u64,
    pub chain_root: String,
    pub local_seq: u64,
    pub local_root: String,
    pub reason: String,
}

/// Opens the store at `path` under its lock. Only a store that verifiably cannot be trusted (not a
/// readable database, or its sealed state or roots do not verify) is moved aside (kept for
/// inspection) and replaced by an empty store, which start-up then rebuilds; the reason is
/// returned. A store another process holds is [`StoreError::InUse`], and nothing is changed.
pub fn open_or_quarantine(
    path: &Path,
    seal: StoreSeal,
    options: StoreOptions,
) -> Result<(ShardStore, Option<String>), StoreError> {
    let lock = StoreLock::acquire(path)?;
    match ShardStore::open_locked_with(path, seal.clone(), lock.clone(), options) {
        Ok(store) => Ok((store, None)),
        Err(e @ (StoreError::Corrupt(_) | StoreError::Forged(_))) if path.exists() => {
            let aside = set_aside(path, "untrusted")?;
            tracing::warn!(store = %path.display(), moved_to = %aside.display(), error = %e, "local store failed verification, quarantined");
            let reason = format!("{e} (kept at {})", aside.display());
            Ok((ShardStore::open_locked_with(path, seal, lock, options)?, Some(reason)))
        }
        Err(e) => Err(e),
    }
}

/// Moves the store file at `path` to a new name beside it (never overwriting anything).
fn set_aside(path: &Path, why: &str) -> Result<PathBuf, StoreError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let aside = path.with_extension(format!("{why}-{stamp}-{}", std::process::id()));
    if aside.exists() {
        return Err(StoreError::Io(format!("{} already exists", aside.display()).into()));
    }
    std::fs::rename(path, &aside).map_err(|e| StoreError::Io(e.into()))?;
    Ok(aside)
}

/// Reconciles `store` (whose seal names the app and shard) with the chain. May replace the store
/// (rebuild); returns the store to serve.
pub async fn reconcile(
    store: ShardStore,
    chain_state: &ShardOnChain,
    blobs: &dyn BlobStore,
    keys: &dyn KeySource,
    quarantined: Option<String>,
    mut progress: impl FnMut(u64, u64),
) -> Result<(ShardStore, Startup), FailedClosed> {
    let seal = store.seal().clone();
    let shard = seal.shard();
    let local =
        store.state().map_err(|e| failed(shard, chain_state, &ShardState::default(), e.to_string()))?;
    let fail = |local: &ShardState, reason: String| failed(shard, chain_state, local, reason);

    // A prepared update the chain already holds: the keeper stopped before recording the confirmation.
    if let Some(p) = &local.pending {
        if p.seq == chain_state.seq && p.root == chain_state.root {
            let mut confirmed = local.clone();
            confirm_pending(&mut confirmed);
            store.put_state(&confirmed).map_err(|e| fail(&local, e.to_string()))?;
            return Ok((store, Startup::LocalAhead { chain_seq: chain_state.seq, pending_seq: p.seq }));
        }
    }
    let same = local.confirmed_seq == chain_state.seq && local.confirmed_root == chain_state.root;
    if same && quarantined.is_none() {
        if chain_state.seq == 0 {
            return Ok((store, Startup::Fresh));
        }
        return Ok(match &local.pending {
            Some(p) if p.seq == chain_state.seq + 1 && p.prev_root == chain_state.root => {
                (store, Startup::LocalAhead { chain_seq: chain_state.seq, pending_seq: p.seq })
            }
            Some(p) => {
                return Err(fail(&local, format!("prepared update seq {} does not extend the chain", p.seq)))
            }
            None => (store, Startup::InSync { seq: chain_state.seq }),
        });
    }
    if local.confirmed_seq > chain_state.seq {
        return Err(fail(&local, "the local store claims commits the chain never confirmed".into()));
    }
    if chain_state.seq == 0 {
        // Nothing to rebuild from: an empty chain shard and a store that is not empty.
        return Err(fail(&local, "the chain shard is empty but the local store is not".into()));
    }
    let reason = if let Some(why) = quarantined {
        format!("local store could not be trusted: {why}")
    } else if local.confirmed_seq < chain_state.seq {
        format!("local store is behind (seq {} < {})", local.confirmed_seq, chain_state.seq)
    } else {
        "local root differs from the chain's at the same seq".to_string()
    };
    tracing::warn!(%shard, %reason, "rebuilding shard from the chain and its manifests");
    let (path, options) = (store.path().to_path_buf(), store.options());
    let rebuilt = rebuild(&path, chain_state, blobs, keys, seal.clone(), options, &mut progress)
        .await
        .map_err(|e| fail(&local, format!("{reason}; rebuild failed: {e}")))?;
    let lock = store.lock();
    drop(store);
    // Writes acknowledged here but never anchored are not thrown away: the old file is kept.
    let unanchored = local.tree_version != local.confirmed_tree_version || local.pending.is_some();
    let mut reason = reason;
    if unanchored {
        let aside = set_aside(&path, "unanchored").map_err(|e| fail(&local, e.to_string()))?;
        tracing::warn!(%shard, kept_at = %aside.display(), "the replaced store held writes the chain never anchored");
        reason = format!("{reason}; its unanchored writes are kept at {}", aside.display());
    }
    let records = rebuilt.state().map(|s| s.record_count).unwrap_or(0);
    crate::failpoint::hit(crate::failpoint::Step::RebuildBeforeInstall);
    let store = install(&path, rebuilt, seal, lock, options).map_err(|e| fail(&local, e.to_string()))?;
    Ok((
        store,
        Startup::Rebuilt { local_seq: local.confirmed_seq, chain_seq: chain_state.seq, records, reason },
    ))
}

fn failed(shard: ShardId, chain: &ShardOnChain, local: &ShardState, reason: String) -> FailedClosed {
    FailedClosed {
        shard,
        chain_seq: chain.seq,
        chain_root: hex::encode(chain.root),
        local_seq: local.confirmed_seq,
        local_root: hex::encode(if local.confirmed_seq == 0 { EMPTY_ROOT } else { local.confirmed_root }),
        reason,
    }
}

pub(crate) fn confirm_pending(state: &mut ShardState) {
    if let Some(p) = state.pending.take() {
        state.confirmed_seq = p.seq;
        state.confirmed_root = p.root;
        state.confirmed_tree_version = p.tree_version;
        state.deltas_since_checkpoint = if p.checkpoint { 0 } else { state.deltas_since_checkpoint + 1 };
        state.confirmed_manifest = p.manifest_cid;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("rebuilt root {rebuilt} is not the on-chain root {chain} (records placed by tree key mode {mode}: is it the app's mode?)")]
    RootMismatch { rebuilt: String, chain: String, mode: TreeKeyMode },
}

/// Rebuilds that may run in this process at once: one. Each holds its shard's records and, while
/// jmt builds a part, that part's tree and dirty pages in memory: two side by side (one per core)
/// peaked at 372 MiB for four shards of 250,000 records, above the keeper's 300 MiB budget.
fn rebuild_permits() -> &'static tokio::sync::Semaphore {
    static REBUILDS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    REBUILDS.get_or_init(|| tokio::sync::Semaphore::new(1))
}

/// Builds a fresh store beside `path` from the manifest chain the on-chain shard names, in one
/// bulk load (see [`ShardStore::bulk_load`]).
async fn rebuild(
    path: &Path,
    chain_state: &ShardOnChain,
    blobs: &dyn BlobStore,
    keys: &dyn KeySource,
    seal: StoreSeal,
    options: StoreOptions,
    progress: &mut impl FnMut(u64, u64),
) -> Result<ShardStore, RebuildError> {
    let _permit = rebuild_permits().acquire().await.map_err(|e| StoreError::Io(e.into()))?;
    let (app, shard) = (seal.app(), seal.shard());
    let manifest::Loaded { records, head, walked } =
        manifest::load(blobs, keys, app, shard, &chain_state.manifest_cid, chain_state.seq, progress).await?;
    let temp = path.with_extension("rebuild");
    let temp_lock = StoreLock::acquire(&temp)?;
    let _ = std::fs::remove_file(&temp);
    let store = ShardStore::open_locked_with(&temp, seal, temp_lock, options)?;
    let records: Vec<KeyedLeaf> = records.into_iter().collect();
    let key_epoch = records.iter().map(|(_, l)| l.key_epoch).max().unwrap_or(0);
    // CPU-bound: on a blocking thread.
    let (store, state) = tokio::task::spawn_blocking(move || {
        let state = store.bulk_load(&records);
        (store, state)
    })
    .await
    .map_err(|e| StoreError::Io(e.into()))?;
    let state = state?;
    if state.root != chain_state.root || head.root != chain_state.root {
        return Err(RebuildError::RootMismatch {
            rebuilt: hex::encode(state.root),
            chain: hex::encode(chain_state.root),
            mode: store.tree_key_mode(),
        });
    }
    // The manifests read are the chain's own: released once a later checkpoint is final.
    store.record_manifests(&walked)?;
    mark_rebuilt_confirmed(&store, state, chain_state, key_epoch)?;
    Ok(store)
}

/// Records that a store rebuilt from leaves (whose root the caller checked against the chain) holds
/// exactly the chain's latest update. The next manifest is a checkpoint: a rebuilt store has no
/// change log before this point.
pub(crate) fn mark_rebuilt_confirmed(
    store: &ShardStore,
    mut state: ShardState,
    chain_state: &ShardOnChain,
    key_epoch: u32,
) -> Result<(), StoreError> {
    state.confirmed_seq = chain_state.seq;
    state.confirmed_root = chain_state.root;
    state.confirmed_tree_version = state.tree_version;
    state.confirmed_manifest = chain_state.manifest_cid.clone();
    state.deltas_since_checkpoint = manifest::MAX_DELTAS;
    state.key_epoch = state.key_epoch.max(key_epoch);
    store.put_state(&state)
}

/// Replaces the store at `path` by the rebuilt one (rename is atomic on one filesystem), under
/// the lock of `path` the caller holds throughout.
fn install(
    path: &Path,
    rebuilt: ShardStore,
    seal: StoreSeal,
    lock: std::sync::Arc<StoreLock>,
    options: StoreOptions,
) -> Result<ShardStore, StoreError> {
    let temp = rebuilt.path().to_path_buf();
    drop(rebuilt);
    std::fs::rename(&temp, path).map_err(|e| StoreError::Io(e.into()))?;
    ShardStore::open_locked_with(path, seal, lock, options)
}
