//! Shard manifests: what rebuilds a shard from the chain and the blob store alone.
//!
//! Every committed shard update names one manifest. A manifest is either a **checkpoint** (every
//! record of the shard) or a **delta** (the records changed since the previous manifest, which it
//! names), so a commit writes only what changed; every [`CHECKPOINT_EVERY`] commits a checkpoint
//! bounds how far a rebuild must walk back. Entries are stored in parts of at most
//! [`PART_MAX_ENTRIES`] so no blob grows past the store's limit. The header and every part are
//! sealed like records (app KEK, AAD naming the app, shard, a reserved key and the seq), so an
//! operator can neither read nor swap them.
use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use cid::Cid;

use crate::blobs::{BlobError, BlobStore};
use crate::crypto::{self, CryptoError, Padding, RecordContext, SealScope};
use crate::keys::{AppId, Kek, KeyError, KeySource, ShardId};
use crate::tree::RecordLeaf;

pub const CHECKPOINT_EVERY: u32 = 64;
pub const PART_MAX_ENTRIES: usize = 16_384;
const FORMAT: u8 = 1;
/// Reserved record keys (a NUL byte cannot start an API record key).
const HEADER_KEY: &[u8] = b"\0ironroot/manifest";
const PART_KEY: &[u8] = b"\0ironroot/manifest-part";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest blob: {0}")]
    Blob(#[from] BlobError),
    #[error("manifest decryption: {0}")]
    Crypto(#[from] CryptoError),
    #[error("manifest key: {0}")]
    Key(#[from] KeyError),
    #[error("manifest {cid} is malformed: {reason}")]
    Malformed { cid: String, reason: String },
    #[error("manifest {cid} is for shard {found_shard} seq {found_seq}, expected shard {shard} seq {seq}")]
    WrongManifest { cid: String, shard: ShardId, seq: u64, found_shard: u32, found_seq: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ManifestHeader {
    pub format: u8,
    /// The [`ShardId`], widened.
    pub shard: u32,
    pub seq: u64,
    /// The shard root the records reproduce once this manifest is applied.
    pub root: [u8; 32],
    /// Previous manifest (absent for a checkpoint).
    pub prev: Option<Vec<u8>>,
    pub checkpoint: bool,
    pub parts: Vec<Vec<u8>>,
    pub entry_count: u64,
}

#[derive(BorshSerialize, BorshDeserialize)]
struct ManifestPart {
    entries: Vec<(Vec<u8>, RecordLeaf)>,
}

/// One commit's manifest, before it is sealed.
pub struct NewManifest {
    pub app: AppId,
    pub shard: ShardId,
    /// The commit (shard update) this manifest belongs to.
    pub seq: u64,
    /// The shard root the records reproduce once this manifest is applied.
    pub root: [u8; 32],
    /// The previous manifest's CID for a delta, `None` for a checkpoint.
    pub prev: Option<Vec<u8>>,
    pub entries: Vec<(Vec<u8>, RecordLeaf)>,
}

/// Seals and stores one manifest; returns the header's CID.
pub async fn publish(blobs: &dyn BlobStore, kek: &Kek, manifest: NewManifest) -> Result<Cid, ManifestError> {
    let NewManifest { app, shard, seq, root, prev, entries } = manifest;
    let scope = SealScope::Shard(shard);
    let checkpoint = prev.is_none();
    let entry_count = entries.len() as u64;
    let mut parts = Vec::new();
    for (i, chunk) in entries.chunks(PART_MAX_ENTRIES).enumerate() {
        let plain = borsh::to_vec(&ManifestPart { entries: chunk.to_vec() }).expect("serialize into Vec");
        let key = part_key(i);
        let ctx = RecordContext { app, scope, key: &key, version: seq };
        parts.push(Bytes::from(crypto::seal(kek, &ctx, &plain, Padding::None)?));
    }
    let part_cids = blobs.put_many(parts).await?;
    let header = ManifestHeader {
        format: FORMAT,
        shard: shard.wire(),
        seq,
        root,
        prev,
        checkpoint,
        parts: part_cids.iter().map(|c| c.to_bytes()).collect(),
        entry_count,
    };
    let plain = borsh::to_vec(&header).expect("serialize into Vec");
    let ctx = RecordContext { app, scope, key: HEADER_KEY, version: seq };
    let sealed = crypto::seal(kek, &ctx, &plain, Padding::None)?;
    Ok(blobs.put(Bytes::from(sealed)).await?)
}

fn part_key(index: usize) -> Vec<u8> {
    [PART_KEY, &(index as u32).to_le_bytes()].concat()
}

async fn open_blob(
    blobs: &dyn BlobStore,
    keys: &dyn KeySource,
    app: AppId,
    ctx: &RecordContext<'_>,
    cid: &Cid,
) -> Result<Vec<u8>, ManifestError> {
    let blob = blobs.get(cid).await?;
    let kek = keys.app_kek(&app, crypto::blob_epoch(&blob)?).await?;
    Ok(crypto::open(&kek, ctx, &blob)?.to_vec())
}

fn parse_cid(bytes: &[u8]) -> Result<Cid, ManifestError> {
    Cid::try_from(bytes)
        .map_err(|e| ManifestError::Malformed { cid: hex::encode(bytes), reason: e.to_string() })
}

/// The shard's records as of the manifest `head` (committed with `seq`): walks deltas back to a
/// checkpoint and applies them oldest first. `progress` hears (manifests read, entries read).
pub async fn load(
    blobs: &dyn BlobStore,
    keys: &dyn KeySource,
    app: AppId,
    shard: ShardId,
    head: &[u8],
    seq: u64,
    mut progress: impl FnMut(u64, u64),
) -> Result<(BTreeMap<Vec<u8>, RecordLeaf>, ManifestHeader), ManifestError> {
    let mut chain: Vec<ManifestHeader> = Vec::new();
    let mut cursor = Some((head.to_vec(), seq));
    let mut entries_read = 0;
    let mut parts_by_manifest: Vec<Vec<(Vec<u8>, RecordLeaf)>> = Vec::new();
    let scope = SealScope::Shard(shard);
    while let Some((cid_bytes, expected_seq)) = cursor.take() {
        let cid = parse_cid(&cid_bytes)?;
        let ctx = RecordContext { app, scope, key: HEADER_KEY, version: expected_seq };
        let plain = open_blob(blobs, keys, app, &ctx, &cid).await?;
        let header = ManifestHeader::try_from_slice(&plain)
            .map_err(|e| ManifestError::Malformed { cid: cid.to_string(), reason: e.to_string() })?;
        if header.shard != shard.wire() || header.seq != expected_seq || header.format != FORMAT {
            return Err(ManifestError::WrongManifest {
                cid: cid.to_string(),
                shard,
                seq: expected_seq,
                found_shard: header.shard,
                found_seq: header.seq,
            });
        }
        let mut entries = Vec::new();
        for (i, part) in header.parts.iter().enumerate() {
            let key = part_key(i);
            let ctx = RecordContext { app, scope, key: &key, version: header.seq };
            let plain = open_blob(blobs, keys, app, &ctx, &parse_cid(part)?).await?;
            let part = ManifestPart::try_from_slice(&plain)
                .map_err(|e| ManifestError::Malformed { cid: cid.to_string(), reason: e.to_string() })?;
            entries_read += part.entries.len() as u64;
            entries.extend(part.entries);
        }
        // A delta's predecessor is the previous commit; sequence numbers step by one.
        cursor = match (&header.prev, header.checkpoint) {
            (Some(prev), false) if header.seq > 1 => Some((prev.clone(), header.seq - 1)),
            (None, true) => None,
            _ => {
                return Err(ManifestError::Malformed {
                    cid: cid.to_string(),
                    reason: "delta without a predecessor, or checkpoint with one".into(),
                })
            }
        };
        progress(chain.len() as u64 + 1, entries_read);
        chain.push(header);
        parts_by_manifest.push(entries);
    }
    let mut records = BTreeMap::new();
    for entries in parts_by_manifest.into_iter().rev() {
        for (key, leaf) in entries {
            records.insert(key, leaf);
        }
    }
    let head_header = chain.into_iter().next().expect("at least the head manifest");
    Ok((records, head_header))
}
