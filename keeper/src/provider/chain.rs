//! The provider's chain seam: find this provider's stake (with its open challenge and retrieval
//! request), read the clock, and send instructions the TEE key signs.
//!
//! [`RpcChain`] finds stakes with `getProgramAccounts` and memcmp filters (discriminator, app,
//! provider), which the JSON-RPC localnet and real clusters both serve; the in-process bank of
//! `ironroot-devkit` implements the same trait for tests and the demo.
use anchor_lang::{AccountDeserialize, Discriminator};
use async_trait::async_trait;
use base64::Engine;
use solana_rpc_client_api::request::RpcRequest;
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::Transaction;
use storage_stake::ProviderStake;

use crate::chain::{rpc_error, ChainError, RpcChain, UpdateReceipt};

/// Byte offsets of `ProviderStake`'s `app` and `provider` fields (after the discriminator).
pub const STAKE_APP_OFFSET: usize = 8;
pub const STAKE_PROVIDER_OFFSET: usize = 40;

/// The chain's clock as the cluster reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainClock {
    pub slot: u64,
    pub unix_timestamp: i64,
}

#[async_trait]
pub trait StakeChain: Send + Sync {
    /// Every stake account of `provider` for `app`, with its address.
    async fn provider_stakes(
        &self,
        app: &Pubkey,
        provider: &Pubkey,
    ) -> Result<Vec<(Pubkey, ProviderStake)>, ChainError>;
    async fn clock(&self) -> Result<ChainClock, ChainError>;
    /// Sends `ixs` signed by `signers` (the fee payer pays and signs too) and waits until it is
    /// confirmed or rejected.
    async fn send(&self, ixs: &[Instruction], signers: &[&Keypair]) -> Result<UpdateReceipt, ChainError>;
}

/// Decodes a stake account: the program's type, at the address it claims.
pub fn decode_stake(address: &Pubkey, data: &[u8]) -> Result<ProviderStake, ChainError> {
    ProviderStake::try_deserialize(&mut &data[..])
        .map_err(|_| ChainError::BadAccount { address: *address, what: "provider stake" })
}

#[async_trait]
impl StakeChain for RpcChain {
    async fn provider_stakes(
        &self,
        app: &Pubkey,
        provider: &Pubkey,
    ) -> Result<Vec<(Pubkey, ProviderStake)>, ChainError> {
        let memcmp = |offset: usize, bytes: &[u8]| serde_json::json!({"memcmp": {"offset": offset, "bytes": solana_sdk::bs58::encode(bytes).into_string()}});
        // Built by hand to ask for base64 (the stake is larger than base58's 128-byte limit).
        let params = serde_json::json!([
            storage_stake::ID.to_string(),
            {
                "encoding": "base64",
                "commitment": "confirmed",
                "filters": [
                    memcmp(0, ProviderStake::DISCRIMINATOR),
                    memcmp(STAKE_APP_OFFSET, app.as_ref()),
                    memcmp(STAKE_PROVIDER_OFFSET, provider.as_ref()),
                ],
            }
        ]);
        let found: Vec<serde_json::Value> =
            match self.client().send(RpcRequest::GetProgramAccounts, params).await {
                Ok(found) => found,
                // Some RPC providers refuse getProgramAccounts: the stake's own address still works.
                Err(err) => {
                    tracing::debug!(%err, "getProgramAccounts refused; reading the stake at its address");
                    let address = ironroot_sdk::pda::provider_stake(app, provider);
                    return match self.account(&address).await? {
                        Some(a) if a.owner == storage_stake::ID => {
                            Ok(vec![(address, decode_stake(&address, &a.data)?)])
                        }
                        _ => Ok(Vec::new()),
                    };
                }
            };
        let mut stakes = Vec::with_capacity(found.len());
        for item in found {
            let bad = || ChainError::Failed(format!("malformed getProgramAccounts entry: {item}"));
            let address: Pubkey = item["pubkey"].as_str().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            if item["account"]["owner"].as_str() != Some(storage_stake::ID.to_string().as_str()) {
                return Err(ChainError::BadAccount { address, what: "provider stake (owner)" });
            }
            let data = item["account"]["data"][0]
                .as_str()
                .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                .ok_or_else(bad)?;
            stakes.push((address, decode_stake(&address, &data)?));
        }
        Ok(stakes)
    }

    async fn clock(&self) -> Result<ChainClock, ChainError> {
        let id = solana_sdk::sysvar::clock::ID;
        let account =
            self.account(&id).await?.ok_or(ChainError::BadAccount { address: id, what: "clock sysvar" })?;
        let clock: solana_sdk::clock::Clock = bincode::deserialize(&account.data)
            .map_err(|_| ChainError::BadAccount { address: id, what: "clock sysvar" })?;
        Ok(ChainClock { slot: clock.slot, unix_timestamp: clock.unix_timestamp })
    }

    async fn send(&self, ixs: &[Instruction], signers: &[&Keypair]) -> Result<UpdateReceipt, ChainError> {
        let blockhash = self.client().get_latest_blockhash().await.map_err(rpc_error)?;
        let payer = self.fee_payer();
        let mut all = vec![payer];
        all.extend(signers.iter().copied().filter(|k| k.pubkey() != payer.pubkey()));
        let tx = Transaction::new_signed_with_payer(ixs, Some(&payer.pubkey()), &all, blockhash);
        let tx_bytes = ironroot_sdk::transaction_size(&tx);
        let signature = self.client().send_and_confirm_transaction(&tx).await.map_err(rpc_error)?;
        Ok(UpdateReceipt { signature, tx_bytes })
    }
}
