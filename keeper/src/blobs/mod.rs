//! Content-addressed blob storage with CIDs checked on every read.
//!
//! Every block is addressed by a CIDv1 with the raw codec (0x55) and a SHA2-256 multihash, the CID
//! IPFS gives a single-chunk file added with `cid-version=1&raw-leaves=true`: the local store and an
//! IPFS node agree on it, and a client can recompute and check it from the bytes alone.
//!
//! # Large blobs
//!
//! A block holds at most [`MAX_BLOCK_LEN`] (1 MiB, IPFS's safe block size). A larger blob, up to
//! [`MAX_BLOB_LEN`] (an 8 MiB value plus its envelope), is split by the keeper itself into ≤ 1 MiB raw
//! chunks plus a small *chunk list* block whose CID names the blob. So every CID the keeper handles
//! is a raw-codec CID: no UnixFS DAG to parse, and the chunk size never depends on a node's chunker.
//! Chunk list format (integers little-endian): magic `IRCL` ‖ version 1 ‖ chunk size (u32) ‖ total
//! length (u64) ‖ SHA2-256 digest of each chunk (32 bytes each, in order).
//!
//! A block starting with `IRCL` is always a chunk list: a blob that itself starts with those four
//! bytes is stored as a one-chunk list even when it would fit one block, so no stored blob can be
//! mistaken for a list. The cost of staying raw: IPFS sees no links in a list, so pinning a blob pins
//! its chunks one by one (the keeper does that: [`BlobStore::pin`]).
//!
//! Backends implement [`BlockStore`] (untrusted raw blocks); every [`BlockStore`] is a [`BlobStore`],
//! which adds chunking, CID verification, timeouts and pipelining, the same for every backend.

mod ipfs;
mod local;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{stream, StreamExt, TryStreamExt};
use multihash::Multihash;
use sha2::{Digest, Sha256};
use tokio::runtime::Handle;

pub use cid::Cid;
pub use ipfs::{IpfsBlobStore, DEFAULT_IPFS_API};
pub use local::{
    BlockLocation, Compaction, LocalBlobStore, Recovery, SpaceUsage, SyncCounts, PREALLOCATE_LEN,
};

/// Multicodec of raw binary blocks.
pub const RAW_CODEC: u64 = 0x55;
/// Multihash code of SHA2-256.
pub const SHA2_256: u64 = 0x12;
/// Largest block: larger blobs are chunked.
pub const MAX_BLOCK_LEN: usize = 1024 * 1024;
/// Largest blob: an 8 MiB record value plus its encryption envelope, with room to spare.
pub const MAX_BLOB_LEN: usize = 8 * 1024 * 1024 + 64 * 1024;
/// Default time a read may take before it fails with [`BlobError::Timeout`].
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The shared layer's backstop for a hung backend: a backend may spend one read timeout on the read
/// and another finding out why it failed (IPFS: was the block missing, or the node slow?), so its
/// own, more precise error arrives first.
fn read_backstop(read_timeout: Duration) -> Duration {
    2 * read_timeout + Duration::from_secs(1)
}

const LIST_MAGIC: &[u8; 4] = b"IRCL";
const LIST_VERSION: u8 = 1;
const LIST_HEADER_LEN: usize = 4 + 1 + 4 + 8;

/// Errors of the blob stores.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} not found")]
    NotFound(Cid),
    /// Boxed: two CIDs would make every `Result<_, BlobError>` twice as large.
    #[error("content does not match its CID: expected {expected}, got {actual}")]
    CidMismatch { expected: Box<Cid>, actual: Box<Cid> },
    #[error("unsupported CID {0}: only CIDv1, raw codec, SHA2-256")]
    UnsupportedCid(Cid),
    #[error("read of {cid} timed out after {after:?}")]
    Timeout { cid: Cid, after: Duration },
    #[error("blob of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("malformed chunk list {cid}: {reason}")]
    MalformedChunkList { cid: Cid, reason: &'static str },
    #[error("STORE_IN_USE: blob store at {path} is held by another process; nothing was changed")]
    InUse { path: std::path::PathBuf },
    #[error("no space left on the device holding {path}")]
    DiskFull { path: std::path::PathBuf },
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: std::path::PathBuf, source: std::io::Error },
    #[error("IPFS node {endpoint}: {message}")]
    Ipfs { endpoint: String, message: String },
}

/// The CID of `bytes` as one raw block: CIDv1, raw codec, SHA2-256.
pub fn raw_cid(bytes: &[u8]) -> Cid {
    cid_of_digest(Sha256::digest(bytes).into())
}

fn cid_of_digest(digest: [u8; 32]) -> Cid {
    let mh = Multihash::<64>::wrap(SHA2_256, &digest).expect("a 32-byte digest fits a 64-byte multihash");
    Cid::new_v1(RAW_CODEC, mh)
}

/// Checks that `cid` is of the only kind the keeper uses.
fn check_cid(cid: &Cid) -> Result<(), BlobError> {
    let supported = cid.version() == cid::Version::V1
        && cid.codec() == RAW_CODEC
        && cid.hash().code() == SHA2_256
        && cid.hash().size() == 32;
    if supported {
        Ok(())
    } else {
        Err(BlobError::UnsupportedCid(*cid))
    }
}

/// Recomputes the CID of `bytes` and compares it with the CID they were asked for.
fn verify_block(cid: &Cid, bytes: &[u8]) -> Result<(), BlobError> {
    let actual = raw_cid(bytes);
    if actual == *cid {
        Ok(())
    } else {
        Err(BlobError::CidMismatch { expected: Box::new(*cid), actual: Box::new(actual) })
    }
}

/// A backend storing raw blocks of at most [`MAX_BLOCK_LEN`]. Untrusted: what it returns is checked
/// by the [`BlobStore`] layer.
#[async_trait]
pub trait BlockStore: Send + Sync {
    /// Stores `block`, whose CID is `cid`, durably (and pinned, where that means something).
    async fn put_block(&self, cid: &Cid, block: Bytes) -> Result<(), BlobError>;
    /// The bytes stored under `cid`, unverified; [`BlobError::NotFound`] if absent.
    async fn get_block(&self, cid: &Cid) -> Result<Bytes, BlobError>;
    /// Whether the block is held (for IPFS: held and pinned, so it survives garbage collection).
    async fn has_block(&self, cid: &Cid) -> Result<bool, BlobError>;
    /// Keeps the block from garbage collection; [`BlobError::NotFound`] if absent.
    async fn pin_block(&self, cid: &Cid) -> Result<(), BlobError>;
    /// Whether [`BlockStore::delete_blocks`] drops anything. The default keeps every block (an
    /// IPFS node's blocks stay pinned: other keepers or backups may share the node).
    fn deletes_blocks(&self) -> bool {
        false
    }
    /// Drops blocks the keeper no longer references; how many it held.
    async fn delete_blocks(&self, cids: Vec<Cid>) -> Result<u64, BlobError> {
        let _ = cids;
        Ok(0)
    }
    /// Stores many blocks; returns once all are durable. The default sends them concurrently;
    /// a store may make the whole batch durable at once instead (group commit).
    async fn put_blocks(&self, blocks: Vec<(Cid, Bytes)>) -> Result<(), BlobError> {
        stream::iter(blocks)
            .map(|(cid, block)| async move { self.put_block(&cid, block).await })
            .buffer_unordered(self.max_in_flight().max(1))
            .try_collect::<()>()
            .await
    }
    /// [`BlockStore::put_blocks`] on the calling thread, which is not a runtime worker: a store
    /// whose writes are local file I/O does them here; the default drives the async writes on
    /// `runtime`.
    fn put_blocks_blocking(&self, blocks: Vec<(Cid, Bytes)>, runtime: &Handle) -> Result<(), BlobError> {
        runtime.block_on(self.put_blocks(blocks))
    }
    /// [`BlockStore::put_blocks_blocking`] in two steps: the blocks are written now, and the
    /// returned wait (if any) returns once they are durable. A store that makes groups of writes
    /// durable together appends here and syncs in the wait, so whatever the caller does in
    /// between leaves time for a sync another writer runs to cover them. The default stores them
    /// durably at once.
    fn stage_blocks_blocking(
        &self,
        blocks: Vec<(Cid, Bytes)>,
        runtime: &Handle,
    ) -> Result<Option<DurableWait>, BlobError> {
        self.put_blocks_blocking(blocks, runtime).map(|()| None)
    }
    /// The log of records made durable with groups of blocks, if the store keeps one.
    fn record_log(&self) -> Option<Arc<dyn RecordLog>> {
        None
    }
    /// How long one block read may take.
    fn read_timeout(&self) -> Duration;
    /// How many block operations to keep in flight when pipelining.
    fn max_in_flight(&self) -> usize {
        16
    }
}

/// Returns once blocks a store wrote are durable (see [`BlockStore::stage_blocks_blocking`]).
pub type DurableWait = Box<dyn FnOnce() -> Result<(), BlobError> + Send>;

/// Where a record lies in a [`RecordLog`]: (segment, offset). Appends go in increasing order.
pub type LogPosition = (u64, u64);

/// Records appended with a group of blocks and made durable by the same sync, read back after a
/// restart. Untrusted like the blocks: a reader authenticates what it reads.
pub trait RecordLog: Send + Sync {
    /// [`BlockStore::stage_blocks_blocking`] of `blocks` with `record` appended after them in the
    /// same group; where the record went and its SHA-256. The wait returns once both are durable.
    fn stage_with_record(
        &self,
        blocks: Vec<(Cid, Bytes)>,
        record: &[u8],
    ) -> Result<(LogPosition, [u8; 32], DurableWait), BlobError>;
    /// A position no record appended after this call precedes.
    fn end(&self) -> LogPosition;
    /// The whole records at `from` and after it, in log order, with their positions.
    fn records_from(&self, from: LogPosition) -> Result<Vec<(LogPosition, Vec<u8>)>, BlobError>;
    /// Keeps the records from `from` on (`None`: none any more) for `holder`: the store does not
    /// reclaim their space meanwhile.
    fn hold(&self, holder: u64, from: Option<LogPosition>);
}

/// [`BlobStore::stage_many_blocking`] of `blobs` (planned) through `log`, with `record` in the
/// last group; where the record went and its SHA-256.
pub fn stage_logged_blocking(
    log: &dyn RecordLog,
    blobs: PlannedBlobs,
    record: &[u8],
) -> Result<(StagedBlobs, LogPosition, [u8; 32]), BlobError> {
    let PlannedBlobs { roots: cids, mut blocks, lists } = blobs;
    // Chunk lists in the same group as their chunks: a group's blocks become visible together,
    // once its one sync made them all durable.
    blocks.extend(lists);
    let (at, digest, wait) = log.stage_with_record(blocks, record)?;
    Ok((StagedBlobs { cids, wait: Some(wait) }, at, digest))
}

/// Blobs written by [`BlobStore::stage_many_blocking`], not yet known to be durable.
#[must_use = "the blobs are not known to be durable until `durable` returns"]
pub struct StagedBlobs {
    cids: Vec<Cid>,
    wait: Option<DurableWait>,
}

impl StagedBlobs {
    /// The blobs' CIDs, in input order.
    pub fn cids(&self) -> &[Cid] {
        &self.cids
    }

    /// Returns once the blobs are durable, or why they are not.
    pub fn durable(self) -> Result<(), BlobError> {
        self.wait.map_or(Ok(()), |wait| wait())
    }
}

/// Blobs of up to [`MAX_BLOB_LEN`] bytes, addressed by raw CIDs that are checked on every read.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores a blob and returns its CID (of the blob, or of its chunk list when chunked).
    async fn put(&self, blob: Bytes) -> Result<Cid, BlobError>;
    /// Stores many blobs with their block writes pipelined; CIDs in input order.
    async fn put_many(&self, blobs: Vec<Bytes>) -> Result<Vec<Cid>, BlobError>;
    /// [`BlobStore::put_many`] of blobs already hashed; their CIDs in input order.
    async fn put_planned(&self, blobs: PlannedBlobs) -> Result<Vec<Cid>, BlobError>;
    /// [`BlobStore::put_many`] on a thread that is not a runtime worker (the writer's committer),
    /// in two steps: the blobs are written now (their CIDs known), and [`StagedBlobs::durable`]
    /// waits until they are durable (see [`BlockStore::stage_blocks_blocking`]); async stores run
    /// on `runtime`.
    fn stage_many_blocking(&self, blobs: Vec<Bytes>, runtime: &Handle) -> Result<StagedBlobs, BlobError>;
    /// Reads a blob, checking every block against its CID, each read bounded by a timeout.
    async fn get(&self, cid: &Cid) -> Result<Bytes, BlobError>;
    /// Whether the blob and all its chunks are held.
    async fn has(&self, cid: &Cid) -> Result<bool, BlobError>;
    /// Pins the blob and all its chunks.
    async fn pin(&self, cid: &Cid) -> Result<(), BlobError>;
    /// Gives up blobs (and their chunks) that nothing references any more; how many blocks the
    /// store dropped. A blob already gone is skipped.
    async fn release(&self, cids: Vec<Cid>) -> Result<u64, BlobError>;
    /// See [`BlockStore::record_log`].
    fn record_log(&self) -> Option<Arc<dyn RecordLog>>;
}

/// How one blob is laid out in blocks.
struct Plan {
    root: Cid,
    /// Data blocks: the blob itself, or its chunks.
    blocks: Vec<(Cid, Bytes)>,
    /// The chunk list block, written after the chunks so a visible list implies its chunks exist.
    list: Option<Bytes>,
}

/// Whether `blob` is stored as one block, so its CID's digest is the SHA-256 of the whole blob.
pub fn is_single_block(blob: &[u8]) -> bool {
    blob.len() <= MAX_BLOCK_LEN && !blob.starts_with(LIST_MAGIC)
}

fn plan(blob: Bytes) -> Result<Plan, BlobError> {
    if blob.len() > MAX_BLOB_LEN {
        return Err(BlobError::TooLarge { len: blob.len(), max: MAX_BLOB_LEN });
    }
    if is_single_block(&blob) {
        let cid = raw_cid(&blob);
        return Ok(Plan { root: cid, blocks: vec![(cid, blob)], list: None });
    }
    let mut list = Vec::with_capacity(LIST_HEADER_LEN + 32 * blob.len().div_ceil(MAX_BLOCK_LEN));
    list.extend_from_slice(LIST_MAGIC);
    list.push(LIST_VERSION);
    list.extend_from_slice(&(MAX_BLOCK_LEN as u32).to_le_bytes());
    list.extend_from_slice(&(blob.len() as u64).to_le_bytes());
    let mut blocks = Vec::new();
    let mut offset = 0;
    while offset < blob.len() {
        let chunk = blob.slice(offset..(offset + MAX_BLOCK_LEN).min(blob.len()));
        let digest: [u8; 32] = Sha256::digest(&chunk).into();
        list.extend_from_slice(&digest);
        blocks.push((cid_of_digest(digest), chunk));
        offset += MAX_BLOCK_LEN;
    }
    let list = Bytes::from(list);
    Ok(Plan { root: raw_cid(&list), blocks, list: Some(list) })
}

/// Blobs laid out in blocks, their CIDs computed (hashed) before anything is stored, so a caller
/// can use the CIDs while the blocks are written (see [`BlobStore::put_planned`]).
pub struct PlannedBlobs {
    /// The blobs' root CIDs, in input order.
    roots: Vec<Cid>,
    /// Data blocks: the blobs themselves, or their chunks.
    blocks: Vec<(Cid, Bytes)>,
    /// The chunk lists, to write after the chunks.
    lists: Vec<(Cid, Bytes)>,
}

impl PlannedBlobs {
    /// Splits each blob into blocks and hashes them.
    pub fn new(blobs: Vec<Bytes>) -> Result<Self, BlobError> {
        let plans = blobs.into_iter().map(plan).collect::<Result<Vec<_>, _>>()?;
        let roots = plans.iter().map(|p| p.root).collect();
        let mut lists = Vec::new();
        let mut blocks = Vec::new();
        for plan in plans {
            blocks.extend(plan.blocks);
            lists.extend(plan.list.map(|list| (plan.root, list)));
        }
        Ok(Self { roots, blocks, lists })
    }

    /// The blobs' CIDs, in input order.
    pub fn cids(&self) -> &[Cid] {
        &self.roots
    }
}

/// A parsed chunk list.
struct ChunkList {
    chunk_len: usize,
    total_len: usize,
    chunks: Vec<Cid>,
}

impl ChunkList {
    fn parse(cid: &Cid, block: &[u8]) -> Result<Self, BlobError> {
        let bad = |reason| BlobError::MalformedChunkList { cid: *cid, reason };
        if block.len() < LIST_HEADER_LEN {
            return Err(bad("truncated header"));
        }
        if block[4] != LIST_VERSION {
            return Err(bad("unsupported version"));
        }
        let chunk_len = u32::from_le_bytes([block[5], block[6], block[7], block[8]]) as usize;
        let total = u64::from_le_bytes(block[9..17].try_into().expect("8 bytes"));
        if chunk_len == 0 || chunk_len > MAX_BLOCK_LEN {
            return Err(bad("chunk size out of range"));
        }
        let total_len = usize::try_from(total).ok().filter(|&t| t > 0 && t <= MAX_BLOB_LEN);
        let Some(total_len) = total_len else {
            return Err(bad("total length out of range"));
        };
        let digests = &block[LIST_HEADER_LEN..];
        if digests.len() != 32 * total_len.div_ceil(chunk_len) {
            return Err(bad("chunk count does not match the total length"));
        }
        let chunks =
            digests.chunks_exact(32).map(|d| cid_of_digest(d.try_into().expect("32-byte chunk"))).collect();
        Ok(Self { chunk_len, total_len, chunks })
    }

    fn expected_len(&self, index: usize) -> usize {
        let start = index * self.chunk_len;
        (self.total_len - start).min(self.chunk_len)
    }
}

/// Reads one block with a timeout and checks it against its CID.
async fn fetch<S: BlockStore + ?Sized>(store: &S, cid: &Cid) -> Result<Bytes, BlobError> {
    check_cid(cid)?;
    let after = read_backstop(store.read_timeout());
    let block = tokio::time::timeout(after, store.get_block(cid))
        .await
        .map_err(|_| BlobError::Timeout { cid: *cid, after })??;
    verify_block(cid, &block)?;
    Ok(block)
}

/// The root block of a blob and, when it is a chunk list, the list.
async fn fetch_root<S: BlockStore + ?Sized>(
    store: &S,
    cid: &Cid,
) -> Result<(Bytes, Option<ChunkList>), BlobError> {
    let block = fetch(store, cid).await?;
    if block.starts_with(LIST_MAGIC) {
        let list = ChunkList::parse(cid, &block)?;
        Ok((block, Some(list)))
    } else {
        Ok((block, None))
    }
}

#[async_trait]
impl<S: BlockStore + ?Sized> BlobStore for S {
    async fn put(&self, blob: Bytes) -> Result<Cid, BlobError> {
        let mut cids = self.put_many(vec![blob]).await?;
        Ok(cids.remove(0))
    }

    async fn put_many(&self, blobs: Vec<Bytes>) -> Result<Vec<Cid>, BlobError> {
        self.put_planned(PlannedBlobs::new(blobs)?).await
    }

    async fn put_planned(&self, blobs: PlannedBlobs) -> Result<Vec<Cid>, BlobError> {
        let PlannedBlobs { roots, blocks, lists } = blobs;
        self.put_blocks(blocks).await?;
        // Lists after their chunks: a visible list implies its chunks are durable.
        if !lists.is_empty() {
            self.put_blocks(lists).await?;
        }
        Ok(roots)
    }

    fn stage_many_blocking(&self, blobs: Vec<Bytes>, runtime: &Handle) -> Result<StagedBlobs, BlobError> {
        let PlannedBlobs { roots: cids, blocks, lists } = PlannedBlobs::new(blobs)?;
        if lists.is_empty() {
            let wait = self.stage_blocks_blocking(blocks, runtime)?;
            return Ok(StagedBlobs { cids, wait });
        }
        // Lists after their chunks are durable: a visible list implies its chunks are.
        self.put_blocks_blocking(blocks, runtime)?;
        let wait = self.stage_blocks_blocking(lists, runtime)?;
        Ok(StagedBlobs { cids, wait })
    }

    fn record_log(&self) -> Option<Arc<dyn RecordLog>> {
        BlockStore::record_log(self)
    }

    async fn release(&self, cids: Vec<Cid>) -> Result<u64, BlobError> {
        if !self.deletes_blocks() {
            // Nothing would be dropped: do not read the chunk lists either.
            return Ok(0);
        }
        let mut blocks = Vec::with_capacity(cids.len());
        for cid in cids {
            check_cid(&cid)?;
            // A chunk list's chunks go with it; the list is read (and checked) to find them.
            match fetch_root(self, &cid).await {
                Ok((_, Some(list))) => blocks.extend(list.chunks),
                Ok((_, None)) | Err(BlobError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
            blocks.push(cid);
        }
        self.delete_blocks(blocks).await
    }

    async fn get(&self, cid: &Cid) -> Result<Bytes, BlobError> {
        let (root, list) = fetch_root(self, cid).await?;
        let Some(list) = list else {
            return Ok(root);
        };
        let mut out = BytesMut::with_capacity(list.total_len);
        let mut chunks = stream::iter(list.chunks.clone())
            .map(|c| async move { fetch(self, &c).await })
            .buffered(self.max_in_flight().max(1));
        let mut index = 0;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            if chunk.len() != list.expected_len(index) {
                return Err(BlobError::MalformedChunkList { cid: *cid, reason: "chunk length" });
            }
            out.extend_from_slice(&chunk);
            index += 1;
        }
        Ok(out.freeze())
    }

    async fn has(&self, cid: &Cid) -> Result<bool, BlobError> {
        check_cid(cid)?;
        if !self.has_block(cid).await? {
            return Ok(false);
        }
        let list = match fetch_root(self, cid).await {
            Ok((_, list)) => list,
            Err(BlobError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        let Some(list) = list else {
            return Ok(true);
        };
        let held: Vec<bool> = stream::iter(list.chunks)
            .map(|c| async move { self.has_block(&c).await })
            .buffered(self.max_in_flight().max(1))
            .try_collect()
            .await?;
        Ok(held.into_iter().all(|h| h))
    }

    async fn pin(&self, cid: &Cid) -> Result<(), BlobError> {
        check_cid(cid)?;
        let (_, list) = fetch_root(self, cid).await?;
        if let Some(list) = list {
            stream::iter(list.chunks)
                .map(|c| async move { self.pin_block(&c).await })
                .buffer_unordered(self.max_in_flight().max(1))
                .try_collect::<()>()
                .await?;
        }
        self.pin_block(cid).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_cid_matches_ipfs() {
        // `ipfs add --cid-version=1 --raw-leaves` of "hello" (checked against the js-ipfs test node).
        assert_eq!(
            raw_cid(b"hello").to_string(),
            "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"
        );
        assert_eq!(raw_cid(b"").to_string(), "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
    }

    #[test]
    fn plans() {
        let small = plan(Bytes::from_static(b"abc")).unwrap();
        assert!(small.list.is_none());
        assert!(
            is_single_block(b"abc") && !is_single_block(b"IRCL") && !is_single_block(&[0; MAX_BLOCK_LEN + 1])
        );
        assert_eq!(small.root.hash().digest(), &Sha256::digest(b"abc")[..]);
        assert_eq!(small.root, raw_cid(b"abc"));

        let big = Bytes::from(vec![7u8; 2 * MAX_BLOCK_LEN + 5]);
        let p = plan(big.clone()).unwrap();
        assert_eq!(p.blocks.len(), 3);
        assert_eq!(p.blocks[2].1.len(), 5);
        let list = p.list.unwrap();
        assert_eq!(p.root, raw_cid(&list));
        let parsed = ChunkList::parse(&p.root, &list).unwrap();
        assert_eq!(parsed.total_len, big.len());
        assert_eq!(parsed.chunks, p.blocks.iter().map(|b| b.0).collect::<Vec<_>>());
        assert_eq!(parsed.expected_len(2), 5);

        // A small blob that looks like a chunk list is stored as a one-chunk list.
        let tricky = plan(Bytes::from_static(b"IRCL-not-a-list")).unwrap();
        assert_eq!(tricky.blocks.len(), 1);
        assert!(tricky.list.is_some());

        assert!(matches!(plan(Bytes::from(vec![0; MAX_BLOB_LEN + 1])), Err(BlobError::TooLarge { .. })));
    }

    #[test]
    fn chunk_list_rejects_inconsistent_lists() {
        let p = plan(Bytes::from(vec![1u8; MAX_BLOCK_LEN + 1])).unwrap();
        let list = p.list.unwrap();
        let mut short = list.to_vec();
        short.truncate(short.len() - 1);
        assert!(matches!(ChunkList::parse(&p.root, &short), Err(BlobError::MalformedChunkList { .. })));
        let mut zero_chunk = list.to_vec();
        zero_chunk[5..9].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(ChunkList::parse(&p.root, &zero_chunk), Err(BlobError::MalformedChunkList { .. })));
    }

    #[test]
    fn only_raw_sha256_cids() {
        let dag_pb = Cid::new_v1(0x70, raw_cid(b"x").hash().to_owned());
        assert!(matches!(check_cid(&dag_pb), Err(BlobError::UnsupportedCid(_))));
        assert!(check_cid(&raw_cid(b"x")).is_ok());
    }
}
