//! Keeper storage tests: keys, envelope encryption and both blob stores, end to end.
//!
//! The IPFS tests need a node: `export IRONROOT_IPFS_API="$(scripts/ipfs-node.sh start)"`. Without
//! it they skip with a message, except under `CI=true`, where they fail.

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use ironroot_devkit::dstack_mock::{MockAgentOptions, MockGuestAgent, MockListen, MOCK_QUOTE_PREFIX};
use ironroot_keeper::blobs::{
    raw_cid, BlobError, BlobStore, BlockStore, Cid, IpfsBlobStore, LocalBlobStore, MAX_BLOCK_LEN,
};
use ironroot_keeper::crypto::{self, CryptoError, Padding, RecordContext, HEADER_LEN};
use ironroot_keeper::keys::{
    AppId, DstackClient, DstackKeySource, KeyError, KeySource, SealedKeyFile, ShardId,
};
use sha2::{Digest, Sha256};
use solana_sdk::signature::Signer;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const SIZES: [usize; 7] = [0, 1, KIB, 64 * KIB - 1, 64 * KIB, MIB, 8 * MIB];
const APP: AppId = AppId([0x11; 32]);

/// Deterministic, incompressible-looking test data.
fn value(len: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 0u64;
    while out.len() < len {
        out.extend_from_slice(
            &Sha256::new().chain_update([seed]).chain_update(counter.to_le_bytes()).finalize(),
        );
        counter += 1;
    }
    out.truncate(len);
    out
}

fn ctx(key: &[u8], version: u64) -> RecordContext<'_> {
    RecordContext { app: APP, scope: ShardId(3).into(), key, version }
}

fn key_file() -> (tempfile::TempDir, SealedKeyFile) {
    let dir = tempfile::tempdir().unwrap();
    let keys = SealedKeyFile::open_or_create(dir.path().join("root.key")).unwrap();
    (dir, keys)
}

/// The IPFS node under test, or `None` (with a message) when none is configured outside CI.
async fn ipfs_store() -> Option<IpfsBlobStore> {
    match std::env::var("IRONROOT_IPFS_API") {
        Ok(api) if !api.is_empty() => {
            let store = IpfsBlobStore::new(api.clone()).unwrap();
            let version =
                store.version().await.unwrap_or_else(|e| panic!("IPFS node at {api} not answering: {e}"));
            eprintln!("using IPFS node {api} (version {version})");
            Some(store)
        }
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but IRONROOT_IPFS_API is not set: start the node with scripts/ipfs-node.sh start")
        }
        _ => {
            eprintln!(
                "SKIPPED: IRONROOT_IPFS_API not set; run: export IRONROOT_IPFS_API=\"$(scripts/ipfs-node.sh start)\""
            );
            None
        }
    }
}

/// Seals one record per size, stores them all with `put_many`, reads each back and opens it.
async fn round_trip_all_sizes(store: &dyn BlobStore) {
    let (_dir, keys) = key_file();
    let kek = keys.app_kek(&APP, 1).await.unwrap();
    let values: Vec<Vec<u8>> = SIZES.iter().map(|&n| value(n, n as u8)).collect();
    let names: Vec<Vec<u8>> = SIZES.iter().map(|n| format!("record-{n}").into_bytes()).collect();
    let blobs: Vec<Bytes> = values
        .iter()
        .zip(&names)
        .map(|(v, name)| Bytes::from(crypto::seal(&kek, &ctx(name, 7), v, Padding::Buckets).unwrap()))
        .collect();
    let cids = store.put_many(blobs.clone()).await.unwrap();
    for (((cid, blob), v), name) in cids.iter().zip(&blobs).zip(&values).zip(&names) {
        if blob.len() <= MAX_BLOCK_LEN {
            assert_eq!(*cid, raw_cid(blob), "a single-block blob is addressed by its own raw CID");
        } else {
            assert_ne!(*cid, raw_cid(blob), "a chunked blob is addressed by its chunk list");
        }
        let stored = store.get(cid).await.unwrap();
        assert_eq!(stored, *blob, "blob of {} bytes", v.len());
        assert!(store.has(cid).await.unwrap());
        store.pin(cid).await.unwrap();
        let opened = crypto::open(&kek, &ctx(name, 7), &stored).unwrap();
        assert_eq!(&opened[..], &v[..], "value of {} bytes", v.len());
    }
    // `put` of the same bytes is idempotent and gives the same CID.
    assert_eq!(store.put(blobs[2].clone()).await.unwrap(), cids[2]);
}

#[tokio::test]
async fn local_store_round_trips_every_size_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).unwrap();
    round_trip_all_sizes(&store).await;
}

#[tokio::test]
async fn ipfs_store_round_trips_every_size_encrypted() {
    let Some(store) = ipfs_store().await else { return };
    round_trip_all_sizes(&store).await;
}

#[tokio::test]
async fn ipfs_and_local_agree_on_cids_and_ipfs_reports_missing_blobs() {
    let Some(ipfs) = ipfs_store().await else { return };
    // Short enough to keep the test quick, long enough for a loaded 2-core machine.
    let ipfs = ipfs.with_read_timeout(Duration::from_secs(2));
    let dir = tempfile::tempdir().unwrap();
    let local = LocalBlobStore::open(dir.path()).unwrap();
    for len in [0, 5, MIB, 2 * MIB + 3] {
        let blob = Bytes::from(value(len, 42));
        assert_eq!(ipfs.put(blob.clone()).await.unwrap(), local.put(blob).await.unwrap(), "{len} bytes");
    }

    // Pipelined small adds.
    let blobs: Vec<Bytes> = (0..64u8).map(|i| Bytes::from(value(4 * KIB, i))).collect();
    let started = Instant::now();
    let cids = ipfs.put_many(blobs.clone()).await.unwrap();
    eprintln!("64 x 4 KiB put_many: {:?}", started.elapsed());
    for (cid, blob) in cids.iter().zip(&blobs) {
        assert_eq!(ipfs.get(cid).await.unwrap(), *blob);
    }

    // js-ipfs would wait forever for a block it lacks: the read must end, as NotFound.
    let missing = raw_cid(b"never stored: ironroot keeper test");
    let started = Instant::now();
    let read = ipfs.get(&missing).await;
    assert!(matches!(read, Err(BlobError::NotFound(c)) if c == missing), "{read:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!ipfs.has(&missing).await.unwrap());
    assert!(matches!(ipfs.pin(&missing).await, Err(BlobError::NotFound(_))));
}

#[tokio::test]
async fn tampered_ciphertext_is_detected() {
    let (_dir, keys) = key_file();
    let kek = keys.app_kek(&APP, 1).await.unwrap();
    let blob = crypto::seal(&kek, &ctx(b"k", 1), b"secret value", Padding::Buckets).unwrap();
    for at in [HEADER_LEN, HEADER_LEN + 40, blob.len() - 1] {
        let mut bad = blob.clone();
        bad[at] ^= 0x80;
        assert!(matches!(crypto::open(&kek, &ctx(b"k", 1), &bad), Err(CryptoError::Tampered)), "byte {at}");
    }
    let mut bad_nonce = blob.clone();
    bad_nonce[HEADER_LEN - 1] ^= 1;
    assert!(matches!(crypto::open(&kek, &ctx(b"k", 1), &bad_nonce), Err(CryptoError::Tampered)));
    let mut truncated = blob.clone();
    truncated.truncate(HEADER_LEN + 3);
    assert!(matches!(crypto::open(&kek, &ctx(b"k", 1), &truncated), Err(CryptoError::Malformed(_))));
}

#[tokio::test]
async fn replayed_or_swapped_blobs_are_wrong_context() {
    let (_dir, keys) = key_file();
    let kek = keys.app_kek(&APP, 1).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).unwrap();

    let v1 = crypto::seal(&kek, &ctx(b"alice", 1), b"balance=10", Padding::Buckets).unwrap();
    let v2 = crypto::seal(&kek, &ctx(b"alice", 2), b"balance=0", Padding::Buckets).unwrap();
    let bob = crypto::seal(&kek, &ctx(b"bob", 2), b"balance=99", Padding::Buckets).unwrap();
    let cids = store.put_many(vec![v1.into(), v2.into(), bob.into()]).await.unwrap();

    // The store (or a stale index) hands back the wrong CID's blob for alice@2.
    let rolled_back = store.get(&cids[0]).await.unwrap();
    assert!(matches!(crypto::open(&kek, &ctx(b"alice", 2), &rolled_back), Err(CryptoError::WrongContext)));
    let swapped = store.get(&cids[2]).await.unwrap();
    assert!(matches!(crypto::open(&kek, &ctx(b"alice", 2), &swapped), Err(CryptoError::WrongContext)));
    // The right one opens.
    let right = store.get(&cids[1]).await.unwrap();
    assert_eq!(&crypto::open(&kek, &ctx(b"alice", 2), &right).unwrap()[..], b"balance=0");

    // Another shard, or another app's context under the same key: wrong context too.
    let other_shard = RecordContext { scope: ShardId(4).into(), ..ctx(b"alice", 2) };
    assert!(matches!(crypto::open(&kek, &other_shard, &right), Err(CryptoError::WrongContext)));
    let other_app = RecordContext { app: AppId([0x22; 32]), ..ctx(b"alice", 2) };
    assert!(matches!(crypto::open(&kek, &other_app, &right), Err(CryptoError::WrongContext)));
    // With the other app's own KEK the data key does not even unwrap.
    let other_kek = keys.app_kek(&AppId([0x22; 32]), 1).await.unwrap();
    assert!(matches!(crypto::open(&other_kek, &other_app, &right), Err(CryptoError::KeyUnwrap { epoch: 1 })));
    // Key names are length-prefixed: ("ab", version) never collides with ("a", ...).
    let ab = crypto::seal(&kek, &ctx(b"ab", 1), b"x", Padding::Buckets).unwrap();
    assert!(matches!(crypto::open(&kek, &ctx(b"a", 1), &ab), Err(CryptoError::WrongContext)));
}

#[tokio::test]
async fn wrong_key_epoch_is_reported() {
    let (_dir, keys) = key_file();
    let kek1 = keys.app_kek(&APP, 1).await.unwrap();
    let kek2 = keys.app_kek(&APP, 2).await.unwrap();
    let blob = crypto::seal(&kek1, &ctx(b"k", 1), b"v", Padding::Buckets).unwrap();
    assert_eq!(crypto::blob_epoch(&blob).unwrap(), 1);
    assert!(matches!(
        crypto::open(&kek2, &ctx(b"k", 1), &blob),
        Err(CryptoError::EpochMismatch { blob: 1, key: 2 })
    ));
    // Relabelling the blob's epoch does not help: the epoch is authenticated by the key wrap.
    let mut relabelled = blob.clone();
    relabelled[6..10].copy_from_slice(&2u32.to_le_bytes());
    assert!(matches!(
        crypto::open(&kek2, &ctx(b"k", 1), &relabelled),
        Err(CryptoError::KeyUnwrap { epoch: 2 })
    ));
}

#[tokio::test]
async fn rewrap_rotates_the_key_epoch_and_leaves_the_data_alone() {
    let (_dir, keys) = key_file();
    let kek1 = keys.app_kek(&APP, 1).await.unwrap();
    let kek2 = keys.app_kek(&APP, 2).await.unwrap();
    let value = value(3000, 9);
    let blob = crypto::seal(&kek1, &ctx(b"k", 4), &value, Padding::Buckets).unwrap();
    let rotated = crypto::rewrap(&blob, &kek1, &kek2).unwrap();
    assert_eq!(crypto::blob_epoch(&rotated).unwrap(), 2);
    assert_eq!(rotated.len(), blob.len());
    // Context tag, record nonce, ciphertext and tag: byte for byte the same.
    assert_eq!(rotated[70..], blob[70..]);
    assert_eq!(&crypto::open(&kek2, &ctx(b"k", 4), &rotated).unwrap()[..], &value[..]);
    assert!(matches!(crypto::open(&kek1, &ctx(b"k", 4), &rotated), Err(CryptoError::EpochMismatch { .. })));
    assert!(matches!(crypto::rewrap(&blob, &kek2, &kek1), Err(CryptoError::EpochMismatch { .. })));
    let wrong_old = keys.app_kek(&AppId([0x33; 32]), 1).await.unwrap();
    assert!(matches!(crypto::rewrap(&blob, &wrong_old, &kek2), Err(CryptoError::KeyUnwrap { epoch: 1 })));
}

/// A block store in front of a local one that misbehaves on reads when told to.
struct FaultyStore {
    inner: LocalBlobStore,
    corrupt: AtomicBool,
    hang: AtomicBool,
}

#[async_trait]
impl BlockStore for FaultyStore {
    async fn put_block(&self, cid: &Cid, block: Bytes) -> Result<(), BlobError> {
        self.inner.put_block(cid, block).await
    }
    async fn get_block(&self, cid: &Cid) -> Result<Bytes, BlobError> {
        if self.hang.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        let block = self.inner.get_block(cid).await?;
        if self.corrupt.load(Ordering::SeqCst) {
            let mut bad = block.to_vec();
            match bad.last_mut() {
                Some(b) => *b ^= 1,
                None => bad.push(0),
            }
            return Ok(bad.into());
        }
        Ok(block)
    }
    async fn has_block(&self, cid: &Cid) -> Result<bool, BlobError> {
        self.inner.has_block(cid).await
    }
    async fn pin_block(&self, cid: &Cid) -> Result<(), BlobError> {
        self.inner.pin_block(cid).await
    }
    fn read_timeout(&self) -> Duration {
        self.inner.read_timeout()
    }
}

#[tokio::test]
async fn reads_check_cids_and_time_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = FaultyStore {
        inner: LocalBlobStore::open(dir.path()).unwrap().with_read_timeout(Duration::from_millis(100)),
        corrupt: AtomicBool::new(false),
        hang: AtomicBool::new(false),
    };
    let small = store.put(Bytes::from(value(100, 1))).await.unwrap();
    let big = store.put(Bytes::from(value(3 * MIB, 2))).await.unwrap();
    assert_eq!(store.get(&big).await.unwrap().len(), 3 * MIB);

    store.corrupt.store(true, Ordering::SeqCst);
    for cid in [small, big] {
        match store.get(&cid).await {
            Err(BlobError::CidMismatch { expected, actual }) => {
                assert_eq!(*expected, cid);
                assert_ne!(*actual, cid);
            }
            other => panic!("want CidMismatch, got {other:?}"),
        }
    }
    store.corrupt.store(false, Ordering::SeqCst);

    // A chunk list that names a chunk the store lost: NotFound for that chunk.
    let first_chunk = raw_cid(&value(3 * MIB, 2)[..MIB]);
    assert_eq!(store.inner.remove_blocks(vec![first_chunk]).await.unwrap(), 1);
    assert!(matches!(store.get(&big).await, Err(BlobError::NotFound(c)) if c == first_chunk));
    assert!(!store.has(&big).await.unwrap());

    store.hang.store(true, Ordering::SeqCst);
    let started = Instant::now();
    assert!(matches!(store.get(&small).await, Err(BlobError::Timeout { cid, .. }) if cid == small));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn local_store_errors_are_typed_and_never_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).unwrap();
    let missing = raw_cid(b"missing");
    assert!(matches!(store.get(&missing).await, Err(BlobError::NotFound(c)) if c == missing));
    assert!(!store.has(&missing).await.unwrap());
    assert!(matches!(store.pin(&missing).await, Err(BlobError::NotFound(_))));

    let blob = Bytes::from_static(b"stored once");
    let cid = store.put(blob.clone()).await.unwrap();
    assert_eq!(store.get(&cid).await.unwrap(), blob);
    let location = store.block_location(&cid).unwrap().unwrap();
    drop(store);
    let store = LocalBlobStore::open(dir.path()).unwrap();
    assert_eq!(store.block_location(&cid).unwrap().unwrap(), location);
    assert_eq!(store.get(&cid).await.unwrap(), blob);

    // Unsupported CIDs are refused before any I/O.
    let dag_pb = Cid::new_v1(0x70, cid.hash().to_owned());
    assert!(matches!(store.get(&dag_pb).await, Err(BlobError::UnsupportedCid(_))));
}

#[tokio::test]
async fn sealed_key_file_persists_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys").join("root.key");
    let first = SealedKeyFile::open_or_create(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let kek = first.app_kek(&APP, 1).await.unwrap();
    let seed = first.signing_seed(&APP).await.unwrap();
    drop(first);

    let again = SealedKeyFile::open_or_create(&path).unwrap();
    let kek_again = again.app_kek(&APP, 1).await.unwrap();
    let blob = crypto::seal(&kek, &ctx(b"k", 1), b"survives restarts", Padding::Buckets).unwrap();
    assert_eq!(&crypto::open(&kek_again, &ctx(b"k", 1), &blob).unwrap()[..], b"survives restarts");
    assert_eq!(*again.signing_seed(&APP).await.unwrap(), *seed);
    assert_ne!(*seed, [0u8; 32]);

    // Another file is another root secret.
    let other = SealedKeyFile::open_or_create(dir.path().join("other.key")).unwrap();
    assert!(matches!(
        crypto::open(&other.app_kek(&APP, 1).await.unwrap(), &ctx(b"k", 1), &blob),
        Err(CryptoError::KeyUnwrap { .. })
    ));

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        SealedKeyFile::open_or_create(&path),
        Err(KeyError::InsecureKeyFile { mode: 0o644, .. })
    ));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&path, b"IRROOTK1short").unwrap();
    assert!(matches!(SealedKeyFile::open_or_create(&path), Err(KeyError::MalformedKeyFile { .. })));
}

#[tokio::test]
async fn dstack_key_source_gives_stable_per_path_keys() {
    let agent = MockGuestAgent::start([5; 32]).await.unwrap();
    let source = DstackKeySource::new(DstackClient::new(agent.endpoint()).unwrap());
    let other_app = AppId([0x44; 32]);

    let k1 = source.app_kek(&APP, 1).await.unwrap();
    let blob = crypto::seal(&k1, &ctx(b"k", 1), b"v", Padding::Buckets).unwrap();
    let calls = agent.get_key_calls();
    // Cached: no second round trip for the same (app, epoch).
    let k1_cached = source.app_kek(&APP, 1).await.unwrap();
    assert_eq!(agent.get_key_calls(), calls);
    assert!(crypto::open(&k1_cached, &ctx(b"k", 1), &blob).is_ok());

    // A fresh client (a restarted keeper) derives the same keys.
    let restarted = DstackKeySource::new(DstackClient::new(agent.endpoint()).unwrap());
    let k1_again = restarted.app_kek(&APP, 1).await.unwrap();
    assert!(crypto::open(&k1_again, &ctx(b"k", 1), &blob).is_ok());
    let seed = source.signing_seed(&APP).await.unwrap();
    assert_eq!(*restarted.signing_seed(&APP).await.unwrap(), *seed);

    // Distinct per path: another app's KEK cannot unwrap this app's data keys.
    let k_other = source.app_kek(&other_app, 1).await.unwrap();
    assert!(matches!(crypto::open(&k_other, &ctx(b"k", 1), &blob), Err(CryptoError::KeyUnwrap { .. })));
    let client = source.client();
    let raw_k1 =
        client.get_key(&DstackKeySource::kek_path(&APP, 1), "ironroot-kek", "ed25519").await.unwrap();
    let raw_k2 =
        client.get_key(&DstackKeySource::kek_path(&APP, 2), "ironroot-kek", "ed25519").await.unwrap();
    let raw_other =
        client.get_key(&DstackKeySource::kek_path(&other_app, 1), "ironroot-kek", "ed25519").await.unwrap();
    let raw_sign =
        client.get_key(&DstackKeySource::signing_path(&APP), "any purpose", "ed25519").await.unwrap();
    let distinct = [*raw_k1, *raw_k2, *raw_other, *raw_sign];
    for i in 0..distinct.len() {
        for j in i + 1..distinct.len() {
            assert_ne!(distinct[i], distinct[j], "keys {i} and {j}");
        }
    }
    // The signing seed is the agent's key for the signing path (purpose does not change it).
    assert_eq!(*raw_sign, *seed);
    // The KEK is not the raw agent key: it went through the versioned HKDF.
    let k1_as_raw = ironroot_keeper::keys::Kek::new(1, raw_k1);
    assert!(matches!(crypto::open(&k1_as_raw, &ctx(b"k", 1), &blob), Err(CryptoError::KeyUnwrap { .. })));

    // Another agent seed (another app key in the KMS): other keys.
    let other_agent = MockGuestAgent::start([6; 32]).await.unwrap();
    let other_source = DstackKeySource::new(DstackClient::new(other_agent.endpoint()).unwrap());
    let foreign = other_source.app_kek(&APP, 1).await.unwrap();
    assert!(matches!(crypto::open(&foreign, &ctx(b"k", 1), &blob), Err(CryptoError::KeyUnwrap { .. })));

    // Unsupported algorithms are refused by the agent, as by the real one.
    assert!(matches!(client.get_key("p", "q", "rsa").await, Err(KeyError::Agent { .. })));
}

#[tokio::test]
async fn dstack_client_quote_and_info() {
    let agent = MockGuestAgent::start([7; 32]).await.unwrap();
    let client = DstackClient::new(agent.endpoint()).unwrap();
    let report_data = [0xAB; 64];
    let quote = client.get_quote(&report_data).await.unwrap();
    assert!(quote.quote.starts_with(MOCK_QUOTE_PREFIX));
    assert!(quote.quote.ends_with(&report_data));
    assert_eq!(quote.event_log, "[]");
    assert!(matches!(client.get_quote(&[]).await, Err(KeyError::InvalidRequest(_))));
    assert!(matches!(client.get_quote(&[0; 65]).await, Err(KeyError::InvalidRequest(_))));

    let info = client.info().await.unwrap();
    assert_eq!(info.app_id.len(), 40);
    assert_eq!(info.app_name, "ironroot-mock");
    assert_eq!(info.tcb_info["compose_hash"], info.compose_hash.as_str());

    drop(agent);
    assert!(matches!(client.info().await, Err(KeyError::Agent { .. })));
    // Endpoints are http(s) URLs or absolute socket paths; nothing else.
    assert!(matches!(DstackClient::new("dstack.sock"), Err(KeyError::InvalidRequest(_))));
    assert!(matches!(DstackClient::new("ftp://host"), Err(KeyError::InvalidRequest(_))));
    assert_eq!(DstackClient::new("unix:/var/run/dstack.sock").unwrap().endpoint(), "/var/run/dstack.sock");
}

#[tokio::test]
async fn dstack_over_the_unix_socket_gives_the_same_keys_as_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("dstack.sock");
    let over_http = MockGuestAgent::start([8; 32]).await.unwrap();
    let over_socket =
        MockGuestAgent::start_with(MockAgentOptions::new([8; 32]), MockListen::Unix(socket.clone()))
            .await
            .unwrap();
    assert_eq!(over_socket.endpoint(), socket.display().to_string());
    let http = DstackKeySource::new(DstackClient::new(over_http.endpoint()).unwrap());
    // The deployed form, and dstack's `unix:` spelling of it.
    let unix = DstackKeySource::new(DstackClient::new(over_socket.endpoint()).unwrap());
    let prefixed = DstackClient::new(format!("unix:{}", socket.display())).unwrap();

    // One agent seed, one set of keys, whichever transport carries them.
    let seed = unix.signing_seed(&APP).await.unwrap();
    assert_eq!(*seed, *http.signing_seed(&APP).await.unwrap());
    assert_eq!(*seed, *prefixed.get_key(&DstackKeySource::signing_path(&APP), "p", "ed25519").await.unwrap());
    assert_eq!(
        unix.signing_keypair(&APP).await.unwrap().pubkey(),
        http.signing_keypair(&APP).await.unwrap().pubkey()
    );
    assert_eq!(*unix.store_seal_key(&APP).await.unwrap(), *http.store_seal_key(&APP).await.unwrap());
    let kek = unix.app_kek(&APP, 3).await.unwrap();
    let blob = crypto::seal(&kek, &ctx(b"k", 1), b"v", Padding::Buckets).unwrap();
    assert!(crypto::open(&http.app_kek(&APP, 3).await.unwrap(), &ctx(b"k", 1), &blob).is_ok());
    assert_eq!(over_socket.get_key_calls(), 5, "every key came over the socket");

    // Quote and info over the socket; the agent's refusals arrive as agent errors.
    let client = unix.client();
    let quote = client.get_quote(&[0xCD; 64]).await.unwrap();
    assert!(quote.quote.starts_with(MOCK_QUOTE_PREFIX) && quote.quote.ends_with(&[0xCD; 64]));
    assert_eq!(client.info().await.unwrap().app_name, "ironroot-mock");
    match client.get_key("p", "q", "rsa").await {
        Err(KeyError::Agent { message, .. }) => assert!(message.contains("400"), "{message}"),
        other => panic!("expected the agent's refusal, got {other:?}"),
    }

    // No agent on the socket: a clear error naming it, no key.
    drop(over_socket);
    let gone = DstackClient::new(socket.display().to_string()).unwrap();
    match gone.get_key("p", "q", "ed25519").await {
        Err(KeyError::Agent { endpoint, .. }) => assert_eq!(endpoint, socket.display().to_string()),
        other => panic!("expected an agent error, got {other:?}"),
    }
}

/// The IPFS node is the operator's: an answer larger than one block (here an endless one) is
/// read only up to the bound and refused, never buffered whole (an endless answer accepted or
/// buffered would never return). A real node does not send this, so the node here is a stand-in
/// HTTP server.
#[tokio::test]
async fn an_oversized_ipfs_answer_is_cut_off_at_the_bound() {
    use futures::StreamExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let endless = axum::routing::post(|| async {
        let chunks = futures::stream::repeat(Bytes::from(vec![0u8; 64 * KIB])).map(Ok::<_, std::io::Error>);
        axum::body::Body::from_stream(chunks)
    });
    let router = axum::Router::new().fallback(endless);
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let store = IpfsBlobStore::new(api).unwrap();
    let read = tokio::time::timeout(Duration::from_secs(60), store.get_block(&raw_cid(b"anything"))).await;
    match read.expect("the read never ended: the answer was not cut off") {
        Err(e) => assert!(e.to_string().contains("exceeds"), "{e}"),
        Ok(block) => panic!("an endless answer was accepted ({} bytes)", block.len()),
    }
    server.abort();
}
