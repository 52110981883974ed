//! Registering the keeper's TEE key through the attestation verifier: the statement (dated by the
//! cluster's clock, bound to a dstack quote when the key source has one), k attester signatures in
//! one Ed25519 precompile instruction, then `register_tee` signed by the fee payer and the TEE key.
use ironroot_sdk::attestation::{sign_statement, statement, StatementFields};
use ironroot_sdk::registry::TeeKeyStatus;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::signature::{Keypair, Signature, Signer};

use crate::keys::DstackClient;
use crate::node::{read_keypair, Node, NodeError};

/// Registration lifetime asked for (governance caps it at its maximum key lifetime).
pub const REGISTRATION_LIFETIME_SECS: i64 = 30 * 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("RPC: {0}")]
    Rpc(#[from] solana_rpc_client_api::client_error::Error),
    #[error("the clock sysvar is malformed")]
    Clock,
    #[error(transparent)]
    Sdk(#[from] ironroot_sdk::error::SdkError),
    #[error("dstack quote: {0}")]
    Quote(#[from] crate::keys::KeyError),
    #[error(transparent)]
    Chain(#[from] crate::chain::ChainError),
}

/// What the attesters vouch for.
pub struct Evidence {
    pub measurement: [u8; 32],
    pub dstack_app_id: [u8; 32],
    pub compose_hash: [u8; 32],
    /// Must exceed the key's last registered nonce.
    pub nonce: u64,
}

pub struct Registered {
    pub signature: Signature,
    pub status: TeeKeyStatus,
}

/// Registers `node`'s TEE key with statements signed by `attesters` (development key files; the
/// attester service takes their place in production).
pub async fn register_with_attester_keys(
    node: &Node,
    attesters: &[Keypair],
    evidence: &Evidence,
) -> Result<Registered, RegistrationError> {
    let cfg = &node.config;
    let signer = node.services.signer.as_ref();
    let rpc = RpcClient::new(cfg.rpc_url.clone());
    let genesis = rpc.get_genesis_hash().await?;
    // The verifier judges freshness by the cluster's clock, so the statement is dated by it too.
    let clock: solana_sdk::clock::Clock =
        bincode::deserialize(&rpc.get_account(&solana_sdk::sysvar::clock::ID).await?.data)
            .map_err(|_| RegistrationError::Clock)?;
    let now = clock.unix_timestamp;
    // Evidence: with dstack, a quote whose report data binds the TEE key; the dev key source has none.
    let quote_hash = match (&cfg.key_source[..], &cfg.dstack_endpoint) {
        ("dstack", Some(endpoint)) => {
            let mut report_data = signer.pubkey().to_bytes().to_vec();
            report_data.extend_from_slice(
                &solana_sdk::hash::hashv(&[
                    b"ironroot-register",
                    genesis.as_ref(),
                    &evidence.nonce.to_le_bytes(),
                ])
                .to_bytes(),
            );
            let quote = DstackClient::new(endpoint.clone())?.get_quote(&report_data).await?;
            solana_sdk::hash::hash(&quote.quote).to_bytes()
        }
        _ => solana_sdk::hash::hash(b"development key source: no quote").to_bytes(),
    };
    let statement = statement(StatementFields {
        cluster_genesis_hash: genesis.to_bytes(),
        tee_pubkey: signer.pubkey(),
        app_id: evidence.dstack_app_id,
        compose_hash: evidence.compose_hash,
        measurement: evidence.measurement,
        tcb_status: 0,
        quote_hash,
        nonce: evidence.nonce,
        verified_at: now,
        expires_at: now + REGISTRATION_LIFETIME_SECS,
    });
    let signers: Vec<&dyn Signer> = attesters.iter().map(|k| k as &dyn Signer).collect();
    let signatures = sign_statement(&statement, &signers);
    let fee_payer = read_keypair(cfg.fee_payer_keypair.as_ref().ok_or_else(|| {
        NodeError::Config(crate::config::ConfigError::Invalid("fee_payer_keypair is required".into()))
    })?)?;
    let ixs = ironroot_sdk::verifier::register_tee_transaction_instructions(
        &fee_payer.pubkey(),
        &statement,
        &signatures,
    )?;
    let tx = solana_sdk::transaction::Transaction::new_signed_with_payer(
        &ixs,
        Some(&fee_payer.pubkey()),
        &[&fee_payer, signer],
        rpc.get_latest_blockhash().await?,
    );
    let signature = rpc.send_and_confirm_transaction(&tx).await?;
    let status = node.services.chain.tee_status(&signer.pubkey()).await?;
    Ok(Registered { signature, status })
}
