//! The chain seam: reading shard state and submitting TEE-signed shard updates.
//!
//! Apps are named by (publisher, app id): a chain is built for one publisher's namespace, and the
//! `app_id` its methods take resolves to `pda::app(namespace, app_id)`. Each update goes to the
//! app's active history tree as read from the chain; when that tree is nearly full the chain first
//! cranks `rotate_history` (the app's reserve reimburses the fee payer), so the history never
//! freezes.
//!
//! [`RpcChain`] talks to a cluster over JSON-RPC; tests and the demo use the in-process bank of
//! `ironroot-devkit`. Both return program rejections as [`ChainError::Rejected`] with the
//! program's error code, so callers can tell "the chain said no" from "the chain was unreachable".
use std::sync::Arc;

use app_roots::{App, UpdateShardArgs};
use async_trait::async_trait;
use ironroot_sdk::app_roots::{decode_app, decode_shard, rotate_history, update_shard};
use ironroot_sdk::registry::{tee_key_status, TeeKeyStatus};
use ironroot_sdk::{pda, transaction_size};
use solana_rpc_client_api::config::RpcSendTransactionConfig;
use solana_sdk::account::Account;
use solana_sdk::commitment_config::{CommitmentConfig, CommitmentLevel};
use solana_sdk::instruction::InstructionError;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::{Transaction, TransactionError};

use crate::failpoint::{self, Step};
use crate::keys::ShardId;

/// A shard's on-chain state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardOnChain {
    pub seq: u64,
    pub root: [u8; 32],
    pub manifest_cid: Vec<u8>,
    pub updated_slot: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateReceipt {
    pub signature: Signature,
    pub tx_bytes: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("the program rejected the transaction with custom error {code}")]
    Rejected { code: u32 },
    #[error("the transaction failed: {0}")]
    Failed(String),
    #[error("the chain is unreachable: {0}")]
    Unavailable(String),
    #[error("account {address} is not a valid {what}")]
    BadAccount { address: Pubkey, what: &'static str },
    /// The RPC endpoints do not agree (or too few answered): nothing they say is trusted.
    #[error("the chain view is not trusted: {0}")]
    NoQuorum(String),
}

impl ChainError {
    pub fn from_transaction_error(err: TransactionError) -> Self {
        match err {
            TransactionError::InstructionError(_, InstructionError::Custom(code)) => {
                ChainError::Rejected { code }
            }
            other => ChainError::Failed(other.to_string()),
        }
    }
}

#[async_trait]
pub trait Chain: Send + Sync {
    async fn app(&self, app_id: &[u8; 32]) -> Result<Option<App>, ChainError>;
    /// The shard as of the commitment writes are acknowledged at (`confirmed` by default).
    async fn shard(&self, app_id: &[u8; 32], shard: ShardId) -> Result<Option<ShardOnChain>, ChainError>;
    /// The shard as of `finalized` commitment: what start-up decisions rest on. A chain without
    /// commitment levels (the in-process bank) answers with [`Chain::shard`].
    async fn shard_finalized(
        &self,
        app_id: &[u8; 32],
        shard: ShardId,
    ) -> Result<Option<ShardOnChain>, ChainError> {
        self.shard(app_id, shard).await
    }
    async fn tee_status(&self, tee: &Pubkey) -> Result<TeeKeyStatus, ChainError>;
    /// Submits `update_shard` signed by `tee` into the app's active history tree (rotating it
    /// first when it is nearly full) and waits until it is confirmed or rejected.
    async fn submit_update(
        &self,
        tee: &Keypair,
        app_id: &[u8; 32],
        args: UpdateShardArgs,
    ) -> Result<UpdateReceipt, ChainError>;
}

/// How long [`QuorumChain`] waits for the endpoints to agree that a sent update landed.
const QUORUM_CONFIRM_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A chain view over several RPC endpoints that trusts only what they agree on: every endpoint
/// that answers must give the same answer, and at least `quorum` must answer. One lying or stale
/// endpoint then makes reads fail (closed) instead of feeding the keeper an old shard state.
/// Transactions go to the first endpoint that takes them (a signed transaction cannot be forged),
/// but that endpoint's word that it was confirmed is not enough: the update counts as confirmed
/// only once the quorum reads the shard at its new seq and root.
pub struct QuorumChain {
    endpoints: Vec<Arc<dyn Chain>>,
    quorum: usize,
}

impl QuorumChain {
    pub fn new(endpoints: Vec<Arc<dyn Chain>>, quorum: usize) -> Result<Self, ChainError> {
        if endpoints.is_empty() || quorum == 0 || quorum > endpoints.len() {
            return Err(ChainError::NoQuorum(format!(
                "quorum {quorum} of {} endpoints is not satisfiable",
                endpoints.len()
            )));
        }
        Ok(QuorumChain { endpoints, quorum })
    }

    /// Asks every endpoint; the one answer they all give, or [`ChainError::NoQuorum`].
    async fn agreed<T, K: PartialEq + std::fmt::Debug>(
        &self,
        what: &str,
        ask: impl Fn(Arc<dyn Chain>) -> futures::future::BoxFuture<'static, Result<T, ChainError>>,
        key: impl Fn(&T) -> K,
    ) -> Result<T, ChainError> {
        let answers = futures::future::join_all(self.endpoints.iter().map(|e| ask(e.clone()))).await;
        let mut agreed: Option<(T, K)> = None;
        let mut answered = 0;
        let mut failures = Vec::new();
        for (i, answer) in answers.into_iter().enumerate() {
            match answer {
                Ok(value) => {
                    answered += 1;
                    let k = key(&value);
                    match &agreed {
                        None => agreed = Some((value, k)),
                        Some((_, first)) if *first == k => {}
                        Some((_, first)) => {
                            return Err(ChainError::NoQuorum(format!(
                                "endpoints disagree on the {what}: {first:?} vs {k:?} (endpoint {i})"
                            )))
                        }
                    }
                }
                Err(e) => failures.push(format!("endpoint {i}: {e}")),
            }
        }
        match agreed {
            Some((value, _)) if answered >= self.quorum => Ok(value),
            _ => Err(ChainError::NoQuorum(format!(
                "{answered} of {} endpoints answered for the {what}, {} needed ({})",
                self.endpoints.len(),
                self.quorum,
                failures.join("; ")
            ))),
        }
    }

    /// Waits until the endpoints agree that the shard holds the update `args` describes.
    async fn confirmed_by_quorum(&self, app_id: &[u8; 32], args: &UpdateShardArgs) -> Result<(), ChainError> {
        let deadline = std::time::Instant::now() + QUORUM_CONFIRM_WAIT;
        loop {
            let seen = match self.shard(app_id, ShardId(args.shard_id)).await {
                Ok(Some(s)) if s.seq == args.new_seq && s.root == args.new_root => return Ok(()),
                Ok(Some(s)) if s.seq >= args.new_seq => {
                    return Err(ChainError::Failed(format!(
                        "the endpoints agree on seq {} root {}, not on the update sent (seq {})",
                        s.seq,
                        hex::encode(s.root),
                        args.new_seq
                    )))
                }
                Ok(Some(s)) => format!("the endpoints agree on seq {}", s.seq),
                Ok(None) => "the shard has no account".to_string(),
                // Endpoints a slot apart disagree for a moment.
                Err(e) => e.to_string(),
            };
            if std::time::Instant::now() >= deadline {
                return Err(ChainError::NoQuorum(format!(
                    "an endpoint reported update seq {} confirmed, but the quorum does not see it: {seen}",
                    args.new_seq
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}

#[async_trait]
impl Chain for QuorumChain {
    async fn app(&self, app_id: &[u8; 32]) -> Result<Option<App>, ChainError> {
        let id = *app_id;
        // What the keeper acts on: the shard count (routing) and the history tree.
        self.agreed(
            "app",
            move |e| Box::pin(async move { e.app(&id).await }),
            |a| a.as_ref().map(|a| (a.shard_count, a.active_tree)),
        )
        .await
    }

    async fn shard(&self, app_id: &[u8; 32], shard: ShardId) -> Result<Option<ShardOnChain>, ChainError> {
        let id = *app_id;
        self.agreed("shard", move |e| Box::pin(async move { e.shard(&id, shard).await }), |s| s.clone()).await
    }

    async fn shard_finalized(
        &self,
        app_id: &[u8; 32],
        shard: ShardId,
    ) -> Result<Option<ShardOnChain>, ChainError> {
        let id = *app_id;
        self.agreed(
            "finalized shard",
            move |e| Box::pin(async move { e.shard_finalized(&id, shard).await }),
            |s| s.clone(),
        )
        .await
    }

    async fn tee_status(&self, tee: &Pubkey) -> Result<TeeKeyStatus, ChainError> {
        let tee = *tee;
        self.agreed("TEE key status", move |e| Box::pin(async move { e.tee_status(&tee).await }), |s| *s)
            .await
    }

    async fn submit_update(
        &self,
        tee: &Keypair,
        app_id: &[u8; 32],
        args: UpdateShardArgs,
    ) -> Result<UpdateReceipt, ChainError> {
        let mut last = ChainError::NoQuorum("no endpoint".into());
        for endpoint in &self.endpoints {
            match endpoint.submit_update(tee, app_id, args.clone()).await {
                Err(e @ ChainError::Unavailable(_)) => last = e,
                Ok(receipt) => return self.confirmed_by_quorum(app_id, &args).await.map(|()| receipt),
                other => return other,
            }
        }
        Err(last)
    }
}

/// Whether the app's active tree is at the point where anyone may rotate it.
pub fn needs_rotation(app: &App) -> bool {
    let free = app_roots::tree_capacity(app.max_depth).saturating_sub(app.active_tree_leaves);
    free <= app_roots::rotation_threshold(app.max_depth)
}

pub fn decode_shard_state(address: &Pubkey, account: &Account) -> Result<ShardOnChain, ChainError> {
    let shard = decode_shard(address, account)
        .map_err(|_| ChainError::BadAccount { address: *address, what: "shard" })?;
    Ok(ShardOnChain {
        seq: shard.seq,
        root: shard.root,
        manifest_cid: shard.manifest_cid,
        updated_slot: shard.updated_slot,
    })
}

/// How often a sent update's status is polled.
const CONFIRM_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// A cluster over JSON-RPC (`solana-rpc-client`'s nonblocking client, which `solana-client`
/// re-exports); `fee_payer` pays the fees, the TEE key signs as the instruction's signer.
/// Reads and confirmations use the acknowledging commitment (`confirmed` unless configured);
/// [`Chain::shard_finalized`] reads at `finalized`.
pub struct RpcChain {
    client: solana_rpc_client::nonblocking::rpc_client::RpcClient,
    fee_payer: Keypair,
    namespace: Pubkey,
}

impl RpcChain {
    /// `namespace`: the publisher that created the apps this chain serves. Updates are
    /// acknowledged once `confirmed`.
    pub fn new(url: impl Into<String>, fee_payer: Keypair, namespace: Pubkey) -> Self {
        Self::with_commitment(url, fee_payer, namespace, CommitmentConfig::confirmed())
    }

    /// As [`RpcChain::new`], acknowledging updates (and reading) at `acknowledge`.
    pub fn with_commitment(
        url: impl Into<String>,
        fee_payer: Keypair,
        namespace: Pubkey,
        acknowledge: CommitmentConfig,
    ) -> Self {
        let client = solana_rpc_client::nonblocking::rpc_client::RpcClient::new_with_commitment(
            url.into(),
            acknowledge,
        );
        RpcChain { client, fee_payer, namespace }
    }

    /// Sends `tx` and waits until it reaches the acknowledging commitment, fails, or its blockhash
    /// expires unconfirmed.
    async fn send_and_confirm(&self, tx: &Transaction) -> Result<Signature, ChainError> {
        let config = RpcSendTransactionConfig {
            // Simulated on the confirmed bank: at `finalized` the previous update may not be there yet.
            preflight_commitment: Some(CommitmentLevel::Confirmed),
            ..RpcSendTransactionConfig::default()
        };
        let signature = self.client.send_transaction_with_config(tx, config).await.map_err(rpc_error)?;
        failpoint::hit(Step::ChainAfterSend);
        loop {
            match self.client.get_signature_status(&signature).await.map_err(rpc_error)? {
                Some(Ok(())) => return Ok(signature),
                Some(Err(e)) => return Err(ChainError::from_transaction_error(e)),
                None => {
                    let valid = self
                        .client
                        .is_blockhash_valid(&tx.message.recent_blockhash, CommitmentConfig::processed())
                        .await
                        .map_err(rpc_error)?;
                    if !valid {
                        return Err(ChainError::Unavailable(format!(
                            "transaction {signature} expired unconfirmed"
                        )));
                    }
                    tokio::time::sleep(CONFIRM_POLL).await;
                }
            }
        }
    }

    /// Cranks `rotate_history` with the fee payer as cranker; returns the new active tree.
    async fn rotate(&self, address: &Pubkey, app: &App) -> Result<Pubkey, ChainError> {
        let new_tree = Keypair::new();
        let rent_id = solana_sdk::sysvar::rent::ID;
        let rent_account = self
            .account(&rent_id)
            .await?
            .ok_or(ChainError::BadAccount { address: rent_id, what: "rent sysvar" })?;
        let rent: solana_sdk::rent::Rent = bincode::deserialize(&rent_account.data)
            .map_err(|_| ChainError::BadAccount { address: rent_id, what: "rent sysvar" })?;
        let index = app.active_tree_index.saturating_add(1);
        let ixs = rotate_history(
            &self.fee_payer.pubkey(),
            address,
            &new_tree.pubkey(),
            index,
            app.max_depth,
            app.max_buffer_size,
            &rent,
        )
        .map_err(|e| ChainError::Failed(e.to_string()))?;
        let blockhash = self.client.get_latest_blockhash().await.map_err(rpc_error)?;
        let tx = Transaction::new_signed_with_payer(
            &ixs,
            Some(&self.fee_payer.pubkey()),
            &[&self.fee_payer, &new_tree],
            blockhash,
        );
        self.send_and_confirm(&tx).await?;
        Ok(new_tree.pubkey())
    }

    async fn account(&self, address: &Pubkey) -> Result<Option<Account>, ChainError> {
        self.account_at(address, self.client.commitment()).await
    }

    async fn account_at(
        &self,
        address: &Pubkey,
        commitment: CommitmentConfig,
    ) -> Result<Option<Account>, ChainError> {
        let response = self
            .client
            .get_account_with_commitment(address, commitment)
            .await
            .map_err(|e| ChainError::Unavailable(e.to_string()))?;
        Ok(response.value)
    }
}

fn rpc_error(err: solana_rpc_client_api::client_error::Error) -> ChainError {
    use solana_rpc_client_api::request::{RpcError, RpcResponseErrorData};
    if let Some(tx_err) = err.get_transaction_error() {
        return ChainError::from_transaction_error(tx_err);
    }
    match err.kind() {
        solana_rpc_client_api::client_error::ErrorKind::RpcError(RpcError::RpcResponseError {
            data: RpcResponseErrorData::SendTransactionPreflightFailure(sim),
            ..
        }) => match &sim.err {
            Some(tx_err) => ChainError::from_transaction_error(tx_err.clone()),
            None => ChainError::Failed(err.to_string()),
        },
        solana_rpc_client_api::client_error::ErrorKind::Io(_)
        | solana_rpc_client_api::client_error::ErrorKind::Reqwest(_) => {
            ChainError::Unavailable(err.to_string())
        }
        _ => ChainError::Failed(err.to_string()),
    }
}

#[async_trait]
impl Chain for RpcChain {
    async fn app(&self, app_id: &[u8; 32]) -> Result<Option<App>, ChainError> {
        let address = pda::app(&self.namespace, app_id);
        self.account(&address)
            .await?
            .map(|a| decode_app(&address, &a).map_err(|_| ChainError::BadAccount { address, what: "app" }))
            .transpose()
    }

    async fn shard(&self, app_id: &[u8; 32], shard: ShardId) -> Result<Option<ShardOnChain>, ChainError> {
        let address = pda::shard(&pda::app(&self.namespace, app_id), shard.0);
        self.account(&address).await?.map(|a| decode_shard_state(&address, &a)).transpose()
    }

    async fn shard_finalized(
        &self,
        app_id: &[u8; 32],
        shard: ShardId,
    ) -> Result<Option<ShardOnChain>, ChainError> {
        let address = pda::shard(&pda::app(&self.namespace, app_id), shard.0);
        self.account_at(&address, CommitmentConfig::finalized())
            .await?
            .map(|a| decode_shard_state(&address, &a))
            .transpose()
    }

    async fn tee_status(&self, tee: &Pubkey) -> Result<TeeKeyStatus, ChainError> {
        let address = pda::tee_entry(tee);
        let account = self.account(&address).await?;
        let clock = self
            .account(&solana_sdk::sysvar::clock::ID)
            .await?
            .ok_or(ChainError::BadAccount { address: solana_sdk::sysvar::clock::ID, what: "clock sysvar" })?;
        let clock: solana_sdk::clock::Clock = bincode::deserialize(&clock.data).map_err(|_| {
            ChainError::BadAccount { address: solana_sdk::sysvar::clock::ID, what: "clock sysvar" }
        })?;
        tee_key_status(&address, account.as_ref(), clock.unix_timestamp)
            .map_err(|_| ChainError::BadAccount { address, what: "registry entry" })
    }

    async fn submit_update(
        &self,
        tee: &Keypair,
        app_id: &[u8; 32],
        args: UpdateShardArgs,
    ) -> Result<UpdateReceipt, ChainError> {
        let address = pda::app(&self.namespace, app_id);
        let app = self.app(app_id).await?.ok_or(ChainError::BadAccount { address, what: "app" })?;
        let mut tree = app.active_tree;
        if needs_rotation(&app) {
            match self.rotate(&address, &app).await {
                Ok(new_tree) => tree = new_tree,
                // Not fatal until the tree is actually full: the update below says so if it is.
                Err(err) => tracing::warn!(%address, %err, "rotating the history tree failed"),
            }
        }
        let ix = update_shard(&tee.pubkey(), &address, &tree, args);
        let blockhash = self.client.get_latest_blockhash().await.map_err(rpc_error)?;
        let tx = Transaction::new_signed_with_payer(
            &[ix],
            Some(&self.fee_payer.pubkey()),
            &[&self.fee_payer, tee],
            blockhash,
        );
        let tx_bytes = transaction_size(&tx);
        failpoint::hit(Step::ChainAfterSign);
        let signature = self.send_and_confirm(&tx).await?;
        Ok(UpdateReceipt { signature, tx_bytes })
    }
}
