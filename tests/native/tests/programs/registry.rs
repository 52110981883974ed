//! The TEE registry: no way in but the verifier's PDA; revocation by governance; key status.
use anchor_lang::error::ErrorCode;
use anchor_lang::{InstructionData, ToAccountMetas};
use attestation_verifier::error::VerifierError;
use ironroot_bank::LocalBank;
use ironroot_sdk::registry::{tee_key_status, TeeKeyStatus};
use ironroot_sdk::{pda, verifier, SdkError};
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::system_program;
use tee_registry::error::RegistryError;
use tee_registry::RegisterArgs;

use crate::common::*;

fn direct_register(verifier_authority: Pubkey, payer: Pubkey, tee: Pubkey, expires_at: i64) -> Instruction {
    Instruction {
        program_id: tee_registry::ID,
        accounts: tee_registry::accounts::Register {
            verifier_authority,
            payer,
            entry: pda::tee_entry(&tee),
            system_program: system_program::ID,
        }
        .to_account_metas(None),
        data: tee_registry::instruction::Register {
            args: RegisterArgs {
                tee_pubkey: tee,
                measurement: [1; 32],
                app_id: [2; 32],
                compose_hash: [3; 32],
                statement_hash: [4; 32],
                quote_hash: [5; 32],
                tcb_status: 0,
                nonce: 1,
                expires_at,
            },
        }
        .data(),
    }
}

async fn status(bank: &mut LocalBank, tee: &Pubkey, now: i64) -> TeeKeyStatus {
    let address = pda::tee_entry(tee);
    tee_key_status(&address, bank.account(&address).await.as_ref(), now).unwrap()
}

#[tokio::test]
async fn direct_registry_calls_without_the_verifier_pda_fail() {
    let (_trust, mut bank) = trusted_bank(1, 1).await;
    let payer = bank.payer().pubkey();
    let tee = Keypair::new();
    let expires = bank.clock().await.unix_timestamp + 3600;

    // The real PDA, which nobody outside the verifier can sign for.
    let mut ix = direct_register(pda::verifier_authority(), payer, tee.pubkey(), expires);
    ix.accounts[0].is_signer = false;
    assert_anchor(bank.process(&[ix], &[]).await, ErrorCode::AccountNotSigner);

    // A key the attacker can sign with, in the PDA's place.
    let impostor = Keypair::new();
    let ix = direct_register(impostor.pubkey(), payer, tee.pubkey(), expires);
    assert_anchor(bank.process(&[ix], &[&impostor]).await, ErrorCode::ConstraintSeeds);

    // The TEE key itself cannot register itself either.
    let ix = direct_register(tee.pubkey(), payer, tee.pubkey(), expires);
    assert_anchor(bank.process(&[ix], &[&tee]).await, ErrorCode::ConstraintSeeds);

    assert_eq!(status(&mut bank, &tee.pubkey(), expires - 3600).await, TeeKeyStatus::NotRegistered);
}

#[tokio::test]
async fn direct_revoke_without_the_verifier_pda_fails() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let tee = Keypair::new();
    trust.register(&mut bank, &tee, 1).await.unwrap();
    let impostor = Keypair::new();
    for (authority, signers) in [(pda::verifier_authority(), vec![]), (impostor.pubkey(), vec![&impostor])] {
        let mut accounts = tee_registry::accounts::Revoke {
            verifier_authority: authority,
            entry: pda::tee_entry(&tee.pubkey()),
        }
        .to_account_metas(None);
        accounts[0].is_signer = authority == impostor.pubkey();
        let ix = Instruction {
            program_id: tee_registry::ID,
            accounts,
            data: tee_registry::instruction::Revoke {}.data(),
        };
        let result = bank.process(&[ix], &signers).await;
        let expected =
            if signers.is_empty() { ErrorCode::AccountNotSigner } else { ErrorCode::ConstraintSeeds };
        assert_anchor(result, expected);
    }
    let now = bank.clock().await.unix_timestamp;
    assert!(status(&mut bank, &tee.pubkey(), now).await.is_valid());
}

#[tokio::test]
async fn governance_revokes_and_revoked_keys_stay_out() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let tee = Keypair::new();
    trust.register(&mut bank, &tee, 1).await.unwrap();
    let gov = trust.governance.pubkey();

    let outsider = Keypair::new();
    assert_code(
        bank.process(&[verifier::revoke_tee(&outsider.pubkey(), &tee.pubkey())], &[&outsider]).await,
        VerifierError::NotAuthority,
    );

    bank.process(&[verifier::revoke_tee(&gov, &tee.pubkey())], &[&trust.governance]).await.unwrap();
    let now = bank.clock().await.unix_timestamp;
    let revoked = status(&mut bank, &tee.pubkey(), now).await;
    assert!(matches!(revoked, TeeKeyStatus::Revoked { revoked_at } if revoked_at > 0), "{revoked:?}");

    // Fresh evidence does not bring a revoked key back.
    assert_code(trust.register(&mut bank, &tee, 2).await, RegistryError::TeeRevoked);
    // Revoking twice is an error, not a silent success.
    assert_code(
        bank.process(&[verifier::revoke_tee(&gov, &tee.pubkey())], &[&trust.governance]).await,
        RegistryError::AlreadyRevoked,
    );

    // Revoking a key that was never registered: the entry account does not exist.
    let never = Pubkey::new_unique();
    assert_anchor(
        bank.process(&[verifier::revoke_tee(&gov, &never)], &[&trust.governance]).await,
        ErrorCode::AccountNotInitialized,
    );
}

#[tokio::test]
async fn key_status_reflects_expiry() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let tee = Keypair::new();
    trust.register(&mut bank, &tee, 1).await.unwrap();
    let now = bank.clock().await.unix_timestamp;
    let TeeKeyStatus::Valid { expires_at } = status(&mut bank, &tee.pubkey(), now).await else {
        panic!("freshly registered key is not valid");
    };
    assert_eq!(status(&mut bank, &tee.pubkey(), expires_at - 1).await, TeeKeyStatus::Valid { expires_at });
    assert_eq!(
        status(&mut bank, &tee.pubkey(), expires_at).await,
        TeeKeyStatus::Expired { expired_at: expires_at }
    );
    // An account that is not a registry entry is an error, not "not registered".
    let config = pda::verifier_config();
    let account = bank.account(&config).await.unwrap();
    assert_eq!(
        tee_key_status(&config, Some(&account), now),
        Err(SdkError::WrongOwner {
            address: config,
            owner: attestation_verifier::ID,
            expected: tee_registry::ID
        })
    );
}
