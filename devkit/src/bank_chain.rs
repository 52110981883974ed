//! The [`Chain`] seam over an in-process bank running the real programs (tests, benches, demo).
use std::sync::Arc;

use app_roots::{App, UpdateShardArgs};
use async_trait::async_trait;
use ironroot_bank::LocalBank;
use ironroot_keeper::chain::{
    decode_shard_state, needs_rotation, Chain, ChainError, ShardOnChain, UpdateReceipt,
};
use ironroot_keeper::keys::ShardId;
use ironroot_sdk::app_roots::{decode_app, rotate_history, update_shard};
use ironroot_sdk::registry::{tee_key_status, TeeKeyStatus};
use ironroot_sdk::{pda, transaction_size};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use tokio::sync::Mutex;

/// The real programs in an in-process bank; its payer pays the fees.
#[derive(Clone)]
pub struct BankChain {
    bank: Arc<Mutex<LocalBank>>,
    namespace: Pubkey,
}

impl BankChain {
    /// `namespace`: the publisher that created the apps this chain serves.
    pub fn new(bank: Arc<Mutex<LocalBank>>, namespace: Pubkey) -> Self {
        BankChain { bank, namespace }
    }

    pub fn bank(&self) -> &Arc<Mutex<LocalBank>> {
        &self.bank
    }
}

#[async_trait]
impl Chain for BankChain {
    async fn app(&self, app_id: &[u8; 32]) -> Result<Option<App>, ChainError> {
        let address = pda::app(&self.namespace, app_id);
        let account = self.bank.lock().await.account(&address).await;
        account
            .map(|a| decode_app(&address, &a).map_err(|_| ChainError::BadAccount { address, what: "app" }))
            .transpose()
    }

    async fn shard(&self, app_id: &[u8; 32], shard: ShardId) -> Result<Option<ShardOnChain>, ChainError> {
        let address = pda::shard(&pda::app(&self.namespace, app_id), shard.0);
        let account = self.bank.lock().await.account(&address).await;
        account.map(|a| decode_shard_state(&address, &a)).transpose()
    }

    async fn tee_status(&self, tee: &Pubkey) -> Result<TeeKeyStatus, ChainError> {
        let address = pda::tee_entry(tee);
        let mut bank = self.bank.lock().await;
        let now = bank.clock().await.unix_timestamp;
        let account = bank.account(&address).await;
        tee_key_status(&address, account.as_ref(), now)
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
        let mut bank = self.bank.lock().await;
        let mut tree = app.active_tree;
        if needs_rotation(&app) {
            let new_tree = Keypair::new();
            let index = app.active_tree_index.saturating_add(1);
            let rent = bank.rent().await;
            let payer = bank.payer().pubkey();
            let ixs = rotate_history(
                &payer,
                &address,
                &new_tree.pubkey(),
                index,
                app.max_depth,
                app.max_buffer_size,
                &rent,
            )
            .map_err(|e| ChainError::Failed(e.to_string()))?;
            match bank.process(&ixs, &[&new_tree]).await {
                Ok(()) => tree = new_tree.pubkey(),
                // Not fatal until the tree is actually full: the update below says so if it is.
                Err(err) => tracing::warn!(%address, %err, "rotating the history tree failed"),
            }
        }
        let ix = update_shard(&tee.pubkey(), &address, &tree, args);
        let tx = bank.transaction(&[ix], &[tee]).await;
        let receipt = UpdateReceipt { signature: tx.signatures[0], tx_bytes: transaction_size(&tx) };
        match bank.send(tx).await {
            Ok(()) => Ok(receipt),
            Err(solana_program_test::BanksClientError::TransactionError(err)) => {
                Err(ChainError::from_transaction_error(err))
            }
            Err(other) => Err(ChainError::Unavailable(other.to_string())),
        }
    }
}
