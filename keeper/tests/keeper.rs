//! The keeper core against the real programs (in-process bank) and real blob stores: write path,
//! proofs, batching, rollback-proof start-up, crash points, key rotation, two keepers at once.
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use app_roots::UpdateShardArgs;
use async_trait::async_trait;
use bytes::Bytes;
use cid::Cid;
use ironroot_devkit::{BankChain, Harness as DevHarness, HarnessOptions};
use ironroot_keeper::backup;
use ironroot_keeper::blobs::{BlobError, BlobStore, LocalBlobStore};
use ironroot_keeper::chain::{Chain, ChainError, QuorumChain, ShardOnChain, UpdateReceipt};
use ironroot_keeper::keys::{AppId, KeySource, SealedKeyFile, ShardId};
use ironroot_keeper::manifest::{ManifestHeader, CHECKPOINT_MIN_ENTRIES};
use ironroot_keeper::recovery::Startup;
use ironroot_keeper::shard::{verify_read, CommitOutcome, Durability, KeeperError, ShardConfig, ShardKeeper};
use ironroot_keeper::tree::{
    public_key_hash, ManifestEntries, RecordLeaf, ShardState, StoreError, StoreSeal, TreeKeyMode, EMPTY_ROOT,
};
use ironroot_sdk::history::onchain_tree_root;
use ironroot_sdk::registry::TeeKeyStatus;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Keypair;

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
    /// The program refuses every update (e.g. the TEE registration expired).
    Reject = 4,
    /// Every update lands, but confirming it takes [`SLOW_CONFIRMATION`] (a busy cluster).
    SlowConfirmation = 5,
}

const SLOW_CONFIRMATION: Duration = Duration::from_millis(300);

struct FaultyChain {
    inner: BankChain,
    fault: AtomicU8,
    /// The highest seq the finalized view reports (a lagging or lying RPC); `u64::MAX`: as is.
    finalized_cap: AtomicU64,
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
    async fn shard(&self, app_id: &[u8; 32], shard: ShardId) -> Result<Option<ShardOnChain>, ChainError> {
        self.inner.shard(app_id, shard).await
    }
    async fn shard_finalized(
        &self,
        app_id: &[u8; 32],
        shard: ShardId,
    ) -> Result<Option<ShardOnChain>, ChainError> {
        let mut view = self.inner.shard_finalized(app_id, shard).await?;
        if let Some(view) = &mut view {
            view.seq = view.seq.min(self.finalized_cap.load(Ordering::SeqCst));
        }
        Ok(view)
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
            4 => Err(ChainError::Rejected { code: 6000 }),
            5 => {
                tokio::time::sleep(SLOW_CONFIRMATION).await;
                self.inner.submit_update(tee, app_id, args).await
            }
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
    dev: DevHarness,
    chain: Arc<FaultyChain>,
    keys: Arc<SealedKeyFile>,
    blobs: Arc<LocalBlobStore>,
    signer: Arc<Keypair>,
}

async fn harness(shards: u16) -> Harness {
    let dev = DevHarness::start(HarnessOptions::new(APP_ID, shards)).await.unwrap();
    let blobs = Arc::new(LocalBlobStore::open(dev.data_dir().join("blobs")).unwrap());
    let chain = Arc::new(FaultyChain {
        inner: dev.chain.clone(),
        fault: AtomicU8::new(0),
        finalized_cap: AtomicU64::new(u64::MAX),
    });
    Harness { keys: dev.keys.clone(), signer: dev.signer.clone(), dev, chain, blobs }
}

impl Harness {
    fn config(&self, shard: u16) -> ShardConfig {
        let mut cfg = ShardConfig::new(
            AppId(APP_ID),
            ShardId(shard),
            self.dev.data_dir().join(format!("shard-{shard}.redb")),
        );
        // Tests commit explicitly unless they test the batcher.
        cfg.commit_interval = Duration::from_secs(3600);
        cfg.commit_every_writes = u64::MAX;
        // A stale view (the tests' lying endpoints) fails closed after this, not after a minute.
        cfg.finality_wait = Duration::from_millis(300);
        cfg
    }

    async fn open_with(&self, cfg: ShardConfig) -> Result<Arc<ShardKeeper>, KeeperError> {
        ShardKeeper::open(cfg, self.blobs.clone(), self.keys.clone(), self.chain.clone(), self.signer.clone())
            .await
    }

    /// A keeper on `cfg` over `blobs` (a hooked store) instead of the harness's own.
    async fn open_over(&self, cfg: ShardConfig, blobs: &Arc<HookedBlobs>) -> Arc<ShardKeeper> {
        ShardKeeper::open(cfg, blobs.clone(), self.keys.clone(), self.chain.clone(), self.signer.clone())
            .await
            .expect("keeper opens")
    }

    async fn open(&self, shard: u16) -> Arc<ShardKeeper> {
        self.open_with(self.config(shard)).await.expect("keeper opens")
    }

    async fn chain_shard(&self, shard: u16) -> ShardOnChain {
        self.chain.shard(&APP_ID, ShardId(shard)).await.unwrap().unwrap()
    }

    /// Shard 0's records as of the manifest `cid` of update `seq`, and that manifest's header.
    async fn load_manifest(
        &self,
        cid: &[u8],
        seq: u64,
    ) -> (std::collections::BTreeMap<Vec<u8>, RecordLeaf>, ManifestHeader) {
        let keys = self.keys.as_ref();
        ironroot_keeper::manifest::load(
            self.blobs.as_ref(),
            keys,
            AppId(APP_ID),
            ShardId(0),
            cid,
            seq,
            |_, _| {},
        )
        .await
        .map(|loaded| (loaded.records, loaded.head))
        .unwrap()
    }

    /// The blobs of shard 0's manifest `manifest` (a CID string) of update `seq`: its header,
    /// then its parts.
    async fn manifest_blobs(&self, manifest: &str, seq: u64) -> Vec<Cid> {
        let cid = Cid::try_from(manifest).unwrap();
        let (_, head) = self.load_manifest(&cid.to_bytes(), seq).await;
        std::iter::once(cid).chain(head.parts.iter().map(|p| Cid::try_from(p.as_slice()).unwrap())).collect()
    }

    /// Per CID, whether the blob store holds it.
    async fn held(&self, cids: &[Cid]) -> Vec<bool> {
        let mut held = Vec::new();
        for cid in cids {
            match self.blobs.get(cid).await {
                Ok(_) => held.push(true),
                Err(BlobError::NotFound(_)) => held.push(false),
                Err(e) => panic!("{cid}: {e}"),
            }
        }
        held
    }

    async fn history_root(&self) -> [u8; 32] {
        let bank = self.chain.inner.bank().clone();
        let account = bank.lock().await.account(&self.dev.app.tree).await.unwrap();
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

/// What one explicit commit published.
#[derive(Debug, PartialEq)]
struct Published {
    checkpoint: bool,
    entries: u64,
    manifest: String,
    seq: u64,
}

/// Writes `keys` (see [`write_many`]), then commits them.
async fn write_and_commit(keeper: &ShardKeeper, keys: std::ops::Range<usize>) -> Published {
    write_many(keeper, keys).await;
    match keeper.commit().await.unwrap() {
        CommitOutcome::Committed { checkpoint, entries, manifest, seq, .. } => {
            Published { checkpoint, entries, manifest, seq }
        }
        other => panic!("nothing committed: {other:?}"),
    }
}

async fn assert_all_readable(keeper: &ShardKeeper, range: std::ops::Range<usize>) {
    for i in range {
        let read = keeper.get(format!("key-{i}").as_bytes()).await.expect("acknowledged write readable");
        assert_eq!(read.value, value(i).to_vec(), "key-{i}");
        assert!(verify_read(
            &read.root,
            &keeper.key_hash(format!("key-{i}").as_bytes()),
            Some(&read.leaf),
            &read.proof
        ));
    }
}

/// Large groups compute their tree while the group before is still being written: every write
/// of the overlapping groups is acknowledged, readable with its proof, and anchored.
#[tokio::test]
async fn overlapping_large_groups_are_all_written_and_anchored() {
    let h = harness(1).await;
    let keeper = h.open(0).await;
    write_many(&keeper, 0..2000).await;
    let metrics = keeper.metrics();
    assert!(metrics.tree_compute_micros_total.load(Ordering::Relaxed) > 0, "no group was computed ahead");
    assert!(metrics.groups.load(Ordering::Relaxed) >= 2);
    assert_all_readable(&keeper, 0..2000).await;
    keeper.commit().await.unwrap();
    assert_eq!(keeper.store().state().unwrap().record_count, 2000);
    assert_eq!(h.chain_shard(0).await.root, keeper.status().unwrap().local_root);
}

/// A large group's tree is computed while its blobs are stored (its leaves need only the CIDs).
/// If the blobs then fail, the computed tree is dropped: no write is acknowledged, nothing is in
/// the store, and the next group is computed on the committed tree, not on the dropped one (the
/// keys only the failed group wrote stay absent, provably). Timing-free: the blobs wait at a gate
/// until the tree is computed.
#[tokio::test(flavor = "current_thread")]
async fn a_group_whose_blobs_fail_while_its_tree_is_computed_writes_nothing() {
    let h = harness(1).await;
    let blobs = HookedBlobs::new(h.blobs.clone());
    let keeper = h.open_over(h.config(0), &blobs).await;
    write_many(&keeper, 0..5).await;
    let before = keeper.status().unwrap();
    let metrics = keeper.metrics();

    blobs.open.send_replace(false);
    blobs.fail_next.store(1, Ordering::SeqCst);
    // 100 writes queued before the writer runs (one thread): one group, large enough to be
    // computed ahead.
    let failed = {
        let keeper = keeper.clone();
        tokio::spawn(async move {
            let writes = (100..200).map(|i| {
                let keeper = keeper.clone();
                async move { keeper.put(format!("key-{i}").as_bytes(), value(i), None).await }
            });
            futures::future::join_all(writes).await
        })
    };
    let computed = async {
        while metrics.tree_compute_micros_total.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), computed)
        .await
        .expect("the tree is computed while the group's blobs wait at the gate");
    assert_eq!(*blobs.stored.borrow(), 5, "no blob of the group is stored yet");
    blobs.open.send_replace(true);
    let results = failed.await.unwrap();
    // The group's first write gets the blob error, the others its message.
    assert!(matches!(results[0], Err(KeeperError::Blob(_))), "{:?}", results[0]);
    assert!(results.iter().all(|r| r.as_ref().is_err_and(|e| e.to_string().contains("injected"))));
    let after = keeper.status().unwrap();
    assert_eq!((after.local_root, after.record_count), (before.local_root, 5));

    // Another large group, of only some of those keys.
    write_many(&keeper, 100..170).await;
    assert_eq!(keeper.get(b"key-100").await.unwrap().leaf.version, 1);
    assert_eq!(keeper.store().state().unwrap().record_count, 75);
    for absent in [b"key-170".as_slice(), b"key-199"] {
        let proof = keeper.proof(absent).await.unwrap();
        assert!(proof.leaf.is_none());
        assert!(verify_read(&proof.root, &keeper.key_hash(absent), None, &proof.proof));
    }
    assert_all_readable(&keeper, 0..5).await;
    assert_all_readable(&keeper, 100..170).await;
    keeper.commit().await.unwrap();
    assert_eq!(h.chain_shard(0).await.root, keeper.status().unwrap().local_root);
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
    assert!(verify_read(&read.root, &keeper.key_hash(b"alice"), Some(&read.leaf), &read.proof));
    // Keyed tree positions (the default): the keeper's, not SHA-256 of the key.
    assert_eq!(read.key_hash, keeper.key_hash(b"alice"));
    assert_ne!(read.key_hash, public_key_hash(b"alice").0);
    // The same proof does not vouch for another key or another leaf.
    assert!(!verify_read(&read.root, &keeper.key_hash(b"bob"), Some(&read.leaf), &read.proof));
    let mut other = read.leaf.clone();
    other.version = 2;
    assert!(!verify_read(&read.root, &keeper.key_hash(b"alice"), Some(&other), &read.proof));

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
    assert!(verify_read(&onchain.root, &keeper.key_hash(b"alice"), Some(&read.leaf), &read.proof));
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
    assert!(verify_read(&proof.root, &keeper.key_hash(b"k"), Some(&tombstone), &proof.proof));
    // A key never written: a non-inclusion proof.
    let absent = keeper.proof(b"never").await.unwrap();
    assert!(absent.leaf.is_none());
    assert!(verify_read(&absent.root, &keeper.key_hash(b"never"), None, &absent.proof));
    assert!(!verify_read(&absent.root, &keeper.key_hash(b"never"), Some(&tombstone), &absent.proof));
    // Writing again after a delete continues the version sequence.
    assert_eq!(keeper.put(b"k", Bytes::from_static(b"v4"), None).await.unwrap().version, 4);
    assert!(matches!(keeper.put(b"", Bytes::new(), None).await, Err(KeeperError::InvalidKey)));
    assert!(matches!(keeper.put(b"\0x", Bytes::new(), None).await, Err(KeeperError::InvalidKey)));
}

/// At full rate an update must carry a full batch: writes acknowledged while the previous update
/// was confirming must not trigger the next one before `commit_every_writes` of them are waiting.
#[tokio::test]
async fn writes_during_a_slow_confirmation_wait_for_a_full_batch() {
    let h = harness(1).await;
    h.chain.set(Fault::SlowConfirmation);
    let mut cfg = h.config(0);
    cfg.commit_every_writes = 100;
    let keeper = h.open_with(cfg).await.unwrap();
    let seq = || async { h.chain_shard(0).await.seq };
    write_many(&keeper, 0..100).await;
    // The first update is confirming: 10 more writes land locally meanwhile.
    tokio::time::sleep(SLOW_CONFIRMATION / 3).await;
    write_many(&keeper, 100..110).await;
    for _ in 0..100 {
        if seq().await >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seq().await, 1, "the first full batch is anchored");
    // Ten writes are not a batch: nothing is anchored for them (the interval is an hour).
    tokio::time::sleep(SLOW_CONFIRMATION * 3).await;
    assert_eq!(seq().await, 1, "an update of 10 writes went out before the batch was full");
    assert_eq!(keeper.status().unwrap().commits, 1);
    write_many(&keeper, 110..200).await;
    for _ in 0..100 {
        if seq().await >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seq().await, 2);
    assert_eq!(h.chain_shard(0).await.root, keeper.status().unwrap().local_root);
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
    let (records, head) = h.load_manifest(&onchain.manifest_cid, onchain.seq).await;
    assert!(!head.checkpoint && head.prev.is_some());
    assert!(head.entry_count < 120, "a delta holds only what changed: {}", head.entry_count);
    assert_eq!(records.len(), 120);
    assert_ne!(first.manifest_cid, onchain.manifest_cid);
    assert_all_readable(&keeper, 0..120).await;
}

/// Checkpoints follow the entries published, not a count of commits: after a checkpoint of N
/// records the deltas go on until they hold as many entries (at least `CHECKPOINT_MIN_ENTRIES`),
/// so a large shard is not copied whole every few commits, and a checkpoint still bounds what a
/// rebuild reads.
#[tokio::test]
async fn a_checkpoint_comes_once_the_deltas_hold_as_many_entries_as_the_last_one() {
    let h = harness(1).await;
    let keeper = h.open(0).await;
    // (checkpoint?, manifest entries) of a commit of `keys`.
    let commit = |keys| {
        let keeper = &keeper;
        async move {
            let published = write_and_commit(keeper, keys).await;
            (published.checkpoint, published.entries)
        }
    };
    let counted = || keeper.store().state().unwrap().manifest_entries;
    assert_eq!(commit(0..20).await, (true, 20), "the first manifest");
    assert_eq!(counted(), ManifestEntries { at_checkpoint: 20, since_checkpoint: 0 });
    // 70 commits of one write: more than the 64 commits that used to bring a checkpoint.
    for i in 20..90 {
        assert_eq!(commit(i..i + 1).await, (false, 1), "commit of write {i}");
    }
    assert_eq!(counted(), ManifestEntries { at_checkpoint: 20, since_checkpoint: 70 });
    // A long chain of deltas, as a large shard builds one up (the counts live in the sealed state).
    keeper
        .store()
        .update_state(|s| s.manifest_entries.since_checkpoint = CHECKPOINT_MIN_ENTRIES - 1)
        .unwrap();
    assert_eq!(commit(90..91).await, (false, 1), "one entry short");
    assert_eq!(commit(91..92).await, (true, 92), "the deltas reached the minimum");
    assert_eq!(counted(), ManifestEntries { at_checkpoint: 92, since_checkpoint: 0 });
    // The checkpoint alone holds the shard.
    let onchain = h.chain_shard(0).await;
    let (records, head) = h.load_manifest(&onchain.manifest_cid, onchain.seq).await;
    assert!(head.checkpoint && head.prev.is_none());
    assert_eq!((records.len(), onchain.seq), (92, 73));
    assert_all_readable(&keeper, 0..92).await;
}

/// Manifests no state the chain can still show needs are released: once a checkpoint is
/// final, every manifest before it (headers and parts) goes to the dead blobs and out of the blob
/// store, while the chain's own manifests still rebuild the shard. A checkpoint that is confirmed
/// but not final yet (a lagging, or lying, finalized view) releases nothing the final state needs.
#[tokio::test]
async fn manifests_before_a_final_checkpoint_are_released() {
    let h = harness(1).await;
    let keeper = h.open(0).await;
    let retired = || keeper.metrics().manifests_retired.load(Ordering::Relaxed);
    let next_is_checkpoint = || {
        keeper.store().update_state(|s| s.manifest_entries.since_checkpoint = CHECKPOINT_MIN_ENTRIES).unwrap()
    };

    let first = write_and_commit(&keeper, 0..20).await;
    assert!(first.checkpoint);
    let delta = write_and_commit(&keeper, 20..25).await;
    assert!(!delta.checkpoint);
    let old: Vec<Cid> =
        [h.manifest_blobs(&first.manifest, 1).await, h.manifest_blobs(&delta.manifest, 2).await].concat();
    assert_eq!(old.len(), 4, "two headers, one part each");
    // The chain finalized only seq 2 (the first checkpoint's generation): a checkpoint at seq 3
    // releases nothing, since a reorg to seq 2 would rebuild from manifests 1 and 2.
    h.chain.finalized_cap.store(2, Ordering::SeqCst);
    next_is_checkpoint();
    let second = write_and_commit(&keeper, 25..30).await;
    assert!(second.checkpoint);
    assert_eq!((retired(), h.held(&old).await), (0, vec![true; 4]));
    // Final now: the next checkpoint releases everything before it, the one at seq 3 included.
    h.chain.finalized_cap.store(u64::MAX, Ordering::SeqCst);
    let second = h.manifest_blobs(&second.manifest, 3).await;
    next_is_checkpoint();
    let latest = write_and_commit(&keeper, 30..35).await;
    assert!(latest.checkpoint);
    assert_eq!(retired(), 3);
    assert_eq!(h.held(&[old, second].concat()).await, vec![false; 6], "retired manifests' blobs");
    assert!(keeper.store().dead_blobs(16).unwrap().is_empty(), "released, not only marked");
    assert_eq!(
        h.held(&h.manifest_blobs(&latest.manifest, latest.seq).await).await,
        vec![true; 2],
        "the current manifest"
    );
    // A delta after it keeps both (a delta needs its checkpoint).
    assert!(!write_and_commit(&keeper, 35..36).await.checkpoint);
    assert_eq!(retired(), 3);
    assert_all_readable(&keeper, 0..36).await;
}

/// A store rebuilt from the chain learns the manifests the rebuild read, so the first final
/// checkpoint after it releases them like its own (a rebuilt store once knew none, and kept them
/// forever).
#[tokio::test]
async fn manifests_a_rebuild_read_are_released_by_the_next_final_checkpoint() {
    let h = harness(1).await;
    let keeper = h.open(0).await;
    let old = checkpoint_and_delta(&h, &keeper).await;
    let path = keeper.config().store_path.clone();
    keeper.shutdown().await;
    drop(keeper);
    std::fs::remove_file(&path).unwrap();
    let keeper = h.open(0).await;
    assert!(matches!(keeper.startup(), Startup::Rebuilt { chain_seq: 2, .. }), "{:?}", keeper.startup());
    assert_released_by_the_next_checkpoint(&h, &keeper, &old).await;
}

/// Commits keys 0..20 (a checkpoint, seq 1) and 20..25 (a delta, seq 2); both manifests' blobs.
async fn checkpoint_and_delta(h: &Harness, keeper: &ShardKeeper) -> Vec<Cid> {
    let first = write_and_commit(keeper, 0..20).await;
    let delta = write_and_commit(keeper, 20..25).await;
    assert!(first.checkpoint && !delta.checkpoint);
    [h.manifest_blobs(&first.manifest, 1).await, h.manifest_blobs(&delta.manifest, 2).await].concat()
}

/// The keeper's next commit (keys 25..30) is a checkpoint, final at once on the bank, and
/// releases the two manifests of [`checkpoint_and_delta`], whose records stay readable.
async fn assert_released_by_the_next_checkpoint(h: &Harness, keeper: &ShardKeeper, old: &[Cid]) {
    assert!(write_and_commit(keeper, 25..30).await.checkpoint);
    assert_eq!(keeper.metrics().manifests_retired.load(Ordering::Relaxed), 2);
    assert_eq!(h.held(old).await, vec![false; 4]);
    assert_all_readable(keeper, 0..30).await;
}

/// A restore replaces the store that recorded the chain's manifests: the restored store records
/// them itself (their headers, read back to the checkpoint), so the next final checkpoint releases
/// them as it does a rebuilt store's.
#[tokio::test]
async fn manifests_from_before_a_restore_are_released_by_the_next_final_checkpoint() {
    let h = harness(1).await;
    let keeper = h.open(0).await;
    let old = checkpoint_and_delta(&h, &keeper).await;
    let mut backup = Vec::new();
    let stores = [(ShardId(0), keeper.store())];
    backup::export(AppId(APP_ID), &stores, h.blobs.as_ref(), h.keys.as_ref(), &mut backup).await.unwrap();
    let path = keeper.config().store_path.clone();
    keeper.shutdown().await;
    drop(keeper);
    let (blobs, keys, chain) = (h.blobs.as_ref(), h.keys.as_ref(), h.chain.as_ref());
    backup::import(AppId(APP_ID), TreeKeyMode::Keyed, backup.as_slice(), blobs, keys, chain, |_| {
        path.clone()
    })
    .await
    .unwrap();
    let keeper = h.open(0).await;
    assert_eq!(keeper.startup(), &Startup::InSync { seq: 2 });
    assert_released_by_the_next_checkpoint(&h, &keeper, &old).await;
}

#[tokio::test]
async fn restart_in_sync_and_after_a_crash_around_the_chain_call() {
    let h = harness(1).await;
    let keeper = h.open(0).await;
    write_many(&keeper, 0..20).await;
    keeper.commit().await.unwrap();
    assert_eq!(keeper.store().unmerged_entries(), 20);
    keeper.shutdown().await;
    // A clean stop leaves no record index rows for the next start to read and check.
    assert_eq!(keeper.store().unmerged_entries(), 0);
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
    assert_eq!(h.blobs.remove_blocks(vec![manifest]).await.unwrap(), 1);
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
    // Leaves from proofs: a read would cache the values (see the read cache test below).
    let a = keeper.proof(b"a").await.unwrap().leaf.unwrap();
    let b = keeper.proof(b"b").await.unwrap().leaf.unwrap();
    let cid_a = cid::Cid::try_from(a.cid.as_slice()).unwrap();
    let cid_b = cid::Cid::try_from(b.cid.as_slice()).unwrap();
    let at_a = h.blobs.block_location(&cid_a).unwrap().unwrap();
    let at_b = h.blobs.block_location(&cid_b).unwrap().unwrap();
    // Swap the two blobs on disk (same padded length): each one's bytes no longer match its CID.
    let (bytes_a, bytes_b) = (read_location(&at_a), read_location(&at_b));
    write_location(&at_a, &bytes_b);
    let swapped = keeper.get(b"a").await;
    assert!(matches!(swapped, Err(KeeperError::Blob(_))), "{swapped:?}");
    write_location(&at_a, &bytes_a);
    assert_eq!(h.blobs.remove_blocks(vec![cid_b]).await.unwrap(), 1);
    let missing = keeper.get(b"b").await;
    assert!(
        matches!(missing, Err(KeeperError::Blob(ironroot_keeper::blobs::BlobError::NotFound(_)))),
        "{missing:?}"
    );
    assert_eq!(keeper.get(b"a").await.unwrap().value, b"alpha");
    let _ = h.blobs.put(Bytes::from_static(b"unrelated")).await.unwrap();
}

#[tokio::test]
async fn the_read_cache_answers_only_for_the_leaf_its_value_was_opened_under() {
    let h = harness(1).await;
    let keeper = h.open(0).await;
    let mut cfg = h.config(0);
    cfg.read_cache_bytes = 0;
    keeper.put(b"a", Bytes::from_static(b"alpha-1"), None).await.unwrap();
    keeper.put(b"b", Bytes::from_static(b"bravo-1"), None).await.unwrap();
    assert_eq!(keeper.get(b"a").await.unwrap().value, b"alpha-1");
    // The operator swaps a's blob for b's: the proof still verifies a's leaf, whose value was
    // opened (hash-checked, decrypted) before, so the read is answered from memory, correctly.
    let (at_a, at_b) = (blob_location(&h, &keeper, b"a").await, blob_location(&h, &keeper, b"b").await);
    write_location(&at_a, &read_location(&at_b));
    assert_eq!(keeper.get(b"a").await.unwrap().value, b"alpha-1");
    // A new version is a new leaf: never answered from the cache, read and checked from the blob.
    keeper.put(b"a", Bytes::from_static(b"alpha-2"), None).await.unwrap();
    let read = keeper.get(b"a").await.unwrap();
    assert_eq!((read.value.as_slice(), read.leaf.version), (&b"alpha-2"[..], 2));
    write_location(&blob_location(&h, &keeper, b"a").await, &read_location(&at_b));
    assert_eq!(keeper.get(b"a").await.unwrap().value, b"alpha-2");
    // Without a cache (a new keeper on the same store), the swapped blob is an error, not data.
    keeper.shutdown().await;
    drop(keeper);
    let uncached = h.open_with(cfg).await.unwrap();
    let swapped = uncached.get(b"a").await;
    assert!(matches!(swapped, Err(KeeperError::Blob(_))), "{swapped:?}");
}

#[tokio::test]
async fn cached_proofs_are_served_only_for_the_tree_version_and_root_they_verified_against() {
    let h = harness(1).await;
    let keeper = h.open(0).await;
    keeper.put(b"a", Bytes::from_static(b"alpha-1"), None).await.unwrap();
    let first = keeper.get(b"a").await.unwrap();
    let again = keeper.get(b"a").await.unwrap();
    assert_eq!((again.root, again.committed, again.seq), (first.root, false, first.seq));
    assert!(verify_read(&again.root, &again.key_hash, Some(&again.leaf), &again.proof));

    // Another key's write moves the pending root: a's next read proves against the new root.
    keeper.put(b"b", Bytes::from_static(b"bravo-1"), None).await.unwrap();
    let local = keeper.status().unwrap().local_root;
    let moved = keeper.get(b"a").await.unwrap();
    assert_ne!(moved.root, first.root);
    assert_eq!(moved.root, local);
    assert!(verify_read(&moved.root, &moved.key_hash, Some(&moved.leaf), &moved.proof));
    assert!(!verify_read(&moved.root, &first.key_hash, Some(&first.leaf), &first.proof), "the old proof");

    // Anchored: against the on-chain root, committed, with its seq; a new version of a is pending
    // again, and the proof route agrees with reads.
    let CommitOutcome::Committed { seq, root, .. } = keeper.commit().await.unwrap() else {
        panic!("writes to commit")
    };
    let anchored = keeper.get(b"a").await.unwrap();
    assert_eq!((anchored.root, anchored.committed, anchored.seq), (root, true, seq));
    assert!(verify_read(&root, &anchored.key_hash, Some(&anchored.leaf), &anchored.proof));
    keeper.put(b"a", Bytes::from_static(b"alpha-2"), None).await.unwrap();
    let pending = keeper.proof(b"a").await.unwrap();
    assert_eq!((pending.committed, pending.seq, pending.leaf.as_ref().unwrap().version), (false, seq + 1, 2));
    let read = keeper.get(b"a").await.unwrap();
    assert_eq!((read.value.as_slice(), read.root), (&b"alpha-2"[..], pending.root));
    assert!(verify_read(&read.root, &read.key_hash, Some(&read.leaf), &read.proof));
    // A deleted record is not found, though its older proof was cached.
    keeper.delete(b"a", None).await.unwrap();
    assert!(matches!(keeper.get(b"a").await, Err(KeeperError::NotFound)));
}

/// Where the blob of `key`'s current leaf lies.
async fn blob_location(
    h: &Harness,
    keeper: &ShardKeeper,
    key: &[u8],
) -> ironroot_keeper::blobs::BlockLocation {
    let leaf = keeper.proof(key).await.unwrap().leaf.unwrap();
    h.blobs.block_location(&cid::Cid::try_from(leaf.cid.as_slice()).unwrap()).unwrap().unwrap()
}

fn read_location(at: &ironroot_keeper::blobs::BlockLocation) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let mut bytes = vec![0; at.len as usize];
    std::fs::File::open(&at.path).unwrap().read_exact_at(&mut bytes, at.offset).unwrap();
    bytes
}

fn write_location(at: &ironroot_keeper::blobs::BlockLocation, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    std::fs::OpenOptions::new().write(true).open(&at.path).unwrap().write_all_at(bytes, at.offset).unwrap();
}

#[tokio::test]
async fn a_failed_blob_write_acknowledges_nothing_and_changes_nothing() {
    let h = harness(1).await;
    let blobs = HookedBlobs::new(h.blobs.clone());
    let keeper = h.open_over(h.config(0), &blobs).await;
    write_many(&keeper, 0..5).await;
    let before = keeper.status().unwrap();
    blobs.disk_full.store(true, Ordering::SeqCst);
    let failed = keeper.put(b"key-99", value(99), None).await;
    assert!(matches!(failed, Err(KeeperError::Blob(_))), "{failed:?}");
    // A failed manifest upload stops a commit before anything is sent or recorded as pending.
    assert!(matches!(keeper.commit().await, Err(KeeperError::Manifest(_))));
    let after = keeper.status().unwrap();
    assert_eq!((after.local_root, after.record_count, after.pending_seq), (before.local_root, 5, None));
    assert!(matches!(keeper.get(b"key-99").await, Err(KeeperError::NotFound)));
    blobs.disk_full.store(false, Ordering::SeqCst);
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
    let mut replays = Vec::new();
    for (round, kill_after) in [37usize, 400, 1500].into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "keeper::sigkill_during_writes_and_commits_loses_no_acknowledged_write",
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
        let keys = SealedKeyFile::open_or_create(dir.path().join("root.key")).unwrap();
        let seal = StoreSeal::derive(&keys, AppId(APP_ID), ShardId(0), TreeKeyMode::Keyed).await.unwrap();
        let store = ironroot_keeper::tree::ShardStore::open(dir.path().join("shard.redb"), seal).unwrap();
        let blobs = LocalBlobStore::open(dir.path().join("blobs")).unwrap();
        // As the keeper's start does: the groups committed after the last durable commit come
        // back from the group log.
        let durable = store.state().unwrap().tree_version;
        let replayed = ironroot_keeper::group_log::replay(&store, &blobs).unwrap();
        let state = store.state().unwrap();
        assert_eq!(state.tree_version, durable + replayed, "round {round}");
        replays.push(replayed);
        let kek = keys.app_kek(&AppId(APP_ID), 0).await.unwrap();
        for key in &acked {
            let (leaf, proof) = store.prove(key.as_bytes(), state.tree_version).unwrap();
            let leaf = leaf.unwrap_or_else(|| panic!("round {round}: acknowledged {key} lost"));
            assert!(verify_read(&state.root, &store.key_hash(key.as_bytes()).0, Some(&leaf), &proof));
            let blob = blobs.get(&cid::Cid::try_from(leaf.cid.as_slice()).unwrap()).await.unwrap();
            let ctx = ironroot_keeper::crypto::RecordContext {
                app: AppId(APP_ID),
                scope: ShardId(0).into(),
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
    // Killed while writing, a round finds groups only the log holds (its store commits them
    // without waiting for the disk).
    assert!(replays.iter().any(|r| *r > 0), "no round replayed a group: {replays:?}");
}

/// The operator's tool: rewrites the store's state row while the keeper is down, keeping the old
/// seal tag (the attacker has no sealing key).
fn forge_state_row(path: &std::path::Path, edit: impl FnOnce(&mut ShardState)) {
    use redb::ReadableTable;
    const STATE: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("state");
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(STATE).unwrap();
        let row = table.get("shard").unwrap().unwrap().value().to_vec();
        let (body, tag) = row.split_at(row.len() - 32);
        let mut state: ShardState = borsh::from_slice(body).unwrap();
        edit(&mut state);
        let forged = [borsh::to_vec(&state).unwrap().as_slice(), tag].concat();
        table.insert("shard", forged.as_slice()).unwrap();
    }
    txn.commit().unwrap();
}

fn files_beside(path: &std::path::Path, infix: &str) -> Vec<std::path::PathBuf> {
    let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
    std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with(&stem) && name.contains(infix) && !name.ends_with(".lock")
        })
        .collect()
}

/// The attack of issue 10: an old store restored and its state row edited to the chain's
/// seq/root. Before sealing, the keeper served the old values as committed and anchored the
/// rollback with its next commit.
#[tokio::test]
async fn an_old_store_edited_to_claim_the_chain_state_is_rebuilt_not_served() {
    let h = harness(1).await;
    let path = h.config(0).store_path;
    let keeper = h.open(0).await;
    write_many(&keeper, 0..30).await;
    keeper.commit().await.unwrap();
    keeper.shutdown().await;
    drop(keeper);
    let old_copy = std::fs::read(&path).unwrap();

    let keeper = h.open(0).await;
    for i in 0..30 {
        keeper.put(format!("key-{i}").as_bytes(), value(i + 1000), None).await.unwrap();
    }
    keeper.commit().await.unwrap();
    let onchain = h.chain_shard(0).await;
    keeper.shutdown().await;
    drop(keeper);

    std::fs::write(&path, &old_copy).unwrap();
    forge_state_row(&path, |s| {
        s.confirmed_seq = onchain.seq;
        s.confirmed_root = onchain.root;
        s.root = onchain.root;
    });
    let keeper = h.open(0).await;
    let Startup::Rebuilt { chain_seq, records, reason, .. } = keeper.startup().clone() else {
        panic!("a forged store was trusted: {:?}", keeper.startup())
    };
    assert_eq!((chain_seq, records), (2, 30));
    assert!(reason.contains("could not be trusted"), "{reason}");
    for i in 0..30 {
        let read = keeper.get(format!("key-{i}").as_bytes()).await.unwrap();
        assert_eq!(read.value, value(i + 1000).to_vec(), "key-{i} rolled back");
        assert!(read.committed && read.root == onchain.root);
    }
    // The untrusted file is kept for inspection.
    assert_eq!(files_beside(&path, "untrusted").len(), 1);
    // And the chain never moved.
    assert_eq!(keeper.commit().await.unwrap(), CommitOutcome::NothingToCommit);
    assert_eq!(h.chain_shard(0).await, onchain);
}

/// A forged prepared update would have the keeper sign any root the operator likes.
#[tokio::test]
async fn a_forged_prepared_update_is_never_signed() {
    let h = harness(1).await;
    let path = h.config(0).store_path;
    let keeper = h.open(0).await;
    write_many(&keeper, 0..10).await;
    keeper.commit().await.unwrap();
    write_many(&keeper, 10..20).await;
    // Prepared and recorded, never sent.
    h.chain.set(Fault::DropBeforeSend);
    let attempt = tokio::time::timeout(Duration::from_secs(1), keeper.commit()).await;
    assert!(attempt.is_err() || attempt.unwrap().is_err());
    keeper.shutdown().await;
    drop(keeper);
    h.chain.set(Fault::None);
    let before = h.chain_shard(0).await;

    forge_state_row(&path, |s| {
        let p = s.pending.as_mut().expect("a prepared update");
        p.root = [0xAB; 32];
    });
    let keeper = h.open(0).await;
    assert!(matches!(keeper.startup(), Startup::Rebuilt { chain_seq: 1, .. }), "{:?}", keeper.startup());
    assert_eq!(keeper.status().unwrap().pending_seq, None);
    assert_eq!(keeper.commit().await.unwrap(), CommitOutcome::NothingToCommit);
    assert_eq!(h.chain_shard(0).await, before, "the chain moved to a root the keeper never computed");
    assert_all_readable(&keeper, 0..10).await;
    // The store that held writes 10..20 (acknowledged, never anchored) is kept aside.
    assert_eq!(files_beside(&path, "untrusted").len(), 1);
}

/// A second process (here: the recovery path `ironroot-keeper recover` uses) on a live store gets
/// STORE_IN_USE and changes nothing: no quarantine, no rebuild, the keeper keeps serving.
#[tokio::test]
async fn a_second_opener_of_a_live_store_changes_nothing() {
    let h = harness(1).await;
    let path = h.config(0).store_path;
    let keeper = h.open(0).await;
    write_many(&keeper, 0..10).await;
    let seal =
        StoreSeal::derive(h.keys.as_ref(), AppId(APP_ID), ShardId(0), TreeKeyMode::Keyed).await.unwrap();
    let second = ironroot_keeper::recovery::open_or_quarantine(&path, seal, Default::default());
    assert!(matches!(second, Err(StoreError::InUse { .. })), "{:?}", second.map(|_| ()));
    assert!(matches!(h.open_with(h.config(0)).await, Err(KeeperError::Store(StoreError::InUse { .. }))));
    assert!(files_beside(&path, "untrusted").is_empty());
    write_many(&keeper, 10..20).await;
    assert_all_readable(&keeper, 0..20).await;
}

/// An oversized value is refused before it is queued; the writes around it commit.
#[tokio::test]
async fn an_oversized_value_fails_alone_in_a_busy_group() {
    let h = harness(1).await;
    let keeper = h.open(0).await;
    let big = Bytes::from(vec![7u8; ironroot_keeper::crypto::MAX_VALUE_LEN + 1]);
    let small = (0..64usize).map(|i| {
        let keeper = keeper.clone();
        async move { keeper.put(format!("key-{i}").as_bytes(), value(i), None).await }
    });
    let oversized = keeper.put(b"big", big, None);
    let (small, oversized) = tokio::join!(futures::future::join_all(small), oversized);
    assert!(matches!(oversized, Err(KeeperError::ValueTooLarge { .. })), "{oversized:?}");
    assert!(small.iter().all(|r| r.is_ok()));
    assert_all_readable(&keeper, 0..64).await;
}

/// Key rotation racing a write of the same key: the rewrap (of the version it read) and the newer
/// put land in one group, rewrap first. The newer write must win; before the fix the rewrap was
/// applied last and silently reverted the key to its older value.
#[tokio::test]
async fn a_rewrap_in_the_same_group_as_a_newer_write_never_overwrites_it() {
    let h = harness(1).await;
    let blobs = HookedBlobs::closed_above(h.blobs.clone(), 30_000, false);
    let keeper = h.open_over(h.config(0), &blobs).await;
    keeper.put(b"rotated", Bytes::from_static(b"old"), None).await.unwrap();
    keeper.rotate_key_epoch().await.unwrap();

    // The writer stalls on a group holding one large value...
    let stall = {
        let keeper = keeper.clone();
        tokio::spawn(async move { keeper.put(b"large", Bytes::from(vec![1u8; 100_000]), None).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ...while the rewrap of "rotated" (version 1) queues, then a newer write of it.
    let rewrap = {
        let keeper = keeper.clone();
        tokio::spawn(async move { keeper.rewrap_old_epochs(|_| {}).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let newer = {
        let keeper = keeper.clone();
        tokio::spawn(async move { keeper.put(b"rotated", Bytes::from_static(b"new"), None).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    blobs.open.send_replace(true);
    stall.await.unwrap().unwrap();
    let acknowledged = newer.await.unwrap().unwrap();
    rewrap.await.unwrap().unwrap();

    let read = keeper.get(b"rotated").await.unwrap();
    assert_eq!(read.value, b"new", "the rewrap overwrote a newer acknowledged write");
    assert_eq!((read.leaf.version, read.leaf.key_epoch), (acknowledged.version, 1));
    keeper.commit().await.unwrap();
    assert_eq!(keeper.get(b"rotated").await.unwrap().value, b"new");
}

/// `chain` durability: acknowledged only once a confirmed on-chain root contains the write, with
/// many writes sharing one update; an old copy of the store restored afterwards loses none of them.
#[tokio::test]
async fn chain_durability_acknowledges_only_anchored_writes_and_survives_a_restored_store() {
    let h = harness(1).await;
    let path = h.config(0).store_path;
    let keeper = h.open(0).await; // batcher interval: an hour; only chain writes wake it
    write_many(&keeper, 0..10).await;
    keeper.commit().await.unwrap();
    keeper.shutdown().await;
    drop(keeper);
    let old_copy = std::fs::read(&path).unwrap();

    let keeper = h.open(0).await;
    let writes = (10..210usize).map(|i| {
        let keeper = keeper.clone();
        async move {
            keeper
                .put_with(format!("key-{i}").as_bytes(), value(i), None, Some(Durability::Chain))
                .await
                .unwrap()
        }
    });
    let receipts = futures::future::join_all(writes).await;
    let onchain = h.chain_shard(0).await;
    for r in &receipts {
        assert_eq!(r.durability, Durability::Chain);
        let seq = r.anchored_seq.expect("anchored before the reply");
        assert!(seq >= 2 && seq <= onchain.seq);
    }
    // Group commit on-chain: 200 writes, far fewer updates.
    assert!(onchain.seq - 1 <= 20, "{} updates for 200 chain writes", onchain.seq - 1);
    // A local write after them is acknowledged unanchored, and says so.
    let local = keeper.put(b"key-local", value(1), None).await.unwrap();
    assert_eq!((local.durability, local.anchored_seq), (Durability::Local, None));
    assert_eq!(keeper.status().unwrap().unanchored_writes, 1);
    keeper.shutdown().await;
    drop(keeper);

    // The operator restores the copy from before the chain writes (its seal is valid: it is this
    // keeper's own older store).
    std::fs::write(&path, &old_copy).unwrap();
    let keeper = h.open(0).await;
    assert!(matches!(keeper.startup(), Startup::Rebuilt { local_seq: 1, .. }), "{:?}", keeper.startup());
    assert_all_readable(&keeper, 0..210).await;
    // The one `local` write was inside the rollback window: gone, as its receipt allowed.
    assert!(matches!(keeper.get(b"key-local").await, Err(KeeperError::NotFound)));
}

/// The rollback window is bounded: with the chain unreachable, writes past the cap (count or
/// age) are refused with ANCHOR_LAGGING instead of acknowledged; anchoring reopens it.
#[tokio::test]
async fn the_unanchored_window_is_bounded_by_count_and_age() {
    let h = harness(1).await;
    let mut cfg = h.config(0);
    cfg.max_unanchored_writes = 10;
    let keeper = h.open_with(cfg.clone()).await.unwrap();
    h.chain.set(Fault::DropBeforeSend);
    for i in 0..10 {
        keeper.put(format!("key-{i}").as_bytes(), value(i), None).await.unwrap();
    }
    let status = keeper.status().unwrap();
    assert_eq!(status.unanchored_writes, 10);
    let refused = keeper.put(b"key-10", value(10), None).await;
    assert!(matches!(refused, Err(KeeperError::AnchorLagging { unanchored: 10, .. })), "{refused:?}");
    assert!(matches!(keeper.get(b"key-10").await, Err(KeeperError::NotFound)));

    // The chain comes back: anchored, the window is empty, writes are accepted again.
    h.chain.set(Fault::None);
    keeper.commit().await.unwrap();
    assert_eq!(keeper.status().unwrap().unanchored_writes, 0);
    keeper.put(b"key-10", value(10), None).await.unwrap();
    keeper.commit().await.unwrap();
    keeper.shutdown().await;
    drop(keeper);

    // Age: one write left unanchored for longer than the cap closes the window too.
    cfg.max_unanchored_age = Duration::from_millis(300);
    let keeper = h.open_with(cfg).await.unwrap();
    h.chain.set(Fault::DropBeforeSend);
    keeper.put(b"key-11", value(11), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let refused = keeper.put(b"key-12", value(12), None).await;
    assert!(matches!(refused, Err(KeeperError::AnchorLagging { unanchored: 1, .. })), "{refused:?}");
    assert!(keeper.status().unwrap().oldest_unanchored_ms >= 300);
    // A `chain` write that cannot be anchored within the window is not acknowledged.
    h.chain.set(Fault::None);
    keeper.commit().await.unwrap();
    h.chain.set(Fault::DropBeforeSend);
    let unanchored = keeper.put_with(b"key-12", value(12), None, Some(Durability::Chain)).await;
    assert!(matches!(unanchored, Err(KeeperError::AnchorLagging { .. })), "{unanchored:?}");
}

/// An update the chain rejects halts the shard's writes with the reason, instead of retrying
/// forever while acknowledging writes that cannot be anchored.
#[tokio::test]
async fn a_rejected_update_halts_writes_with_the_reason() {
    let h = harness(1).await;
    let mut cfg = h.config(0);
    cfg.commit_interval = Duration::from_millis(20);
    let keeper = h.open_with(cfg).await.unwrap();
    write_many(&keeper, 0..5).await;
    keeper.commit().await.unwrap();
    h.chain.set(Fault::Reject);
    let waiting = {
        let keeper = keeper.clone();
        tokio::spawn(async move { keeper.put_with(b"key-5", value(5), None, Some(Durability::Chain)).await })
    };
    let halted = waiting.await.unwrap();
    assert!(matches!(&halted, Err(KeeperError::ShardHalted(r)) if r.contains("not anchored")), "{halted:?}");
    let status = keeper.status().unwrap();
    assert!(
        status
            .halted
            .as_deref()
            .is_some_and(|r| r.contains("custom error 6000") || r.contains("another writer")),
        "{status:?}"
    );
    let refused = keeper.put(b"key-6", value(6), None).await;
    assert!(matches!(refused, Err(KeeperError::ShardHalted(_))), "{refused:?}");
    // Reads of anchored data still work and say so.
    assert!(keeper.get(b"key-1").await.unwrap().committed);
}

/// The shard count (routing) is pinned in the sealed state at first start; a chain view that
/// later reports another count fails the shard closed.
#[tokio::test]
async fn a_changed_shard_count_fails_closed() {
    let h = harness(1).await;
    let mut cfg = h.config(0);
    cfg.shard_count = Some(1);
    let keeper = h.open_with(cfg.clone()).await.unwrap();
    write_many(&keeper, 0..3).await;
    keeper.shutdown().await;
    drop(keeper);
    cfg.shard_count = Some(4);
    match h.open_with(cfg.clone()).await {
        Err(KeeperError::FailedClosed(e)) => assert!(e.reason.contains("pinned to 1"), "{e}"),
        other => panic!("{:?}", other.map(|k| k.startup().clone())),
    }
    cfg.shard_count = Some(1);
    let keeper = h.open_with(cfg).await.unwrap();
    assert_all_readable(&keeper, 0..3).await;
}

/// An RPC endpoint that serves a frozen, older view of one shard account (a stale or lying node);
/// everything else passes through.
struct StaleShardChain {
    inner: BankChain,
    frozen: ShardOnChain,
}

#[async_trait]
impl Chain for StaleShardChain {
    async fn app(&self, app_id: &[u8; 32]) -> Result<Option<app_roots::App>, ChainError> {
        self.inner.app(app_id).await
    }
    async fn shard(&self, _: &[u8; 32], _: ShardId) -> Result<Option<ShardOnChain>, ChainError> {
        Ok(Some(self.frozen.clone()))
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
        self.inner.submit_update(tee, app_id, args).await
    }
}

/// A stale or lying RPC: alone, it reports a seq older than one this keeper saw confirmed (sealed
/// in its store), and the keeper fails closed instead of serving or "resubmitting"; with an
/// honest endpoint beside it, the two disagree and nothing is trusted.
#[tokio::test]
async fn a_stale_rpc_is_refused_alone_and_outvoted_by_disagreement() {
    let h = harness(1).await;
    let keeper = h.open(0).await;
    write_many(&keeper, 0..10).await;
    keeper.commit().await.unwrap();
    let stale = h.chain_shard(0).await;
    write_many(&keeper, 10..20).await;
    keeper.commit().await.unwrap();
    keeper.shutdown().await;
    drop(keeper);
    let liar: Arc<dyn Chain> =
        Arc::new(StaleShardChain { inner: h.dev.chain.clone(), frozen: stale.clone() });
    let open_via = |chain: Arc<dyn Chain>| {
        ShardKeeper::open(h.config(0), h.blobs.clone(), h.keys.clone(), chain, h.signer.clone())
    };

    match open_via(liar.clone()).await {
        Err(KeeperError::FailedClosed(e)) => {
            assert_eq!((e.chain_seq, e.local_seq), (1, 2));
            assert!(e.reason.contains("never confirmed"), "{e}");
        }
        other => panic!("a stale chain view was trusted: {:?}", other.map(|k| k.startup().clone())),
    }

    let honest: Arc<dyn Chain> = h.chain.clone();
    let quorum = Arc::new(QuorumChain::new(vec![honest.clone(), liar], 2).unwrap());
    match open_via(quorum).await {
        Err(KeeperError::Chain(ChainError::NoQuorum(why))) => assert!(why.contains("disagree"), "{why}"),
        other => panic!("disagreeing endpoints were trusted: {:?}", other.map(|k| k.startup().clone())),
    }
    // Two honest endpoints agree; the store was never touched by the refused opens.
    let agreeing = Arc::new(QuorumChain::new(vec![honest.clone(), honest], 2).unwrap());
    let keeper = open_via(agreeing).await.unwrap();
    assert_eq!(keeper.startup(), &Startup::InSync { seq: 2 });
    assert_all_readable(&keeper, 0..20).await;
}

#[tokio::test]
async fn pipelined_groups_give_every_key_gapless_versions() {
    let h = harness(1).await;
    let mut cfg = h.config(0);
    // Many small groups: each is sealed and its blobs stored while the one before commits.
    cfg.max_group = 7;
    let keeper = h.open_with(cfg).await.unwrap();
    let writes = (0..400usize).map(|i| {
        let keeper = keeper.clone();
        async move {
            let key = format!("hot-{}", i % 4);
            let receipt = keeper.put(key.as_bytes(), value(i), None).await.expect("acknowledged");
            (key, receipt.version)
        }
    });
    let receipts = futures::future::join_all(writes).await;
    assert!(keeper.metrics().groups.load(Ordering::Relaxed) >= 400 / 7);
    for k in 0..4 {
        let key = format!("hot-{k}");
        let mut versions: Vec<u64> = receipts.iter().filter(|(r, _)| *r == key).map(|(_, v)| *v).collect();
        versions.sort();
        assert_eq!(versions, (1..=100).collect::<Vec<u64>>(), "{key}");
        let read = keeper.get(key.as_bytes()).await.unwrap();
        assert_eq!(read.leaf.version, 100);
        assert!(verify_read(&read.root, &keeper.key_hash(key.as_bytes()), Some(&read.leaf), &read.proof));
    }
    // A write with an expected root is checked against the committed root, never a pipelined one.
    let root = keeper.put(b"hot-0", value(1), None).await.unwrap().root;
    let (background, checked) =
        tokio::join!(keeper.put(b"other", value(2), None), keeper.put(b"hot-1", value(3), Some(root)));
    background.unwrap();
    match checked {
        Ok(receipt) => assert_eq!(receipt.version, 101),
        Err(KeeperError::RootChanged { .. }) => {} // "other" committed first: the root moved
        Err(e) => panic!("{e:?}"),
    }
    let stale = keeper.put(b"hot-2", value(4), Some(root)).await;
    assert!(matches!(stale, Err(KeeperError::RootChanged { .. })), "{stale:?}");
    assert_eq!(keeper.get(b"hot-2").await.unwrap().leaf.version, 100);
}

#[tokio::test]
async fn the_chain_rotates_a_nearly_full_history_tree_before_updating() {
    use solana_sdk::signature::Signer;
    let trust = ironroot_devkit::bank::dev::DevTrust::new(1, 1);
    let mut bank = trust.start_bank().await.unwrap();
    let app = trust.create_app(&mut bank, APP_ID, 1, (14, 64)).await.unwrap();
    let tee = Keypair::new();
    trust.register(&mut bank, &tee, 1).await.unwrap();
    // The publisher's reserve for one rotation, and a tree at the threshold where anyone may rotate.
    let rent = bank.rent().await;
    let cost = ironroot_sdk::app_roots::creation_cost(&rent, 14, 64, 1).unwrap();
    let fund = solana_sdk::system_instruction::transfer(
        &bank.payer().pubkey(),
        &app.address,
        cost.rotation_lamports(),
    );
    bank.process(&[fund], &[]).await.unwrap();
    let capacity = app_roots::tree_capacity(14);
    bank.overwrite_app(&app.address, |a| a.active_tree_leaves = capacity - app_roots::rotation_threshold(14))
        .await;

    let chain = BankChain::new(Arc::new(tokio::sync::Mutex::new(bank)), app.publisher.pubkey());
    let args = UpdateShardArgs {
        shard_id: 0,
        prev_root: [0; 32],
        new_root: [5; 32],
        new_seq: 1,
        manifest_cid: vec![1, 0x55, 0x12, 0x20, 5],
    };
    chain.submit_update(&tee, &APP_ID, args).await.unwrap();
    let after = chain.app(&APP_ID).await.unwrap().unwrap();
    assert_eq!(after.active_tree_index, 1, "the keeper's chain cranked the rotation");
    assert_ne!(after.active_tree, app.tree);
    assert_eq!(after.active_tree_leaves, 1, "and the update went into the new tree");
    assert_eq!(chain.shard(&APP_ID, ShardId(0)).await.unwrap().unwrap().seq, 1);
    // A keeper serving another publisher's namespace does not see this app at all.
    let elsewhere = BankChain::new(chain.bank().clone(), Pubkey::new_unique());
    assert!(elsewhere.app(&APP_ID).await.unwrap().is_none());
}

/// The tree key mode is the app's for life. A store created in one mode and opened in the other
/// fails the shard closed and is left untouched (no quarantine); without its store, a keeper in the
/// wrong mode cannot rebuild the chain's root from the manifests and fails closed too; in the
/// right mode it rebuilds and serves everything.
#[tokio::test]
async fn switching_the_tree_key_mode_fails_closed() {
    let h = harness(1).await;
    let keeper = h.open(0).await;
    write_many(&keeper, 0..10).await;
    keeper.commit().await.unwrap();
    keeper.shutdown().await;
    drop(keeper);
    let path = h.config(0).store_path;
    let mut public = h.config(0);
    public.tree_key_mode = TreeKeyMode::Public;
    match h.open_with(public.clone()).await {
        Err(KeeperError::FailedClosed(e)) => {
            assert!(e.reason.contains("tree key mode is pinned to keyed"), "{e}")
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert!(files_beside(&path, "untrusted").is_empty(), "no quarantine");
    // The store is as it was: its own mode serves it without a rebuild.
    let keeper = h.open(0).await;
    assert_eq!(keeper.startup(), &Startup::InSync { seq: 1 });
    assert_all_readable(&keeper, 0..10).await;
    keeper.shutdown().await;
    drop(keeper);

    std::fs::remove_file(&path).unwrap();
    match h.open_with(public).await {
        Err(KeeperError::FailedClosed(e)) => assert!(e.reason.contains("tree key mode public"), "{e}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    let keeper = h.open(0).await;
    assert!(matches!(keeper.startup(), Startup::Rebuilt { .. }), "{:?}", keeper.startup());
    assert_all_readable(&keeper, 0..10).await;
}

/// The batcher hands its prunes to the next group commit, which carries one out once its backlog
/// is a sweep's worth. When writes stop below that, the prune does not wait for them: after a
/// quiet interval the batcher carries it out on its own, and the overwritten values' blobs go.
#[tokio::test]
async fn a_prune_waiting_for_a_group_runs_once_writes_stop() {
    let h = harness(1).await;
    let mut cfg = h.config(0);
    cfg.commit_interval = Duration::from_millis(50);
    let keeper = h.open_with(cfg).await.unwrap();
    let cid_of = |leaf: &ironroot_keeper::tree::RecordLeaf| cid::Cid::try_from(leaf.cid.as_slice()).unwrap();
    write_many(&keeper, 0..50).await;
    let first = cid_of(&keeper.get(b"key-7").await.unwrap().leaf);
    write_many(&keeper, 0..50).await;
    let current = cid_of(&keeper.get(b"key-7").await.unwrap().leaf);
    let pruned = async {
        while h.blobs.has(&first).await.unwrap() || keeper.store().prune_backlog() != (0, 0) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), pruned).await.expect("pruned without another write");
    assert!(!keeper.store().prune_pending());
    assert!(h.blobs.has(&current).await.unwrap());
    assert_eq!(h.chain_shard(0).await.root, keeper.status().unwrap().local_root);
    assert_all_readable(&keeper, 0..50).await;
}

/// Blobs are collected: once an update is confirmed, the blobs of record versions that no kept
/// root names (overwritten or deleted at or before the confirmed root) are released to the blob
/// store, which drops them and compacts its segments. Blobs the confirmed root or a newer local
/// root still names stay, and every current record still reads back.
#[tokio::test]
async fn blobs_no_kept_root_names_are_released_after_a_confirmed_commit() {
    let h = harness(1).await;
    let keeper = h.open(0).await;
    let cid_of = |leaf: &ironroot_keeper::tree::RecordLeaf| cid::Cid::try_from(leaf.cid.as_slice()).unwrap();
    for (key, v) in [(&b"a"[..], "a1"), (b"b", "b1"), (b"c", "c1")] {
        keeper.put(key, Bytes::from(v), None).await.unwrap();
    }
    let a1 = cid_of(&keeper.get(b"a").await.unwrap().leaf);
    let b1 = cid_of(&keeper.get(b"b").await.unwrap().leaf);
    let c1 = cid_of(&keeper.get(b"c").await.unwrap().leaf);
    assert!(matches!(keeper.commit().await.unwrap(), CommitOutcome::Committed { .. }));

    // Overwritten and deleted locally, not yet anchored: the confirmed root still names a1 and b1.
    keeper.put(b"a", Bytes::from("a2"), None).await.unwrap();
    let a2 = cid_of(&keeper.get(b"a").await.unwrap().leaf);
    keeper.put(b"a", Bytes::from("a3"), None).await.unwrap();
    let a3 = cid_of(&keeper.get(b"a").await.unwrap().leaf);
    keeper.delete(b"b", None).await.unwrap();
    assert_eq!(keeper.release_dead_blobs().await.unwrap(), 0);
    for cid in [a1, a2, a3, b1, c1] {
        assert!(h.blobs.has(&cid).await.unwrap(), "{cid} is still named by a kept root");
    }

    // Anchored: a1, a2 and b1 are named by no root the keeper serves any more.
    assert!(matches!(keeper.commit().await.unwrap(), CommitOutcome::Committed { .. }));
    for cid in [a1, a2, b1] {
        assert!(!h.blobs.has(&cid).await.unwrap(), "{cid} was released");
    }
    for cid in [a3, c1] {
        assert!(h.blobs.has(&cid).await.unwrap(), "{cid} is current");
    }
    assert_eq!(keeper.store().dead_blobs(16).unwrap(), Vec::<Vec<u8>>::new(), "nothing left to release");
    assert_eq!(keeper.get(b"a").await.unwrap().value, b"a3");
    assert_eq!(keeper.get(b"c").await.unwrap().value, b"c1");
    assert!(matches!(keeper.get(b"b").await, Err(KeeperError::NotFound)));
    assert!(h.blobs.space_usage().unwrap().dead_bytes > 0, "the released blobs count as dead bytes");

    // c overwritten but not anchored: c1 stays (the confirmed root names it) until c2 is
    // anchored; a restart still reads everything.
    keeper.put(b"c", Bytes::from("c2"), None).await.unwrap();
    assert_eq!(keeper.release_dead_blobs().await.unwrap(), 0);
    assert!(h.blobs.has(&c1).await.unwrap(), "c1 is named by the confirmed root");
    assert!(matches!(keeper.commit().await.unwrap(), CommitOutcome::Committed { .. }));
    assert!(!h.blobs.has(&c1).await.unwrap(), "c1 released once c2 is anchored");
    keeper.shutdown().await;
    drop(keeper);
    let keeper = h.open(0).await;
    assert_eq!(keeper.get(b"a").await.unwrap().value, b"a3");
    assert_eq!(keeper.get(b"c").await.unwrap().value, b"c2");
}

/// Bytes queued for a shard are capped: while the writer is stalled (a slow blob store), writes
/// queue up to `max_queued_bytes` and the next one is refused at once with `QueueFull` instead of
/// buffered; once the queue drains, writes are taken again.
#[tokio::test]
async fn queued_bytes_are_capped_per_shard() {
    let h = harness(1).await;
    let blobs = HookedBlobs::closed_above(h.blobs.clone(), 30_000, false);
    let mut cfg = h.config(0);
    cfg.max_queued_bytes = 100_000;
    let keeper = h.open_over(cfg, &blobs).await;
    let large = |byte: u8| Bytes::from(vec![byte; 40_000]);
    let spawn_put = |key: &'static [u8], value: Bytes| {
        let keeper = keeper.clone();
        tokio::spawn(async move { keeper.put(key, value, None).await })
    };
    // The first stalls the writer in its blob write, the second waits in the queue: 80 kB held.
    let stalled = spawn_put(b"first", large(1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let queued = spawn_put(b"second", large(2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    match keeper.put(b"third", large(3), None).await {
        Err(KeeperError::QueueFull { queued, max }) => assert_eq!((queued, max), (80_000 + 11, 100_000)),
        other => panic!("a write past the queue cap was taken: {other:?}"),
    }
    assert_eq!(keeper.status().unwrap().queued_bytes, 80_011, "a refused write is not counted");
    // Small writes still fit under the cap.
    let small = spawn_put(b"small", Bytes::from_static(b"fits"));
    blobs.open.send_replace(true);
    for task in [stalled, queued, small] {
        task.await.unwrap().unwrap();
    }
    // Drained: every share is released, the refused write goes through now, and nothing refused
    // was written.
    // (A request's share is released right after its reply is sent.)
    let mut drained = false;
    for _ in 0..100 {
        if keeper.status().unwrap().queued_bytes == 0 {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(drained, "queued bytes never released: {}", keeper.status().unwrap().queued_bytes);
    assert!(matches!(keeper.get(b"third").await, Err(KeeperError::NotFound)));
    keeper.put(b"third", large(3), None).await.unwrap();
    assert_eq!(keeper.get(b"third").await.unwrap().value, vec![3u8; 40_000]);
    assert_eq!(keeper.get(b"second").await.unwrap().value, vec![2u8; 40_000]);
}

/// Holds the shard store's write lock on a blocking thread (a tree commit waits for it) until the
/// returned sender sends; returns once it is held.
async fn hold_store_write_lock(
    keeper: &Arc<ShardKeeper>,
) -> (tokio::task::JoinHandle<Result<(), StoreError>>, std::sync::mpsc::Sender<()>) {
    let (held, is_held) = tokio::sync::oneshot::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let keeper = keeper.clone();
    let holder = tokio::task::spawn_blocking(move || {
        keeper.store().update_state(|_| {
            held.send(()).unwrap();
            released.recv().unwrap();
        })
    });
    is_held.await.unwrap();
    (holder, release)
}

/// While one group's tree commit is in flight, the next group keeps taking writes until that
/// commit is done, instead of starting with the one write that arrived first. Timing-free: the
/// commit is held back by a write transaction the test keeps open on the store, and the test runs
/// on one thread, so the writer takes the first of the later writes before the others are sent.
#[tokio::test(flavor = "current_thread")]
async fn the_next_group_fills_while_a_commit_is_in_flight() {
    const LATER: usize = 40;
    let h = harness(1).await;
    let blobs = HookedBlobs::new(h.blobs.clone());
    let mut blocks = blobs.stored.subscribe();
    let keeper = h.open_over(h.config(0), &blobs).await;
    assert!(LATER < keeper.config().max_group);
    let groups_before = keeper.metrics().groups.load(Ordering::Relaxed);

    // Hold the store's write lock: the first group's tree commit waits for it.
    let (holder, release) = hold_store_write_lock(&keeper).await;

    // The first group: one write, whose blob is stored; its commit then waits for the lock.
    let first = {
        let keeper = keeper.clone();
        tokio::spawn(async move { keeper.put(b"first", value(0), None).await })
    };
    blocks.wait_for(|n| *n >= 1).await.unwrap();

    // The later writes, sent one at a time; the writer is given the first of them alone.
    let mut later: Vec<_> = (1..=LATER)
        .map(|i| {
            let keeper = keeper.clone();
            Box::pin(async move { keeper.put(format!("later-{i}").as_bytes(), value(i), None).await })
        })
        .collect();
    for (i, write) in later.iter_mut().enumerate() {
        // One poll queues the write (the channel has room) and then waits for its receipt.
        assert!(futures::poll!(write.as_mut()).is_pending());
        if i == 0 {
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
        }
    }
    // Nothing is committed while the lock is held.
    assert_eq!(keeper.metrics().groups.load(Ordering::Relaxed), groups_before);
    release.send(()).unwrap();
    holder.await.unwrap().unwrap();

    let first = first.await.unwrap().unwrap();
    let receipts: Vec<_> =
        futures::future::join_all(later).await.into_iter().map(|r| r.expect("acknowledged")).collect();
    // Every later write is in the one group right after the first.
    for receipt in &receipts {
        assert_eq!(receipt.tree_version, first.tree_version + 1);
    }
    assert_eq!(keeper.metrics().groups.load(Ordering::Relaxed), groups_before + 2);
    assert_eq!(keeper.metrics().grouped_writes.load(Ordering::Relaxed), 1 + LATER as u64);
    assert_all_readable_later(&keeper, LATER).await;
}

async fn assert_all_readable_later(keeper: &ShardKeeper, n: usize) {
    for i in 1..=n {
        let key = format!("later-{i}");
        let read = keeper.get(key.as_bytes()).await.expect("acknowledged write readable");
        assert_eq!(read.value, value(i).to_vec(), "{key}");
    }
}

/// The test's blob store: writes fail while `disk_full` is set (a full disk, an unreachable IPFS
/// node); it counts the blocks it was asked to store and stored; its writes of blocks longer than
/// `gate_above` bytes wait at a gate the test can close (stalling the writer on one group while
/// later requests queue behind it); the next `fail_next` writes to start fail (an `EIO` from the
/// sync) once through it.
struct HookedBlobs {
    inner: Arc<LocalBlobStore>,
    disk_full: std::sync::atomic::AtomicBool,
    gate_above: usize,
    /// Writes started (waiting at the gate or past it).
    entered: tokio::sync::watch::Sender<usize>,
    /// Blocks stored.
    stored: tokio::sync::watch::Sender<usize>,
    open: tokio::sync::watch::Sender<bool>,
    fail_next: std::sync::atomic::AtomicUsize,
}

impl HookedBlobs {
    /// An open gate for every block over `inner`.
    fn new(inner: Arc<LocalBlobStore>) -> Arc<Self> {
        Self::closed_above(inner, 0, true)
    }

    /// A gate (closed unless `open`) for blocks longer than `gate_above` bytes over `inner`.
    fn closed_above(inner: Arc<LocalBlobStore>, gate_above: usize, open: bool) -> Arc<Self> {
        Arc::new(HookedBlobs {
            inner,
            disk_full: false.into(),
            gate_above,
            entered: tokio::sync::watch::channel(0).0,
            stored: tokio::sync::watch::channel(0).0,
            open: tokio::sync::watch::channel(open).0,
            fail_next: 0.into(),
        })
    }
}

#[async_trait]
impl ironroot_keeper::blobs::BlockStore for HookedBlobs {
    async fn put_block(&self, cid: &cid::Cid, block: Bytes) -> Result<(), ironroot_keeper::blobs::BlobError> {
        if self.disk_full.load(Ordering::SeqCst) {
            return Err(ironroot_keeper::blobs::BlobError::Io {
                op: "write",
                path: "injected".into(),
                source: std::io::Error::from_raw_os_error(28), // ENOSPC
            });
        }
        let fail =
            self.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        self.entered.send_modify(|n| *n += 1);
        if block.len() > self.gate_above {
            self.open.subscribe().wait_for(|open| *open).await.expect("gate kept");
        }
        if fail {
            return Err(ironroot_keeper::blobs::BlobError::Io {
                op: "fdatasync",
                path: "injected".into(),
                source: std::io::Error::from_raw_os_error(5), // EIO
            });
        }
        self.inner.put_block(cid, block).await?;
        self.stored.send_modify(|n| *n += 1);
        Ok(())
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

/// A group whose blobs fail to store fails its own writes with the blob error, and the group
/// sealed on top of it meanwhile (its versions counted after the failed group's) fails with it;
/// nothing of either is in the store, and the next write of a key gets the next version of what is
/// stored. Timing-free: the first group's blob write waits at a gate, and the test runs on one
/// thread, so the writer has the full second group before the gate opens.
#[tokio::test(flavor = "current_thread")]
async fn a_failed_blob_sync_fails_its_group_and_the_group_sealed_on_top_of_it() {
    let h = harness(1).await;
    let blobs = HookedBlobs::new(h.blobs.clone());
    let mut started = blobs.entered.subscribe();
    let mut cfg = h.config(0);
    // The second group is full (so sealed) while the first still commits.
    cfg.max_group = 2;
    let keeper = h.open_over(cfg, &blobs).await;
    keeper.put(b"k", value(0), None).await.unwrap();
    let before = keeper.status().unwrap();
    let groups_before = keeper.metrics().groups.load(Ordering::Relaxed);

    blobs.open.send_replace(false);
    blobs.fail_next.store(1, Ordering::SeqCst);
    let first = {
        let keeper = keeper.clone();
        tokio::spawn(async move { keeper.put(b"k", value(1), None).await })
    };
    started.wait_for(|n| *n > 1).await.unwrap();
    let mut second: Vec<_> = [(b"k".as_slice(), 2), (b"other".as_slice(), 3)]
        .into_iter()
        .map(|(key, i)| {
            let keeper = keeper.clone();
            Box::pin(async move { keeper.put(key, value(i), None).await })
        })
        .collect();
    for write in second.iter_mut() {
        assert!(futures::poll!(write.as_mut()).is_pending());
    }
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert_eq!(keeper.metrics().groups.load(Ordering::Relaxed), groups_before);
    blobs.open.send_replace(true);

    let failed = first.await.unwrap();
    assert!(matches!(failed, Err(KeeperError::Blob(_))), "{failed:?}");
    for write in second {
        match write.await {
            Err(KeeperError::Store(StoreError::Io(e))) => {
                assert!(e.to_string().contains("the group before it failed"), "{e}")
            }
            other => panic!("want the failed group's error, got {other:?}"),
        }
    }
    assert_eq!(keeper.metrics().groups.load(Ordering::Relaxed), groups_before + 2);
    let after = keeper.status().unwrap();
    assert_eq!(
        (after.local_root, after.tree_version, after.record_count),
        (before.local_root, before.tree_version, 1)
    );
    assert!(matches!(keeper.get(b"other").await, Err(KeeperError::NotFound)));
    assert_eq!(&keeper.get(b"k").await.unwrap().value[..], &value(0)[..]);

    // Nothing is broken: the next writes commit, with the versions after what is stored.
    let again = keeper.put(b"k", value(4), None).await.unwrap();
    assert_eq!((again.version, again.tree_version), (2, before.tree_version + 1));
    assert_eq!(keeper.put(b"other", value(5), None).await.unwrap().version, 1);
    assert_eq!(&keeper.get(b"k").await.unwrap().value[..], &value(4)[..]);
    keeper.shutdown().await;
}

/// The shards of a keeper share the local blob store's syncs: one `fdatasync` covers the groups
/// of every shard appended before it. When it fails, it fails exactly those groups, in each shard
/// (their trees unchanged), and not the writes made durable before it; the next writes commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_shared_blob_sync_fails_the_groups_of_every_shard_it_covered() {
    let h = harness(2).await;
    let shards = [h.open(0).await, h.open(1).await];
    for (shard, keeper) in shards.iter().enumerate() {
        keeper.put(b"kept", value(shard), None).await.unwrap();
    }
    let before: Vec<_> = shards.iter().map(|k| k.status().unwrap()).collect();
    let syncs_before = h.blobs.sync_counts();

    // The next sync waits until both shards' groups are appended, then fails with EIO.
    h.blobs.hold_next_sync(2, true);
    let writes: Vec<_> = shards
        .iter()
        .enumerate()
        .map(|(shard, keeper)| {
            let keeper = keeper.clone();
            tokio::spawn(async move { keeper.put(b"lost", value(10 + shard), None).await })
        })
        .collect();
    for write in writes {
        match write.await.unwrap() {
            Err(KeeperError::Blob(BlobError::Io { op: "fdatasync", source, .. })) => {
                assert_eq!(source.raw_os_error(), Some(libc::EIO), "{source}");
            }
            other => panic!("every group the failed sync covered fails, got {other:?}"),
        }
    }
    let syncs = h.blobs.sync_counts();
    assert_eq!((syncs.syncs - syncs_before.syncs, syncs.groups - syncs_before.groups), (1, 0), "{syncs:?}");
    for (shard, keeper) in shards.iter().enumerate() {
        let after = keeper.status().unwrap();
        assert_eq!(
            (after.local_root, after.tree_version),
            (before[shard].local_root, before[shard].tree_version)
        );
        assert!(matches!(keeper.get(b"lost").await, Err(KeeperError::NotFound)));
        assert_eq!(&keeper.get(b"kept").await.unwrap().value[..], &value(shard)[..]);
    }

    // The store is not broken: each shard's next write commits and reads back.
    for (shard, keeper) in shards.iter().enumerate() {
        let receipt = keeper.put(b"lost", value(20 + shard), None).await.unwrap();
        assert_eq!((receipt.version, receipt.tree_version), (1, before[shard].tree_version + 1));
        assert_eq!(&keeper.get(b"lost").await.unwrap().value[..], &value(20 + shard)[..]);
    }
    for keeper in shards {
        keeper.shutdown().await;
    }
}

/// After a group commit, the next group waits (up to `group_linger`) for the writers that commit
/// answered: a writer whose write was answered and who writes again at once shares the next group
/// with the write that queued meanwhile, instead of the two paying a commit each. Timing-free: the
/// first commit is held back by a write transaction the test keeps open, the linger is far longer
/// than the test, and the test runs on one thread.
#[tokio::test(flavor = "current_thread")]
async fn the_next_group_waits_for_the_writers_the_last_commit_answered() {
    let h = harness(1).await;
    let blobs = HookedBlobs::new(h.blobs.clone());
    let mut blocks = blobs.stored.subscribe();
    let mut cfg = h.config(0);
    cfg.group_linger = Duration::from_secs(600);
    let keeper = h.open_over(cfg, &blobs).await;

    let (holder, release) = hold_store_write_lock(&keeper).await;
    // Writer A's first write: its blob is stored, its tree commit waits for the lock.
    let a1 = {
        let keeper = keeper.clone();
        tokio::spawn(async move { keeper.put(b"a", value(1), None).await })
    };
    blocks.wait_for(|n| *n >= 1).await.unwrap();
    // Writer B's write queues while that commit is held.
    let b = {
        let keeper = keeper.clone();
        tokio::spawn(async move { keeper.put(b"b", value(2), None).await })
    };
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    release.send(()).unwrap();
    holder.await.unwrap().unwrap();
    let a1 = a1.await.unwrap().unwrap();
    // A writes again once answered: B's write waited for it.
    let a2 = keeper.put(b"a", value(3), None).await.unwrap();
    let b = b.await.unwrap().unwrap();
    assert_eq!((a2.tree_version, a2.version), (a1.tree_version + 1, 2));
    assert_eq!(b.tree_version, a2.tree_version);
    assert_eq!(&keeper.get(b"a").await.unwrap().value[..], &value(3)[..]);
    assert_eq!(&keeper.get(b"b").await.unwrap().value[..], &value(2)[..]);
    keeper.shutdown().await;
}
