//! Registering the programs natively. Anchor's `entry<'info>` ties the lifetimes of the account
//! slice and its elements, which `processor!` cannot express; leaking a copy of the slice for the
//! duration of the test process gives it the `'info` it asks for. The JSON-RPC localnet registers
//! the same wrappers as LiteSVM builtins.
use solana_program_test::{processor, ProgramTest};
use solana_sdk::account::Account;
use solana_sdk::account_info::AccountInfo;
use solana_sdk::bpf_loader_upgradeable::{self, UpgradeableLoaderState};
use solana_sdk::entrypoint::ProgramResult;
use solana_sdk::pubkey::Pubkey;

/// `attestation_verifier::entry` with a signature `processor!` accepts.
pub fn verifier_entry(program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    attestation_verifier::entry(program_id, Box::leak(Box::new(accounts.to_vec())), data)
}

/// `tee_registry::entry` with a signature `processor!` accepts.
pub fn registry_entry(program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    tee_registry::entry(program_id, Box::leak(Box::new(accounts.to_vec())), data)
}

/// `app_roots::entry` with a signature `processor!` accepts.
pub fn app_roots_entry(program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    app_roots::entry(program_id, Box::leak(Box::new(accounts.to_vec())), data)
}

/// `storage_stake::entry` with a signature `processor!` accepts.
pub fn storage_stake_entry(program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    storage_stake::entry(program_id, Box::leak(Box::new(accounts.to_vec())), data)
}

/// `spl_account_compression::entry` with a signature `processor!` accepts.
pub fn compression_entry(program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    spl_account_compression::entry(program_id, Box::leak(Box::new(accounts.to_vec())), data)
}

/// A `ProgramTest` with Ironroot's programs, spl-account-compression and spl-noop registered
/// natively (SPL Token and Token-2022 are bundled by solana-program-test).
pub fn program_test() -> ProgramTest {
    // Native entrypoints only: never pick up stale SBF builds from the environment.
    std::env::remove_var("BPF_OUT_DIR");
    std::env::remove_var("SBF_OUT_DIR");
    let mut test = ProgramTest::default();
    test.prefer_bpf(false);
    test.add_program("attestation_verifier", attestation_verifier::ID, processor!(verifier_entry));
    test.add_program("tee_registry", tee_registry::ID, processor!(registry_entry));
    test.add_program("app_roots", app_roots::ID, processor!(app_roots_entry));
    test.add_program("storage_stake", storage_stake::ID, processor!(storage_stake_entry));
    test.add_program("spl_account_compression", spl_account_compression::ID, processor!(compression_entry));
    test.add_program("spl_noop", spl_noop::ID, processor!(spl_noop::noop));
    test
}

/// Native programs have no loader state; give `program_id` the program-data account an
/// upgradeable deployment would have, so "only the upgrade authority" checks work as on a cluster.
pub fn add_program_data(test: &mut ProgramTest, program_id: &Pubkey, upgrade_authority: &Pubkey) {
    test.add_account(ironroot_sdk::pda::program_data(program_id), program_data_account(upgrade_authority));
}

/// The program-data account (at `ironroot_sdk::pda::program_data(program_id)`) of an upgradeable
/// program whose upgrade authority is `upgrade_authority`.
pub fn program_data_account(upgrade_authority: &Pubkey) -> Account {
    let state =
        UpgradeableLoaderState::ProgramData { slot: 0, upgrade_authority_address: Some(*upgrade_authority) };
    Account {
        lamports: 1_000_000_000,
        data: bincode::serialize(&state).expect("loader state serializes"),
        owner: bpf_loader_upgradeable::ID,
        executable: false,
        rent_epoch: 0,
    }
}
