//! Local blocks in append-only segment files with an index in an embedded database.
//!
//! # Layout
//! `<root>/segments/<id, 16 hex digits>.seg` hold records `magic "IRBK" ‖ length (u32 LE) ‖ SHA2-256
//! digest (32) ‖ block`; `<root>/index.redb` maps a digest to (segment, offset, length) and lists the
//! segments with how far each is indexed and how many of its bytes are dead.
//!
//! # Durability and crash safety
//! A group of blocks is one vectored append, made under the writer lock (which assigns its
//! offsets), then it waits for a sync to cover it: appending and syncing are split so that the
//! groups of every shard share `fdatasync`s. The first group waiting becomes the leader: it takes
//! every group appended so far, syncs their segments in order (a sealed segment before the one
//! after it), commits all their index entries in one transaction and answers them; the groups
//! appended meanwhile wait for the next leader. So one `fdatasync` covers every group appended
//! before it, and an index entry is never visible before its bytes are durable.
//!
//! A failed sync fails every group it covered and every group appended after them (a failed
//! `fdatasync` leaves the state of the unsynced bytes unknown): the active segment is cut back to
//! its last durable length, so no later group lands behind them. If it cannot be cut back, writes
//! fail until the store is reopened (which repairs the tail).
//!
//! The active segment is extended ahead of its records with written zeros, a megabyte at a time,
//! so an append overwrites allocated blocks inside the file's length: its `fdatasync` writes the
//! group's pages and flushes, without the inode write (and wait) a growing file costs. A clean
//! close cuts the zeros off; after a crash, the scan on open stops at them like at a torn tail and
//! cuts them off too (without counting them as torn bytes).
//!
//! The leader does not write the index database per sync: the synced groups' entries go to an
//! in-memory index buffer, which every lookup reads before the database, and the buffer is written
//! to the database in one durable transaction (keys sorted) every [`CHECKPOINT_COMMITS`] syncs or
//! [`MAX_BUFFERED_BLOCKS`] entries, before blocks are removed or a compacted segment is dropped,
//! and when the store closes. A crash loses only the buffer: on open, every segment is
//! scanned from the length its durable index entry names: records that are whole and whose bytes
//! hash to their digest are indexed again; the first one that is not (a torn tail after a crash)
//! ends the segment, which is truncated there. A segment file the index does not list (left by a
//! crash during compaction) is deleted.
//!
//! The index and the files are the operator's to tamper with: nothing read here is trusted. A wrong
//! offset, a flipped byte or a swapped record gives bytes that do not hash to the CID asked for, which
//! the [`super::BlobStore`] layer reports as [`BlobError::CidMismatch`].
//!
//! # Dead blocks and compaction
//! [`LocalBlobStore::remove_blocks`] drops blocks from the index and counts their bytes dead in their
//! segment. A sealed segment whose dead bytes reach half its length is compacted: its live records are
//! copied to the active segment, the index is switched to the copies durably, then the file is
//! deleted. So every sealed segment is at least half live, and the files take at most twice the live
//! bytes plus the active segment (and the segments a log reader holds, below).
//!
//! # The record log
//! A group may end with a log record (magic "IRLG", the same framing as a block): appended and
//! synced with the group's blocks, never indexed, and counted dead at once. [`RecordLog`] reads the
//! records back from a position (blocks are skipped by length); a reader holds the position of the
//! oldest record it still needs, and compaction leaves that segment and every later one alone until
//! it lets go. The keeper's shards log their groups here (see `crate::group_log`).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, IoSlice, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use sha2::{Digest, Sha256};
use tokio::runtime::Handle;
use tracing::{debug, info, warn};

use super::{
    check_cid, BlobError, BlockStore, Cid, DurableWait, LogPosition, RecordLog, DEFAULT_READ_TIMEOUT,
    MAX_BLOCK_LEN,
};

/// Where a block is: segment, offset of the block's bytes, length.
type Location = (u64, u64, u32);
/// Digest → location.
const BLOCKS: TableDefinition<[u8; 32], Location> = TableDefinition::new("blocks");
/// Segment → (bytes indexed, dead bytes).
const SEGMENTS: TableDefinition<u64, (u64, u64)> = TableDefinition::new("segments");

const RECORD_MAGIC: &[u8; 4] = b"IRBK";
/// A log record (see [`RecordLog`]): the same framing as a block, never indexed, dead once
/// appended (its reader keeps its segment from compaction until it no longer needs it).
const LOG_MAGIC: &[u8; 4] = b"IRLG";
/// Bytes before a block in its segment: magic, length, digest.
pub const RECORD_HEADER_LEN: u64 = 4 + 4 + 32;
/// By default a segment is sealed and a new one started once it is this long.
pub const DEFAULT_SEGMENT_LEN: u64 = 64 * 1024 * 1024;
/// Syncs whose index entries are buffered in memory before the buffer is written to the index
/// database; what a crash loses of them is recovered by scanning on open.
pub const CHECKPOINT_COMMITS: u32 = 256;
/// Most index entries buffered in memory (about 80 bytes each) before they are written out.
pub const MAX_BUFFERED_BLOCKS: usize = 16 * 1024;
/// The index's page cache. redb's default (1 GiB) lets the keeper's memory grow with the number of
/// blobs; the index is read by digest, so a small cache costs little.
const INDEX_CACHE_BYTES: usize = 32 * 1024 * 1024;
/// The active segment is extended with this many bytes of written zeros at a time, ahead of the
/// records: a group's bytes then overwrite allocated blocks inside the file's length, so its
/// `fdatasync` writes only them (no block allocation, no size change: no inode write and its
/// wait). Zeros end a segment's scan like a torn tail; a clean close and a reopen cut them off.
pub const PREALLOCATE_LEN: u64 = 1024 * 1024;

/// Where a block's bytes lie on disk (for inspection and for tests that play the operator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockLocation {
    pub segment: u64,
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
}

/// What opening the store found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Records found past the durable index and indexed again.
    pub reindexed: u64,
    /// Bytes cut off segment tails that were not whole, valid records.
    pub truncated_bytes: u64,
    /// Segment files the index did not list, deleted.
    pub stray_segments: u64,
}

/// What a compaction did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compaction {
    pub segments_removed: u64,
    pub blocks_moved: u64,
    pub bytes_reclaimed: u64,
}

/// Live and total bytes, for space amplification.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpaceUsage {
    pub segments: u64,
    pub file_bytes: u64,
    pub dead_bytes: u64,
}

/// How many groups the store's segment syncs made durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncCounts {
    /// `fdatasync`s of segment files (failed ones included).
    pub syncs: u64,
    /// Groups of blocks made durable by them.
    pub groups: u64,
}

/// Blocks in local segment files (the embedded default).
#[derive(Clone)]
pub struct LocalBlobStore {
    inner: Arc<Inner>,
    read_timeout: Duration,
}

impl std::fmt::Debug for LocalBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBlobStore").field("root", &self.inner.root).finish()
    }
}

struct Inner {
    root: PathBuf,
    db: Database,
    writer: Mutex<Writer>,
    /// Whether a leader is syncing; `synced` wakes the groups waiting while it does.
    leading: Mutex<bool>,
    synced: Condvar,
    /// Index entries of synced groups not written to the index database yet.
    buffer: Mutex<IndexBuffer>,
    /// Held to change the buffer or write it out: a leader buffering its groups, a flush, a
    /// removal (which flushes in its own transaction). Taken after `writer`, never before it.
    flushing: Mutex<()>,
    /// Removal and compaction read the index, then rewrite it: one at a time.
    maintenance: Mutex<()>,
    syncs: AtomicU64,
    synced_groups: AtomicU64,
    /// Open segment files for reads.
    files: RwLock<HashMap<u64, Arc<File>>>,
    /// Log readers' holds: holder → the oldest log position it still needs; compaction leaves
    /// that segment and every later one alone.
    log_holds: Mutex<HashMap<u64, LogPosition>>,
    recovery: Recovery,
    segment_len: u64,
    #[cfg(feature = "failpoints")]
    sync_fault: Mutex<Option<SyncFault>>,
}

/// The active segment, appended to under the lock, and the groups waiting for a sync.
struct Writer {
    id: u64,
    file: Arc<File>,
    len: u64,
    /// The file's length: past `len` it holds zeros written ahead (see [`PREALLOCATE_LEN`]).
    allocated: u64,
    /// Groups appended and not yet taken by a leader, in append order.
    unsynced: Vec<Appended>,
    /// Why writes are refused: a failed append or sync whose bytes could not be cut back.
    broken: Option<String>,
}

/// A group appended to a segment, waiting to be synced and indexed.
struct Appended {
    segment: u64,
    file: Arc<File>,
    /// Where the group starts and ends in its segment.
    start: u64,
    end: u64,
    entries: Vec<([u8; 32], Location)>,
    /// Bytes of log records in the group, dead from the start (never indexed).
    log_bytes: u64,
    outcome: Arc<Outcome>,
}

/// Index entries of synced groups, not yet in the index database (see the module docs).
#[derive(Default)]
struct IndexBuffer {
    blocks: HashMap<[u8; 32], Location>,
    /// Segment → (end of its synced groups, bytes of older copies the buffered entries replaced).
    segments: HashMap<u64, (u64, u64)>,
    /// Syncs buffered since the last flush.
    syncs: u32,
}

/// A block to append: its digest and bytes.
type NewBlock<'a> = ([u8; 32], &'a [u8]);

/// Set once by the leader that synced (or failed to sync) a group.
type Outcome = OnceLock<Result<(), SharedError>>;

/// A [`BlobError`] every group of a failed sync reports.
#[derive(Clone, Debug)]
struct SharedError {
    op: &'static str,
    path: PathBuf,
    kind: ErrorKind,
    /// The OS error code, kept so every group reports the same error (`EIO`, `ENOSPC`, ...).
    os_code: Option<i32>,
    message: String,
}

impl SharedError {
    fn io(op: &'static str, path: PathBuf, e: &std::io::Error) -> Self {
        SharedError { op, path, kind: e.kind(), os_code: e.raw_os_error(), message: e.to_string() }
    }

    fn of(e: &BlobError) -> Self {
        match e {
            BlobError::Io { op, path, source } => SharedError::io(op, path.clone(), source),
            BlobError::DiskFull { path } => SharedError {
                op: "write",
                path: path.clone(),
                kind: ErrorKind::StorageFull,
                os_code: None,
                message: e.to_string(),
            },
            e => SharedError {
                op: "store",
                path: PathBuf::new(),
                kind: ErrorKind::Other,
                os_code: None,
                message: e.to_string(),
            },
        }
    }

    fn to_error(&self) -> BlobError {
        let source = match self.os_code {
            Some(code) => std::io::Error::from_raw_os_error(code),
            None => std::io::Error::new(self.kind, self.message.clone()),
        };
        io_error(self.op, &self.path, source)
    }
}

/// A leader's groups: answered when dropped, with an error if nothing answered them before (the
/// leader panicked), so no group waits forever.
struct Batch(Vec<Appended>);

impl Batch {
    fn answer(&self, result: &Result<(), SharedError>) {
        for appended in &self.0 {
            let _ = appended.outcome.set(result.clone());
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        let abandoned = SharedError {
            op: "sync",
            path: PathBuf::new(),
            kind: ErrorKind::Other,
            os_code: None,
            message: "the group's sync was abandoned".into(),
        };
        self.answer(&Err(abandoned));
    }
}

/// Held by the leader; hands leadership back and wakes the waiting groups when dropped.
struct Leadership<'a>(&'a Inner);

impl Drop for Leadership<'_> {
    fn drop(&mut self) {
        *self.0.leading.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.0.synced.notify_all();
    }
}

/// A fault armed by a test (the `failpoints` feature) for the next leader's sync.
#[cfg(feature = "failpoints")]
#[derive(Clone, Copy, Debug)]
struct SyncFault {
    /// The leader waits until this many groups are appended, so one sync covers them all.
    groups: usize,
    /// The sync then fails with `EIO` instead of syncing.
    fail: bool,
}

fn io_error(op: &'static str, path: &Path, source: std::io::Error) -> BlobError {
    match source.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => BlobError::DiskFull { path: path.to_path_buf() },
        _ => BlobError::Io { op, path: path.to_path_buf(), source },
    }
}

fn segment_name(id: u64) -> String {
    format!("{id:016x}.seg")
}

fn record_header(magic: &[u8; 4], digest: &[u8; 32], len: usize) -> [u8; RECORD_HEADER_LEN as usize] {
    let mut header = [0u8; RECORD_HEADER_LEN as usize];
    header[..4].copy_from_slice(magic);
    header[4..8].copy_from_slice(&(len as u32).to_le_bytes());
    header[8..].copy_from_slice(digest);
    header
}

fn digest_of(cid: &Cid) -> [u8; 32] {
    cid.hash().digest().try_into().expect("check_cid admits only 32-byte digests")
}

impl Inner {
    fn segments_dir(&self) -> PathBuf {
        self.root.join("segments")
    }

    fn segment_path(&self, id: u64) -> PathBuf {
        self.segments_dir().join(segment_name(id))
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.redb")
    }

    fn db_error(&self, op: &'static str, e: impl std::fmt::Display) -> BlobError {
        BlobError::Io { op, path: self.index_path(), source: std::io::Error::other(e.to_string()) }
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn file(&self, id: u64) -> Result<Arc<File>, BlobError> {
        if let Some(file) = self.files.read().unwrap_or_else(|p| p.into_inner()).get(&id) {
            return Ok(file.clone());
        }
        let path = self.segment_path(id);
        let file = Arc::new(File::open(&path).map_err(|e| io_error("open", &path, e))?);
        self.files.write().unwrap_or_else(|p| p.into_inner()).insert(id, file.clone());
        Ok(file)
    }

    fn index_buffer(&self) -> std::sync::MutexGuard<'_, IndexBuffer> {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where the index (buffer, then database) puts `digest`. The buffer is read first: a flush
    /// clears it only after its transaction committed, so an entry is always in one of them.
    fn lookup(&self, digest: &[u8; 32]) -> Result<Option<Location>, BlobError> {
        if let Some(location) = self.index_buffer().blocks.get(digest) {
            return Ok(Some(*location));
        }
        let txn = self.db.begin_read().map_err(|e| self.db_error("read index", e))?;
        let table = txn.open_table(BLOCKS).map_err(|e| self.db_error("read index", e))?;
        let entry = table.get(digest).map_err(|e| self.db_error("read index", e))?;
        Ok(entry.map(|v| v.value()))
    }

    fn read_block(&self, cid: &Cid) -> Result<Bytes, BlobError> {
        let Some((segment, offset, len)) = self.lookup(&digest_of(cid))? else {
            return Err(BlobError::NotFound(*cid));
        };
        let len = len as usize;
        if len > MAX_BLOCK_LEN {
            // Only a tampered index says so; the bytes could not match the CID anyway.
            return Err(BlobError::NotFound(*cid));
        }
        let file = self.file(segment)?;
        let mut bytes = vec![0u8; len];
        match file.read_exact_at(&mut bytes, offset) {
            Ok(()) => Ok(Bytes::from(bytes)),
            // The index points past the file's end: the bytes are gone.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => Err(BlobError::NotFound(*cid)),
            Err(e) => Err(io_error("read", &self.segment_path(segment), e)),
        }
    }

    /// Stores the blocks not held yet as one group; returns once they are durable and indexed.
    fn write_blocks(&self, blocks: &[(Cid, Bytes)]) -> Result<(), BlobError> {
        let items: Vec<NewBlock<'_>> = blocks.iter().map(|(cid, b)| (digest_of(cid), &b[..])).collect();
        self.write_group(&items, false)
    }

    /// Appends `blocks` (digest, bytes) as one group and waits until a sync made it durable and
    /// its index entries are committed. Blocks the index holds are skipped unless `even_if_held`
    /// (compaction's copies of blocks it holds elsewhere, or blocks known to be new).
    fn write_group(&self, blocks: &[NewBlock<'_>], even_if_held: bool) -> Result<(), BlobError> {
        match self.append_group(blocks, even_if_held, None)?.0 {
            Some(outcome) => self.wait_durable(&outcome),
            None => Ok(()),
        }
    }

    /// The first half of [`Inner::write_group`]: appends the group, then `log_record` (bytes,
    /// SHA-256) if given,
    /// and returns what [`Inner::wait_durable`] waits for (`None`: nothing was appended, every
    /// block was held already) and where the log record went.
    fn append_group(
        &self,
        blocks: &[NewBlock<'_>],
        even_if_held: bool,
        log_record: Option<(&[u8], &[u8; 32])>,
    ) -> Result<(Option<Arc<Outcome>>, Option<LogPosition>), BlobError> {
        if let Some((_, block)) = blocks.iter().find(|(_, b)| b.len() > MAX_BLOCK_LEN) {
            return Err(BlobError::TooLarge { len: block.len(), max: MAX_BLOCK_LEN });
        }
        let outcome = {
            let mut writer = self.writer();
            if let Some(reason) = &writer.broken {
                let path = self.segment_path(writer.id);
                return Err(io_error("append", &path, std::io::Error::other(reason.clone())));
            }
            // Checked under the writer lock, which a removal takes too: a block found here is not
            // removed before this group is answered.
            let fresh = self.fresh_blocks(blocks, even_if_held)?;
            if fresh.is_empty() && log_record.is_none() {
                return Ok((None, None));
            }
            if writer.len >= self.segment_len {
                self.roll(&mut writer)?;
            }
            let headers: Vec<_> = fresh
                .iter()
                .map(|(digest, block)| record_header(RECORD_MAGIC, digest, block.len()))
                .collect();
            let log_header =
                log_record.map(|(record, digest)| record_header(LOG_MAGIC, digest, record.len()));
            let mut slices = Vec::with_capacity(2 * fresh.len() + 2);
            let mut entries = Vec::with_capacity(fresh.len());
            let mut offset = writer.len;
            for ((digest, block), header) in fresh.iter().zip(&headers) {
                slices.push(IoSlice::new(header));
                slices.push(IoSlice::new(block));
                entries.push((*digest, (writer.id, offset + RECORD_HEADER_LEN, block.len() as u32)));
                offset += RECORD_HEADER_LEN + block.len() as u64;
            }
            let mut log_at = None;
            let mut log_bytes = 0;
            if let (Some((record, _)), Some(header)) = (log_record, &log_header) {
                slices.push(IoSlice::new(header));
                slices.push(IoSlice::new(record));
                log_at = Some((writer.id, offset));
                log_bytes = RECORD_HEADER_LEN + record.len() as u64;
                offset += log_bytes;
            }
            let start = writer.len;
            self.append(&mut writer, &mut slices, offset)?;
            debug!(segment = writer.id, blocks = entries.len(), "appended block group");
            let outcome = Arc::new(Outcome::new());
            let appended = Appended {
                segment: writer.id,
                file: writer.file.clone(),
                start,
                end: writer.len,
                entries,
                log_bytes,
                outcome: outcome.clone(),
            };
            writer.unsynced.push(appended);
            (outcome, log_at)
        };
        Ok((Some(outcome.0), outcome.1))
    }

    /// The blocks of a group to append: each digest once and, unless `even_if_held`, only if the
    /// index does not hold it (content-addressed: the same bytes are stored once; a block stored
    /// again anyway counts its older copy dead).
    fn fresh_blocks<'a>(
        &self,
        blocks: &[NewBlock<'a>],
        even_if_held: bool,
    ) -> Result<Vec<NewBlock<'a>>, BlobError> {
        let mut seen = HashSet::with_capacity(blocks.len());
        let mut fresh = Vec::with_capacity(blocks.len());
        if even_if_held {
            fresh.extend(blocks.iter().filter(|(digest, _)| seen.insert(*digest)));
            return Ok(fresh);
        }
        {
            let buffer = self.index_buffer();
            seen.extend(blocks.iter().map(|(digest, _)| *digest).filter(|d| buffer.blocks.contains_key(d)));
        }
        let txn = self.db.begin_read().map_err(|e| self.db_error("read index", e))?;
        let index = txn.open_table(BLOCKS).map_err(|e| self.db_error("read index", e))?;
        for (digest, block) in blocks {
            if seen.insert(*digest)
                && index.get(digest).map_err(|e| self.db_error("read index", e))?.is_none()
            {
                fresh.push((*digest, *block));
            }
        }
        Ok(fresh)
    }

    /// Writes `slices` at the end of the active segment's records (not synced), into zeros
    /// written ahead; on failure cuts the segment back so no partial record stays in front of the
    /// next group.
    fn append(&self, writer: &mut Writer, slices: &mut [IoSlice<'_>], new_len: u64) -> Result<(), BlobError> {
        let path = self.segment_path(writer.id);
        let written = self.preallocate(writer, new_len).and_then(|()| {
            write_all_vectored_at(&writer.file, slices, writer.len).map_err(|e| io_error("append", &path, e))
        });
        if let Err(e) = written {
            if let Err(cut) = writer.file.set_len(writer.len) {
                warn!(path = %path.display(), error = %cut, "could not cut a failed append back; writes fail until a reopen repairs it");
                writer.broken =
                    Some(format!("a failed append could not be cut back ({cut}); reopen the store"));
            }
            writer.allocated = writer.len;
            return Err(e);
        }
        writer.len = new_len;
        Ok(())
    }

    /// Extends the active segment with written zeros ([`PREALLOCATE_LEN`] at a time, up to the
    /// segment length) until it holds `until` bytes, and starts writing them back at once, so the next sync does not find
    /// them all dirty. Not synced itself: the next sync makes the new length durable with the
    /// group that needs it.
    fn preallocate(&self, writer: &mut Writer, until: u64) -> Result<(), BlobError> {
        if until <= writer.allocated {
            return Ok(());
        }
        let path = self.segment_path(writer.id);
        // A group longer than a step extends the file itself and the zeros go after it: writing
        // its bytes twice (zeros, then the records) would cost more than the one inode write it
        // saves. Not past the segment's length: it is sealed there (and its zeros cut off).
        let from = if until > writer.allocated + PREALLOCATE_LEN { until } else { writer.allocated };
        let to = until.max((from + PREALLOCATE_LEN).min(self.segment_len));
        writer.allocated = to;
        if to == from {
            return Ok(());
        }
        let zeros = vec![0u8; (to - from) as usize];
        writer.file.write_all_at(&zeros, from).map_err(|e| io_error("preallocate", &path, e))?;
        start_writeback(&writer.file, from, to - from);
        Ok(())
    }

    /// Returns once `outcome` is set: by a leader already syncing, or by this thread as the
    /// leader of every group appended so far.
    fn wait_durable(&self, outcome: &Outcome) -> Result<(), BlobError> {
        let mut leading = self.leading.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(result) = outcome.get() {
                return result.as_ref().map_err(SharedError::to_error).copied();
            }
            if *leading {
                leading = self.synced.wait(leading).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            *leading = true;
            drop(leading);
            let leadership = Leadership(self);
            self.sync_appended();
            drop(leadership);
            leading = self.leading.lock().unwrap_or_else(|p| p.into_inner());
        }
    }

    /// The leader's work: syncs every group appended so far, indexes them and answers them.
    fn sync_appended(&self) {
        #[cfg(feature = "failpoints")]
        let inject_failure = self.hold_for_fault();
        #[cfg(not(feature = "failpoints"))]
        let inject_failure = false;
        let batch = Batch(std::mem::take(&mut self.writer().unsynced));
        if batch.0.is_empty() {
            return;
        }
        // In append order: a sealed segment's groups are durable before any after them count.
        let mut synced = Vec::with_capacity(1);
        for appended in &batch.0 {
            if synced.contains(&appended.segment) {
                continue;
            }
            synced.push(appended.segment);
            self.syncs.fetch_add(1, Ordering::Relaxed);
            let result = if inject_failure {
                Err(std::io::Error::from_raw_os_error(libc::EIO))
            } else {
                appended.file.sync_data()
            };
            if let Err(e) = result {
                let path = self.segment_path(appended.segment);
                warn!(path = %path.display(), error = %e, groups = batch.0.len(), "blob segment sync failed: failing every group not yet durable");
                self.fail_unsynced(batch, SharedError::io("fdatasync", path, &e));
                return;
            }
        }
        let _flushing = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        // A failed write of a due buffer fails the groups, as long as it fails: the buffer
        // (which keeps their entries for the next attempt) does not grow past its bound unseen.
        let indexed = if self.buffer_appended(&batch.0) {
            self.flush_buffer().map_err(|e| SharedError::of(&e))
        } else {
            Ok(())
        };
        if indexed.is_ok() {
            self.synced_groups.fetch_add(batch.0.len() as u64, Ordering::Relaxed);
        }
        batch.answer(&indexed);
    }

    /// After a failed sync: fails `batch` and every group appended since, and cuts each segment
    /// they are in back to where the first of them starts (everything before it was synced), so
    /// no later group is appended behind bytes whose state is unknown (a reopen's scan would stop
    /// at them and cut off what follows) and no failed group's blocks come back at a reopen.
    fn fail_unsynced(&self, batch: Batch, error: SharedError) {
        let later = {
            let mut writer = self.writer();
            let later = Batch(std::mem::take(&mut writer.unsynced));
            let mut cuts: Vec<(u64, &Arc<File>, u64)> = Vec::new();
            for appended in batch.0.iter().chain(&later.0) {
                match cuts.iter_mut().find(|(segment, _, _)| *segment == appended.segment) {
                    Some(cut) => cut.2 = cut.2.min(appended.start),
                    None => cuts.push((appended.segment, &appended.file, appended.start)),
                }
            }
            for (segment, file, at) in cuts {
                let cut = file.set_len(at);
                if segment == writer.id {
                    writer.allocated = at;
                    match cut {
                        Ok(()) => writer.len = at,
                        Err(e) => {
                            warn!(segment, error = %e, "could not cut a segment back after a failed sync; writes fail until a reopen repairs it");
                            writer.broken =
                                Some(format!("a failed sync could not be cut back ({e}); reopen the store"));
                        }
                    }
                } else if let Err(e) = cut {
                    // Sealed: nothing is appended behind it; a reopen's scan drops the tail.
                    warn!(segment, error = %e, "could not cut a sealed segment back after a failed sync");
                }
            }
            later
        };
        let failed = Err(error);
        batch.answer(&failed);
        later.answer(&failed);
    }

    /// Puts the index entries of synced groups in the buffer (the caller holds `flushing`); a
    /// block stored again (a race of two groups, or a compaction's copy) counts its buffered older
    /// copy dead (one in the database is counted when the buffer is written). Whether the buffer
    /// is due to be written out.
    fn buffer_appended(&self, batch: &[Appended]) -> bool {
        let mut buffer = self.index_buffer();
        for appended in batch {
            for (digest, location) in &appended.entries {
                if let Some((segment, _, len)) =
                    buffer.blocks.insert(*digest, *location).filter(|old| old != location)
                {
                    buffer.segments.entry(segment).or_default().1 += RECORD_HEADER_LEN + u64::from(len);
                }
            }
            let segment = buffer.segments.entry(appended.segment).or_default();
            segment.0 = segment.0.max(appended.end);
            segment.1 += appended.log_bytes;
        }
        buffer.syncs += 1;
        buffer.syncs >= CHECKPOINT_COMMITS || buffer.blocks.len() >= MAX_BUFFERED_BLOCKS
    }

    /// Writes the buffer to the index database in one durable transaction and clears it (the
    /// caller holds `flushing`).
    fn flush_buffer(&self) -> Result<(), BlobError> {
        let mut txn = self.db.begin_write().map_err(|e| self.db_error("write index", e))?;
        txn.set_durability(Durability::Immediate).map_err(|e| self.db_error("write index", e))?;
        self.write_buffer(&txn)?;
        txn.commit().map_err(|e| self.db_error("commit index", e))?;
        *self.index_buffer() = IndexBuffer::default();
        Ok(())
    }

    /// Writes the buffer's entries (sorted: neighbouring keys share pages) and the segments'
    /// indexed lengths and dead bytes into `txn`, leaving the buffer as it is: lookups read it
    /// until the transaction has committed and the caller clears it. An entry that replaces an
    /// older location counts that copy dead.
    fn write_buffer(&self, txn: &redb::WriteTransaction) -> Result<(), BlobError> {
        let (mut entries, mut touched) = {
            let buffer = self.index_buffer();
            let entries: Vec<([u8; 32], Location)> = buffer.blocks.iter().map(|(d, l)| (*d, *l)).collect();
            (entries, buffer.segments.clone())
        };
        entries.sort_unstable_by_key(|(digest, _)| *digest);
        let mut blocks = txn.open_table(BLOCKS).map_err(|e| self.db_error("write index", e))?;
        for (digest, location) in &entries {
            let old = blocks
                .insert(digest, location)
                .map_err(|e| self.db_error("write index", e))?
                .map(|v| v.value());
            if let Some((segment, _, len)) = old.filter(|old| old != location) {
                touched.entry(segment).or_default().1 += RECORD_HEADER_LEN + u64::from(len);
            }
        }
        let mut segments = txn.open_table(SEGMENTS).map_err(|e| self.db_error("write index", e))?;
        for (segment, (end, dead)) in touched {
            // A segment compaction removed keeps no row.
            let Some((indexed, was_dead)) =
                segments.get(segment).map_err(|e| self.db_error("write index", e))?.map(|v| v.value())
            else {
                continue;
            };
            segments
                .insert(segment, (indexed.max(end), was_dead + dead))
                .map_err(|e| self.db_error("write index", e))?;
        }
        Ok(())
    }

    /// Seals the active segment and starts the next, registered durably before anything goes in
    /// it. The sealed segment's unsynced groups stay queued: their leader syncs it first.
    fn roll(&self, writer: &mut Writer) -> Result<(), BlobError> {
        // The sealed segment keeps no zeros past its records (its unsynced groups lie before them).
        if writer.allocated > writer.len {
            let path = self.segment_path(writer.id);
            writer.file.set_len(writer.len).map_err(|e| io_error("truncate", &path, e))?;
            writer.allocated = writer.len;
        }
        let id = writer.id + 1;
        let (file, path) = self.create_segment(id)?;
        let mut txn = self.db.begin_write().map_err(|e| self.db_error("write index", e))?;
        txn.set_durability(Durability::Immediate).map_err(|e| self.db_error("write index", e))?;
        {
            let mut segments = txn.open_table(SEGMENTS).map_err(|e| self.db_error("write index", e))?;
            segments.insert(id, (0, 0)).map_err(|e| self.db_error("write index", e))?;
        }
        txn.commit().map_err(|e| self.db_error("commit index", e))?;
        info!(segment = id, path = %path.display(), "started a new blob segment");
        writer.id = id;
        writer.file = Arc::new(file);
        writer.len = 0;
        writer.allocated = 0;
        Ok(())
    }

    fn create_segment(&self, id: u64) -> Result<(File, PathBuf), BlobError> {
        let path = self.segment_path(id);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .read(true)
            .open(&path)
            .map_err(|e| io_error("create", &path, e))?;
        file.set_len(0).map_err(|e| io_error("truncate", &path, e))?;
        sync_dir(&self.segments_dir())?;
        Ok((file, path))
    }

    fn remove_blocks(&self, cids: &[Cid]) -> Result<u64, BlobError> {
        // Under the writer lock: a group that found one of these blocks held is answered first.
        let writer = self.writer();
        // The buffer goes out in the same transaction, so every entry is in the database here.
        let flushing = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        let mut txn = self.db.begin_write().map_err(|e| self.db_error("write index", e))?;
        txn.set_durability(Durability::Immediate).map_err(|e| self.db_error("write index", e))?;
        self.write_buffer(&txn)?;
        let mut removed = 0;
        {
            let mut blocks = txn.open_table(BLOCKS).map_err(|e| self.db_error("write index", e))?;
            let mut segments = txn.open_table(SEGMENTS).map_err(|e| self.db_error("write index", e))?;
            for cid in cids {
                let Some(entry) =
                    blocks.remove(&digest_of(cid)).map_err(|e| self.db_error("write index", e))?
                else {
                    continue;
                };
                let (segment, _, len) = entry.value();
                drop(entry);
                let stats =
                    segments.get(segment).map_err(|e| self.db_error("write index", e))?.map(|v| v.value());
                if let Some((indexed, dead)) = stats {
                    let dead = dead + RECORD_HEADER_LEN + len as u64;
                    segments.insert(segment, (indexed, dead)).map_err(|e| self.db_error("write index", e))?;
                }
                removed += 1;
            }
        }
        txn.commit().map_err(|e| self.db_error("commit index", e))?;
        *self.index_buffer() = IndexBuffer::default();
        drop(flushing);
        drop(writer);
        Ok(removed)
    }

    fn segment_stats(&self) -> Result<Vec<(u64, u64, u64)>, BlobError> {
        let txn = self.db.begin_read().map_err(|e| self.db_error("read index", e))?;
        let table = txn.open_table(SEGMENTS).map_err(|e| self.db_error("read index", e))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| self.db_error("read index", e))? {
            let (id, stats) = entry.map_err(|e| self.db_error("read index", e))?;
            let (indexed, dead) = stats.value();
            let (end, buffered_dead) =
                self.index_buffer().segments.get(&id.value()).copied().unwrap_or_default();
            out.push((id.value(), indexed.max(end), dead + buffered_dead));
        }
        Ok(out)
    }

    /// Compacts every sealed segment at least half dead (the caller holds `maintenance`).
    fn compact(&self) -> Result<Compaction, BlobError> {
        // Every group appended to a sealed segment must be indexed before its live records are
        // chosen, or one still waiting for its sync would be taken for dead: wait for the last
        // group appended before the active segment is read (a failed one was cut off).
        let (active, last) = {
            let writer = self.writer();
            (writer.id, writer.unsynced.last().map(|a| a.outcome.clone()))
        };
        if let Some(last) = last {
            let _ = self.wait_durable(&last);
        }
        // Live records are chosen from the index database: everything buffered goes there first.
        {
            let _flushing = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
            self.flush_buffer()?;
        }
        // A log reader's records are not copied (they are not indexed): their segments stay.
        let held_from = self.log_holds.lock().unwrap_or_else(|p| p.into_inner()).values().map(|p| p.0).min();
        let mut report = Compaction::default();
        for (id, indexed, dead) in self.segment_stats()? {
            if id >= active || held_from.is_some_and(|h| id >= h) || indexed == 0 || dead * 2 < indexed {
                continue;
            }
            let moved = self.compact_segment(id)?;
            report.segments_removed += 1;
            report.blocks_moved += moved;
            report.bytes_reclaimed += dead;
        }
        Ok(report)
    }

    /// Copies the live records of sealed segment `id` to the active one, a few megabytes at a time
    /// (a whole 64 MiB segment in memory would count against the keeper's memory budget), then
    /// drops the segment from the index durably and deletes it.
    fn compact_segment(&self, id: u64) -> Result<u64, BlobError> {
        const WINDOW: usize = 4 * 1024 * 1024;
        let path = self.segment_path(id);
        let file = File::open(&path).map_err(|e| io_error("open", &path, e))?;
        let len = file.metadata().map_err(|e| io_error("stat", &path, e))?.len();
        let mut buf = Vec::new();
        let mut moved = 0u64;
        // File offset of the window: always the start of a record (or of the end).
        let mut offset = 0u64;
        loop {
            // A window holds at least one whole record of the largest size.
            let want = (len - offset).min(WINDOW.max(RECORD_HEADER_LEN as usize + MAX_BLOCK_LEN) as u64);
            if want == 0 {
                break;
            }
            buf.resize(want as usize, 0);
            file.read_exact_at(&mut buf, offset).map_err(|e| io_error("read", &path, e))?;
            let txn = self.db.begin_read().map_err(|e| self.db_error("read index", e))?;
            let index = txn.open_table(BLOCKS).map_err(|e| self.db_error("read index", e))?;
            let mut live = Vec::new();
            let mut at = 0u64;
            while let Some(record) = parse_record(&buf, at) {
                let here =
                    index.get(&record.digest).map_err(|e| self.db_error("read index", e))?.map(|v| v.value());
                if here == Some((id, offset + at + RECORD_HEADER_LEN, record.len as u32)) {
                    live.push((record.digest, &buf[record.start..record.start + record.len]));
                }
                at = record.end;
            }
            drop(index);
            drop(txn);
            if !live.is_empty() {
                // Durable and indexed at the copies once this returns.
                self.write_group(&live, true)?;
                moved += live.len() as u64;
            }
            // No whole record at the window's start: the end of the segment's records (its zeros,
            // or a torn tail).
            if at == 0 {
                break;
            }
            offset += at;
        }
        // The copies' entries (buffered) become durable in the transaction that drops the segment:
        // after a crash the index never names a deleted segment's copy of a block it moved.
        let flushing = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        let mut txn = self.db.begin_write().map_err(|e| self.db_error("write index", e))?;
        txn.set_durability(Durability::Immediate).map_err(|e| self.db_error("write index", e))?;
        self.write_buffer(&txn)?;
        {
            let mut segments = txn.open_table(SEGMENTS).map_err(|e| self.db_error("write index", e))?;
            segments.remove(id).map_err(|e| self.db_error("write index", e))?;
        }
        txn.commit().map_err(|e| self.db_error("commit index", e))?;
        *self.index_buffer() = IndexBuffer::default();
        drop(flushing);
        self.files.write().unwrap_or_else(|p| p.into_inner()).remove(&id);
        fs::remove_file(&path).map_err(|e| io_error("remove", &path, e))?;
        sync_dir(&self.segments_dir())?;
        info!(segment = id, moved, "compacted a blob segment");
        Ok(moved)
    }

    /// Appends the whole log records of segment `id` from `start` on to `out`, reading the file a
    /// few megabytes at a time; blocks are skipped by their length (not hashed), the first bytes
    /// that are not a whole record end the segment (its tail, or a torn write).
    fn log_records_in(
        &self,
        id: u64,
        start: u64,
        out: &mut Vec<(LogPosition, Vec<u8>)>,
    ) -> Result<(), BlobError> {
        const CHUNK: usize = 4 * 1024 * 1024;
        let path = self.segment_path(id);
        let file = match File::open(&path) {
            Ok(file) => file,
            // Lost by the operator: its records are gone, like its blocks.
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error("open", &path, e)),
        };
        let len = file.metadata().map_err(|e| io_error("stat", &path, e))?.len();
        // `buf` holds the file's bytes from `base` on.
        let (mut base, mut buf, mut at) = (start, Vec::new(), 0usize);
        loop {
            let header = buf.get(at..at + RECORD_HEADER_LEN as usize);
            let body_len = header.and_then(|h| {
                let len = u32::from_le_bytes(h[4..8].try_into().expect("4 bytes")) as usize;
                (matches!(&h[..4], m if m == RECORD_MAGIC || m == LOG_MAGIC) && len <= MAX_BLOCK_LEN)
                    .then_some(len)
            });
            let whole = body_len.filter(|l| buf.len() >= at + RECORD_HEADER_LEN as usize + l);
            match (header, whole) {
                (Some(_), Some(body_len)) => {
                    if let Some(record) = parse_record(&buf, at as u64).filter(|r| r.log) {
                        out.push((
                            (id, base + at as u64),
                            buf[record.start..record.start + record.len].to_vec(),
                        ));
                    } else if buf[at..at + 4] == *LOG_MAGIC {
                        break; // a log record whose bytes do not match its digest: torn
                    }
                    at += RECORD_HEADER_LEN as usize + body_len;
                }
                (Some(_), None) if body_len.is_none() => break,
                _ => {
                    // Not enough bytes for the next record: read on, keeping what is left.
                    let read_from = base + buf.len() as u64;
                    if read_from >= len {
                        break;
                    }
                    buf.drain(..at);
                    base += at as u64;
                    at = 0;
                    let more = (len - read_from).min(CHUNK.max(MAX_BLOCK_LEN) as u64) as usize;
                    let old = buf.len();
                    buf.resize(old + more, 0);
                    file.read_exact_at(&mut buf[old..], read_from).map_err(|e| io_error("read", &path, e))?;
                }
            }
        }
        Ok(())
    }

    /// Waits for an armed [`SyncFault`]'s groups; whether this sync is to fail.
    #[cfg(feature = "failpoints")]
    fn hold_for_fault(&self) -> bool {
        let Some(fault) = self.sync_fault.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return false;
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.writer().unsynced.len() < fault.groups && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        fault.fail
    }
}

impl Drop for Inner {
    /// A clean close cuts off the zeros written ahead and writes the buffered index entries, so
    /// the next open has no tail to scan.
    fn drop(&mut self) {
        {
            let mut writer = self.writer();
            if writer.allocated > writer.len {
                if let Err(e) = writer.file.set_len(writer.len) {
                    warn!(segment = writer.id, error = %e, "cutting the zeros written ahead at close failed; the next open cuts them");
                }
                writer.allocated = writer.len;
            }
        }
        if self.index_buffer().blocks.is_empty() {
            return;
        }
        let _flushing = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = self.flush_buffer() {
            warn!(error = %e, "writing the blob index buffer at close failed; the next open rescans the tail");
        }
    }
}

/// One whole, valid record in a segment's bytes.
#[derive(Clone)]
struct Record {
    /// A log record (see [`LOG_MAGIC`]), not a block.
    log: bool,
    digest: [u8; 32],
    /// Where the block's bytes start.
    start: usize,
    len: usize,
    /// Where the next record starts.
    end: u64,
}

/// The record at `at`, if one is there whole and its bytes hash to its digest.
fn parse_record(bytes: &[u8], at: u64) -> Option<Record> {
    let at = usize::try_from(at).ok()?;
    let header = bytes.get(at..at.checked_add(RECORD_HEADER_LEN as usize)?)?;
    let log = match &header[..4] {
        magic if magic == RECORD_MAGIC => false,
        magic if magic == LOG_MAGIC => true,
        _ => return None,
    };
    let len = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes")) as usize;
    if len > MAX_BLOCK_LEN {
        return None;
    }
    let digest: [u8; 32] = header[8..].try_into().expect("32 bytes");
    let start = at + RECORD_HEADER_LEN as usize;
    let block = bytes.get(start..start.checked_add(len)?)?;
    if <[u8; 32]>::from(Sha256::digest(block)) != digest {
        return None;
    }
    Some(Record { log, digest, start, len, end: (start + len) as u64 })
}

/// Writes every slice at `offset` onwards (`pwritev`, at most `IOV_MAX` slices per call).
fn write_all_vectored_at(
    file: &File,
    mut slices: &mut [IoSlice<'_>],
    mut offset: u64,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    const IOV_MAX: usize = 1024;
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        let count = slices.len().min(IOV_MAX);
        let at = libc::off_t::try_from(offset).map_err(|_| std::io::Error::from(ErrorKind::InvalidInput))?;
        // SAFETY: `IoSlice` is ABI-compatible with `iovec`; the first `count` slices are valid
        // buffers borrowed for the duration of the call.
        let n = unsafe { libc::pwritev(file.as_raw_fd(), slices.as_ptr().cast(), count as libc::c_int, at) };
        match n {
            0 => return Err(ErrorKind::WriteZero.into()),
            n if n > 0 => {
                offset += n as u64;
                IoSlice::advance_slices(&mut slices, n as usize);
            }
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// Starts writing back `len` bytes at `offset` without waiting (`sync_file_range`, a hint: it
/// makes nothing durable; errors surface at the next sync).
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (libc::off64_t::try_from(offset), libc::off64_t::try_from(len)) else {
        return;
    };
    // SAFETY: a plain system call on an open descriptor.
    unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE) };
}

fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_error("fsync", dir, e))
}

impl LocalBlobStore {
    /// Opens (creating if needed) the store rooted at `root`, repairing what a crash left behind.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, BlobError> {
        Self::open_with_segment_len(root, DEFAULT_SEGMENT_LEN)
    }

    /// [`Self::open`] with segments sealed at `segment_len` bytes instead of [`DEFAULT_SEGMENT_LEN`].
    pub fn open_with_segment_len(root: impl AsRef<Path>, segment_len: u64) -> Result<Self, BlobError> {
        let root = root.as_ref().to_path_buf();
        let segments_dir = root.join("segments");
        fs::create_dir_all(&segments_dir).map_err(|e| io_error("create directory", &segments_dir, e))?;
        let index_path = root.join("index.redb");
        let db =
            Database::builder().set_cache_size(INDEX_CACHE_BYTES).create(&index_path).map_err(
                |e| match e {
                    // redb locks its file: a running keeper holds this store.
                    redb::DatabaseError::DatabaseAlreadyOpen => BlobError::InUse { path: root.clone() },
                    e => BlobError::Io {
                        op: "open index",
                        path: index_path.clone(),
                        source: std::io::Error::other(e.to_string()),
                    },
                },
            )?;
        let (writer, recovery) = recover(&root, &db)?;
        let inner = Inner {
            root,
            db,
            writer: Mutex::new(writer),
            leading: Mutex::new(false),
            synced: Condvar::new(),
            buffer: Mutex::new(IndexBuffer::default()),
            flushing: Mutex::new(()),
            maintenance: Mutex::new(()),
            syncs: AtomicU64::new(0),
            synced_groups: AtomicU64::new(0),
            files: RwLock::new(HashMap::new()),
            log_holds: Mutex::new(HashMap::new()),
            recovery,
            segment_len: segment_len.max(1),
            #[cfg(feature = "failpoints")]
            sync_fault: Mutex::new(None),
        };
        if inner.recovery != Recovery::default() {
            warn!(root = %inner.root.display(), recovery = ?inner.recovery, "blob store repaired after an unclean stop");
        }
        Ok(Self { inner: Arc::new(inner), read_timeout: DEFAULT_READ_TIMEOUT })
    }

    pub fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// What opening the store repaired.
    pub fn recovery(&self) -> &Recovery {
        &self.inner.recovery
    }

    /// Where the block `cid` is stored, if the index holds it.
    pub fn block_location(&self, cid: &Cid) -> Result<Option<BlockLocation>, BlobError> {
        check_cid(cid)?;
        Ok(self.inner.lookup(&digest_of(cid))?.map(|(segment, offset, len)| BlockLocation {
            segment,
            path: self.inner.segment_path(segment),
            offset,
            len: len as u64,
        }))
    }

    /// Drops blocks from the store and compacts the segments that leaves at least half dead;
    /// returns how many of the blocks it held.
    pub async fn remove_blocks(&self, cids: Vec<Cid>) -> Result<u64, BlobError> {
        for cid in &cids {
            check_cid(cid)?;
        }
        self.blocking(move |inner| {
            let _maintenance = inner.maintenance.lock().unwrap_or_else(|p| p.into_inner());
            let removed = inner.remove_blocks(&cids)?;
            inner.compact()?;
            Ok(removed)
        })
        .await
    }

    /// Compacts every sealed segment whose dead bytes reach half its length.
    pub async fn compact(&self) -> Result<Compaction, BlobError> {
        self.blocking(|inner| {
            let _maintenance = inner.maintenance.lock().unwrap_or_else(|p| p.into_inner());
            inner.compact()
        })
        .await
    }

    /// Segment syncs so far and the groups they made durable.
    pub fn sync_counts(&self) -> SyncCounts {
        SyncCounts {
            syncs: self.inner.syncs.load(Ordering::Relaxed),
            groups: self.inner.synced_groups.load(Ordering::Relaxed),
        }
    }

    /// Test hook (the `failpoints` feature): the next sync waits until `groups` groups are
    /// appended (at most 10 s), so that one sync covers them all, then fails with `EIO` if `fail`.
    #[cfg(feature = "failpoints")]
    pub fn hold_next_sync(&self, groups: usize, fail: bool) {
        *self.inner.sync_fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(SyncFault { groups, fail });
    }

    /// Segment files, their total length and the dead bytes in them.
    pub fn space_usage(&self) -> Result<SpaceUsage, BlobError> {
        let mut usage = SpaceUsage::default();
        for (_, indexed, dead) in self.inner.segment_stats()? {
            usage.segments += 1;
            usage.file_bytes += indexed;
            usage.dead_bytes += dead;
        }
        Ok(usage)
    }

    /// Runs blocking file system work off the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, BlobError> + Send + 'static,
    ) -> Result<T, BlobError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner)).await.map_err(|e| BlobError::Io {
            op: "run blocking task",
            path: self.inner.root.clone(),
            source: std::io::Error::other(e),
        })?
    }
}

/// Reconciles the index with the segment files and opens the active segment.
fn recover(root: &Path, db: &Database) -> Result<(Writer, Recovery), BlobError> {
    let index_path = root.join("index.redb");
    let db_error = |op: &'static str, e: &dyn std::fmt::Display| BlobError::Io {
        op,
        path: index_path.clone(),
        source: std::io::Error::other(e.to_string()),
    };
    let segments_dir = root.join("segments");
    let mut recovery = Recovery::default();
    let mut txn = db.begin_write().map_err(|e| db_error("write index", &e))?;
    txn.set_durability(Durability::Immediate).map_err(|e| db_error("write index", &e))?;
    let active = {
        let mut blocks = txn.open_table(BLOCKS).map_err(|e| db_error("write index", &e))?;
        let mut segments = txn.open_table(SEGMENTS).map_err(|e| db_error("write index", &e))?;
        let mut listed = Vec::new();
        for entry in segments.iter().map_err(|e| db_error("read index", &e))? {
            let (id, stats) = entry.map_err(|e| db_error("read index", &e))?;
            listed.push((id.value(), stats.value()));
        }
        let known: HashSet<u64> = listed.iter().map(|(id, _)| *id).collect();
        for entry in fs::read_dir(&segments_dir).map_err(|e| io_error("list", &segments_dir, e))? {
            let path = entry.map_err(|e| io_error("list", &segments_dir, e))?.path();
            let id = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| u64::from_str_radix(n, 16).ok());
            if id.is_none_or(|id| !known.contains(&id)) {
                // Compacted away, or created by a roll whose registration never became durable.
                fs::remove_file(&path).map_err(|e| io_error("remove", &path, e))?;
                recovery.stray_segments += 1;
            }
        }
        for (id, (indexed, dead)) in &listed {
            let path = segments_dir.join(segment_name(*id));
            // Only what follows the durably indexed length can be unindexed or torn.
            let mut tail = Vec::new();
            let file_len = match File::open(&path) {
                Ok(mut f) => {
                    let len = f.metadata().map_err(|e| io_error("stat", &path, e))?.len();
                    f.seek(SeekFrom::Start((*indexed).min(len)))
                        .and_then(|_| f.read_to_end(&mut tail))
                        .map_err(|e| io_error("read", &path, e))?;
                    len
                }
                // Lost by the operator: its blocks read as missing.
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    File::create(&path).map_err(|e| io_error("create", &path, e))?;
                    0
                }
                Err(e) => return Err(io_error("open", &path, e)),
            };
            if file_len < *indexed {
                // Cut short or lost behind the index's back: forget the blocks that went with it,
                // so their locations are not mistaken for the records appended there next.
                let gone = *id;
                blocks
                    .retain(|_, (segment, offset, block_len)| {
                        segment != gone || offset + u64::from(block_len) <= file_len
                    })
                    .map_err(|e| db_error("write index", &e))?;
                warn!(path = %path.display(), indexed, file_len, "blob segment shorter than its index");
            }
            let start = (*indexed).min(file_len);
            let mut rel = 0u64;
            let mut dead = *dead;
            while let Some(record) = parse_record(&tail, rel) {
                let held = record.log
                    || blocks.get(&record.digest).map_err(|e| db_error("read index", &e))?.is_some();
                if held {
                    dead += RECORD_HEADER_LEN + record.len as u64;
                } else {
                    let location = (*id, start + record.start as u64, record.len as u32);
                    blocks.insert(&record.digest, location).map_err(|e| db_error("write index", &e))?;
                    recovery.reindexed += 1;
                }
                rel = record.end;
            }
            let at = start + rel;
            if (tail.len() as u64) > rel {
                // Zeros after the last record were written ahead of it (see `PREALLOCATE_LEN`):
                // cut off, but not a repair. Anything else there is a torn write.
                let rest = &tail[rel as usize..];
                recovery.truncated_bytes += rest.iter().rposition(|b| *b != 0).map_or(0, |i| i as u64 + 1);
                let file =
                    OpenOptions::new().write(true).open(&path).map_err(|e| io_error("open", &path, e))?;
                file.set_len(at).map_err(|e| io_error("truncate", &path, e))?;
                file.sync_all().map_err(|e| io_error("fsync", &path, e))?;
            } else if rel > 0 {
                // Records past the durable index may only be in the page cache (a killed process
                // never synced them): durable before the index names them.
                let file =
                    OpenOptions::new().write(true).open(&path).map_err(|e| io_error("open", &path, e))?;
                file.sync_data().map_err(|e| io_error("fdatasync", &path, e))?;
            }
            segments.insert(*id, (at, dead)).map_err(|e| db_error("write index", &e))?;
        }
        let active = listed.iter().map(|(id, _)| *id).max();
        match active {
            Some(id) => id,
            None => {
                segments.insert(0, (0, 0)).map_err(|e| db_error("write index", &e))?;
                0
            }
        }
    };
    txn.commit().map_err(|e| db_error("commit index", &e))?;
    let path = segments_dir.join(segment_name(active));
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .read(true)
        .open(&path)
        .map_err(|e| io_error("open", &path, e))?;
    sync_dir(&segments_dir)?;
    let len = file.metadata().map_err(|e| io_error("stat", &path, e))?.len();
    let writer =
        Writer { id: active, file: Arc::new(file), len, allocated: len, unsynced: Vec::new(), broken: None };
    Ok((writer, recovery))
}

/// The segments are the log: a record goes in the same append (and sync) as its group's blocks.
impl RecordLog for LocalBlobStore {
    fn stage_with_record(
        &self,
        blocks: Vec<(Cid, Bytes)>,
        record: &[u8],
    ) -> Result<(LogPosition, [u8; 32], DurableWait), BlobError> {
        for (cid, _) in &blocks {
            check_cid(cid)?;
        }
        if record.len() > MAX_BLOCK_LEN {
            return Err(BlobError::TooLarge { len: record.len(), max: MAX_BLOCK_LEN });
        }
        let digest: [u8; 32] = Sha256::digest(record).into();
        let items: Vec<NewBlock<'_>> = blocks.iter().map(|(cid, b)| (digest_of(cid), &b[..])).collect();
        // Fresh ciphertexts (a new data key and nonce each): not looked up in the index first.
        let (Some(outcome), Some(at)) = self.inner.append_group(&items, true, Some((record, &digest)))?
        else {
            unreachable!("a group with a log record is always appended");
        };
        let inner = self.inner.clone();
        Ok((at, digest, Box::new(move || inner.wait_durable(&outcome))))
    }

    fn end(&self) -> LogPosition {
        let writer = self.inner.writer();
        (writer.id, writer.len)
    }

    fn records_from(&self, from: LogPosition) -> Result<Vec<(LogPosition, Vec<u8>)>, BlobError> {
        let segments: Vec<u64> = {
            let txn = self.inner.db.begin_read().map_err(|e| self.inner.db_error("read index", e))?;
            let table = txn.open_table(SEGMENTS).map_err(|e| self.inner.db_error("read index", e))?;
            let ids = table.range(from.0..).map_err(|e| self.inner.db_error("read index", e))?;
            ids.map(|entry| entry.map(|(id, _)| id.value()))
                .collect::<Result<_, _>>()
                .map_err(|e| self.inner.db_error("read index", e))?
        };
        let mut records = Vec::new();
        for id in segments {
            let start = if id == from.0 { from.1 } else { 0 };
            self.inner.log_records_in(id, start, &mut records)?;
        }
        Ok(records)
    }

    fn hold(&self, holder: u64, from: Option<LogPosition>) {
        let mut holds = self.inner.log_holds.lock().unwrap_or_else(|p| p.into_inner());
        match from {
            Some(from) => holds.insert(holder, from),
            None => holds.remove(&holder),
        };
    }
}

#[async_trait]
impl BlockStore for LocalBlobStore {
    async fn put_block(&self, cid: &Cid, block: Bytes) -> Result<(), BlobError> {
        self.put_blocks(vec![(*cid, block)]).await
    }

    async fn put_blocks(&self, blocks: Vec<(Cid, Bytes)>) -> Result<(), BlobError> {
        for (cid, _) in &blocks {
            check_cid(cid)?;
        }
        self.blocking(move |inner| inner.write_blocks(&blocks)).await
    }

    /// Appends and syncs on the calling thread: no hand-off to a blocking task.
    fn put_blocks_blocking(&self, blocks: Vec<(Cid, Bytes)>, _runtime: &Handle) -> Result<(), BlobError> {
        for (cid, _) in &blocks {
            check_cid(cid)?;
        }
        self.inner.write_blocks(&blocks)
    }

    /// Appends on the calling thread; the wait syncs (as the leader, or behind the leader whose
    /// sync covers the group).
    fn stage_blocks_blocking(
        &self,
        blocks: Vec<(Cid, Bytes)>,
        _runtime: &Handle,
    ) -> Result<Option<DurableWait>, BlobError> {
        for (cid, _) in &blocks {
            check_cid(cid)?;
        }
        let items: Vec<NewBlock<'_>> = blocks.iter().map(|(cid, b)| (digest_of(cid), &b[..])).collect();
        let Some(outcome) = self.inner.append_group(&items, false, None)?.0 else {
            return Ok(None);
        };
        let inner = self.inner.clone();
        Ok(Some(Box::new(move || inner.wait_durable(&outcome))))
    }

    fn record_log(&self) -> Option<Arc<dyn RecordLog>> {
        Some(Arc::new(self.clone()))
    }

    async fn get_block(&self, cid: &Cid) -> Result<Bytes, BlobError> {
        check_cid(cid)?;
        let cid = *cid;
        self.blocking(move |inner| inner.read_block(&cid)).await
    }

    async fn has_block(&self, cid: &Cid) -> Result<bool, BlobError> {
        check_cid(cid)?;
        let cid = *cid;
        self.blocking(move |inner| Ok(inner.lookup(&digest_of(&cid))?.is_some())).await
    }

    fn deletes_blocks(&self) -> bool {
        true
    }

    async fn delete_blocks(&self, cids: Vec<Cid>) -> Result<u64, BlobError> {
        self.remove_blocks(cids).await
    }

    /// Blocks leave only through [`LocalBlobStore::remove_blocks`], so pinning only checks presence.
    async fn pin_block(&self, cid: &Cid) -> Result<(), BlobError> {
        if self.has_block(cid).await? {
            Ok(())
        } else {
            Err(BlobError::NotFound(*cid))
        }
    }

    fn read_timeout(&self) -> Duration {
        self.read_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_only_when_whole_and_matching() {
        let block = b"some block bytes";
        let digest: [u8; 32] = Sha256::digest(block).into();
        let mut bytes = record_header(RECORD_MAGIC, &digest, block.len()).to_vec();
        bytes.extend_from_slice(block);
        let record = parse_record(&bytes, 0).unwrap();
        assert_eq!((record.start, record.len, record.end), (40, block.len(), bytes.len() as u64));
        assert_eq!(super::super::cid_of_digest(record.digest), super::super::raw_cid(block));
        for cut in 0..bytes.len() {
            assert!(parse_record(&bytes[..cut], 0).is_none(), "torn at {cut}");
        }
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(parse_record(&flipped, 0).is_none());
        let mut huge = bytes.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_record(&huge, 0).is_none());
    }
}
