//! What the attester reads from the chain: the cluster's genesis hash, governance's verifier config
//! (allow-lists, TCB policy, nonce floor) and a TEE key's registry entry (its last nonce).
use anchor_lang::AccountDeserialize;
use async_trait::async_trait;
use attestation_verifier::VerifierConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::commitment_config::CommitmentConfig;
use solana_sdk::pubkey::Pubkey;
use tee_registry::TeeEntry;

use crate::error::AttesterError;

#[async_trait]
pub trait ChainView: Send + Sync {
    async fn genesis_hash(&self) -> Result<[u8; 32], AttesterError>;
    async fn verifier_config(&self) -> Result<VerifierConfig, AttesterError>;
    /// The registry entry of `tee`, if the key was ever registered.
    async fn tee_entry(&self, tee: &Pubkey) -> Result<Option<TeeEntry>, AttesterError>;
}

/// Decodes an Anchor account (discriminator checked) owned by `owner`.
pub fn decode_account<T: AccountDeserialize>(
    account: &solana_sdk::account::Account,
    owner: &Pubkey,
    what: &str,
) -> Result<T, AttesterError> {
    if account.owner != *owner {
        return Err(AttesterError::Chain(format!("{what} is owned by {}, not {owner}", account.owner)));
    }
    T::try_deserialize(&mut account.data.as_slice()).map_err(|e| AttesterError::Chain(format!("{what}: {e}")))
}

/// The chain through a JSON-RPC node, at `finalized` commitment.
pub struct RpcChain {
    rpc: RpcClient,
}

impl RpcChain {
    pub fn new(url: String) -> Self {
        Self { rpc: RpcClient::new_with_commitment(url, CommitmentConfig::finalized()) }
    }
}

#[async_trait]
impl ChainView for RpcChain {
    async fn genesis_hash(&self) -> Result<[u8; 32], AttesterError> {
        self.rpc
            .get_genesis_hash()
            .await
            .map(|h| h.to_bytes())
            .map_err(|e| AttesterError::Chain(e.to_string()))
    }

    async fn verifier_config(&self) -> Result<VerifierConfig, AttesterError> {
        let address = ironroot_sdk::pda::verifier_config();
        let account = self
            .rpc
            .get_account_with_commitment(&address, self.rpc.commitment())
            .await
            .map_err(|e| AttesterError::Chain(e.to_string()))?
            .value
            .ok_or(AttesterError::NoVerifierConfig)?;
        decode_account(&account, &attestation_verifier::ID, "verifier config")
    }

    async fn tee_entry(&self, tee: &Pubkey) -> Result<Option<TeeEntry>, AttesterError> {
        let address = ironroot_sdk::pda::tee_entry(tee);
        let account = self
            .rpc
            .get_account_with_commitment(&address, self.rpc.commitment())
            .await
            .map_err(|e| AttesterError::Chain(e.to_string()))?
            .value;
        account.map(|a| decode_account(&a, &tee_registry::ID, "TEE entry")).transpose()
    }
}
