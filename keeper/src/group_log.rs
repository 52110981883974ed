//! The group log: one sync makes a group durable, for every shard of the keeper at once.
//!
//! With the local blob store, a shard's group commit used to pay two syncs: the blob segment's
//! (shared by every shard: one leader syncs for all groups appended) and its own store's (redb's
//! `fdatasync` and about 14 page writes, per shard and group). Here the group's changes (record
//! keys and leaves) go as one sealed record into the same append as its blobs, so the segment's
//! sync makes both durable. The store then commits without waiting for the disk
//! (`redb::Durability::None`: visible at once, durable with the next durable commit), and a
//! durable commit (a checkpoint) follows every [`CHECKPOINT_GROUPS`] groups, [`CHECKPOINT_WRITES`]
//! writes or [`CHECKPOINT_AGE`], and when the shard goes idle or stops.
//!
//! After a crash the store is back at its last durable commit, whose state names where the log
//! continues ([`LogCursor`]): the records from there on that open under the store's key are
//! chained (each names the digest of the record before it), and replay follows the chain from
//! the state's head, recomputing each group (the tree is deterministic), until it ends.
//!
//! What the operator can do to it (the log lies in its segment files):
//! - **Read it**: records are AES-256-GCM sealed under a key derived from the store-sealing key;
//!   the record keys in them are no more visible than in the store's sealed index.
//! - **Edit or forge a record, or copy one from another shard or store**: it does not open (the
//!   associated data binds app, shard and store id) and is skipped, like a missing one.
//! - **Cut the log short, delete or reorder records**: replay stops where the chain breaks. The
//!   groups after it are lost, which is what restoring an older copy of the store does: the
//!   rollback of unanchored writes that only the chain's anchored root bounds (see the README's
//!   trust section). Every write in the replayed prefix was acknowledged in that order.
//! - **Keep two records that follow the same one** (a group whose commit failed, and the group
//!   written after it): the later one in the log is followed. A commit after a failed group, and
//!   any commit whose record does not follow the committed head, waits for the disk, so replay
//!   never needs to choose across one.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};

use crate::blobs::{self, BlobError, BlobStore, LogPosition, PlannedBlobs, RecordLog, StagedBlobs};
use crate::tree::{LogCursor, RecordLeaf, ShardStore, StoreError};

/// A durable commit after at most this many groups committed without one...
pub const CHECKPOINT_GROUPS: u32 = 64;
/// ...or this many writes (large groups: the store keeps the pages of commits that are not
/// durable yet in memory)...
pub const CHECKPOINT_WRITES: u64 = 4096;
/// ...or once the oldest of them is this old.
pub const CHECKPOINT_AGE: Duration = Duration::from_millis(500);
/// A shard whose committer had no group for this long makes its commits durable.
pub const IDLE_CHECKPOINT: Duration = Duration::from_millis(50);

/// Tells the log's holds apart (one per shard served).
static NEXT_HOLDER: AtomicU64 = AtomicU64::new(1);

/// One group's record: the digest of the record before it, and the group's changes.
#[derive(BorshDeserialize)]
struct GroupRecord {
    prev: [u8; 32],
    changes: Vec<(Vec<u8>, RecordLeaf)>,
}

/// [`GroupRecord`] as written, borrowing the changes (the same encoding).
#[derive(BorshSerialize)]
struct GroupRecordRef<'a> {
    prev: [u8; 32],
    changes: &'a [(Vec<u8>, RecordLeaf)],
}

/// A group whose record is in the log.
#[derive(Clone, Copy, Debug)]
pub struct Logged {
    digest: [u8; 32],
    prev: [u8; 32],
    at: LogPosition,
}

impl Logged {
    /// Where the record lies in the log.
    pub fn at(&self) -> LogPosition {
        self.at
    }
}

/// Why a group could not be logged.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A shard's end of the group log.
pub struct GroupLog {
    log: Arc<dyn RecordLog>,
    holder: u64,
    tail: Mutex<Tail>,
}

struct Tail {
    /// Digest of the newest record logged and not failed: the next record's `prev`.
    head: [u8; 32],
    /// Digest of the newest committed group's record.
    committed: [u8; 32],
    /// Records no durable commit covers yet, in log order: (digest, position, committed).
    undurable: VecDeque<([u8; 32], LogPosition, bool)>,
    groups: u32,
    writes: u64,
    /// When the oldest commit not yet durable was made.
    since: Option<Instant>,
    /// The next commit waits for the disk (the first one, and the one after a failed group).
    force_durable: bool,
    /// A logged group failed since the last durable commit: its record may be durable, so the
    /// next checkpoint moves the durable cursor past it even if no commit needs one (a replay
    /// would otherwise bring back writes that were answered as failed).
    failed: bool,
}

impl GroupLog {
    /// The log of a shard whose store is at `cursor` (its state's).
    pub fn new(log: Arc<dyn RecordLog>, cursor: Option<LogCursor>) -> Self {
        let head = cursor.map_or([0; 32], |c| c.head);
        let tail = Tail {
            head,
            committed: head,
            undurable: VecDeque::new(),
            groups: 0,
            writes: 0,
            since: None,
            force_durable: true,
            failed: false,
        };
        GroupLog { log, holder: NEXT_HOLDER.fetch_add(1, Ordering::Relaxed), tail: Mutex::new(tail) }
    }

    fn tail(&self) -> std::sync::MutexGuard<'_, Tail> {
        self.tail.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps the oldest record no durable commit covers (and every later one) in the log.
    fn hold(&self, tail: &Tail) {
        self.log.hold(self.holder, tail.undurable.front().map(|(_, at, _)| *at));
    }

    /// Stages `blobs` with the record of `changes` after them, in one append (see
    /// [`blobs::stage_logged_blocking`]); durable once the staged blobs are.
    pub fn stage(
        &self,
        store: &ShardStore,
        blobs: PlannedBlobs,
        changes: &[(Vec<u8>, RecordLeaf)],
    ) -> Result<(StagedBlobs, Logged), LogError> {
        let mut tail = self.tail();
        let prev = tail.head;
        let body = zeroize::Zeroizing::new(
            borsh::to_vec(&GroupRecordRef { prev, changes }).map_err(|e| StoreError::Io(e.into()))?,
        );
        let sealed = store.seal_log_record(&body)?;
        let (staged, at, digest) = blobs::stage_logged_blocking(self.log.as_ref(), blobs, &sealed)?;
        tail.head = digest;
        tail.undurable.push_back((digest, at, false));
        self.hold(&tail);
        Ok((staged, Logged { digest, prev, at }))
    }

    /// How to commit a logged group of `writes` writes: its cursor, and whether the commit must
    /// wait for the disk.
    pub fn plan_commit(&self, logged: &Logged, writes: usize) -> (LogCursor, bool) {
        let tail = self.tail();
        let durable = tail.force_durable
            || logged.prev != tail.committed
            || tail.groups + 1 >= CHECKPOINT_GROUPS
            || tail.writes + writes as u64 >= CHECKPOINT_WRITES
            || tail.since.is_some_and(|t| t.elapsed() >= CHECKPOINT_AGE);
        (LogCursor { from: logged.at, head: logged.digest }, durable)
    }

    /// After a logged group's commit (`durable` as planned).
    pub fn committed(&self, logged: &Logged, writes: usize, durable: bool) {
        let mut tail = self.tail();
        tail.committed = logged.digest;
        if let Some(entry) = tail.undurable.iter_mut().find(|(d, _, _)| *d == logged.digest) {
            entry.2 = true;
        }
        if durable {
            tail.undurable.retain(|(_, _, committed)| !committed);
            tail.groups = 0;
            tail.writes = 0;
            tail.since = None;
            tail.force_durable = false;
            tail.failed = false;
        } else {
            tail.groups += 1;
            tail.writes += writes as u64;
            tail.since.get_or_insert_with(Instant::now);
        }
        self.hold(&tail);
    }

    /// After a group failed (`logged`: its record, if it was logged): the next record follows
    /// the committed head again unless later ones were logged on it, and the next commit waits
    /// for the disk.
    pub fn failed(&self, logged: Option<&Logged>) {
        let mut tail = self.tail();
        if let Some(logged) = logged {
            tail.undurable.retain(|(d, _, _)| *d != logged.digest);
            if tail.head == logged.digest {
                tail.head = tail.committed;
            }
            tail.failed = true;
        }
        tail.force_durable = true;
        self.hold(&tail);
    }

    /// A checkpoint of an idle shard, or of one that stops: durably records where the log
    /// continues, if a commit or a failed group since the last durable commit needs it. Called
    /// from the committer (no group commits meanwhile).
    pub fn checkpoint(&self, store: &ShardStore) -> Result<bool, StoreError> {
        let (cursor, covered) = {
            let tail = self.tail();
            if !tail.failed && !tail.undurable.iter().any(|(_, _, committed)| *committed) {
                return Ok(false);
            }
            // No record of this shard can land before `end` once the lock is released, and
            // none staged is left out (the first one not committed, if any, is where it goes on).
            let from = tail
                .undurable
                .iter()
                .find(|(_, _, committed)| !committed)
                .map_or_else(|| self.log.end(), |(_, at, _)| *at);
            let covered: Vec<[u8; 32]> =
                tail.undurable.iter().filter(|(_, _, c)| *c).map(|(d, _, _)| *d).collect();
            (LogCursor { from, head: tail.committed }, covered)
        };
        store.checkpoint_log(cursor)?;
        let mut tail = self.tail();
        tail.undurable.retain(|(d, _, _)| !covered.contains(d));
        tail.groups = 0;
        tail.writes = 0;
        tail.since = None;
        tail.failed = false;
        self.hold(&tail);
        Ok(true)
    }
}

impl Drop for GroupLog {
    fn drop(&mut self) {
        self.log.hold(self.holder, None);
    }
}

/// [`replay`] from `blobs`' log, if it keeps one (how the keeper and its offline commands open a
/// store: whatever opens it first brings back the groups only the log holds).
pub fn replay_from(store: &ShardStore, blobs: &dyn BlobStore) -> Result<u64, LogError> {
    match blobs.record_log() {
        Some(log) => replay(store, log.as_ref()),
        None => Ok(0),
    }
}

/// Replays into `store` the logged groups its last durable state does not hold (see the module
/// docs); how many. Runs before anything else reads or writes the store.
pub fn replay(store: &ShardStore, log: &dyn RecordLog) -> Result<u64, LogError> {
    let Some(cursor) = store.state()?.log else { return Ok(0) };
    // Follower of each record: the last one in the log that names it.
    let mut next: HashMap<[u8; 32], (LogPosition, [u8; 32], GroupRecord)> = HashMap::new();
    for (at, sealed) in log.records_from(cursor.from)? {
        // Another shard's, or not sealed by this store: skipped.
        let Some(body) = store.open_log_record(&sealed) else { continue };
        let Ok(record) = GroupRecord::try_from_slice(&body) else {
            tracing::warn!(
                shard = store.seal().shard().0,
                ?at,
                "a sealed group log record does not decode; skipped"
            );
            continue;
        };
        next.insert(record.prev, (at, Sha256::digest(&sealed).into(), record));
    }
    let mut head = cursor.head;
    let mut replayed = 0u64;
    while let Some((at, digest, record)) = next.remove(&head) {
        let mut group = store.compute_group(record.changes, None)?;
        store.write_group_logged(&mut group, LogCursor { from: at, head: digest }, false)?;
        head = digest;
        replayed += 1;
    }
    if replayed > 0 {
        // The writer has not started: nothing is staged behind `end`.
        store.checkpoint_log(LogCursor { from: log.end(), head })?;
    }
    if replayed > 0 {
        tracing::info!(shard = store.seal().shard().0, replayed, "replayed groups from the group log");
    }
    Ok(replayed)
}
