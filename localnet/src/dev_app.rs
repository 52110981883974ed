//! A development app on a running localnet, set up over JSON-RPC the way a publisher and
//! governance would: the attestation verifier initialised with attesters and the development
//! policy, one TEE (measurement, identity) allowed, an app with its shards whose policy allows the
//! same pair. Tests and benches that drive real processes against the localnet start here.
use std::str::FromStr;
use std::time::Duration;

use app_roots::{AllowedTee as AppPair, AppPolicy, CreateAppArgs};
use attestation_verifier::{AllowedTee, AppIdentity, InitializeArgs};
use ironroot_bank::dev::DevTrust;
use ironroot_sdk::{app_roots as roots, pda, verifier};
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::commitment_config::CommitmentConfig;
use solana_sdk::hash::Hash;
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{read_keypair_file, Keypair, Signature, Signer};
use solana_sdk::transaction::Transaction;

use crate::LocalnetConfig;

#[derive(Debug, thiserror::Error)]
pub enum DevAppError {
    #[error("keypair file {path}: {message}")]
    Keypair { path: String, message: String },
    #[error("genesis hash {0:?} in the localnet config is not a hash")]
    GenesisHash(String),
    #[error("building {what}: {message}")]
    Instruction { what: &'static str, message: String },
    #[error("{what}: {source}")]
    Rpc { what: &'static str, source: Box<solana_rpc_client_api::client_error::Error> },
}

fn rpc_error(what: &'static str) -> impl FnOnce(solana_rpc_client_api::client_error::Error) -> DevAppError {
    move |e| DevAppError::Rpc { what, source: Box::new(e) }
}

/// What to create; [`DevApp::new`] gives the usual choices.
#[derive(Clone, Debug)]
pub struct DevApp {
    pub app_id: [u8; 32],
    pub shards: u16,
    /// The TEE measurement and dstack identity governance and the app allow.
    pub measurement: [u8; 32],
    pub identity: AppIdentity,
    /// Attester keys governance trusts (`None`: the localnet's own attester).
    pub attesters: Option<Vec<Pubkey>>,
    pub threshold: u8,
    /// Worst TCB status governance and the app accept for the TEE.
    pub max_tcb_status: u8,
    pub app_max_tcb_status: u8,
    pub min_key_validity_secs: i64,
    /// Depth of the app's on-chain root history tree: 2^depth updates before it rotates.
    pub max_depth: u32,
    /// SOL airdropped to the publisher, who also pays the fees.
    pub publisher_sol: u64,
}

impl DevApp {
    pub fn new(app_id: [u8; 32], shards: u16, measurement: [u8; 32], identity: AppIdentity) -> Self {
        DevApp {
            app_id,
            shards,
            measurement,
            identity,
            attesters: None,
            threshold: 1,
            max_tcb_status: 1,
            app_max_tcb_status: 1,
            min_key_validity_secs: 60,
            max_depth: 14,
            publisher_sol: 100,
        }
    }

    /// Creates governance and the app on the localnet `config` describes; returns the publisher
    /// (funded, the app's owner) and its app address.
    pub async fn create(&self, config: &LocalnetConfig) -> Result<(Keypair, Pubkey), DevAppError> {
        let rpc = RpcClient::new_with_commitment(config.rpc_url.clone(), CommitmentConfig::confirmed());
        let publisher = Keypair::new();
        airdrop(&rpc, &publisher.pubkey(), self.publisher_sol * solana_sdk::native_token::LAMPORTS_PER_SOL)
            .await?;
        let read = |path: &std::path::Path| {
            read_keypair_file(path).map_err(|e| DevAppError::Keypair {
                path: path.display().to_string(),
                message: e.to_string(),
            })
        };
        let governance = read(&config.governance.keypair_path)?;
        let attesters = match &self.attesters {
            Some(keys) => keys.clone(),
            None => vec![read(&config.attester.keypair_path)?.pubkey()],
        };
        let genesis = Hash::from_str(&config.genesis_hash)
            .map_err(|_| DevAppError::GenesisHash(config.genesis_hash.clone()))?;
        let gov = governance.pubkey();
        let init = InitializeArgs {
            authority: gov,
            cluster_genesis_hash: genesis.to_bytes(),
            attesters,
            threshold: self.threshold,
            policy: DevTrust::policy(),
        };
        let allowed = AllowedTee {
            measurement: self.measurement,
            app: self.identity,
            max_tcb_status: self.max_tcb_status,
        };
        let trust = [verifier::initialize(&gov, init), verifier::add_allowed(&gov, allowed)];
        send(&rpc, &publisher, &trust, &[&governance]).await?;

        let tree = Keypair::new();
        let policy = AppPolicy {
            allowed: vec![AppPair {
                measurement: self.measurement,
                app_id: self.identity.app_id,
                compose_hash: self.identity.compose_hash,
            }],
            max_tcb_status: self.app_max_tcb_status,
            blocked_keys: Vec::new(),
            min_key_validity_secs: self.min_key_validity_secs,
        };
        let args = CreateAppArgs {
            app_id: self.app_id,
            shard_count: self.shards,
            max_depth: self.max_depth,
            max_buffer_size: 64,
            policy,
        };
        let rent = solana_sdk::rent::Rent::default();
        let create = roots::create_app(&publisher.pubkey(), &tree.pubkey(), &rent, args)
            .map_err(|e| DevAppError::Instruction { what: "create_app", message: e.to_string() })?;
        send(&rpc, &publisher, &create, &[&tree]).await?;
        let app = pda::app(&publisher.pubkey(), &self.app_id);
        let inits: Vec<Instruction> =
            (0..self.shards).map(|s| roots::init_shard(&publisher.pubkey(), &app, s)).collect();
        // Four shard accounts fit one transaction.
        for chunk in inits.chunks(4) {
            send(&rpc, &publisher, chunk, &[]).await?;
        }
        Ok((publisher, app))
    }
}

/// Signs `ixs` with `payer` (the fee payer) and `signers`, sends and confirms.
pub async fn send(
    rpc: &RpcClient,
    payer: &Keypair,
    ixs: &[Instruction],
    signers: &[&Keypair],
) -> Result<Signature, DevAppError> {
    let mut all = vec![payer];
    all.extend(signers.iter().copied());
    let blockhash = rpc.get_latest_blockhash().await.map_err(rpc_error("latest blockhash"))?;
    let tx = Transaction::new_signed_with_payer(ixs, Some(&payer.pubkey()), &all, blockhash);
    rpc.send_and_confirm_transaction(&tx).await.map_err(rpc_error("sending a set-up transaction"))
}

/// Airdrops `lamports` to `to` and waits until the airdrop is confirmed.
pub async fn airdrop(rpc: &RpcClient, to: &Pubkey, lamports: u64) -> Result<(), DevAppError> {
    let signature = rpc.request_airdrop(to, lamports).await.map_err(rpc_error("airdrop"))?;
    while !rpc.confirm_transaction(&signature).await.map_err(rpc_error("confirming an airdrop"))? {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
