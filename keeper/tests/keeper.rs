//! The keeper core against the real programs (in-process bank) and real blob stores: write path,
//! proofs, batching, rollback-proof start-up, crash points, key rotation, two keepers at once.
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use app_roots::UpdateShardArgs;
use async_trait::async_trait;
use bytes::Bytes;
use ironroot_bank::dev::{DevApp, DevTrust};
use ironroot_keeper::blobs::{BlobStore, LocalBlobStore};
use ironroot_keeper::chain::{BankChain, Chain, ChainError, ShardOnChain, UpdateReceipt};
use ironroot_keeper::keys::{AppId, KeySource, SealedKeyFile};
use ironroot_keeper::recovery::Startup;
use ironroot_keeper::shard::{verify_read, CommitOutcome, KeeperError, ShardConfig, ShardKeeper};
use ironroot_keeper::tree::EMPTY_ROOT;
use ironroot_sdk::history::onchain_tree_root;
use ironroot_sdk::registry::TeeKeyStatus;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Keypair;
use tokio::sync::Mutex;

const APP_ID: [u8; 32] = [0x42; 32];

/// Faults injected at the chain seam: the only way to stop a process between "sent" and "heard
/// back" without killing the in-process bank with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Fault {
    None = 0,
    /// The update never reaches the chain (crash before sending).
    DropBeforeSend = 1,
    /// The update lands, the reply is lost, and the chain stays unreachable (crash after sending).
    LoseReplyThenDown = 2,
    /// The update lands and only its reply is lost.
    LoseReplyOnce = 3,
}

struct FaultyChain {
    inner: BankChain,
    fault: AtomicU8,
}

impl FaultyChain {
    fn set(&self, fault: Fault) {
        self.fault.store(fault as u8, Ordering::SeqCst);
    }
}

#[async_trait]
impl Chain for FaultyChain {
    async fn app(&self, app_id: &[u8; 32]) -> Result<Option<app_roots::App>, ChainError> {
        self.inner.app(app_id).await
    }
    async fn shard(&self, app_id: &[u8; 32], shard: u16) -> Result<Option<ShardOnChain>, ChainError> {
        self.inner.shard(app_id, shard).await
    }
    async fn tee_status(&self, tee: &Pubkey) -> Result<TeeKeyStatus, ChainError> {
        self.inner.tee_status(tee).await
    }
    async fn submit_update(
        &self,
        tee: &Keypair,
        app_id: &[u8; 32],
        args: UpdateShardArgs,
    ) -> Result<UpdateReceipt, ChainError> {
        match self.fault.load(Ordering::SeqCst) {
            1 => Err(ChainError::Unavailable("injected: crashed before sending".into())),
            2 | 3 => {
                self.inner.submit_update(tee, app_id, args).await?;
                let next =
                    if self.fault.load(Ordering::SeqCst) == 2 { Fault::DropBeforeSend } else { Fault::None };
                self.set(next);
                Err(ChainError::Unavailable("injected: reply lost".into()))
            }
            _ => self.inner.submit_update(tee, app_id, args).await,
        }
    }
}

struct Harness {
    _trust: DevTrust,
    app: DevApp,
    dir: tempfile::TempDir,
    chain: Arc<FaultyChain>,
    keys: Arc<SealedKeyFile>,
    blobs: Arc<LocalBlobStore>,
    signer: Arc<Keypair>,
}

async fn harness(shards: u16) -> Harness {
    let trust = DevTrust::new(1, 1);
    let mut bank = trust.start_bank().await.unwrap();
    let app = trust.create_app(&mut bank, APP_ID, shards, (14, 64)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(SealedKeyFile::open_or_create(dir.path().join("root.key")).unwrap());
    let seed = keys.signing_seed(&AppId(APP_ID)).await.unwrap();
    let signer = Arc::new(solana_sdk::signer::keypair::keypair_from_seed(&seed[..]).unwrap());
    trust.register(&mut bank, &signer, 1).await.unwrap();
    let blobs = Arc::new(LocalBlobStore::open(dir.path().join("blobs")).unwrap());
    let chain = Arc::new(FaultyChain {
        inner: BankChain::new(
            Arc::new(Mutex::new(bank)),
            solana_sdk::signature::Signer::pubkey(&app.publisher),
        ),
        fault: AtomicU8::new(0),
    });
    Harness { _trust: trust, app, dir, chain, keys, blobs, signer }
}

impl Harness {
    fn config(&self, shard: u16) -> ShardConfig {
        let mut cfg =
            ShardConfig::new(AppId(APP_ID), shard, self.dir.path().join(format!("shard-{shard}.redb")));
        // Tests commit explicitly unless they test the batcher.
        cfg.commit_interval = Duration::from_secs(3600);
        cfg.commit_every_writes = u64::MAX;
        cfg
    }

    async fn open_with(&self, cfg: ShardConfig) -> Result<Arc<ShardKeeper>, KeeperError> {
        ShardKeeper::open(cfg, self.blobs.clone(), self.keys.clone(), self.chain.clone(), self.signer.clone())
            .await
    }

    async fn open(&self, shard: u16) -> Arc<ShardKeeper> {
        self.open_with(self.config(shard)).await.expect("keeper opens")
    }

    async fn chain_shard(&self, shard: u16) -> ShardOnChain {
        self.chain.shard(&APP_ID, shard).await.unwrap().unwrap()
    }

    async fn history_root(&self) -> [u8; 32] {
        let bank = self.chain.inner.bank().clone();
        let account = bank.lock().await.account(&self.app.tree).await.unwrap();
        onchain_tree_root(&account.data).unwrap().0
    }
}

fn value(i: usize) -> Bytes {
    Bytes::from(format!("value-{i}-{}", "x".repeat(i % 50)))
}

async fn write_many(keeper: &ShardKeeper, range: std::ops::Range<usize>) {
    let writes =
        range.map(|i| async move { keeper.put(format!("key-{i}").as_bytes(), value(i), None).await });
    for receipt in futures::future::join_all(writes).await {
        receipt.expect("write acknowledged");
    }
}

async fn assert_all_readable(keeper: &ShardKeeper, range: std::ops::Range<usize>) {
    for i in range {
        let read = keeper.get(format!("key-{i}").as_bytes()).await.expect("acknowledged write readable");
        assert_eq!(read.value, value(i).to_vec(), "key-{i}");
        assert!(verify_read(&read.root, format!("key-{i}").as_bytes(), Some(&read.leaf), &read.proof));
    }
}

#[tokio::test]
async fn writes_read_back_with_proofs_pending_then_committed() {
    let h = harness(1).await;
    let keeper = h.open(0).await;
    assert_eq!(keeper.startup(), &Startup::Fresh);
    let receipt = keeper.put(b"alice", Bytes::from_static(b"hello"), None).await.unwrap();
    assert_eq!(receipt.version, 1);

    let read = keeper.get(b"alice").await.unwrap();
    assert_eq!(read.value, b"hello");
    assert!(!read.committed, "not on-chain yet");
    assert_eq!(read.seq, 1);
    assert_eq!(read.root, receipt.root);
    assert!(verify_read(&read.root, b"alice", Some(&read.leaf), &read.proof));
    // The same proof does not vouch for another key or another leaf.
    assert!(!verify_read(&read.root, b"bob", Some(&read.leaf), &read.proof));
    let mut other = read.leaf.clone();
    other.version = 2;
    assert!(!verify_read(&read.root, b"alice", Some(&other), &read.proof));

    let outcome = keeper.commit().await.unwrap();
    let CommitOutcome::Committed { seq, root, checkpoint, tx_bytes, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!((seq, root, checkpoint), (1, receipt.root, true));
    assert!(tx_bytes > 0 && tx_bytes <= 1232);
    let onchain = h.chain_shard(0).await;
    assert_eq!((onchain.seq, onchain.root), (1, receipt.root));

    let read = keeper.get(b"alice").await.unwrap();
    assert!(read.committed);
    assert_eq!((read.seq, read.root), (1, onchain.root));
    assert!(verify_read(&onchain.root, b"alice", Some(&read.leaf), &read.proof));
    assert_eq!(keeper.commit().await.unwrap(), CommitOutcome::NothingToCommit);
}

#[tokio::test]
async fn expected_root_deletes_and_non_inclusion() {
    let h = harness(1).await;
    let keeper = h.open(0).await;
    let first = keeper.put(b"k", Bytes::from_static(b"v1"), None).await.unwrap();
    let stale = keeper.put(b"k", Bytes::from_static(b"v2"), Some(first.root)).await.unwrap();
    assert_eq!(stale.version, 2);
    let conflict = keeper.put(b"k", Bytes::from_static(b"v3"), Some(first.root)).await;
    assert!(matches!(conflict, Err(KeeperError::RootChanged { .. })), "{conflict:?}");
    assert_eq!(keeper.get(b"k").await.unwrap().value, b"v2");

    let deleted = keeper.delete(b"k", None).await.unwrap();
    assert_eq!(deleted.version, 3);
    assert!(matches!(keeper.get(b"k").await, Err(KeeperError::NotFound)));
    assert!(matches!(keeper.delete(b"k", None).await, Err(KeeperError::NotFound)));
    // The tombstone is in the tree, provably.
    let proof = keeper.proof(b"k").await.unwrap();
    let tombstone = proof.leaf.clone().expect("tombstone leaf");
    assert!(tombstone.tombstone && tombstone.version == 3);
    assert!(verify_read(&proof.root, b"k", Some(&tombstone), &proof.proof));
    // A key never written: a non-inclusion proof.
    let absent = keeper.proof(b"never").await.unwrap();
    assert!(absent.leaf.is_none());
    assert!(verify_read(&absent.root, b"never", None, &absent.proof));
    assert!(!verify_read(&absent.root, b"never", Some(&tombstone), &absent.proof));
    // Writing again after a delete continues the version sequence.
    assert_eq!(keeper.put(b"k", Bytes::from_static(b"v4"), None).await.unwrap().version, 4);
    assert!(matches!(keeper.put(b"", Bytes::new(), None).await, Err(KeeperError::InvalidKey)));
    assert!(matches!(keeper.put(b"\0x", Bytes::new(), None).await, Err(KeeperError::InvalidKey)));
}

#[tokio::test]
async fn batcher_commits_every_n_writes_and_manifests_are_deltas() {
    let h = harness(1).await;
    let mut cfg = h.config(0);
    cfg.commit_every_writes = 50;
    cfg.commit_interval = Duration::from_millis(200);
    let keeper = h.open_with(cfg).await.unwrap();
    let wait_for = |pred: Box<dyn Fn(&ShardOnChain) -> bool + Send>| {
        let h = &h;
        async move {
            for _ in 0..200 {
                let onchain = h.chain_shard(0).await;
                if pred(&onchain) {
                    return onchain;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            panic!("the batcher did not commit in time")
        }
    };
    write_many(&keeper, 0..60).await;
    let first = wait_for(Box::new(|s| s.seq >= 1)).await;
    write_many(&keeper, 60..120).await;
    let root = keeper.status().unwrap().local_root;
    let onchain = wait_for(Box::new(move |s| s.root == root)).await;
    assert!(onchain.seq >= 2, "several commits: {onchain:?}");
    let status = keeper.status().unwrap();
    assert_eq!(status.record_count, 120);
    // The latest manifest is a delta on the first one, and the chain of them rebuilds everything.
    let (records, head) = ironroot_keeper::manifest::load(
        h.blobs.as_ref(),
        h.keys.as_ref(),
        AppId(APP_ID),
        0,
        &onchain.manifest_cid,
        onchain.seq,
        |_, _| {},
    )
    .await
    .unwrap();
    assert!(!head.checkpoint && head.prev.is_some());
    assert!(head.entry_count < 120, "a delta holds only what changed: {}", head.entry_count);
    assert_eq!(records.len(), 120);
    assert_ne!(first.manifest_cid, onchain.manifest_cid);
    assert_all_readable(&keeper, 0..120).await;
}

#[tokio::test]
async fn restart_in_sync_and_after_a_crash_around_the_chain_call() {
    let h = harness(1).await;
    let keeper = h.open(0).await;
    write_many(&keeper, 0..20).await;
    keeper.commit().await.unwrap();
    keeper.shutdown().await;
    drop(keeper);
    let keeper = h.open(0).await;
    assert_eq!(keeper.startup(), &Startup::InSync { seq: 1 });

    // Crash before the update reaches the chain: prepared, recorded, not sent.
    write_many(&keeper, 20..30).await;
    h.chain.set(Fault::DropBeforeSend);
    let attempt = tokio::time::timeout(Duration::from_secs(1), keeper.commit()).await;
    assert!(attempt.is_err() || attempt.unwrap().is_err());
    keeper.shutdown().await;
    drop(keeper);
    h.chain.set(Fault::None);
    let keeper = h.open(0).await;
    assert_eq!(keeper.startup(), &Startup::LocalAhead { chain_seq: 1, pending_seq: 2 });
    keeper.commit().await.unwrap();
    assert_eq!(h.chain_shard(0).await.seq, 2);
    assert_all_readable(&keeper, 0..30).await;

    // A lost reply within one run: the retry is refused as a replay, the keeper checks the chain
    // and finds its update there.
    write_many(&keeper, 30..35).await;
    h.chain.set(Fault::LoseReplyOnce);
    let CommitOutcome::Committed { seq, .. } = keeper.commit().await.unwrap() else { panic!() };
    assert_eq!((seq, h.chain_shard(0).await.seq), (3, 3));

    // Crash after sending: the update landed, the keeper never heard.
    write_many(&keeper, 35..40).await;
    h.chain.set(Fault::LoseReplyThenDown);
    let attempt = tokio::time::timeout(Duration::from_secs(1), keeper.commit()).await;
    assert!(attempt.is_err() || attempt.unwrap().is_err());
    keeper.shutdown().await;
    drop(keeper);
    h.chain.set(Fault::None);
    let keeper = h.open(0).await;
    assert_eq!(keeper.startup(), &Startup::LocalAhead { chain_seq: 4, pending_seq: 4 });
    let status = keeper.status().unwrap();
    let onchain = h.chain_shard(0).await;
    assert_eq!((status.local_seq, status.local_root), (4, onchain.root));
    assert_eq!(keeper.commit().await.unwrap(), CommitOutcome::NothingToCommit);
    assert_all_readable(&keeper, 0..40).await;
}

#[tokio::test]
async fn rolled_back_deleted_or_corrupt_store_is_rebuilt_from_chain_and_manifests() {
    let h = harness(1).await;
    let path = h.config(0).store_path;
    let keeper = h.open(0).await;
    write_many(&keeper, 0..30).await;
    keeper.commit().await.unwrap();
    keeper.shutdown().await;
    drop(keeper);
    let old_copy = std::fs::read(&path).unwrap();

    let keeper = h.open(0).await;
    write_many(&keeper, 30..60).await;
    keeper.delete(b"key-3", None).await.unwrap();
    keeper.commit().await.unwrap();
    write_many(&keeper, 60..70).await;
    keeper.commit().await.unwrap();
    let onchain = h.chain_shard(0).await;
    assert_eq!(onchain.seq, 3);
    keeper.shutdown().await;
    drop(keeper);

    // 1. The operator restores the old copy: seq 1 locally, seq 3 on-chain.
    std::fs::write(&path, &old_copy).unwrap();
    let keeper = h.open(0).await;
    let Startup::Rebuilt { local_seq, chain_seq, records, .. } = keeper.startup().clone() else {
        panic!("{:?}", keeper.startup())
    };
    assert_eq!((local_seq, chain_seq, records), (1, 3, 70));
    assert_eq!(keeper.status().unwrap().local_root, onchain.root);
    assert_all_readable(&keeper, 4..70).await;
    assert!(matches!(keeper.get(b"key-3").await, Err(KeeperError::NotFound)));
    keeper.shutdown().await;
    drop(keeper);

    // 2. The store is deleted.
    std::fs::remove_file(&path).unwrap();
    let keeper = h.open(0).await;
    assert!(
        matches!(keeper.startup(), Startup::Rebuilt { local_seq: 0, chain_seq: 3, .. }),
        "{:?}",
        keeper.startup()
    );
    assert_all_readable(&keeper, 60..70).await;
    // It keeps working: a new commit after the rebuild (a checkpoint) lands at seq 4.
    write_many(&keeper, 70..75).await;
    let CommitOutcome::Committed { seq, checkpoint, .. } = keeper.commit().await.unwrap() else { panic!() };
    assert_eq!((seq, checkpoint), (4, true));
    keeper.shutdown().await;
    drop(keeper);

    // 3. The store is corrupted.
    let mut bytes = std::fs::read(&path).unwrap();
    for b in bytes.iter_mut().take(4096) {
        *b ^= 0x5A;
    }
    std::fs::write(&path, &bytes).unwrap();
    let keeper = h.open(0).await;
    assert!(matches!(keeper.startup(), Startup::Rebuilt { chain_seq: 4, .. }), "{:?}", keeper.startup());
    assert_all_readable(&keeper, 60..75).await;
}

#[tokio::test]
async fn fails_closed_when_the_chain_cannot_be_matched() {
    let h = harness(1).await;
    let path = h.config(0).store_path;
    let keeper = h.open(0).await;
    write_many(&keeper, 0..10).await;
    keeper.commit().await.unwrap();
    write_many(&keeper, 10..20).await;
    keeper.commit().await.unwrap();
    let onchain = h.chain_shard(0).await;
    keeper.shutdown().await;
    drop(keeper);

    // The store is lost and the manifest it would be rebuilt from is withheld.
    std::fs::remove_file(&path).unwrap();
    let manifest = cid::Cid::try_from(onchain.manifest_cid.as_slice()).unwrap();
    std::fs::remove_file(h.blobs.block_path(&manifest)).unwrap();
    let err = match h.open_with(h.config(0)).await {
        Err(KeeperError::FailedClosed(e)) => e,
        other => panic!("expected to fail closed, got {:?}", other.map(|k| k.startup().clone())),
    };
    assert_eq!((err.chain_seq, err.local_seq), (2, 0));
    assert_eq!(err.chain_root, hex::encode(onchain.root));
    assert_eq!(err.local_root, hex::encode(EMPTY_ROOT));
    let message = err.to_string();
    assert!(message.contains("on-chain seq 2") && message.contains("local seq 0"), "{message}");
}

#[tokio::test]
async fn key_rotation_keeps_old_records_readable_and_rewraps_them() {
    let h = harness(1).await;
    let keeper = h.open(0).await;
    write_many(&keeper, 0..20).await;
    assert_eq!(keeper.rotate_key_epoch().await.unwrap(), 1);
    write_many(&keeper, 20..25).await;
    assert_eq!(keeper.get(b"key-1").await.unwrap().leaf.key_epoch, 0);
    assert_eq!(keeper.get(b"key-21").await.unwrap().leaf.key_epoch, 1);
    assert_all_readable(&keeper, 0..25).await;

    let mut reports = Vec::new();
    let done = keeper.rewrap_old_epochs(|p| reports.push(p)).await.unwrap();
    assert_eq!((done.scanned, done.rewrapped, done.skipped), (25, 20, 0));
    assert!(!reports.is_empty());
    for i in 0..25 {
        let read = keeper.get(format!("key-{i}").as_bytes()).await.unwrap();
        assert_eq!((read.leaf.key_epoch, read.value.clone()), (1, value(i).to_vec()));
        // The data was not re-encrypted: the record version is unchanged.
        assert_eq!(read.leaf.version, 1);
    }
    keeper.commit().await.unwrap();
    assert_eq!(h.chain_shard(0).await.root, keeper.status().unwrap().local_root);
}

#[tokio::test]
async fn two_keepers_on_two_shards_commit_concurrently() {
    let h = harness(2).await;
    let a = h.open(0).await;
    let b = h.open(1).await;
    for round in 0..3 {
        let (ra, rb) = tokio::join!(
            async {
                write_many(&a, round * 10..round * 10 + 10).await;
                a.commit().await
            },
            async {
                write_many(&b, 100 + round * 10..100 + round * 10 + 10).await;
                b.commit().await
            }
        );
        assert!(matches!(ra.unwrap(), CommitOutcome::Committed { .. }));
        assert!(matches!(rb.unwrap(), CommitOutcome::Committed { .. }));
    }
    let (sa, sb) = (h.chain_shard(0).await, h.chain_shard(1).await);
    assert_eq!((sa.seq, sb.seq), (3, 3));
    assert_eq!(sa.root, a.status().unwrap().local_root);
    assert_eq!(sb.root, b.status().unwrap().local_root);
    assert_ne!(h.history_root().await, ironroot_sdk::history::empty_node(14));
    assert_all_readable(&a, 0..30).await;
    assert_all_readable(&b, 100..130).await;
}

#[tokio::test]
async fn blobs_missing_or_swapped_are_errors_never_served() {
    let h = harness(1).await;
    let keeper = h.open(0).await;
    keeper.put(b"a", Bytes::from_static(b"alpha"), None).await.unwrap();
    keeper.put(b"b", Bytes::from_static(b"bravo"), None).await.unwrap();
    let a = keeper.get(b"a").await.unwrap().leaf;
    let b = keeper.get(b"b").await.unwrap().leaf;
    let path_a = h.blobs.block_path(&cid::Cid::try_from(a.cid.as_slice()).unwrap());
    let path_b = h.blobs.block_path(&cid::Cid::try_from(b.cid.as_slice()).unwrap());
    // Swap the two blobs on disk: each file's bytes no longer match its CID.
    let (bytes_a, bytes_b) = (std::fs::read(&path_a).unwrap(), std::fs::read(&path_b).unwrap());
    std::fs::write(&path_a, &bytes_b).unwrap();
    let swapped = keeper.get(b"a").await;
    assert!(matches!(swapped, Err(KeeperError::Blob(_))), "{swapped:?}");
    std::fs::write(&path_a, &bytes_a).unwrap();
    std::fs::remove_file(&path_b).unwrap();
    let missing = keeper.get(b"b").await;
    assert!(
        matches!(missing, Err(KeeperError::Blob(ironroot_keeper::blobs::BlobError::NotFound(_)))),
        "{missing:?}"
    );
    assert_eq!(keeper.get(b"a").await.unwrap().value, b"alpha");
    let _ = h.blobs.put(Bytes::from_static(b"unrelated")).await.unwrap();
}

/// A blob store whose writes fail on demand (a full disk, an unreachable IPFS node).
struct FailingBlobs {
    inner: Arc<LocalBlobStore>,
    fail: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl ironroot_keeper::blobs::BlockStore for FailingBlobs {
    async fn put_block(&self, cid: &cid::Cid, block: Bytes) -> Result<(), ironroot_keeper::blobs::BlobError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(ironroot_keeper::blobs::BlobError::Io {
                op: "write",
                path: "injected".into(),
                source: std::io::Error::from_raw_os_error(28), // ENOSPC
            });
        }
        self.inner.put_block(cid, block).await
    }
    async fn get_block(&self, cid: &cid::Cid) -> Result<Bytes, ironroot_keeper::blobs::BlobError> {
        self.inner.get_block(cid).await
    }
    async fn has_block(&self, cid: &cid::Cid) -> Result<bool, ironroot_keeper::blobs::BlobError> {
        self.inner.has_block(cid).await
    }
    async fn pin_block(&self, cid: &cid::Cid) -> Result<(), ironroot_keeper::blobs::BlobError> {
        self.inner.pin_block(cid).await
    }
    fn read_timeout(&self) -> Duration {
        self.inner.read_timeout()
    }
}

#[tokio::test]
async fn a_failed_blob_write_acknowledges_nothing_and_changes_nothing() {
    let h = harness(1).await;
    let blobs = Arc::new(FailingBlobs { inner: h.blobs.clone(), fail: false.into() });
    let keeper =
        ShardKeeper::open(h.config(0), blobs.clone(), h.keys.clone(), h.chain.clone(), h.signer.clone())
            .await
            .unwrap();
    write_many(&keeper, 0..5).await;
    let before = keeper.status().unwrap();
    blobs.fail.store(true, Ordering::SeqCst);
    let failed = keeper.put(b"key-99", value(99), None).await;
    assert!(matches!(failed, Err(KeeperError::Blob(_))), "{failed:?}");
    // A failed manifest upload stops a commit before anything is sent or recorded as pending.
    assert!(matches!(keeper.commit().await, Err(KeeperError::Manifest(_))));
    let after = keeper.status().unwrap();
    assert_eq!((after.local_root, after.record_count, after.pending_seq), (before.local_root, 5, None));
    assert!(matches!(keeper.get(b"key-99").await, Err(KeeperError::NotFound)));
    blobs.fail.store(false, Ordering::SeqCst);
    keeper.put(b"key-99", value(99), None).await.unwrap();
    keeper.commit().await.unwrap();
    assert_all_readable(&keeper, 0..5).await;
    assert_eq!(h.chain_shard(0).await.root, keeper.status().unwrap().local_root);
}

const CRASH_CHILD: &str = "IRONROOT_CRASH_CHILD_DIR";

/// Child mode of the SIGKILL test: writes forever through the keeper, printing each acknowledged
/// key, until the parent kills it.
async fn crash_child(dir: std::path::PathBuf) {
    let h = harness(1).await;
    let keys = Arc::new(SealedKeyFile::open_or_create(dir.join("root.key")).unwrap());
    let blobs = Arc::new(LocalBlobStore::open(dir.join("blobs")).unwrap());
    let mut cfg = h.config(0);
    cfg.store_path = dir.join("shard.redb");
    cfg.commit_every_writes = 100;
    cfg.commit_interval = Duration::from_millis(20);
    let keeper = ShardKeeper::open(cfg, blobs, keys, h.chain.clone(), h.signer.clone()).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    for worker in 0..32usize {
        let keeper = keeper.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            for i in (worker..).step_by(32) {
                keeper.put(format!("key-{i}").as_bytes(), value(i), None).await.unwrap();
                let _ = tx.send(i);
            }
        });
    }
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    while let Some(i) = rx.recv().await {
        writeln!(out, "ack key-{i}").unwrap();
        out.flush().unwrap();
    }
}

#[tokio::test]
async fn sigkill_during_writes_and_commits_loses_no_acknowledged_write() {
    if let Ok(dir) = std::env::var(CRASH_CHILD) {
        return crash_child(dir.into()).await;
    }
    use std::io::BufRead;
    for (round, kill_after) in [37usize, 400, 1500].into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sigkill_during_writes_and_commits_loses_no_acknowledged_write",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CRASH_CHILD, dir.path())
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut acked = Vec::new();
        for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            if let Some(key) = line.strip_prefix("ack ") {
                acked.push(key.to_string());
                if acked.len() == kill_after {
                    child.kill().unwrap(); // SIGKILL
                    break;
                }
            }
        }
        child.wait().unwrap();
        assert_eq!(acked.len(), kill_after, "round {round}: the child stopped early");

        // Every acknowledged write is in the store, in the tree, and its blob decrypts.
        let store = ironroot_keeper::tree::ShardStore::open(dir.path().join("shard.redb")).unwrap();
        let state = store.state().unwrap();
        let blobs = LocalBlobStore::open(dir.path().join("blobs")).unwrap();
        let keys = SealedKeyFile::open_or_create(dir.path().join("root.key")).unwrap();
        let kek = keys.app_kek(&AppId(APP_ID), 0).await.unwrap();
        for key in &acked {
            let (leaf, proof) = store.prove(key.as_bytes(), state.tree_version).unwrap();
            let leaf = leaf.unwrap_or_else(|| panic!("round {round}: acknowledged {key} lost"));
            assert!(verify_read(&state.root, key.as_bytes(), Some(&leaf), &proof));
            let blob = blobs.get(&cid::Cid::try_from(leaf.cid.as_slice()).unwrap()).await.unwrap();
            let ctx = ironroot_keeper::crypto::RecordContext {
                app: AppId(APP_ID),
                shard: 0,
                key: key.as_bytes(),
                version: leaf.version,
            };
            let i: usize = key.trim_start_matches("key-").parse().unwrap();
            assert_eq!(ironroot_keeper::crypto::open(&kek, &ctx, &blob).unwrap().to_vec(), value(i).to_vec());
        }
        // A prepared update, if the kill left one, extends what was confirmed.
        if let Some(p) = state.pending {
            assert_eq!((p.seq, p.prev_root), (state.confirmed_seq + 1, state.confirmed_root));
        }
    }
}
