//! Instruction builders for the attestation verifier.
use anchor_lang::{InstructionData, ToAccountMetas};
use attestation_verifier::{
    accounts, instruction, AllowedTee, AppIdentity, AttestationStatement, InitializeArgs, Policy,
};
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use solana_sdk::{system_program, sysvar};

use crate::{attestation, pda, SdkError};

fn ix(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction {
        program_id: attestation_verifier::ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

pub fn initialize(upgrade_authority: &Pubkey, args: InitializeArgs) -> Instruction {
    ix(
        accounts::Initialize {
            upgrade_authority: *upgrade_authority,
            program_data: pda::program_data(&attestation_verifier::ID),
            config: pda::verifier_config(),
            system_program: system_program::ID,
        },
        instruction::Initialize { args },
    )
}

/// The `register_tee` instruction alone; see [`register_tee_transaction_instructions`].
pub fn register_tee(payer: &Pubkey, tee: &Pubkey) -> Instruction {
    register_tee_with_buffer(payer, tee, None)
}

/// `register_tee` consuming `payer`'s quote buffer of `(tee, nonce)` (rent back to `payer`).
pub fn register_tee_with_quote(payer: &Pubkey, tee: &Pubkey, nonce: u64) -> Instruction {
    register_tee_with_buffer(payer, tee, Some(pda::quote_buffer(tee, nonce, payer)))
}

fn register_tee_with_buffer(payer: &Pubkey, tee: &Pubkey, quote_buffer: Option<Pubkey>) -> Instruction {
    ix(
        accounts::RegisterTee {
            payer: *payer,
            tee: *tee,
            config: pda::verifier_config(),
            verifier_authority: pda::verifier_authority(),
            tee_entry: pda::tee_entry(tee),
            quote_buffer,
            instructions: sysvar::instructions::ID,
            tee_registry_program: tee_registry::ID,
            system_program: system_program::ID,
        },
        instruction::RegisterTee {},
    )
}

/// The two instructions of a registration: the precompile carrying the statement and the
/// attesters' signatures, then `register_tee`. The transaction must be signed by `payer` and `tee`.
pub fn register_tee_transaction_instructions(
    payer: &Pubkey,
    statement: &AttestationStatement,
    signatures: &[(Pubkey, Signature)],
) -> Result<Vec<Instruction>, SdkError> {
    Ok(vec![
        attestation::ed25519_instruction(&statement.to_bytes(), signatures)?,
        register_tee(payer, &statement.tee_pubkey),
    ])
}

/// Like [`register_tee_transaction_instructions`], consuming the quote buffer that
/// [`crate::quote::QuoteParts::record_instructions`] filled for the statement's key and nonce.
pub fn register_tee_with_quote_transaction_instructions(
    payer: &Pubkey,
    statement: &AttestationStatement,
    signatures: &[(Pubkey, Signature)],
) -> Result<Vec<Instruction>, SdkError> {
    Ok(vec![
        attestation::ed25519_instruction(&statement.to_bytes(), signatures)?,
        register_tee_with_quote(payer, &statement.tee_pubkey, statement.nonce),
    ])
}

/// Part 1 of the quote's on-chain check; must follow the precompile instruction over header‖body.
pub fn record_quote_isv(payer: &Pubkey, tee: &Pubkey, nonce: u64) -> Instruction {
    ix(
        accounts::RecordQuoteIsv {
            payer: *payer,
            quote_buffer: pda::quote_buffer(tee, nonce, payer),
            instructions: sysvar::instructions::ID,
            system_program: system_program::ID,
        },
        instruction::RecordQuoteIsv { tee: *tee, nonce },
    )
}

/// Part 2; must follow the precompile instruction over the QE report.
pub fn record_quote_qe(
    payer: &Pubkey,
    tee: &Pubkey,
    nonce: u64,
    attestation_key: [u8; 64],
    qe_auth_data: Vec<u8>,
) -> Instruction {
    ix(
        accounts::RecordQuoteQe {
            payer: *payer,
            quote_buffer: pda::quote_buffer(tee, nonce, payer),
            instructions: sysvar::instructions::ID,
        },
        instruction::RecordQuoteQe { tee: *tee, nonce, attestation_key, qe_auth_data },
    )
}

/// The payer reclaims an expired, unconsumed quote buffer.
pub fn close_quote_buffer(payer: &Pubkey, tee: &Pubkey, nonce: u64) -> Instruction {
    ix(
        accounts::CloseQuoteBuffer { payer: *payer, quote_buffer: pda::quote_buffer(tee, nonce, payer) },
        instruction::CloseQuoteBuffer {},
    )
}

pub fn revoke_tee(authority: &Pubkey, tee: &Pubkey) -> Instruction {
    ix(
        accounts::RevokeTee {
            authority: *authority,
            config: pda::verifier_config(),
            verifier_authority: pda::verifier_authority(),
            tee_entry: pda::tee_entry(tee),
            tee_registry_program: tee_registry::ID,
        },
        instruction::RevokeTee {},
    )
}

fn governed(authority: &Pubkey) -> accounts::Governed {
    accounts::Governed { authority: *authority, config: pda::verifier_config() }
}

pub fn set_attesters(authority: &Pubkey, attesters: Vec<Pubkey>, threshold: u8) -> Instruction {
    ix(governed(authority), instruction::SetAttesters { attesters, threshold })
}

pub fn add_allowed(authority: &Pubkey, allowed: AllowedTee) -> Instruction {
    ix(governed(authority), instruction::AddAllowed { allowed })
}

pub fn remove_allowed(authority: &Pubkey, measurement: [u8; 32], app: AppIdentity) -> Instruction {
    ix(governed(authority), instruction::RemoveAllowed { measurement, app })
}

pub fn set_policy(authority: &Pubkey, policy: Policy) -> Instruction {
    ix(governed(authority), instruction::SetPolicy { policy })
}

pub fn propose_authority(authority: &Pubkey, new_authority: Pubkey) -> Instruction {
    ix(governed(authority), instruction::ProposeAuthority { new_authority })
}

pub fn accept_authority(new_authority: &Pubkey) -> Instruction {
    ix(
        accounts::AcceptAuthority { new_authority: *new_authority, config: pda::verifier_config() },
        instruction::AcceptAuthority {},
    )
}
