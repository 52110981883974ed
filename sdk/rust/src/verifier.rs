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
    ix(
        accounts::RegisterTee {
            payer: *payer,
            tee: *tee,
            config: pda::verifier_config(),
            verifier_authority: pda::verifier_authority(),
            tee_entry: pda::tee_entry(tee),
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
