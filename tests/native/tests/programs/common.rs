//! Shared helpers: error-code assertions and a registered-bank fixture.
use anchor_lang::error::ErrorCode;
use ironroot_bank::dev::DevTrust;
use ironroot_bank::LocalBank;
use solana_program_test::BanksClientError;
use solana_sdk::instruction::InstructionError;
use solana_sdk::transaction::TransactionError;

/// The custom error code a failed transaction ended with, if it ended with one.
pub fn custom_code(result: &Result<(), BanksClientError>) -> Option<u32> {
    match result {
        Err(BanksClientError::TransactionError(TransactionError::InstructionError(
            _,
            InstructionError::Custom(code),
        ))) => Some(*code),
        Err(BanksClientError::SimulationError {
            err: TransactionError::InstructionError(_, InstructionError::Custom(code)),
            ..
        }) => Some(*code),
        _ => None,
    }
}

#[track_caller]
pub fn assert_code(result: Result<(), BanksClientError>, expected: impl Into<u32>) {
    let expected = expected.into();
    assert_eq!(custom_code(&result), Some(expected), "expected custom error {expected}, got {result:?}");
}

#[track_caller]
pub fn assert_anchor(result: Result<(), BanksClientError>, expected: ErrorCode) {
    assert_code(result, expected as u32);
}

/// The instruction error a failed transaction ended with.
pub fn instruction_error(result: &Result<(), BanksClientError>) -> Option<(u8, InstructionError)> {
    match result {
        Err(BanksClientError::TransactionError(TransactionError::InstructionError(i, e))) => {
            Some((*i, e.clone()))
        }
        _ => None,
    }
}

pub async fn trusted_bank(attesters: usize, threshold: u8) -> (DevTrust, LocalBank) {
    let trust = DevTrust::new(attesters, threshold);
    let bank = trust.start_bank().await.expect("verifier initialises");
    (trust, bank)
}
