//! Encrypted bulk backup of an app's shards, restorable on another keeper of the same app.
//!
//! File: `IRBK` ‖ version (2) ‖ frames, each `length (u32 LE) ‖ sealed frame`. Frames are sealed
//! with the app's KEK and an AAD naming the frame's index, so frames can be neither read, altered,
//! reordered nor swapped between backups. Frame 0 is the head (per shard: seq, root, record
//! count), then come the shards' records in shard order (`Records` frames of up to
//! [`FRAME_TARGET_BYTES`]; a blob larger than [`PART_BYTES`] as a `Large` frame followed by `Part`
//! frames), and the last is `End`, which counts the frames before it: a truncated backup has no
//! end and is refused.
//!
//! Both directions stream: export writes each frame as soon as it is full, import restores each
//! frame into its shard's new store as it reads it, so neither holds more than a frame (or one
//! large blob) in memory. A frame's length is checked before anything is allocated for it. A
//! restore rebuilds every shard beside its live store, checks it reproduces the head's root and
//! that root is the chain's, and only then, once the end frame is verified, replaces the stores.
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use cid::Cid;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::blobs::BlobStore;
use crate::chain::{Chain, ShardOnChain};
use crate::crypto::{self, Padding, RecordContext, SealScope};
use crate::keys::{AppId, Kek, KeySource, ShardId};
use crate::manifest;
use crate::shard::{KeeperError, MAX_KEY_LEN};
use crate::tree::{RecordLeaf, ShardStore, StoreError, StoreLock, StoreSeal, TreeKeyMode};

const MAGIC: &[u8; 4] = b"IRBK";
const VERSION: u8 = 2;
const FRAME_KEY: &[u8] = b"\0ironroot/backup-frame";
/// A `Records` frame is written once its entries reach this many bytes.
pub const FRAME_TARGET_BYTES: usize = 4 * 1024 * 1024;
/// Blobs larger than this travel in `Part` frames of this size.
pub const PART_BYTES: usize = 4 * 1024 * 1024;
/// Largest sealed frame a backup may hold: a frame's plaintext is at most what [`crypto::seal`]
/// takes (a records frame stays under it: [`FRAME_TARGET_BYTES`] plus one entry of at most
/// [`PART_BYTES`] and a key).
pub const MAX_FRAME_BYTES: usize = crypto::MAX_VALUE_LEN + crypto::OVERHEAD;
/// Largest blob a backup may carry: one sealed record.
const MAX_BLOB_BYTES: usize = crypto::MAX_VALUE_LEN + crypto::OVERHEAD;
/// Records read from a store at a time while exporting.
const EXPORT_PAGE: usize = 256;

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

/// One record: key, leaf, and its blob (empty for a tombstone).
type Entry = (Vec<u8>, RecordLeaf, Vec<u8>);

#[derive(BorshSerialize, BorshDeserialize, Debug)]
enum Frame {
    Head {
        app: [u8; 32],
        shards: Vec<ShardSummary>,
    },
    Records {
        shard: ShardId,
        entries: Vec<Entry>,
    },
    /// A record whose blob follows in `Part` frames, `len` bytes in all.
    Large {
        shard: ShardId,
        key: Vec<u8>,
        leaf: RecordLeaf,
        len: u64,
    },
    Part(Vec<u8>),
    /// The number of frames before this one.
    End {
        frames: u32,
    },
}

fn frame_context(app: AppId, index: u32) -> RecordContext<'static> {
    RecordContext { app, scope: SealScope::Backup, key: FRAME_KEY, version: index as u64 }
}

/// Seals and writes frames in order.
struct FrameWriter<'a, W> {
    out: W,
    kek: &'a Kek,
    app: AppId,
    index: u32,
}

impl<W: AsyncWrite + Unpin> FrameWriter<'_, W> {
    async fn write(&mut self, frame: &Frame) -> Result<(), BackupError> {
        let plain = borsh::to_vec(frame)?;
        let ctx = frame_context(self.app, self.index);
        let sealed = crypto::seal(self.kek, &ctx, &plain, Padding::None).map_err(KeeperError::from)?;
        self.out.write_all(&(sealed.len() as u32).to_le_bytes()).await?;
        self.out.write_all(&sealed).await?;
        self.index += 1;
        Ok(())
    }
}

/// Writes a backup of `stores` (shard id, store) to `out`, frame by frame. Each shard is read
/// from one snapshot (state and records together, while writers go on), so its records
/// reproduce the root recorded for it; a restore also needs that root to be the on-chain one, so
/// commit before exporting.
pub async fn export(
    app: AppId,
    stores: &[(ShardId, &ShardStore)],
    blobs: &dyn BlobStore,
    keys: &dyn KeySource,
    out: impl AsyncWrite + Unpin,
) -> Result<Vec<ShardSummary>, BackupError> {
    let snapshots = stores
        .iter()
        .map(|(shard, store)| Ok((*shard, store.snapshot()?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut summaries = Vec::new();
    let mut epoch = 0;
    for (shard, store) in &snapshots {
        let state = store.state()?;
        epoch = epoch.max(state.key_epoch);
        summaries.push(ShardSummary {
            shard: *shard,
            seq: state.confirmed_seq,
            root: state.root,
            records: state.record_count,
        });
    }
    let kek = keys.app_kek(&app, epoch).await.map_err(KeeperError::from)?;
    let mut out = FrameWriter { out, kek: &kek, app, index: 0 };
    out.out.write_all(MAGIC).await?;
    out.out.write_all(&[VERSION]).await?;
    out.write(&Frame::Head { app: app.0, shards: summaries.clone() }).await?;
    for (shard, store) in &snapshots {
        let mut entries: Vec<Entry> = Vec::new();
        let mut bytes = 0;
        let mut cursor: Option<Vec<u8>> = None;
        loop {
            let page = store.records_after(cursor.as_deref(), EXPORT_PAGE)?;
            let Some((last, _)) = page.last() else { break };
            cursor = Some(last.clone());
            for (key, meta) in page {
                let leaf = meta.leaf;
                let blob = if leaf.tombstone {
                    Vec::new()
                } else {
                    let cid =
                        Cid::try_from(leaf.cid.as_slice()).map_err(|e| BackupError::Format(e.to_string()))?;
                    blobs.get(&cid).await.map_err(KeeperError::from)?.to_vec()
                };
                if blob.len() > PART_BYTES {
                    if !entries.is_empty() {
                        out.write(&Frame::Records { shard: *shard, entries: std::mem::take(&mut entries) })
                            .await?;
                        bytes = 0;
                    }
                    let len = blob.len() as u64;
                    out.write(&Frame::Large { shard: *shard, key, leaf, len }).await?;
                    for part in blob.chunks(PART_BYTES) {
                        out.write(&Frame::Part(part.to_vec())).await?;
                    }
                    continue;
                }
                let size = key.len() + blob.len() + 128;
                if bytes + size > FRAME_TARGET_BYTES && !entries.is_empty() {
                    out.write(&Frame::Records { shard: *shard, entries: std::mem::take(&mut entries) })
                        .await?;
                    bytes = 0;
                }
                bytes += size;
                entries.push((key, leaf, blob));
            }
        }
        if !entries.is_empty() {
            out.write(&Frame::Records { shard: *shard, entries }).await?;
        }
    }
    let frames = out.index;
    out.write(&Frame::End { frames }).await?;
    out.out.flush().await?;
    Ok(summaries)
}

/// Reads one frame's sealed bytes; its length is checked before anything is allocated.
fn read_frame(input: &mut impl Read) -> Result<Vec<u8>, BackupError> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len).map_err(|e| BackupError::Format(format!("frame length: {e}")))?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(BackupError::Format(format!(
            "frame of {len} bytes exceeds the {MAX_FRAME_BYTES}-byte limit"
        )));
    }
    let mut frame = vec![0u8; len];
    input.read_exact(&mut frame).map_err(|e| BackupError::Format(format!("frame body: {e}")))?;
    Ok(frame)
}

/// Reads and opens frames in order.
struct FrameReader<'a, R> {
    input: R,
    keys: &'a dyn KeySource,
    app: AppId,
    index: u32,
}

impl<R: Read> FrameReader<'_, R> {
    async fn next(&mut self) -> Result<Frame, BackupError> {
        let sealed = read_frame(&mut self.input)?;
        let epoch = crypto::blob_epoch(&sealed).map_err(KeeperError::from)?;
        let kek = self.keys.app_kek(&self.app, epoch).await.map_err(KeeperError::from)?;
        let ctx = frame_context(self.app, self.index);
        let plain = crypto::open(&kek, &ctx, &sealed).map_err(KeeperError::from)?;
        self.index += 1;
        borsh::from_slice(&plain).map_err(|e| BackupError::Format(format!("frame {}: {e}", self.index - 1)))
    }
}

/// One shard being restored into a new store beside its live one.
struct Restoring {
    summary: ShardSummary,
    path: PathBuf,
    temp: PathBuf,
    store: ShardStore,
    /// Held until the restored store is in place: a running keeper's store is never replaced.
    _live: Arc<StoreLock>,
    _temp: Arc<StoreLock>,
    key_epoch: u32,
}

impl Restoring {
    async fn start(
        summary: ShardSummary,
        path: PathBuf,
        keys: &dyn KeySource,
        app: AppId,
        mode: TreeKeyMode,
    ) -> Result<Self, BackupError> {
        let live = StoreLock::acquire(&path)?;
        let temp = path.with_extension("import");
        let seal = StoreSeal::derive(keys, app, summary.shard, mode).await.map_err(KeeperError::from)?;
        let temp_lock = StoreLock::acquire(&temp)?;
        let _ = std::fs::remove_file(&temp);
        let store = ShardStore::open_locked(&temp, seal, temp_lock.clone())?;
        Ok(Restoring { summary, path, temp, store, _live: live, _temp: temp_lock, key_epoch: 0 })
    }

    /// Stores the entries' blobs (checking each lands under its leaf's CID) and commits their
    /// leaves as one group.
    async fn add(&mut self, entries: Vec<Entry>, blobs: &dyn BlobStore) -> Result<(), BackupError> {
        let (live, dead): (Vec<Entry>, Vec<Entry>) = entries.into_iter().partition(|e| !e.1.tombstone);
        let expected: Vec<Vec<u8>> = live.iter().map(|e| e.1.cid.clone()).collect();
        let mut changes = Vec::with_capacity(live.len() + dead.len());
        let mut payload = Vec::with_capacity(live.len());
        for (key, leaf, blob) in live.into_iter().chain(dead) {
            if !leaf.tombstone {
                payload.push(Bytes::from(blob));
            }
            self.key_epoch = self.key_epoch.max(leaf.key_epoch);
            changes.push((key, leaf));
        }
        let cids = blobs.put_many(payload).await.map_err(KeeperError::from)?;
        if cids.iter().zip(&expected).any(|(cid, leaf_cid)| cid.to_bytes() != *leaf_cid) {
            return Err(BackupError::Format(format!(
                "shard {}: a blob is not the one its leaf names",
                self.summary.shard
            )));
        }
        self.store.commit_group(&changes, None)?;
        Ok(())
    }

    /// Checks the restored root against the head and the chain and records it as confirmed, with
    /// the manifests a rebuild of the chain's state would read (see [`record_chain_manifests`]).
    async fn finish(self, to: &Target<'_>) -> Result<Restored, BackupError> {
        let Target { app, chain, .. } = *to;
        let shard = self.summary.shard;
        let state = self.store.state()?;
        let onchain = chain
            .shard(&app.0, shard)
            .await
            .map_err(KeeperError::from)?
            .ok_or(KeeperError::ShardNotOnChain(shard))?;
        let mismatch = |expected: [u8; 32], what| BackupError::RootMismatch {
            shard,
            restored: hex::encode(state.root),
            expected: hex::encode(expected),
            what,
        };
        if state.root != self.summary.root {
            return Err(mismatch(self.summary.root, "the backup's head"));
        }
        if state.root != onchain.root {
            return Err(mismatch(onchain.root, "the chain: the backup is stale or uncommitted"));
        }
        crate::recovery::mark_rebuilt_confirmed(&self.store, state, &onchain, self.key_epoch)?;
        record_chain_manifests(&self.store, &onchain, to).await;
        drop(self.store);
        Ok(Restored { path: self.path, temp: self.temp, _locks: (self._live, self._temp) })
    }
}

/// Records in a restored store the manifests the chain's state names (its manifest and the deltas
/// before it, back to a checkpoint), so they are released once a newer checkpoint is final, as a
/// rebuilt store's are: the store this one replaces recorded them, and its rows go with it. A
/// manifest that cannot be read is left to the blob store (the restore itself needs none).
async fn record_chain_manifests(store: &ShardStore, onchain: &ShardOnChain, to: &Target<'_>) {
    if onchain.manifest_cid.is_empty() {
        return;
    }
    let shard = store.seal().shard();
    let walked = manifest::walk(to.blobs, to.keys, to.app, shard, onchain).await;
    let recorded = walked
        .map_err(|e| e.to_string())
        .and_then(|walked| store.record_manifests(&walked).map_err(|e| e.to_string()));
    if let Err(error) = recorded {
        tracing::warn!(%shard, %error, "the chain's manifests were not recorded: they are never released");
    }
}

/// Where a restore goes: the app, its keys, the chain its roots are checked against, the blob
/// store its blobs go to.
#[derive(Clone, Copy)]
struct Target<'a> {
    app: AppId,
    keys: &'a dyn KeySource,
    chain: &'a dyn Chain,
    blobs: &'a dyn BlobStore,
}

/// A shard restored beside its live store, waiting for the end of the backup.
struct Restored {
    path: PathBuf,
    temp: PathBuf,
    _locks: (Arc<StoreLock>, Arc<StoreLock>),
}

/// Restores a backup into fresh stores at `store_path(shard)`, re-adding every blob; each shard's
/// root must match the backup's head and the chain's current root. Nothing replaces a live
/// store unless the whole backup, to its end frame, was read and verified. The restored
/// stores place records by `mode`, which must be the app's tree key mode.
pub async fn import(
    app: AppId,
    mode: TreeKeyMode,
    mut input: impl Read,
    blobs: &dyn BlobStore,
    keys: &dyn KeySource,
    chain: &dyn Chain,
    store_path: impl Fn(ShardId) -> PathBuf,
) -> Result<Vec<ShardSummary>, BackupError> {
    let mut head = [0u8; 5];
    input.read_exact(&mut head).map_err(|e| BackupError::Format(e.to_string()))?;
    if &head[..4] != MAGIC || head[4] != VERSION {
        return Err(BackupError::Format("bad magic or version".into()));
    }
    let mut frames = FrameReader { input, keys, app, index: 0 };
    let summaries = match frames.next().await? {
        Frame::Head { app: of, shards } if of == app.0 => shards,
        Frame::Head { .. } => return Err(BackupError::Format("backup of another app".into())),
        _ => return Err(BackupError::Format("the first frame is not the head".into())),
    };
    let to = Target { app, keys, chain, blobs };
    let mut shards =
        Shards { pending: summaries.iter().cloned().collect(), current: None, done: Vec::new(), mode };
    loop {
        match frames.next().await? {
            Frame::Records { shard, entries } => {
                shards.advance_to(shard, &store_path, &to).await?.add(entries, blobs).await?;
            }
            Frame::Large { shard, key, leaf, len } => {
                let restoring = shards.advance_to(shard, &store_path, &to).await?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if len > MAX_BLOB_BYTES {
                    return Err(BackupError::Format(format!(
                        "a blob of {len} bytes exceeds the record limit"
                    )));
                }
                let mut blob = Vec::with_capacity(len);
                while blob.len() < len {
                    match frames.next().await? {
                        Frame::Part(part) if blob.len() + part.len() <= len => blob.extend_from_slice(&part),
                        _ => {
                            return Err(BackupError::Format(
                                "a large blob's parts are missing or too long".into(),
                            ))
                        }
                    }
                }
                restoring.add(vec![(key, leaf, blob)], blobs).await?;
            }
            Frame::End { frames: count } => {
                if count + 1 != frames.index {
                    return Err(BackupError::Format(format!(
                        "the end frame counts {count} frames, {} were read",
                        frames.index - 1
                    )));
                }
                shards.finish_all(&store_path, &to).await?;
                break;
            }
            Frame::Head { .. } | Frame::Part(_) => {
                return Err(BackupError::Format(format!("unexpected frame {}", frames.index - 1)))
            }
        }
    }
    let mut trailing = [0u8; 1];
    if frames.input.read(&mut trailing)? != 0 {
        return Err(BackupError::Format("bytes after the end frame".into()));
    }
    for shard in shards.done {
        std::fs::rename(&shard.temp, &shard.path)?;
    }
    Ok(summaries)
}

/// The shards of a restore: those still to come (in the head's order), the one being restored,
/// and those restored beside their live stores.
struct Shards {
    pending: std::collections::VecDeque<ShardSummary>,
    current: Option<Restoring>,
    done: Vec<Restored>,
    /// How the restored stores place records (the app's tree key mode).
    mode: TreeKeyMode,
}

impl Shards {
    /// Finishes the current shard and any before `shard` (restored empty: they have no records),
    /// and starts `shard`. Records of a shard that is not next are refused.
    async fn advance_to(
        &mut self,
        shard: ShardId,
        store_path: &impl Fn(ShardId) -> PathBuf,
        to: &Target<'_>,
    ) -> Result<&mut Restoring, BackupError> {
        while self.current.as_ref().is_none_or(|c| c.summary.shard != shard) {
            self.finish_current(to).await?;
            let next = self.pending.pop_front().ok_or_else(|| {
                BackupError::Format(format!("records of shard {shard} out of order or not in the head"))
            })?;
            let path = store_path(next.shard);
            self.current = Some(Restoring::start(next, path, to.keys, to.app, self.mode).await?);
        }
        Ok(self.current.as_mut().expect("the loop stops on the current shard"))
    }

    async fn finish_current(&mut self, to: &Target<'_>) -> Result<(), BackupError> {
        if let Some(done) = self.current.take() {
            self.done.push(done.finish(to).await?);
        }
        Ok(())
    }

    /// Finishes every shard, the remaining ones (with no records) restored empty.
    async fn finish_all(
        &mut self,
        store_path: &impl Fn(ShardId) -> PathBuf,
        to: &Target<'_>,
    ) -> Result<(), BackupError> {
        self.finish_current(to).await?;
        while let Some(next) = self.pending.pop_front() {
            let path = store_path(next.shard);
            let restoring = Restoring::start(next, path, to.keys, to.app, self.mode).await?;
            self.done.push(restoring.finish(to).await?);
        }
        Ok(())
    }
}

// A records frame holds at most FRAME_TARGET_BYTES, or one entry of a blob of at most PART_BYTES,
// a key and its leaf: either way within what one sealed frame takes.
const _: () = assert!(FRAME_TARGET_BYTES + 4096 <= crypto::MAX_VALUE_LEN);
const _: () = assert!(PART_BYTES + MAX_KEY_LEN + 4096 <= crypto::MAX_VALUE_LEN);
