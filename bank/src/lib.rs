//! An in-process Solana bank (solana-program-test) running Ironroot's programs natively through
//! their real entrypoints, plus a development governance/attester setup. Used by the native test
//! suite and the demo; the keeper's in-process `Chain` builds on it.
pub mod costs;
pub mod dev;
pub mod programs;

use std::collections::HashSet;

use app_roots::events::ShardUpdated;
use ironroot_sdk::history::{history_records, InnerCall};
use solana_program_test::{BanksClientError, ProgramTestContext};
use solana_sdk::clock::Clock;
use solana_sdk::hash::Hash;
use solana_sdk::instruction::Instruction;
use solana_sdk::native_token::LAMPORTS_PER_SOL;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::Transaction;

pub use programs::program_test;

/// A running bank whose verifier is upgradeable by `governance`.
pub struct LocalBank {
    pub ctx: ProgramTestContext,
    /// Signatures of transactions built so far: the bank answers a byte-identical transaction
    /// with its earlier result instead of running it, so a repeat gets a fresh blockhash.
    built: HashSet<Signature>,
}

impl LocalBank {
    /// Starts a bank with every Ironroot program; `upgrade_authority` owns the verifier's
    /// program-data account (so it may initialise the config) and is funded to pay for it.
    pub async fn start(upgrade_authority: &Pubkey) -> Self {
        Self::start_with(upgrade_authority, |_| {}).await
    }

    /// [`Self::start`] with more programs or accounts added by `extend` (tests add hostile
    /// programs this way).
    pub async fn start_with(
        upgrade_authority: &Pubkey,
        extend: impl FnOnce(&mut solana_program_test::ProgramTest),
    ) -> Self {
        let mut test = program_test();
        extend(&mut test);
        programs::add_program_data(&mut test, &attestation_verifier::ID, upgrade_authority);
        test.add_account(
            *upgrade_authority,
            solana_sdk::account::Account::new(10 * LAMPORTS_PER_SOL, 0, &solana_sdk::system_program::ID),
        );
        LocalBank { ctx: test.start_with_context().await, built: HashSet::new() }
    }

    pub fn payer(&self) -> &Keypair {
        &self.ctx.payer
    }

    pub fn genesis_hash(&self) -> Hash {
        self.ctx.genesis_config().hash()
    }

    pub async fn clock(&mut self) -> Clock {
        self.ctx.banks_client.get_sysvar::<Clock>().await.expect("clock sysvar")
    }

    /// Moves the cluster clock forward by `secs` seconds.
    pub async fn advance_clock(&mut self, secs: i64) {
        let mut clock = self.clock().await;
        clock.unix_timestamp += secs;
        self.ctx.set_sysvar(&clock);
    }

    /// A transaction paid by the bank's payer and signed by it and `signers`.
    pub async fn transaction(&mut self, ixs: &[Instruction], signers: &[&Keypair]) -> Transaction {
        let mut blockhash = self.ctx.banks_client.get_latest_blockhash().await.expect("blockhash");
        loop {
            let mut all: Vec<&Keypair> = vec![&self.ctx.payer];
            all.extend(signers.iter().copied().filter(|s| s.pubkey() != self.ctx.payer.pubkey()));
            let tx = Transaction::new_signed_with_payer(ixs, Some(&self.ctx.payer.pubkey()), &all, blockhash);
            if self.built.insert(tx.signatures[0]) {
                return tx;
            }
            blockhash = self.ctx.get_new_latest_blockhash().await.expect("new blockhash");
        }
    }

    pub async fn send(&mut self, tx: Transaction) -> Result<(), BanksClientError> {
        self.ctx.banks_client.process_transaction(tx).await
    }

    /// Builds, signs and processes a transaction paid by the bank's payer.
    pub async fn process(
        &mut self,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<(), BanksClientError> {
        let tx = self.transaction(ixs, signers).await;
        self.send(tx).await
    }

    /// Processes a transaction and returns the history records (`ShardUpdated`) it wrote through
    /// spl-noop. Native programs' logs never reach the bank, but inner instructions do: the
    /// transaction is simulated on the same bank state first to capture them, then processed.
    pub async fn process_capturing_history(
        &mut self,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<Vec<ShardUpdated>, BanksClientError> {
        let tx = self.transaction(ixs, signers).await;
        let records = self.simulated_history(&tx).await?;
        self.send(tx).await?;
        Ok(records)
    }

    /// The history records a transaction would write, from a simulation of it.
    pub async fn simulated_history(
        &mut self,
        tx: &Transaction,
    ) -> Result<Vec<ShardUpdated>, BanksClientError> {
        let simulation = self.ctx.banks_client.simulate_transaction(tx.clone()).await?;
        if let Some(Err(err)) = simulation.result {
            return Err(BanksClientError::TransactionError(err));
        }
        let keys = &tx.message.account_keys;
        let outer: Vec<Pubkey> = tx
            .message
            .instructions
            .iter()
            .map(|ix| keys.get(ix.program_id_index as usize).copied().unwrap_or_default())
            .collect();
        let inner =
            simulation.simulation_details.and_then(|details| details.inner_instructions).unwrap_or_default();
        let calls = inner.iter().enumerate().flat_map(|(outer_index, list)| {
            list.iter().filter_map(move |inner| {
                Some(InnerCall {
                    outer_index,
                    stack_height: Some(u32::from(inner.stack_height)),
                    program_id: keys.get(inner.instruction.program_id_index as usize)?,
                    data: &inner.instruction.data,
                })
            })
        });
        Ok(history_records(&outer, calls))
    }

    pub async fn rent(&mut self) -> solana_sdk::rent::Rent {
        self.ctx.banks_client.get_rent().await.expect("rent sysvar")
    }

    pub async fn account(&mut self, address: &Pubkey) -> Option<solana_sdk::account::Account> {
        self.ctx.banks_client.get_account(*address).await.expect("banks client")
    }
}
