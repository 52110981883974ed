//! Start-up: compare the local store with the chain and never serve stale data.
//!
//! * equal → serve;
//! * local ahead (a prepared update the chain has not seen) → serve and resubmit it;
//! * behind or different (rolled back, lost, corrupt, forked) → rebuild from the manifest the chain
//!   names, check it reproduces the on-chain root, then serve;
//! * anything else, or a rebuild that does not reproduce the root → refuse to serve, naming both
//!   sides.
use std::path::{Path, PathBuf};

use crate::blobs::BlobStore;
use crate::chain::ShardOnChain;
use crate::keys::{AppId, KeySource};
use crate::manifest;
use crate::tree::{RecordLeaf, ShardState, ShardStore, StoreError, EMPTY_ROOT};

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
    pub shard: u32,
    pub chain_seq: u64,
    pub chain_root: String,
    pub local_seq: u64,
    pub local_root: String,
    pub reason: String,
}

/// Opens the store at `path`; a file that is not a readable database is moved aside (kept for
/// inspection) and replaced by an empty store, which start-up then rebuilds.
pub fn open_or_quarantine(path: &Path) -> Result<(ShardStore, Option<PathBuf>), StoreError> {
    match ShardStore::open(path) {
        Ok(store) => Ok((store, None)),
        Err(StoreError::Corrupt(_)) | Err(StoreError::Open { .. }) if path.exists() => {
            let aside = path.with_extension(format!("corrupt-{}", std::process::id()));
            std::fs::rename(path, &aside).map_err(|e| StoreError::Io(e.into()))?;
            tracing::warn!(store = %path.display(), moved_to = %aside.display(), "local store unreadable, quarantined");
            Ok((ShardStore::open(path)?, Some(aside)))
        }
        Err(e) => Err(e),
    }
}

/// Reconciles `store` with the chain. May replace the store (rebuild); returns the store to serve.
#[allow(clippy::too_many_arguments)]
pub async fn reconcile(
    store: ShardStore,
    chain_state: &ShardOnChain,
    blobs: &dyn BlobStore,
    keys: &dyn KeySource,
    app: AppId,
    shard: u32,
    quarantined: bool,
    mut progress: impl FnMut(u64, u64),
) -> Result<(ShardStore, Startup), FailedClosed> {
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
    if same && !quarantined {
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
    let reason = if quarantined {
        "local store was unreadable".to_string()
    } else if local.confirmed_seq < chain_state.seq {
        format!("local store is behind (seq {} < {})", local.confirmed_seq, chain_state.seq)
    } else {
        "local root differs from the chain's at the same seq".to_string()
    };
    tracing::warn!(shard, %reason, "rebuilding shard from the chain and its manifests");
    let path = store.path().to_path_buf();
    let rebuilt = rebuild(&path, chain_state, blobs, keys, app, shard, &mut progress)
        .await
        .map_err(|e| fail(&local, format!("{reason}; rebuild failed: {e}")))?;
    drop(store);
    let records = rebuilt.state().map(|s| s.record_count).unwrap_or(0);
    let store = install(&path, rebuilt).map_err(|e| fail(&local, e.to_string()))?;
    Ok((
        store,
        Startup::Rebuilt { local_seq: local.confirmed_seq, chain_seq: chain_state.seq, records, reason },
    ))
}

fn failed(shard: u32, chain: &ShardOnChain, local: &ShardState, reason: String) -> FailedClosed {
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
    #[error("rebuilt root {rebuilt} is not the on-chain root {chain}")]
    RootMismatch { rebuilt: String, chain: String },
}

/// Builds a fresh store beside `path` from the manifest chain the on-chain shard names.
async fn rebuild(
    path: &Path,
    chain_state: &ShardOnChain,
    blobs: &dyn BlobStore,
    keys: &dyn KeySource,
    app: AppId,
    shard: u32,
    progress: &mut impl FnMut(u64, u64),
) -> Result<ShardStore, RebuildError> {
    let (records, head) =
        manifest::load(blobs, keys, app, shard, &chain_state.manifest_cid, chain_state.seq, progress).await?;
    let temp = path.with_extension("rebuild");
    let _ = std::fs::remove_file(&temp);
    let store = ShardStore::open(&temp)?;
    let changes: Vec<(Vec<u8>, RecordLeaf)> = records.into_iter().collect();
    let key_epoch = changes.iter().map(|(_, l)| l.key_epoch).max().unwrap_or(0);
    let state = store.commit_group(&changes, None)?;
    if state.root != chain_state.root || head.root != chain_state.root {
        return Err(RebuildError::RootMismatch {
            rebuilt: hex::encode(state.root),
            chain: hex::encode(chain_state.root),
        });
    }
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
    state.deltas_since_checkpoint = manifest::CHECKPOINT_EVERY;
    state.key_epoch = state.key_epoch.max(key_epoch);
    store.put_state(&state)
}

/// Replaces the store at `path` by the rebuilt one (rename is atomic on one filesystem).
fn install(path: &Path, rebuilt: ShardStore) -> Result<ShardStore, StoreError> {
    let temp = rebuilt.path().to_path_buf();
    drop(rebuilt);
    std::fs::rename(&temp, path).map_err(|e| StoreError::Io(e.into()))?;
    ShardStore::open(path)
}
