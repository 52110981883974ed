//! The keeper as a storage provider: a watcher that finds the open challenge and retrieval
//! request of this provider's stake and answers them from inside the TEE, with no one watching.
//!
//! Each poll (every `poll_interval`):
//! * reads the chain clock and this provider's stake ([`StakeChain::provider_stakes`]);
//! * a shard that failed closed (at start-up, or when an answer found its data gone) is reopened
//!   — rebuilt from the chain and the manifests — at most every `recovery_retry`;
//! * an open challenge is answered: the target leaf walked in the shard's confirmed tree, its
//!   blob fetched and hash-checked, the possession tag computed here, the proof checked against
//!   the live on-chain root with the program's own rule, then `answer_challenge` signed by the
//!   TEE key. A failed attempt is retried on the next poll until the deadline;
//! * with no challenge open and a shard still failed closed, the keeper reports the corruption
//!   (`report_corruption`: a challenge on itself due by the recovery deadline) and keeps
//!   recovering; it answers that challenge only once every served shard serves again, which
//!   restores good standing;
//! * an open retrieval request is answered with the CID of an encrypted export of the shard's
//!   committed state published to the blob store.
//!
//! Every answer is recorded (latency from first sight, slots from the challenge's source slot,
//! margin to the deadline) for `/v1/status`, `/metrics` and the logs.
pub mod answer;
pub mod chain;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ironroot_sdk::pda;
use ironroot_sdk::storage_stake as ss;
use serde::{Deserialize, Serialize};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use storage_stake::{Challenge, ChallengeKind, Retrieval, StakeStatus};
use utoipa::ToSchema;

use crate::app::AppKeeper;
use crate::chain::ChainError;
use crate::keys::ShardId;
pub use answer::AnswerError;
pub use chain::{ChainClock, StakeChain};

/// Answers and retrievals kept for the status page (most recent last).
const HISTORY: usize = 32;

/// What the provider role needs to know.
#[derive(Clone, Debug)]
pub struct ProviderSettings {
    /// The provider's wallet: its stake is `[stake, app, provider]`.
    pub provider: Pubkey,
    /// The app's address.
    pub app: Pubkey,
    pub poll_interval: Duration,
    /// Least time between two attempts to reopen a failed shard.
    pub recovery_retry: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Answer(#[from] AnswerError),
    #[error("shard {shard} cannot answer: {reason}")]
    ShardUnavailable { shard: ShardId, reason: String },
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct OpenChallengeJson {
    /// `publisher` or `corruption` (reported by this keeper).
    pub kind: String,
    pub shard: ShardId,
    pub source_slot: u64,
    pub opened_at: i64,
    pub deadline: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct OpenRetrievalJson {
    pub shard: ShardId,
    pub requested_seq: u64,
    pub deadline: i64,
}

/// One challenge answered on-chain.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct AnswerJson {
    pub kind: String,
    pub shard: ShardId,
    /// The shard seq the proof was against (the live root).
    pub seq: u64,
    pub signature: String,
    pub tx_bytes: usize,
    /// From the first poll that saw the challenge to the confirmed answer.
    pub latency_ms: u64,
    /// Slots from the challenge's source slot to the slot seen right after confirmation.
    pub slots_taken: u64,
    /// Seconds left to the deadline by the chain clock right after confirmation.
    pub margin_secs: i64,
    pub attempts: u32,
}

/// One retrieval request answered on-chain.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct RetrievalJson {
    pub shard: ShardId,
    pub seq: u64,
    /// CID of the encrypted export in the blob store.
    pub cid: String,
    pub export_bytes: usize,
    pub signature: String,
    pub latency_ms: u64,
    pub margin_secs: i64,
}

/// The provider side of `/v1/status`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ProviderStatus {
    pub provider: String,
    pub stake: String,
    /// Tokens in the stake vault (absent until the stake account is found).
    pub stake_amount: Option<u64>,
    /// `active`, `unstaking`, `slashed`, or `missing` (no stake account).
    pub stake_status: Option<String>,
    /// Whether this keeper's TEE key is bound to the stake (it can answer only then).
    pub tee_bound: bool,
    pub open_challenge: Option<OpenChallengeJson>,
    pub open_retrieval: Option<OpenRetrievalJson>,
    pub answers: Vec<AnswerJson>,
    pub retrievals: Vec<RetrievalJson>,
    pub answers_total: u64,
    pub answer_failures_total: u64,
    pub challenges_missed_total: u64,
    pub corruption_reports_total: u64,
    pub retrievals_answered_total: u64,
    /// Served shards failed closed that the keeper keeps trying to rebuild.
    pub recovering_shards: Vec<ShardId>,
    pub last_error: Option<String>,
    pub polls_total: u64,
    pub last_poll_slot: Option<u64>,
}

fn kind_name(kind: ChallengeKind) -> String {
    match kind {
        ChallengeKind::Publisher => "publisher",
        ChallengeKind::Corruption => "corruption",
    }
    .into()
}

fn status_name(status: StakeStatus) -> String {
    match status {
        StakeStatus::Active => "active",
        StakeStatus::Unstaking => "unstaking",
        StakeStatus::Slashed => "slashed",
    }
    .into()
}

/// What the watcher remembers between polls.
#[derive(Default)]
struct Progress {
    /// Challenge nonce → (first seen, attempts).
    challenges: HashMap<[u8; 32], (Instant, u32)>,
    missed: HashSet<[u8; 32]>,
    /// Retrieval (requested at, shard) → first seen.
    retrievals: HashMap<(i64, ShardId), Instant>,
    last_recovery: Option<Instant>,
}

pub struct ProviderWatcher {
    settings: ProviderSettings,
    stake: Pubkey,
    keeper: Arc<AppKeeper>,
    chain: Arc<dyn StakeChain>,
    tee: Arc<Keypair>,
    /// The shards this keeper serves (from its slots when the watcher starts).
    served: Vec<ShardId>,
    status: std::sync::Mutex<ProviderStatus>,
    progress: tokio::sync::Mutex<Progress>,
}

impl ProviderWatcher {
    pub async fn new(
        settings: ProviderSettings,
        keeper: Arc<AppKeeper>,
        chain: Arc<dyn StakeChain>,
        tee: Arc<Keypair>,
    ) -> Arc<Self> {
        let stake = pda::provider_stake(&settings.app, &settings.provider);
        let served = keeper.slots().await.into_iter().map(|(id, _)| id).collect();
        let status = ProviderStatus {
            provider: settings.provider.to_string(),
            stake: stake.to_string(),
            ..ProviderStatus::default()
        };
        Arc::new(ProviderWatcher {
            settings,
            stake,
            keeper,
            chain,
            tee,
            served,
            status: std::sync::Mutex::new(status),
            progress: tokio::sync::Mutex::new(Progress::default()),
        })
    }

    pub fn stake_address(&self) -> Pubkey {
        self.stake
    }

    pub fn status(&self) -> ProviderStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut ProviderStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Polls until the task is aborted.
    pub async fn run(self: Arc<Self>) {
        tracing::info!(provider = %self.settings.provider, stake = %self.stake, "provider watcher started");
        loop {
            if let Err(e) = self.poll_once().await {
                tracing::warn!(error = %e, "provider poll failed");
                self.update(|s| s.last_error = Some(e.to_string()));
            }
            tokio::time::sleep(self.settings.poll_interval).await;
        }
    }

    /// One round: recover, answer, report, as the module docs describe.
    pub async fn poll_once(&self) -> Result<(), ProviderError> {
        let clock = self.chain.clock().await?;
        let stake = self
            .chain
            .provider_stakes(&self.settings.app, &self.settings.provider)
            .await?
            .into_iter()
            .find(|(address, _)| *address == self.stake)
            .map(|(_, stake)| stake);
        let tee = self.tee.pubkey();
        self.update(|s| {
            s.polls_total += 1;
            s.last_poll_slot = Some(clock.slot);
            s.stake_amount = stake.as_ref().map(|st| st.amount);
            s.stake_status = Some(stake.as_ref().map_or("missing".into(), |st| status_name(st.status)));
            s.tee_bound = stake.as_ref().is_some_and(|st| st.tee_keys.contains(&tee));
            s.open_challenge = stake.as_ref().and_then(|st| st.challenge).map(|c| OpenChallengeJson {
                kind: kind_name(c.kind),
                shard: ShardId(c.shard_id),
                source_slot: c.source_slot,
                opened_at: c.opened_at,
                deadline: c.deadline,
            });
            s.open_retrieval = stake.as_ref().and_then(|st| st.retrieval).map(|r| OpenRetrievalJson {
                shard: ShardId(r.shard_id),
                requested_seq: r.requested_seq,
                deadline: r.deadline,
            });
        });
        let Some(stake) = stake else { return Ok(()) };
        if stake.status == StakeStatus::Slashed || !stake.tee_keys.contains(&tee) {
            return Ok(());
        }
        let mut progress = self.progress.lock().await;
        let mut failed = self.failed_shards().await;
        if !failed.is_empty() {
            self.recover(&failed, &mut progress).await;
            failed = self.failed_shards().await;
        }
        self.update(|s| s.recovering_shards = failed.clone());

        let mut result = Ok(());
        match stake.challenge {
            Some(challenge) if clock.unix_timestamp > challenge.deadline => {
                self.note_missed(&challenge, &mut progress)
            }
            // Good standing comes back only with every served shard serving again.
            Some(challenge) if challenge.kind == ChallengeKind::Corruption && !failed.is_empty() => {
                tracing::warn!(
                    ?failed,
                    deadline = challenge.deadline,
                    "recovering before the corruption deadline"
                );
            }
            Some(challenge) => result = self.answer(&challenge, &mut progress).await,
            None if !failed.is_empty() => result = self.report_corruption(&failed).await,
            None => {}
        }
        if let Some(retrieval) = stake.retrieval.filter(|r| clock.unix_timestamp <= r.deadline) {
            let retrieved = self.answer_retrieval(&retrieval, &mut progress).await;
            result = result.and(retrieved);
        }
        result
    }

    /// Counts an overdue challenge missed, once.
    fn note_missed(&self, challenge: &Challenge, progress: &mut Progress) {
        if progress.missed.insert(challenge.nonce) {
            tracing::error!(
                shard = challenge.shard_id,
                deadline = challenge.deadline,
                "challenge deadline passed unanswered"
            );
            self.update(|s| s.challenges_missed_total += 1);
        }
    }

    /// Served shards that are failed closed (or gone after a failed reopen).
    async fn failed_shards(&self) -> Vec<ShardId> {
        let serving: HashSet<ShardId> =
            self.keeper.slots().await.into_iter().filter(|(_, s)| s.is_ok()).map(|(id, _)| id).collect();
        self.served.iter().copied().filter(|id| !serving.contains(id)).collect()
    }

    /// Reopens (reconcile with the chain, rebuild from the manifests) each shard, rate-limited.
    async fn recover(&self, shards: &[ShardId], progress: &mut Progress) {
        if progress.last_recovery.is_some_and(|t| t.elapsed() < self.settings.recovery_retry) {
            return;
        }
        progress.last_recovery = Some(Instant::now());
        for &shard in shards {
            match self.keeper.reopen(shard).await {
                Ok(()) if self.keeper.shard(shard).await.is_ok() => {
                    tracing::info!(%shard, "shard recovered from the chain and the blob store")
                }
                Ok(()) => tracing::warn!(%shard, "shard still cannot be rebuilt; will retry"),
                Err(e) => tracing::warn!(%shard, error = %e, "reopening the shard failed; will retry"),
            }
        }
    }

    async fn answer(&self, challenge: &Challenge, progress: &mut Progress) -> Result<(), ProviderError> {
        let entry = progress.challenges.entry(challenge.nonce).or_insert((Instant::now(), 0));
        entry.1 += 1;
        let (first_seen, attempts) = *entry;
        let outcome = self.try_answer(challenge).await;
        match outcome {
            Ok((receipt, seq)) => {
                let after = self.chain.clock().await?;
                let record = AnswerJson {
                    kind: kind_name(challenge.kind),
                    shard: ShardId(challenge.shard_id),
                    seq,
                    signature: receipt.signature.to_string(),
                    tx_bytes: receipt.tx_bytes,
                    latency_ms: first_seen.elapsed().as_millis() as u64,
                    slots_taken: after.slot.saturating_sub(challenge.source_slot),
                    margin_secs: challenge.deadline.saturating_sub(after.unix_timestamp),
                    attempts,
                };
                tracing::info!(
                    kind = %record.kind, shard = %record.shard, seq, latency_ms = record.latency_ms,
                    slots_taken = record.slots_taken, margin_secs = record.margin_secs, attempts,
                    "challenge answered"
                );
                progress.challenges.remove(&challenge.nonce);
                self.update(|s| {
                    s.answers_total += 1;
                    push_bounded(&mut s.answers, record);
                    s.last_error = None;
                });
                Ok(())
            }
            Err(e) => {
                self.update(|s| s.answer_failures_total += 1);
                if let ProviderError::Answer(AnswerError::DataLost { shard, reason }) = &e {
                    tracing::error!(%shard, %reason, "the challenged data is lost here; recovering the shard");
                    self.recover(&[*shard], progress).await;
                }
                Err(e)
            }
        }
    }

    async fn try_answer(
        &self,
        challenge: &Challenge,
    ) -> Result<(crate::chain::UpdateReceipt, u64), ProviderError> {
        let id = ShardId(challenge.shard_id);
        let shard = self
            .keeper
            .shard(id)
            .await
            .map_err(|e| ProviderError::ShardUnavailable { shard: id, reason: e.to_string() })?;
        let onchain =
            self.keeper.chain().shard(self.keeper.app.as_bytes(), id).await?.ok_or(
                ChainError::BadAccount { address: pda::shard(&self.settings.app, id.0), what: "shard" },
            )?;
        let args =
            answer::answer_challenge(&shard, self.keeper.blobs().as_ref(), &onchain, challenge).await?;
        let ix = ss::answer_challenge(
            &self.tee.pubkey(),
            &self.settings.app,
            &self.settings.provider,
            &pda::shard(&self.settings.app, id.0),
            args,
        );
        let receipt = self.chain.send(&[ix], &[&self.tee]).await?;
        Ok((receipt, onchain.seq))
    }

    async fn report_corruption(&self, failed: &[ShardId]) -> Result<(), ProviderError> {
        let shards: Vec<Pubkey> =
            (0..self.keeper.shard_count).map(|id| pda::shard(&self.settings.app, id)).collect();
        let ix =
            ss::report_corruption(&self.tee.pubkey(), &self.settings.app, &self.settings.provider, &shards);
        let receipt = self.chain.send(&[ix], &[&self.tee]).await?;
        tracing::error!(?failed, signature = %receipt.signature, "reported corruption on-chain; recovering until the deadline");
        self.update(|s| s.corruption_reports_total += 1);
        Ok(())
    }

    async fn answer_retrieval(
        &self,
        retrieval: &Retrieval,
        progress: &mut Progress,
    ) -> Result<(), ProviderError> {
        let first_seen = *progress
            .retrievals
            .entry((retrieval.requested_at, ShardId(retrieval.shard_id)))
            .or_insert_with(Instant::now);
        let id = ShardId(retrieval.shard_id);
        let shard = self
            .keeper
            .shard(id)
            .await
            .map_err(|e| ProviderError::ShardUnavailable { shard: id, reason: e.to_string() })?;
        // The export must be of the committed state: anchor what is pending first.
        shard
            .commit()
            .await
            .map_err(|e| ProviderError::ShardUnavailable { shard: id, reason: e.to_string() })?;
        let onchain =
            self.keeper.chain().shard(self.keeper.app.as_bytes(), id).await?.ok_or(
                ChainError::BadAccount { address: pda::shard(&self.settings.app, id.0), what: "shard" },
            )?;
        let (args, cid, export_bytes) = answer::export_for_retrieval(
            &shard,
            self.keeper.blobs().as_ref(),
            self.keeper.keys().as_ref(),
            &onchain,
        )
        .await?;
        let ix = ss::answer_retrieval(
            &self.tee.pubkey(),
            &self.settings.app,
            &self.settings.provider,
            &pda::shard(&self.settings.app, id.0),
            args,
        );
        let receipt = self.chain.send(&[ix], &[&self.tee]).await?;
        let after = self.chain.clock().await?;
        let record = RetrievalJson {
            shard: id,
            seq: onchain.seq,
            cid: cid.to_string(),
            export_bytes,
            signature: receipt.signature.to_string(),
            latency_ms: first_seen.elapsed().as_millis() as u64,
            margin_secs: retrieval.deadline.saturating_sub(after.unix_timestamp),
        };
        tracing::info!(shard = %id, seq = onchain.seq, cid = %record.cid, export_bytes, latency_ms = record.latency_ms, "retrieval answered");
        progress.retrievals.remove(&(retrieval.requested_at, id));
        self.update(|s| {
            s.retrievals_answered_total += 1;
            push_bounded(&mut s.retrievals, record);
        });
        Ok(())
    }
}

fn push_bounded<T>(list: &mut Vec<T>, item: T) {
    list.push(item);
    if list.len() > HISTORY {
        list.remove(0);
    }
}
