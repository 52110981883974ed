//! Encrypted bulk backup of an app's shards, restorable on another keeper of the same app.
//!
//! File: `IRBK` ‖ version (1) ‖ frames, each `length (u32 LE) ‖ sealed frame`. Frames are sealed
//! with the app's KEK and an AAD naming the frame's index, so frames can be neither read, altered,
//! reordered nor swapped between backups. Frame 0 is the integrity manifest (per shard: seq, root,
//! record count; and the number of frames), the rest carry `(shard, key, leaf, blob)` entries.
//! A restore rebuilds every shard, checks it reproduces the manifest's root, and that root must be
//! the chain's.
use std::io::{Read, Write};

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use cid::Cid;

use crate::blobs::BlobStore;
use crate::chain::Chain;
use crate::crypto::{self, Padding, RecordContext, SealScope};
use crate::keys::{AppId, KeySource, ShardId};
use crate::shard::KeeperError;
use crate::tree::{RecordLeaf, ShardStore, StoreError, StoreLock, StoreSeal};

const MAGIC: &[u8; 4] = b"IRBK";
const VERSION: u8 = 1;
const FRAME_KEY: &[u8] = b"\0ironroot/backup-frame";
const FRAME_TARGET_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Keeper(Box<KeeperError>),
    #[error("backup I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("not an Ironroot backup, or a truncated one: {0}")]
    Format(String),
    #[error("shard {shard}: restored root {restored} differs from {expected} ({what})")]
    RootMismatch { shard: ShardId, restored: String, expected: String, what: &'static str },
}

impl From<KeeperError> for BackupError {
    fn from(e: KeeperError) -> Self {
        BackupError::Keeper(Box::new(e))
    }
}

impl From<StoreError> for BackupError {
    fn from(e: StoreError) -> Self {
        BackupError::Keeper(Box::new(e.into()))
    }
}

#[derive(BorshSerialize, BorshDeserialize, Debug, Clone, PartialEq, Eq)]
pub struct ShardSummary {
    pub shard: ShardId,
    pub seq: u64,
    pub root: [u8; 32],
    pub records: u64,
}

#[derive(BorshSerialize, BorshDeserialize, Debug)]
struct Manifest {
    app: [u8; 32],
    shards: Vec<ShardSummary>,
    frames: u32,
}

type Entry = (ShardId, Vec<u8>, RecordLeaf, Vec<u8>);

fn seal_frame(kek: &crate::keys::Kek, app: AppId, index: u32, plain: &[u8]) -> Result<Vec<u8>, KeeperError> {
    let ctx = RecordContext { app, scope: SealScope::Backup, key: FRAME_KEY, version: index as u64 };
    Ok(crypto::seal(kek, &ctx, plain, Padding::None)?)
}

/// Writes a backup of `stores` (shard id, store) to `out`. Each shard is read in one snapshot
/// (state and records together), so its records reproduce the root recorded for it; a restore
/// also needs that root to be the on-chain one, so commit before exporting.
pub async fn export(
    app: AppId,
    stores: &[(ShardId, &ShardStore)],
    blobs: &dyn BlobStore,
    keys: &dyn KeySource,
    mut out: impl Write,
) -> Result<Vec<ShardSummary>, BackupError> {
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let mut summaries = Vec::new();
    let mut chunk: Vec<Entry> = Vec::new();
    let mut chunk_bytes = 0;
    let mut epoch = 0;
    for (shard, store) in stores {
        let (state, records) = store.manifest_snapshot(true)?;
        epoch = epoch.max(state.key_epoch);
        summaries.push(ShardSummary {
            shard: *shard,
            seq: state.confirmed_seq,
            root: state.root,
            records: state.record_count,
        });
        for (key, leaf) in records {
            let blob = if leaf.tombstone {
                Vec::new()
            } else {
                let cid =
                    Cid::try_from(leaf.cid.as_slice()).map_err(|e| BackupError::Format(e.to_string()))?;
                blobs.get(&cid).await.map_err(KeeperError::from)?.to_vec()
            };
            chunk_bytes += key.len() + blob.len() + 128;
            chunk.push((*shard, key, leaf, blob));
            if chunk_bytes >= FRAME_TARGET_BYTES {
                frames.push(borsh::to_vec(&std::mem::take(&mut chunk))?);
                chunk_bytes = 0;
            }
        }
    }
    if !chunk.is_empty() {
        frames.push(borsh::to_vec(&chunk)?);
    }
    let kek = keys.app_kek(&app, epoch).await.map_err(KeeperError::from)?;
    let manifest = Manifest { app: app.0, shards: summaries.clone(), frames: frames.len() as u32 };
    out.write_all(MAGIC)?;
    out.write_all(&[VERSION])?;
    for (index, plain) in std::iter::once(borsh::to_vec(&manifest)?).chain(frames).enumerate() {
        let sealed = seal_frame(&kek, app, index as u32, &plain)?;
        out.write_all(&(sealed.len() as u32).to_le_bytes())?;
        out.write_all(&sealed)?;
    }
    out.flush()?;
    Ok(summaries)
}

fn read_frame(input: &mut impl Read) -> Result<Vec<u8>, BackupError> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len).map_err(|e| BackupError::Format(format!("frame length: {e}")))?;
    let len = u32::from_le_bytes(len) as usize;
    // Checked before allocating: a frame is one sealed record, never larger than the record limit.
    if len > crypto::MAX_VALUE_LEN + crypto::OVERHEAD {
        return Err(BackupError::Format(format!("frame of {len} bytes exceeds the sealed-record limit")));
    }
    let mut frame = vec![0u8; len];
    input.read_exact(&mut frame).map_err(|e| BackupError::Format(format!("frame body: {e}")))?;
    Ok(frame)
}

async fn open_frame(
    keys: &dyn KeySource,
    app: AppId,
    index: u32,
    sealed: &[u8],
) -> Result<Vec<u8>, BackupError> {
    let epoch = crypto::blob_epoch(sealed).map_err(KeeperError::from)?;
    let kek = keys.app_kek(&app, epoch).await.map_err(KeeperError::from)?;
    let ctx = RecordContext { app, scope: SealScope::Backup, key: FRAME_KEY, version: index as u64 };
    Ok(crypto::open(&kek, &ctx, sealed).map_err(KeeperError::from)?.to_vec())
}

/// Restores a backup into fresh stores at `store_path(shard)`, re-adding every blob; each shard's
/// root must match the backup's manifest and the chain's current root.
pub async fn import(
    app: AppId,
    mut input: impl Read,
    blobs: &dyn BlobStore,
    keys: &dyn KeySource,
    chain: &dyn Chain,
    store_path: impl Fn(ShardId) -> std::path::PathBuf,
) -> Result<Vec<ShardSummary>, BackupError> {
    let mut head = [0u8; 5];
    input.read_exact(&mut head).map_err(|e| BackupError::Format(e.to_string()))?;
    if &head[..4] != MAGIC || head[4] != VERSION {
        return Err(BackupError::Format("bad magic or version".into()));
    }
    let manifest: Manifest = borsh::from_slice(&open_frame(keys, app, 0, &read_frame(&mut input)?).await?)
        .map_err(|e| BackupError::Format(e.to_string()))?;
    if manifest.app != app.0 {
        return Err(BackupError::Format("backup of another app".into()));
    }
    let mut per_shard: std::collections::BTreeMap<ShardId, Vec<(Vec<u8>, RecordLeaf)>> = Default::default();
    for index in 1..=manifest.frames {
        let entries: Vec<Entry> =
            borsh::from_slice(&open_frame(keys, app, index, &read_frame(&mut input)?).await?)
                .map_err(|e| BackupError::Format(e.to_string()))?;
        let blobs_to_put: Vec<Bytes> =
            entries.iter().filter(|e| !e.2.tombstone).map(|e| Bytes::from(e.3.clone())).collect();
        blobs.put_many(blobs_to_put).await.map_err(KeeperError::from)?;
        for (shard, key, leaf, _) in entries {
            per_shard.entry(shard).or_default().push((key, leaf));
        }
    }
    for summary in &manifest.shards {
        let onchain = chain
            .shard(&app.0, summary.shard)
            .await
            .map_err(KeeperError::from)?
            .ok_or(KeeperError::ShardNotOnChain(summary.shard))?;
        let path = store_path(summary.shard);
        // Held until the imported store is in place: a running keeper's store is never replaced.
        let _live = StoreLock::acquire(&path)?;
        let temp = path.with_extension("import");
        let seal = StoreSeal::derive(keys, app, summary.shard).await.map_err(KeeperError::from)?;
        let _temp_lock = StoreLock::acquire(&temp)?;
        let _ = std::fs::remove_file(&temp);
        let store = ShardStore::open_locked(&temp, seal, _temp_lock.clone())?;
        let changes = per_shard.remove(&summary.shard).unwrap_or_default();
        let state = store.commit_group(&changes, None)?;
        let mismatch = |expected: [u8; 32], what| BackupError::RootMismatch {
            shard: summary.shard,
            restored: hex::encode(state.root),
            expected: hex::encode(expected),
            what,
        };
        if state.root != summary.root {
            return Err(mismatch(summary.root, "the backup's manifest"));
        }
        if state.root != onchain.root {
            return Err(mismatch(onchain.root, "the chain: the backup is stale or uncommitted"));
        }
        let key_epoch = changes.iter().map(|(_, l)| l.key_epoch).max().unwrap_or(0);
        crate::recovery::mark_rebuilt_confirmed(&store, state, &onchain, key_epoch)?;
        drop(store);
        std::fs::rename(&temp, &path)?;
    }
    Ok(manifest.shards)
}
