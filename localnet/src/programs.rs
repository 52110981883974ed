//! Ironroot's programs, spl-account-compression and spl-noop as LiteSVM builtins running their
//! real entrypoints natively (no SBF toolchain here), through the same wrappers as the in-process
//! bank. SPL Token, Token-2022, Memo and the associated-token program come with LiteSVM as SBF
//! binaries.
use ironroot_bank::programs::{
    app_roots_entry, compression_entry, registry_entry, storage_stake_entry, verifier_entry,
};
use litesvm::LiteSVM;
use solana_program_test::{processor, ProgramTest};
use solana_sdk::pubkey::Pubkey;

use crate::LocalnetError;

/// Every program the localnet serves, by name, as written to its config.
pub fn program_ids() -> Vec<(&'static str, Pubkey)> {
    vec![
        ("attestation_verifier", attestation_verifier::ID),
        ("tee_registry", tee_registry::ID),
        ("app_roots", app_roots::ID),
        ("storage_stake", storage_stake::ID),
        ("spl_account_compression", spl_account_compression::ID),
        ("spl_noop", spl_noop::ID),
        ("spl_token", spl_token_id()),
    ]
}

/// The SPL Token program id; LiteSVM loads that program (an SBF build) by default.
pub fn spl_token_id() -> Pubkey {
    solana_sdk::pubkey!("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
}

/// Registers the native programs. `processor!` adapts a `solana-program` entrypoint to the
/// runtime's builtin interface (serialising the accounts as the SBF loader would).
pub fn add_builtins(svm: &mut LiteSVM) {
    svm.add_builtin(attestation_verifier::ID, builtin(processor!(verifier_entry)));
    svm.add_builtin(tee_registry::ID, builtin(processor!(registry_entry)));
    svm.add_builtin(app_roots::ID, builtin(processor!(app_roots_entry)));
    svm.add_builtin(storage_stake::ID, builtin(processor!(storage_stake_entry)));
    svm.add_builtin(spl_account_compression::ID, builtin(processor!(compression_entry)));
    svm.add_builtin(spl_noop::ID, builtin(processor!(spl_noop::noop)));
}

type Builtin = solana_program_runtime::invoke_context::BuiltinFunctionWithContext;

fn builtin(entry: Option<Builtin>) -> Builtin {
    // `processor!` always builds `Some`; the `Option` only suits `ProgramTest::add_program`.
    entry.expect("processor! yields a builtin")
}

/// Native programs reach `invoke`, sysvars and logging through `solana-program`'s syscall stubs.
/// solana-program-test owns the stubs that bridge them to the running invoke context and installs
/// them (once per process) only when it starts a bank, so a throwaway bank is started here on a
/// private runtime, which is then dropped with everything it spawned. Without the stubs a CPI
/// would silently do nothing and `Clock::get` would fail.
pub fn install_syscall_stubs() -> Result<(), LocalnetError> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(LocalnetError::Runtime)?;
    runtime.block_on(async {
        let mut throwaway = ProgramTest::default();
        throwaway.prefer_bpf(false);
        drop(throwaway.start().await);
    });
    Ok(())
}
