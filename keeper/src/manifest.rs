//! Shard manifests: what rebuilds a shard from the chain and the blob store alone.
//!
//! Every committed shard update names one manifest. A manifest is either a **checkpoint** (every
//! record of the shard) or a **delta** (the records changed since the previous manifest, which it
//! names), so a commit writes only what changed; a checkpoint bounds how far a rebuild must walk
//! back, and comes once the deltas since the last one hold as many entries as it did (see
//! [`checkpoint_due`]), so its cost per write does not grow with the shard. Entries are stored in
//! parts of at most [`PART_MAX_ENTRIES`] so no blob grows past the store's limit. The header and every part are
//! sealed like records (app KEK, AAD naming the app, shard, a reserved key and the seq), so an
//! operator can neither read nor swap them.
use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use cid::Cid;

use crate::blobs::{BlobError, BlobStore};
use crate::chain::ShardOnChain;
use crate::crypto::{self, CryptoError, Padding, RecordContext, SealScope};
use crate::keys::{AppId, Kek, KeyError, KeySource, ShardId};
use crate::tree::{ManifestRecords, RecordLeaf, ShardState, StoreError};

/// Delta entries that always fit between two checkpoints (a small shard's chain).
pub const CHECKPOINT_MIN_ENTRIES: u64 = 65_536;
/// Most deltas in a row: bounds the manifests a rebuild walks (two blob reads each) when commits
/// are small.
pub const MAX_DELTAS: u32 = 1024;
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
    #[error("manifest records: {0}")]
    Store(#[from] StoreError),
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

/// Whether the shard's next manifest is a checkpoint: the first one, or once the deltas since
/// the last checkpoint hold as many entries as it (at least [`CHECKPOINT_MIN_ENTRIES`]), or
/// [`MAX_DELTAS`] of them. A checkpoint of N records then follows at least N written entries, so
/// publishing manifests costs at most about two entries per write whatever N is (with a fixed
/// number of commits between checkpoints it grew with N), and a rebuild reads at most about 2 N
/// entries.
pub fn checkpoint_due(state: &ShardState) -> bool {
    let entries = state.manifest_entries;
    state.confirmed_manifest.is_empty()
        || state.deltas_since_checkpoint.saturating_add(1) >= MAX_DELTAS
        || entries.since_checkpoint >= entries.at_checkpoint.max(CHECKPOINT_MIN_ENTRIES)
}

/// One commit's manifest header, before it is sealed; its records come from a
/// [`ManifestRecords`] read of the store.
pub struct NewManifest {
    pub app: AppId,
    pub shard: ShardId,
    /// The commit (shard update) this manifest belongs to.
    pub seq: u64,
    /// The shard root the records reproduce once this manifest is applied.
    pub root: [u8; 32],
    /// The previous manifest's CID for a delta, `None` for a checkpoint.
    pub prev: Option<Vec<u8>>,
}

/// A stored manifest.
#[derive(Debug)]
pub struct Published {
    /// Its header's CID: what the shard update names.
    pub header: Cid,
    /// Its parts' CIDs, in order.
    pub parts: Vec<Vec<u8>>,
    pub entries: u64,
}

impl Published {
    /// Every blob of the manifest: the header, then the parts.
    pub fn blobs(&self) -> Vec<Vec<u8>> {
        std::iter::once(self.header.to_bytes()).chain(self.parts.iter().cloned()).collect()
    }
}

/// Seals and stores one manifest, its records read, sealed and stored one part at a time (a
/// checkpoint of a large shard is never in memory whole).
pub async fn publish(
    blobs: &dyn BlobStore,
    kek: &Kek,
    manifest: NewManifest,
    records: ManifestRecords,
) -> Result<Published, ManifestError> {
    publish_in_parts(blobs, kek, manifest, records, PART_MAX_ENTRIES).await
}

async fn publish_in_parts(
    blobs: &dyn BlobStore,
    kek: &Kek,
    manifest: NewManifest,
    mut records: ManifestRecords,
    part_len: usize,
) -> Result<Published, ManifestError> {
    let NewManifest { app, shard, seq, root, prev } = manifest;
    let scope = SealScope::Shard(shard);
    let checkpoint = prev.is_none();
    let mut entry_count = 0u64;
    let mut parts = Vec::new();
    loop {
        // Reading a part opens every record key in it: CPU work, off the runtime's threads.
        let index = parts.len();
        let kek_part = kek.clone();
        let (back, sealed) = tokio::task::spawn_blocking(move || {
            let sealed = seal_next_part(&mut records, &kek_part, app, scope, seq, index, part_len);
            (records, sealed)
        })
        .await
        .map_err(|e| ManifestError::Store(StoreError::Io(e.into())))?;
        records = back;
        let Some((count, sealed)) = sealed? else { break };
        entry_count += count;
        parts.push(blobs.put(sealed).await?.to_bytes());
        if (count as usize) < part_len {
            break;
        }
    }
    let header = ManifestHeader {
        format: FORMAT,
        shard: shard.wire(),
        seq,
        root,
        prev,
        checkpoint,
        parts,
        entry_count,
    };
    let plain = borsh::to_vec(&header).expect("serialize into Vec");
    let ctx = RecordContext { app, scope, key: HEADER_KEY, version: seq };
    let sealed = crypto::seal(kek, &ctx, &plain, Padding::None)?;
    let cid = blobs.put(Bytes::from(sealed)).await?;
    Ok(Published { header: cid, parts: header.parts, entries: entry_count })
}

/// The next part of `records`, sealed as part number `index`, with its entry count; `None` when
/// nothing is left.
fn seal_next_part(
    records: &mut ManifestRecords,
    kek: &Kek,
    app: AppId,
    scope: SealScope,
    seq: u64,
    index: usize,
    part_len: usize,
) -> Result<Option<(u64, Bytes)>, ManifestError> {
    let entries = records.next_part(part_len)?;
    if entries.is_empty() {
        return Ok(None);
    }
    let count = entries.len() as u64;
    let plain = borsh::to_vec(&ManifestPart { entries }).expect("serialize into Vec");
    let key = part_key(index);
    let ctx = RecordContext { app, scope, key: &key, version: seq };
    Ok(Some((count, Bytes::from(crypto::seal(kek, &ctx, &plain, Padding::None)?))))
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

/// A shard's records as of one manifest, and the manifests read for them.
pub struct Loaded {
    pub records: BTreeMap<Vec<u8>, RecordLeaf>,
    /// The manifest asked for.
    pub head: ManifestHeader,
    /// Each manifest read, newest first: (seq, checkpoint, its blobs: header, then parts).
    pub walked: Vec<(u64, bool, Vec<Vec<u8>>)>,
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
) -> Result<Loaded, ManifestError> {
    let mut chain: Vec<ManifestHeader> = Vec::new();
    let mut cursor = Some((head.to_vec(), seq));
    let mut entries_read = 0;
    let mut parts_by_manifest: Vec<Vec<(Vec<u8>, RecordLeaf)>> = Vec::new();
    let mut walked = Vec::new();
    let scope = SealScope::Shard(shard);
    while let Some((cid_bytes, expected_seq)) = cursor.take() {
        let (cid, header) = read_header(blobs, keys, app, shard, &cid_bytes, expected_seq).await?;
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
        cursor = predecessor(&cid, &header)?;
        progress(chain.len() as u64 + 1, entries_read);
        walked.push(blobs_of(cid_bytes, &header));
        chain.push(header);
        parts_by_manifest.push(entries);
    }
    let mut records = BTreeMap::new();
    for entries in parts_by_manifest.into_iter().rev() {
        for (key, leaf) in entries {
            records.insert(key, leaf);
        }
    }
    let head = chain.into_iter().next().expect("at least the head manifest");
    Ok(Loaded { records, head, walked })
}

/// The manifests a rebuild of the shard's on-chain state would read, newest first, as
/// [`Loaded::walked`] lists them: their headers only, back to the checkpoint.
pub async fn walk(
    blobs: &dyn BlobStore,
    keys: &dyn KeySource,
    app: AppId,
    shard: ShardId,
    onchain: &ShardOnChain,
) -> Result<Vec<(u64, bool, Vec<Vec<u8>>)>, ManifestError> {
    let mut cursor = Some((onchain.manifest_cid.clone(), onchain.seq));
    let mut walked = Vec::new();
    while let Some((cid_bytes, expected_seq)) = cursor.take() {
        let (cid, header) = read_header(blobs, keys, app, shard, &cid_bytes, expected_seq).await?;
        cursor = predecessor(&cid, &header)?;
        walked.push(blobs_of(cid_bytes, &header));
    }
    Ok(walked)
}

/// Opens and checks the header of the manifest committed with `expected_seq`.
async fn read_header(
    blobs: &dyn BlobStore,
    keys: &dyn KeySource,
    app: AppId,
    shard: ShardId,
    cid_bytes: &[u8],
    expected_seq: u64,
) -> Result<(Cid, ManifestHeader), ManifestError> {
    let cid = parse_cid(cid_bytes)?;
    let ctx = RecordContext { app, scope: SealScope::Shard(shard), key: HEADER_KEY, version: expected_seq };
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
    Ok((cid, header))
}

/// The manifest before `header` (CID and seq), `None` at a checkpoint. A delta's predecessor is
/// the previous commit: sequence numbers step by one.
fn predecessor(cid: &Cid, header: &ManifestHeader) -> Result<Option<(Vec<u8>, u64)>, ManifestError> {
    match (&header.prev, header.checkpoint) {
        (Some(prev), false) if header.seq > 1 => Ok(Some((prev.clone(), header.seq - 1))),
        (None, true) => Ok(None),
        _ => Err(ManifestError::Malformed {
            cid: cid.to_string(),
            reason: "delta without a predecessor, or checkpoint with one".into(),
        }),
    }
}

/// (seq, checkpoint, every blob: the header, then the parts) of a manifest read.
fn blobs_of(header_cid: Vec<u8>, header: &ManifestHeader) -> (u64, bool, Vec<Vec<u8>>) {
    let blobs = std::iter::once(header_cid).chain(header.parts.iter().cloned()).collect();
    (header.seq, header.checkpoint, blobs)
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;
    use crate::blobs::LocalBlobStore;
    use crate::keys::SealedKeyFile;
    use crate::tree::{ShardStore, StoreSeal, TreeKey};

    fn leaf(version: u64, tag: u8) -> RecordLeaf {
        RecordLeaf { version, cid: vec![tag; 36], ciphertext_hash: [tag; 32], key_epoch: 0, tombstone: false }
    }

    /// The first manifest is a checkpoint; later ones are deltas until the deltas' entries reach
    /// the last checkpoint's records (at least the minimum), or the chain reaches its most deltas.
    #[test]
    fn checkpoints_are_due_by_the_entries_published() {
        let state = |manifest: &[u8], deltas: u32, at_checkpoint: u64, since_checkpoint: u64| ShardState {
            confirmed_manifest: manifest.to_vec(),
            deltas_since_checkpoint: deltas,
            manifest_entries: crate::tree::ManifestEntries { at_checkpoint, since_checkpoint },
            ..ShardState::default()
        };
        assert!(checkpoint_due(&state(b"", 0, 0, 0)), "no manifest yet");
        assert!(!checkpoint_due(&state(b"cid", 500, 10, 0)));
        assert!(!checkpoint_due(&state(b"cid", 63, 10, 63)), "64 small commits");
        assert!(!checkpoint_due(&state(b"cid", 5, 10, CHECKPOINT_MIN_ENTRIES - 1)));
        assert!(checkpoint_due(&state(b"cid", 5, 10, CHECKPOINT_MIN_ENTRIES)));
        assert!(!checkpoint_due(&state(b"cid", 5, 1 << 30, (1 << 30) - 1)), "a large shard");
        assert!(checkpoint_due(&state(b"cid", 5, 1 << 30, 1 << 30)));
        assert!(!checkpoint_due(&state(b"cid", MAX_DELTAS - 2, 1 << 30, 0)));
        assert!(checkpoint_due(&state(b"cid", MAX_DELTAS - 1, 1 << 30, 0)), "the longest chain");
        let mut entries = crate::tree::ManifestEntries::default();
        entries.published(true, 40);
        entries.published(false, 3);
        entries.published(false, 4);
        assert_eq!((entries.at_checkpoint, entries.since_checkpoint), (40, 7));
        entries.published(true, 47);
        assert_eq!((entries.at_checkpoint, entries.since_checkpoint), (47, 0));
    }

    /// A checkpoint and a delta published part by part (parts of 7 entries here) load back as
    /// every record with its latest leaf; the headers count their entries and parts.
    #[tokio::test]
    async fn manifests_published_part_by_part_load_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobStore::open(dir.path().join("blobs")).unwrap();
        let keys = SealedKeyFile::open_or_create(dir.path().join("key")).unwrap();
        let (app, shard) = (AppId([3; 32]), ShardId(2));
        let kek = keys.app_kek(&app, 0).await.unwrap();
        let seal =
            StoreSeal::new(Zeroizing::new([9; 32]), app, shard, TreeKey::keyed(Zeroizing::new([5; 32])));
        let store = ShardStore::open(dir.path().join("s.redb"), seal).unwrap();
        let first: Vec<(Vec<u8>, RecordLeaf)> =
            (0..40u32).map(|i| (format!("record-{i}").into_bytes(), leaf(1, i as u8))).collect();
        let at_checkpoint = store.commit_group(&first, None).unwrap();
        let header = |seq, root, prev| NewManifest { app, shard, seq, root, prev };
        let records = store.manifest_records(true).unwrap();
        let published =
            publish_in_parts(&blobs, &kek, header(1, at_checkpoint.root, None), records, 7).await.unwrap();
        let checkpoint = published.header;
        let published_checkpoint = published.blobs();
        assert_eq!((published.entries, published.parts.len()), (40, 6));
        assert_eq!(published.blobs()[0], checkpoint.to_bytes());
        let mut state = store.state().unwrap();
        state.confirmed_tree_version = state.tree_version;
        store.put_state(&state).unwrap();
        let changes: Vec<(Vec<u8>, RecordLeaf)> = vec![
            (b"record-3".to_vec(), leaf(2, 103)),
            (b"record-39".to_vec(), leaf(2, 139)),
            (b"record-new".to_vec(), leaf(1, 200)),
        ];
        let at_delta = store.commit_group(&changes, None).unwrap();
        let records = store.manifest_records(false).unwrap();
        let prev = Some(checkpoint.to_bytes());
        let published =
            publish_in_parts(&blobs, &kek, header(2, at_delta.root, prev), records, 7).await.unwrap();
        let delta = published.header;
        let published_delta = published.blobs();
        assert_eq!(published.entries, 3);

        let Loaded { records: loaded, head, walked } =
            load(&blobs, &keys, app, shard, &checkpoint.to_bytes(), 1, |_, _| {}).await.unwrap();
        assert_eq!(walked, vec![(1, true, published_checkpoint.clone())]);
        assert!(head.checkpoint && head.prev.is_none());
        assert_eq!((head.parts.len(), head.entry_count, head.root), (6, 40, at_checkpoint.root));
        assert_eq!(loaded, first.iter().cloned().collect());
        let Loaded { records: loaded, head, walked } =
            load(&blobs, &keys, app, shard, &delta.to_bytes(), 2, |_, _| {}).await.unwrap();
        assert_eq!(walked, vec![(2, false, published_delta), (1, true, published_checkpoint)]);
        assert!(!head.checkpoint && head.prev == Some(checkpoint.to_bytes()));
        assert_eq!((head.parts.len(), head.entry_count, head.root), (1, 3, at_delta.root));
        let mut expected: BTreeMap<_, _> = first.into_iter().collect();
        expected.extend(changes);
        assert_eq!(loaded, expected);
        // An empty delta is a header without parts.
        let mut state = store.state().unwrap();
        state.confirmed_tree_version = state.tree_version;
        store.put_state(&state).unwrap();
        let records = store.manifest_records(false).unwrap();
        let published =
            publish_in_parts(&blobs, &kek, header(3, at_delta.root, Some(delta.to_bytes())), records, 7)
                .await
                .unwrap();
        let empty = published.header;
        assert_eq!((published.entries, published.blobs().len()), (0, 1));
        let Loaded { records: loaded, head, .. } =
            load(&blobs, &keys, app, shard, &empty.to_bytes(), 3, |_, _| {}).await.unwrap();
        assert_eq!((head.parts.len(), loaded), (0, expected));
    }
}
