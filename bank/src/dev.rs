//! A development trust setup: a governance key, a set of attester keys with a threshold, one
//! allowed (measurement, app identity) pair. Real deployments get these from governance
//! and the attester service; the demo and tests make them up.
use app_roots::{AllowedTee as AppAllowedTee, AppPolicy, CreateAppArgs};
use attestation_verifier::{
    AllowedTee, AppIdentity, AttestationStatement, InitializeArgs, Policy, TcbStatus,
};
use ironroot_sdk::attestation::{self, StatementFields};
use ironroot_sdk::{app_roots as roots, verifier};
use solana_program_test::BanksClientError;
use solana_sdk::hash::{hashv, Hash};
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::system_instruction;

use crate::LocalBank;

pub const DEV_KEY_LIFETIME_SECS: i64 = 30 * 24 * 3600;
pub const DEV_STATEMENT_AGE_SECS: i64 = 600;

pub struct DevTrust {
    pub governance: Keypair,
    pub attesters: Vec<Keypair>,
    pub threshold: u8,
    pub measurement: [u8; 32],
    pub app: AppIdentity,
}

impl DevTrust {
    pub fn new(attesters: usize, threshold: u8) -> Self {
        DevTrust {
            governance: Keypair::new(),
            attesters: (0..attesters).map(|_| Keypair::new()).collect(),
            threshold,
            measurement: hashv(&[b"dev-measurement:MRTD|RTMR0|RTMR1|RTMR2"]).to_bytes(),
            app: AppIdentity {
                app_id: hashv(&[b"dev-app-id"]).to_bytes(),
                compose_hash: hashv(&[b"dev-compose-hash"]).to_bytes(),
            },
        }
    }

    pub fn policy() -> Policy {
        Policy {
            accepted_tcb: TcbStatus::UpToDate.bit() | TcbStatus::SwHardeningNeeded.bit(),
            max_key_lifetime_secs: DEV_KEY_LIFETIME_SECS,
            max_statement_age_secs: DEV_STATEMENT_AGE_SECS,
            nonce_floor: 0,
            require_quote_signatures: false,
        }
    }

    pub fn initialize_args(&self, bank: &LocalBank) -> InitializeArgs {
        self.initialize_args_for(&bank.genesis_hash())
    }

    /// [`Self::initialize_args`] for any cluster, named by its genesis hash (e.g. a JSON-RPC localnet).
    pub fn initialize_args_for(&self, genesis_hash: &Hash) -> InitializeArgs {
        InitializeArgs {
            authority: self.governance.pubkey(),
            cluster_genesis_hash: genesis_hash.to_bytes(),
            attesters: self.attesters.iter().map(|k| k.pubkey()).collect(),
            threshold: self.threshold,
            policy: Self::policy(),
        }
    }

    /// The one (measurement, app identity) pair governance allows, with its TCB floor.
    pub fn allowed(&self) -> AllowedTee {
        AllowedTee {
            measurement: self.measurement,
            app: self.app,
            max_tcb_status: TcbStatus::SwHardeningNeeded as u8,
        }
    }

    /// Initialise the verifier and allow the dev (measurement, app) pair (governance signs).
    pub fn setup_instructions(&self, bank: &LocalBank) -> Vec<Instruction> {
        self.setup_instructions_for(&bank.genesis_hash())
    }

    /// [`Self::setup_instructions`] for the cluster with `genesis_hash`.
    pub fn setup_instructions_for(&self, genesis_hash: &Hash) -> Vec<Instruction> {
        let authority = self.governance.pubkey();
        vec![
            verifier::initialize(&authority, self.initialize_args_for(genesis_hash)),
            verifier::add_allowed(&authority, self.allowed()),
        ]
    }

    /// Starts a bank whose verifier this trust setup governs, initialised.
    pub async fn start_bank(&self) -> Result<LocalBank, BanksClientError> {
        self.start_bank_with(|_| {}).await
    }

    /// [`Self::start_bank`] with more programs or accounts added by `extend`.
    pub async fn start_bank_with(
        &self,
        extend: impl FnOnce(&mut solana_program_test::ProgramTest),
    ) -> Result<LocalBank, BanksClientError> {
        let mut bank = LocalBank::start_with(&self.governance.pubkey(), extend).await;
        let ixs = self.setup_instructions(&bank);
        bank.process(&ixs, &[&self.governance]).await?;
        Ok(bank)
    }

    /// A statement for `tee` as the attesters would sign it after verifying its quote at `now`.
    pub fn statement(&self, bank: &LocalBank, tee: &Keypair, nonce: u64, now: i64) -> AttestationStatement {
        self.statement_for(&bank.genesis_hash(), tee, nonce, now)
    }

    /// [`Self::statement`] for the cluster with `genesis_hash`.
    pub fn statement_for(
        &self,
        genesis_hash: &Hash,
        tee: &Keypair,
        nonce: u64,
        now: i64,
    ) -> AttestationStatement {
        attestation::statement(StatementFields {
            cluster_genesis_hash: genesis_hash.to_bytes(),
            tee_pubkey: tee.pubkey(),
            app_id: self.app.app_id,
            compose_hash: self.app.compose_hash,
            measurement: self.measurement,
            tcb_status: TcbStatus::UpToDate as u8,
            quote_hash: hashv(&[b"dev-quote", tee.pubkey().as_ref()]).to_bytes(),
            nonce,
            verified_at: now,
            expires_at: now + DEV_KEY_LIFETIME_SECS,
        })
    }

    /// The precompile + `register_tee` instructions for `statement`, signed by the first
    /// `threshold` attesters.
    pub fn registration(&self, bank: &LocalBank, statement: &AttestationStatement) -> Vec<Instruction> {
        self.registration_for(&bank.payer().pubkey(), statement)
    }

    /// [`Self::registration`] with `payer` as the transaction's fee payer.
    pub fn registration_for(&self, payer: &Pubkey, statement: &AttestationStatement) -> Vec<Instruction> {
        let signers: Vec<&dyn Signer> =
            self.attesters.iter().take(self.threshold as usize).map(|k| k as &dyn Signer).collect();
        let signatures = attestation::sign_statement(statement, &signers);
        verifier::register_tee_transaction_instructions(payer, statement, &signatures)
            .expect("few signatures")
    }

    /// Registers `tee` with a fresh statement signed by `threshold` attesters.
    pub async fn register(
        &self,
        bank: &mut LocalBank,
        tee: &Keypair,
        nonce: u64,
    ) -> Result<(), BanksClientError> {
        let now = bank.clock().await.unix_timestamp;
        let statement = self.statement(bank, tee, nonce, now);
        let ixs = self.registration(bank, &statement);
        bank.process(&ixs, &[tee]).await
    }
}

/// An app created on the bank by [`DevTrust::create_app`], at `pda::app(publisher, app_id)`.
pub struct DevApp {
    pub app_id: [u8; 32],
    pub address: Pubkey,
    pub publisher: Keypair,
    pub tree: Pubkey,
    pub shard_count: u16,
    pub max_depth: u32,
    pub max_buffer_size: u32,
}

impl DevTrust {
    /// A policy allowing exactly this trust setup's measurement and app identity.
    pub fn app_policy(&self) -> AppPolicy {
        AppPolicy {
            allowed: vec![AppAllowedTee {
                measurement: self.measurement,
                app_id: self.app.app_id,
                compose_hash: self.app.compose_hash,
            }],
            max_tcb_status: TcbStatus::SwHardeningNeeded as u8,
            blocked_keys: Vec::new(),
            min_key_validity_secs: 60,
        }
    }

    /// Creates an app owned by a fresh funded publisher, with every shard initialised.
    pub async fn create_app(
        &self,
        bank: &mut LocalBank,
        app_id: [u8; 32],
        shard_count: u16,
        (max_depth, max_buffer_size): (u32, u32),
    ) -> Result<DevApp, BanksClientError> {
        let publisher = Keypair::new();
        let tree = Keypair::new();
        let fund = system_instruction::transfer(&bank.payer().pubkey(), &publisher.pubkey(), 10_000_000_000);
        bank.process(&[fund], &[]).await?;
        let rent = bank.rent().await;
        let args =
            CreateAppArgs { app_id, shard_count, max_depth, max_buffer_size, policy: self.app_policy() };
        let ixs = roots::create_app(&publisher.pubkey(), &tree.pubkey(), &rent, args).expect("allowed shape");
        let address = ironroot_sdk::pda::app(&publisher.pubkey(), &app_id);
        bank.process(&ixs, &[&publisher, &tree]).await?;
        for chunk in (0..shard_count).collect::<Vec<_>>().chunks(8) {
            let ixs: Vec<Instruction> =
                chunk.iter().map(|id| roots::init_shard(&publisher.pubkey(), &address, *id)).collect();
            bank.process(&ixs, &[&publisher]).await?;
        }
        Ok(DevApp {
            app_id,
            address,
            publisher,
            tree: tree.pubkey(),
            shard_count,
            max_depth,
            max_buffer_size,
        })
    }
}
