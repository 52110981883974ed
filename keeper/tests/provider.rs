//! The keeper as a provider, on the in-process bank with the real programs (its clock can be
//! moved past deadlines): the watcher answers challenges and retrieval requests by itself,
//! reports corruption and recovers, and a keeper whose data the operator destroyed misses its
//! challenge and is slashed. Data loss is caused for real: the blob segment files are truncated
//! and the shard stores deleted under the running keeper.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ironroot_devkit::stake::{token_amount, StakeSetup};
use ironroot_devkit::{BankChain, Harness, HarnessOptions};
use ironroot_keeper::app::{AppKeeper, AppServices, AppSettings};
use ironroot_keeper::backup;
use ironroot_keeper::blobs::{BlobStore, Cid, LocalBlobStore};
use ironroot_keeper::chain::Chain;
use ironroot_keeper::keys::ShardId;
use ironroot_keeper::provider::{ProviderSettings, ProviderWatcher};
use ironroot_keeper::tree::TreeKeyMode;
use ironroot_sdk::storage_stake::decode_stake;
use solana_sdk::native_token::LAMPORTS_PER_SOL;
use solana_sdk::signature::Signer;
use storage_stake::{ChallengeKind, ProviderStake, StakeStatus, TermsParams};

const APP_ID: [u8; 32] = [0x61; 32];
const STAKE: u64 = 5_000;

pub fn terms() -> TermsParams {
    TermsParams {
        min_stake: 1_000,
        answer_window_secs: 60,
        recovery_window_secs: 600,
        retrieval_window_secs: 60,
        unstake_cooldown_secs: 0,
        slash_to_publisher_bps: 10_000,
        corruption_refund_bps: 0,
        challenge_bond_lamports: 0,
        bond_to_provider_on_answer: true,
        challenge_interval_secs: 0,
        payment_per_epoch: 0,
        epoch_secs: 60,
        grace_secs: 0,
    }
}

struct World {
    dev: Harness,
    keeper: Arc<AppKeeper>,
    blobs: Arc<LocalBlobStore>,
    setup: StakeSetup,
    watcher: Arc<ProviderWatcher>,
}

impl World {
    async fn start() -> World {
        let dev = Harness::start(HarnessOptions::new(APP_ID, 2)).await.unwrap();
        let chain: Arc<dyn Chain> = Arc::new(dev.chain.clone());
        let blobs = Arc::new(LocalBlobStore::open(dev.data_dir().join("blobs")).unwrap());
        let settings = AppSettings {
            commit_every_writes: u64::MAX,
            commit_interval: Duration::from_secs(3600),
            max_unanchored_age: Duration::from_secs(3600),
            ..AppSettings::default()
        };
        let services =
            AppServices { blobs: blobs.clone(), keys: dev.key_source(), chain, signer: dev.signer.clone() };
        let keeper = AppKeeper::open(dev.app_id, None, dev.data_dir(), settings, services).await.unwrap();
        for i in 0..40 {
            let key = format!("provider-{i}");
            let shard = keeper.shard_for(key.as_bytes()).await.unwrap();
            shard.put(key.as_bytes(), Bytes::from(format!("value {i}")), None).await.unwrap();
        }
        for id in 0..2 {
            keeper.shard(ShardId(id)).await.unwrap().commit().await.unwrap();
        }

        // The publisher's terms, the provider's stake (real SPL token transfers), the TEE key bound.
        let setup = StakeSetup::new(dev.app.address, dev.app.publisher.pubkey());
        let publisher = dev.app.publisher.insecure_clone();
        {
            let mut bank = dev.chain.bank().lock().await;
            let rent = bank.rent().await;
            let payer = bank.payer().pubkey();
            let fund =
                solana_sdk::system_instruction::transfer(&payer, &setup.provider.pubkey(), LAMPORTS_PER_SOL);
            bank.process(&[fund], &[]).await.unwrap();
            bank.process(&setup.token_instructions(&payer, &rent, 10 * STAKE), &setup.token_signers())
                .await
                .unwrap();
            bank.process(&[setup.terms_instruction(terms())], &[&publisher]).await.unwrap();
            bank.process(&setup.stake_instructions(STAKE), &[&setup.provider]).await.unwrap();
            let bind = ironroot_sdk::storage_stake::bind_tee(
                &setup.provider.pubkey(),
                &dev.signer.pubkey(),
                &dev.app.address,
            );
            bank.process(&[bind], &[&setup.provider, dev.signer.as_ref()]).await.unwrap();
        }
        let settings = ProviderSettings {
            provider: setup.provider.pubkey(),
            app: dev.app.address,
            poll_interval: Duration::from_millis(10),
            recovery_retry: Duration::ZERO,
        };
        let watcher =
            ProviderWatcher::new(settings, keeper.clone(), Arc::new(dev.chain.clone()), dev.signer.clone())
                .await;
        World { dev, keeper, blobs, setup, watcher }
    }

    fn chain(&self) -> &BankChain {
        &self.dev.chain
    }

    async fn stake(&self) -> ProviderStake {
        let address = self.setup.stake_address();
        let account = self.chain().bank().lock().await.account(&address).await.unwrap();
        decode_stake(&address, &account).unwrap()
    }

    async fn tokens(&self, account: &solana_sdk::pubkey::Pubkey) -> u64 {
        let data = self.chain().bank().lock().await.account(account).await.unwrap().data;
        token_amount(&data).unwrap()
    }

    async fn publisher_sends(&self, ix: solana_sdk::instruction::Instruction) {
        let publisher = self.dev.app.publisher.insecure_clone();
        self.chain().bank().lock().await.process(&[ix], &[&publisher]).await.unwrap();
    }

    async fn open_challenge(&self) {
        self.publisher_sends(self.setup.open_challenge_instruction(2)).await;
    }

    fn store_dir(&self) -> PathBuf {
        self.dev.data_dir().join(hex::encode(APP_ID))
    }
}

/// The operator truncates every blob segment file to nothing (returns the old contents).
fn truncate_segments(blobs_dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut saved = Vec::new();
    for entry in std::fs::read_dir(blobs_dir.join("segments")).unwrap() {
        let path = entry.unwrap().path();
        saved.push((path.clone(), std::fs::read(&path).unwrap()));
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
    }
    assert!(saved.iter().any(|(_, bytes)| !bytes.is_empty()), "no blob data to destroy");
    saved
}

/// Writes the saved contents back into the same files (the running store's handles see them).
fn restore_segments(saved: &[(PathBuf, Vec<u8>)]) {
    for (path, bytes) in saved {
        std::fs::write(path, bytes).unwrap();
    }
}

/// The operator deletes the shard stores (database and lock files).
fn delete_stores(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("shard-") && path.is_file() {
            std::fs::remove_file(path).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keeper_answers_challenges_and_retrievals_by_itself() {
    let w = World::start().await;
    let mut shards_hit = std::collections::BTreeSet::new();
    for round in 1..=4u64 {
        w.open_challenge().await;
        let challenge = w.stake().await.challenge.expect("challenge open");
        shards_hit.insert(challenge.shard_id);
        w.watcher.poll_once().await.unwrap();
        let stake = w.stake().await;
        assert_eq!(stake.challenge, None, "round {round}: answered on-chain");
        assert_eq!((stake.status, stake.amount), (StakeStatus::Active, STAKE));
        let status = w.watcher.status();
        assert_eq!(status.answers_total, round);
        let answer = status.answers.last().unwrap();
        assert_eq!(
            (answer.shard, answer.kind.as_str(), answer.attempts),
            (ShardId(challenge.shard_id), "publisher", 1)
        );
        assert!(answer.margin_secs > 0 && answer.margin_secs <= 60, "{answer:?}");
        assert!(answer.tx_bytes <= 1232, "{answer:?}");
    }
    assert_eq!(w.watcher.status().answer_failures_total, 0);

    // Retrieval: an encrypted export of shard 1's committed state, published, its CID on-chain.
    // Writes not anchored yet are committed first: the export holds what the chain holds.
    let before = w.chain().shard(&APP_ID, ShardId(1)).await.unwrap().unwrap();
    let shard1 = w.keeper.shard(ShardId(1)).await.unwrap();
    for i in 0..200 {
        let key = format!("late-{i}");
        if ironroot_keeper::app::shard_of(key.as_bytes(), 2) == ShardId(1) {
            shard1.put(key.as_bytes(), Bytes::from("late"), None).await.unwrap();
        }
    }
    w.publisher_sends(w.setup.request_retrieval_instruction(1)).await;
    assert!(w.stake().await.retrieval.is_some());
    w.watcher.poll_once().await.unwrap();
    assert_eq!(w.stake().await.retrieval, None, "answered on-chain");
    let onchain = w.chain().shard(&APP_ID, ShardId(1)).await.unwrap().unwrap();
    assert_eq!(onchain.seq, before.seq + 1, "the pending writes were anchored before the export");
    let status = w.watcher.status();
    let retrieval = status.retrievals.last().unwrap();
    assert_eq!(
        (retrieval.shard, retrieval.seq, status.retrievals_answered_total),
        (ShardId(1), onchain.seq, 1)
    );

    // The publisher fetches the export by its CID and restores it elsewhere: it must reproduce
    // the on-chain root of shard 1.
    let cid: Cid = retrieval.cid.parse().unwrap();
    let export = w.blobs.get(&cid).await.unwrap();
    assert_eq!(export.len(), retrieval.export_bytes);
    let elsewhere = tempfile::tempdir().unwrap();
    let restored_blobs = LocalBlobStore::open(elsewhere.path().join("blobs")).unwrap();
    let summaries = backup::import(
        w.dev.app_id,
        TreeKeyMode::Keyed,
        &export[..],
        &restored_blobs,
        w.dev.keys.as_ref(),
        w.chain(),
        |id| elsewhere.path().join(format!("shard-{id}.redb")),
    )
    .await
    .unwrap();
    assert_eq!(summaries.len(), 1);
    assert_eq!(
        (summaries[0].shard, summaries[0].seq, summaries[0].root),
        (ShardId(1), onchain.seq, onchain.root)
    );
    assert!(shards_hit.iter().all(|id| *id < 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corruption_is_reported_and_recovered_and_destroyed_data_is_slashed() {
    let w = World::start().await;
    let blobs_dir = w.dev.data_dir().join("blobs");

    // Corruption: the blobs are gone and the stores lost; a restart (reopen) cannot rebuild.
    let saved = truncate_segments(&blobs_dir);
    delete_stores(&w.store_dir());
    for id in 0..2 {
        w.keeper.reopen(ShardId(id)).await.unwrap();
        assert!(w.keeper.shard(ShardId(id)).await.is_err(), "shard {id} fails closed");
    }
    w.watcher.poll_once().await.unwrap();
    let reported = w.stake().await.challenge.expect("corruption reported on-chain");
    assert_eq!(reported.kind, ChallengeKind::Corruption);
    let status = w.watcher.status();
    assert_eq!(
        (status.corruption_reports_total, status.recovering_shards.clone()),
        (1, vec![ShardId(0), ShardId(1)])
    );
    // Still broken: the keeper keeps trying and does not answer for data it does not hold.
    w.watcher.poll_once().await.unwrap();
    assert_eq!(w.stake().await.challenge, Some(reported));
    assert_eq!(w.watcher.status().corruption_reports_total, 1, "one report per corruption");

    // The operator restores the blobs: the keeper rebuilds every shard and answers.
    restore_segments(&saved);
    w.watcher.poll_once().await.unwrap();
    let stake = w.stake().await;
    assert_eq!((stake.challenge, stake.status, stake.amount), (None, StakeStatus::Active, STAKE));
    let status = w.watcher.status();
    assert!(status.recovering_shards.is_empty());
    assert_eq!(status.answers.last().unwrap().kind, "corruption");
    for id in 0..2 {
        w.keeper.shard(ShardId(id)).await.expect("serving again");
    }

    // Destruction under the running keeper: the next challenge cannot be answered.
    truncate_segments(&blobs_dir);
    delete_stores(&w.store_dir());
    w.open_challenge().await;
    let challenge = w.stake().await.challenge.unwrap();
    assert_eq!(challenge.kind, ChallengeKind::Publisher);
    assert!(w.watcher.poll_once().await.is_err(), "the answer fails");
    w.watcher.poll_once().await.unwrap_err();
    assert_eq!(w.stake().await.challenge, Some(challenge), "still open, unanswered");
    assert!(w.watcher.status().answer_failures_total >= 2);

    // Past the deadline the watcher counts it missed; anyone may slash.
    w.chain().bank().lock().await.advance_clock(61).await;
    w.watcher.poll_once().await.unwrap();
    assert_eq!(w.watcher.status().challenges_missed_total, 1);
    let publisher_before = w.tokens(&w.setup.publisher_token.pubkey()).await;
    assert_eq!(w.tokens(&w.setup.vault()).await, STAKE);
    let slash = w.setup.slash_instruction();
    w.chain().bank().lock().await.process(&[slash], &[]).await.unwrap();
    assert_eq!(w.tokens(&w.setup.publisher_token.pubkey()).await, publisher_before + STAKE);
    assert_eq!(w.tokens(&w.setup.vault()).await, 0);
    let stake = w.stake().await;
    assert_eq!((stake.status, stake.amount, stake.challenge), (StakeStatus::Slashed, 0, None));
    w.watcher.poll_once().await.unwrap();
    assert_eq!(w.watcher.status().stake_status.as_deref(), Some("slashed"));
}

/// Deletes are tombstone leaves (no blob): a challenge that lands on one is answered too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_on_a_deleted_record_is_answered() {
    let w = World::start().await;
    for i in 0..40 {
        let key = format!("provider-{i}");
        w.keeper.shard_for(key.as_bytes()).await.unwrap().delete(key.as_bytes(), None).await.unwrap();
    }
    for id in 0..2 {
        w.keeper.shard(ShardId(id)).await.unwrap().commit().await.unwrap();
    }
    // Every leaf is a tombstone now.
    w.open_challenge().await;
    w.watcher.poll_once().await.unwrap();
    assert_eq!(w.stake().await.challenge, None, "answered on-chain");
    assert_eq!(w.watcher.status().answers_total, 1);
}
