//! `register_tee`: the happy paths with their transaction sizes, and every attack on the evidence.
use anchor_lang::error::ErrorCode;
use attestation_verifier::error::VerifierError;
use attestation_verifier::{AttestationStatement, Policy, TcbStatus};
use ironroot_bank::dev::{DevTrust, DEV_KEY_LIFETIME_SECS};
use ironroot_bank::LocalBank;
use ironroot_sdk::attestation::{ed25519_instruction, sign_statement};
use ironroot_sdk::registry::{decode_tee_entry, tee_key_status, TeeKeyStatus};
use ironroot_sdk::{pda, transaction_size, verifier, PACKET_DATA_SIZE};
use solana_sdk::hash::hash;
use solana_sdk::instruction::{Instruction, InstructionError};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use tee_registry::error::RegistryError;
use tee_registry::TeeEntry;

use crate::common::*;

async fn now(bank: &mut LocalBank) -> i64 {
    bank.clock().await.unix_timestamp
}

async fn entry(bank: &mut LocalBank, tee: &Pubkey) -> Option<TeeEntry> {
    let address = pda::tee_entry(tee);
    let account = bank.account(&address).await?;
    Some(decode_tee_entry(&address, &account).expect("entry decodes"))
}

/// Instructions registering `statement` with signatures from `signers`.
fn registration(
    bank: &LocalBank,
    statement: &AttestationStatement,
    signers: &[&Keypair],
) -> Vec<Instruction> {
    let signers: Vec<&dyn Signer> = signers.iter().map(|k| *k as &dyn Signer).collect();
    let signatures = sign_statement(statement, &signers);
    verifier::register_tee_transaction_instructions(&bank.payer().pubkey(), statement, &signatures).unwrap()
}

/// Registers a statement that `tweak` altered before the attesters signed it.
async fn register_tweaked(
    trust: &DevTrust,
    bank: &mut LocalBank,
    tweak: impl FnOnce(&mut AttestationStatement),
) -> Result<(), solana_program_test::BanksClientError> {
    let tee = Keypair::new();
    let t = now(bank).await;
    let mut statement = trust.statement(bank, &tee, 1, t);
    tweak(&mut statement);
    let signers: Vec<&Keypair> = trust.attesters.iter().take(trust.threshold as usize).collect();
    let ixs = registration(bank, &statement, &signers);
    bank.process(&ixs, &[&tee]).await
}

async fn register_and_measure(attesters: usize) -> usize {
    let (trust, mut bank) = trusted_bank(attesters, attesters as u8).await;
    let tee = Keypair::new();
    let t = now(&mut bank).await;
    let statement = trust.statement(&bank, &tee, 1, t);
    let ixs = trust.registration(&bank, &statement);
    let tx = bank.transaction(&ixs, &[&tee]).await;
    let size = transaction_size(&tx);
    bank.send(tx).await.expect("register_tee");

    let after = now(&mut bank).await;
    let entry = entry(&mut bank, &tee.pubkey()).await.expect("entry created");
    assert_eq!(entry.tee_pubkey, tee.pubkey());
    assert_eq!(entry.measurement, trust.measurement);
    assert_eq!(entry.app_id, trust.app.app_id);
    assert_eq!(entry.compose_hash, trust.app.compose_hash);
    assert_eq!(entry.statement_hash, hash(&statement.to_bytes()).to_bytes());
    assert_eq!(entry.quote_hash, statement.quote_hash);
    assert_eq!(entry.tcb_status, TcbStatus::UpToDate as u8);
    assert_eq!(entry.last_nonce, 1);
    assert!(!entry.revoked);
    assert!(entry.registered_at >= t && entry.registered_at <= after);
    assert_eq!(entry.expires_at, statement.expires_at);
    let address = pda::tee_entry(&tee.pubkey());
    let status = tee_key_status(&address, bank.account(&address).await.as_ref(), after).unwrap();
    assert_eq!(status, TeeKeyStatus::Valid { expires_at: statement.expires_at });
    size
}

#[tokio::test]
async fn registers_with_one_attester_and_fits_a_packet() {
    let size = register_and_measure(1).await;
    println!("register_tee transaction, k = 1: {size} bytes");
    assert!(size <= PACKET_DATA_SIZE, "k = 1 transaction is {size} bytes");
}

#[tokio::test]
async fn registers_with_three_attesters_and_fits_a_packet() {
    let size = register_and_measure(3).await;
    println!("register_tee transaction, k = 3: {size} bytes");
    assert!(size <= PACKET_DATA_SIZE, "k = 3 transaction is {size} bytes");
}

#[tokio::test]
async fn refresh_extends_expiry_and_needs_a_larger_nonce() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let tee = Keypair::new();
    trust.register(&mut bank, &tee, 5).await.unwrap();
    let first = entry(&mut bank, &tee.pubkey()).await.unwrap();

    // The same statement again, in a different transaction (another fee payer): a replay.
    let t = now(&mut bank).await;
    let statement = trust.statement(&bank, &tee, 5, t);
    let replay_payer = Keypair::new();
    bank.process(
        &[solana_sdk::system_instruction::transfer(
            &bank.payer().pubkey(),
            &replay_payer.pubkey(),
            1_000_000_000,
        )],
        &[],
    )
    .await
    .unwrap();
    let signatures = sign_statement(&statement, &[&trust.attesters[0] as &dyn Signer]);
    let ixs =
        verifier::register_tee_transaction_instructions(&replay_payer.pubkey(), &statement, &signatures)
            .unwrap();
    let blockhash = bank.ctx.banks_client.get_latest_blockhash().await.unwrap();
    let tx = solana_sdk::transaction::Transaction::new_signed_with_payer(
        &ixs,
        Some(&replay_payer.pubkey()),
        &[&replay_payer, &tee],
        blockhash,
    );
    assert_code(bank.send(tx).await, RegistryError::NonceReplayed);
    // An older nonce is a replay too.
    assert_code(trust.register(&mut bank, &tee, 4).await, RegistryError::NonceReplayed);

    bank.advance_clock(3600).await;
    trust.register(&mut bank, &tee, 6).await.unwrap();
    let refreshed = entry(&mut bank, &tee.pubkey()).await.unwrap();
    assert_eq!(refreshed.registered_at, first.registered_at);
    assert!(refreshed.refreshed_at >= first.refreshed_at + 3600);
    assert!(refreshed.expires_at >= first.expires_at + 3600);
    assert_eq!(refreshed.last_nonce, 6);
}

#[tokio::test]
async fn refresh_cannot_change_the_measurement() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let other = [0xAB; 32];
    let pair = attestation_verifier::AllowedTee { measurement: other, ..trust.allowed() };
    bank.process(&[verifier::add_allowed(&trust.governance.pubkey(), pair)], &[&trust.governance])
        .await
        .unwrap();
    let tee = Keypair::new();
    trust.register(&mut bank, &tee, 1).await.unwrap();
    let t = now(&mut bank).await;
    let mut statement = trust.statement(&bank, &tee, 2, t);
    statement.measurement = other;
    let ixs = registration(&bank, &statement, &[&trust.attesters[0]]);
    assert_code(bank.process(&ixs, &[&tee]).await, RegistryError::EvidenceMismatch);
}

#[tokio::test]
async fn registration_lifetime_is_capped_by_policy() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let tee = Keypair::new();
    let t = now(&mut bank).await;
    let mut statement = trust.statement(&bank, &tee, 1, t);
    statement.expires_at = t + 100 * DEV_KEY_LIFETIME_SECS;
    let ixs = registration(&bank, &statement, &[&trust.attesters[0]]);
    bank.process(&ixs, &[&tee]).await.unwrap();
    let after = now(&mut bank).await;
    let e = entry(&mut bank, &tee.pubkey()).await.unwrap();
    assert!(e.expires_at >= t + DEV_KEY_LIFETIME_SECS && e.expires_at <= after + DEV_KEY_LIFETIME_SECS);
}

#[tokio::test]
async fn too_few_duplicate_and_foreign_attesters_are_refused() {
    let (trust, mut bank) = trusted_bank(3, 2).await;
    let tee = Keypair::new();
    let t = now(&mut bank).await;
    let statement = trust.statement(&bank, &tee, 1, t);
    let [a, b, _] = [&trust.attesters[0], &trust.attesters[1], &trust.attesters[2]];

    let ixs = registration(&bank, &statement, &[a]);
    assert_code(bank.process(&ixs, &[&tee]).await, VerifierError::InsufficientAttesters);

    let ixs = registration(&bank, &statement, &[a, a]);
    assert_code(bank.process(&ixs, &[&tee]).await, VerifierError::DuplicateAttester);

    let outsider = Keypair::new();
    let ixs = registration(&bank, &statement, &[a, &outsider]);
    assert_code(bank.process(&ixs, &[&tee]).await, VerifierError::UnknownAttester);

    assert!(entry(&mut bank, &tee.pubkey()).await.is_none(), "nothing registered");
    let ixs = registration(&bank, &statement, &[b, a]);
    bank.process(&ixs, &[&tee]).await.expect("two distinct members suffice");
}

#[tokio::test]
async fn tampered_statement_fails_in_the_precompile() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let tee = Keypair::new();
    let t = now(&mut bank).await;
    let statement = trust.statement(&bank, &tee, 1, t);
    let mut ixs = registration(&bank, &statement, &[&trust.attesters[0]]);
    // Flip one byte of the measurement inside the signed message, after signing.
    let message_start = ixs[0].data.len() - AttestationStatement::LEN;
    let measurement_at = 16 + 1 + 5 * 32;
    ixs[0].data[message_start + measurement_at] ^= 1;
    let result = bank.process(&ixs, &[&tee]).await;
    // The Ed25519 precompile (instruction 0) rejects the signature: InvalidSignature = 2.
    assert_eq!(instruction_error(&result), Some((0, InstructionError::Custom(2))), "{result:?}");
    assert!(entry(&mut bank, &tee.pubkey()).await.is_none());
}

#[tokio::test]
async fn signatures_over_different_statements_are_refused() {
    let (trust, mut bank) = trusted_bank(2, 2).await;
    let tee = Keypair::new();
    let t = now(&mut bank).await;
    let first = trust.statement(&bank, &tee, 1, t);
    let mut second = first.clone();
    second.nonce = 2;
    let sign =
        |s: &AttestationStatement, k: &Keypair| -> Vec<(Pubkey, Signature)> { sign_statement(s, &[k]) };
    let ixs = vec![
        ed25519_instruction(&first.to_bytes(), &sign(&first, &trust.attesters[0])).unwrap(),
        ed25519_instruction(&second.to_bytes(), &sign(&second, &trust.attesters[1])).unwrap(),
        verifier::register_tee(&bank.payer().pubkey(), &tee.pubkey()),
    ];
    assert_code(bank.process(&ixs, &[&tee]).await, VerifierError::StatementMismatch);
}

const MESSAGE_INDEX_FIELD: usize = 6;
const KEY_INDEX_FIELD: usize = 3;

/// One precompile signature entry with its key, signature and message in its own data, except
/// that the instruction-index field `field` names instruction `target` instead.
fn redirected_precompile(statement: &[u8], attester: &Keypair, field: usize, target: u16) -> Instruction {
    let key_offset: u16 = 2 + 14;
    let sig_offset = key_offset + 32;
    let msg_offset = sig_offset + 64;
    let mut fields =
        [sig_offset, u16::MAX, key_offset, u16::MAX, msg_offset, statement.len() as u16, u16::MAX];
    fields[field] = target;
    let mut data = vec![1u8, 0];
    for f in fields {
        data.extend_from_slice(&f.to_le_bytes());
    }
    data.extend_from_slice(attester.pubkey().as_ref());
    data.extend_from_slice(attester.sign_message(statement).as_ref());
    data.extend_from_slice(statement);
    Instruction { program_id: solana_sdk::ed25519_program::ID, accounts: vec![], data }
}

#[tokio::test]
async fn offset_redirection_is_refused() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let tee = Keypair::new();
    let t = now(&mut bank).await;
    let statement = trust.statement(&bank, &tee, 1, t).to_bytes();
    for field in [MESSAGE_INDEX_FIELD, KEY_INDEX_FIELD] {
        let precompile = redirected_precompile(&statement, &trust.attesters[0], field, 1);
        // Instruction 1 (a no-op) holds a byte-identical copy of the precompile's data, so the
        // redirected offsets find the same bytes and the precompile itself accepts the signature.
        let decoy = Instruction { program_id: spl_noop::ID, accounts: vec![], data: precompile.data.clone() };
        let ixs = vec![precompile, decoy, verifier::register_tee(&bank.payer().pubkey(), &tee.pubkey())];
        assert_code(bank.process(&ixs, &[&tee]).await, VerifierError::OffsetRedirection);
    }
    assert!(entry(&mut bank, &tee.pubkey()).await.is_none());
}

#[tokio::test]
async fn statement_must_name_this_cluster_registry_and_domain() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let r = register_tweaked(&trust, &mut bank, |s| s.cluster_genesis_hash = [1; 32]).await;
    assert_code(r, VerifierError::WrongCluster);
    let r = register_tweaked(&trust, &mut bank, |s| s.registry_program = Pubkey::new_unique()).await;
    assert_code(r, VerifierError::WrongProgram);
    let r = register_tweaked(&trust, &mut bank, |s| s.domain = *b"SOMEONE-ELSE-V01").await;
    assert_code(r, VerifierError::WrongDomain);
    let r = register_tweaked(&trust, &mut bank, |s| s.version = 3).await;
    assert_code(r, VerifierError::UnsupportedVersion);
    let r = register_tweaked(&trust, &mut bank, |s| s.version = 0).await;
    assert_code(r, VerifierError::UnsupportedVersion);
}

#[tokio::test]
async fn statement_must_be_fresh_and_unexpired() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let age = DevTrust::policy().max_statement_age_secs;
    let r = register_tweaked(&trust, &mut bank, |s| s.verified_at -= age + 1).await;
    assert_code(r, VerifierError::StatementStale);
    let r = register_tweaked(&trust, &mut bank, |s| s.verified_at += 3600).await;
    assert_code(r, VerifierError::StatementFromFuture);
    let r = register_tweaked(&trust, &mut bank, |s| s.expires_at = s.verified_at - 1).await;
    assert_code(r, VerifierError::StatementExpired);

    // A statement that was fresh when signed goes stale if it is held back.
    let tee = Keypair::new();
    let t = now(&mut bank).await;
    let statement = trust.statement(&bank, &tee, 1, t);
    let ixs = trust.registration(&bank, &statement);
    bank.advance_clock(age + 10).await;
    assert_code(bank.process(&ixs, &[&tee]).await, VerifierError::StatementStale);
}

#[tokio::test]
async fn measurement_app_tcb_and_nonce_floor_are_enforced() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let r = register_tweaked(&trust, &mut bank, |s| s.measurement = [0x55; 32]).await;
    assert_code(r, VerifierError::TeeNotAllowed);
    let r = register_tweaked(&trust, &mut bank, |s| s.compose_hash = [0x66; 32]).await;
    assert_code(r, VerifierError::TeeNotAllowed);
    let r = register_tweaked(&trust, &mut bank, |s| s.app_id = [0x67; 32]).await;
    assert_code(r, VerifierError::TeeNotAllowed);
    let r = register_tweaked(&trust, &mut bank, |s| s.tcb_status = TcbStatus::OutOfDate as u8).await;
    assert_code(r, VerifierError::TcbNotAccepted);
    let r = register_tweaked(&trust, &mut bank, |s| s.tcb_status = 200).await;
    assert_code(r, VerifierError::TcbNotAccepted);

    let policy = Policy { nonce_floor: 100, ..DevTrust::policy() };
    bank.process(&[verifier::set_policy(&trust.governance.pubkey(), policy)], &[&trust.governance])
        .await
        .unwrap();
    let r = register_tweaked(&trust, &mut bank, |s| s.nonce = 99).await;
    assert_code(r, VerifierError::NonceBelowFloor);
    register_tweaked(&trust, &mut bank, |s| s.nonce = 100).await.expect("nonce at the floor");
}

#[tokio::test]
async fn the_tee_key_must_sign_and_match_the_statement() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let tee = Keypair::new();
    let t = now(&mut bank).await;
    let statement = trust.statement(&bank, &tee, 1, t);

    // The TEE account is named but does not sign: no proof of possession.
    let mut ixs = trust.registration(&bank, &statement);
    ixs[1].accounts[1].is_signer = false;
    assert_anchor(bank.process(&ixs, &[]).await, ErrorCode::AccountNotSigner);

    // Another key signs in the TEE's place.
    let other = Keypair::new();
    let ixs = vec![
        trust.registration(&bank, &statement).remove(0),
        verifier::register_tee(&bank.payer().pubkey(), &other.pubkey()),
    ];
    assert_code(bank.process(&ixs, &[&other]).await, VerifierError::TeeKeyMismatch);
    assert!(entry(&mut bank, &tee.pubkey()).await.is_none());
    assert!(entry(&mut bank, &other.pubkey()).await.is_none());
}

#[tokio::test]
async fn accounts_of_register_tee_are_checked() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let tee = Keypair::new();
    let t = now(&mut bank).await;
    let statement = trust.statement(&bank, &tee, 1, t);
    let good = trust.registration(&bank, &statement);

    // No precompile instruction at all.
    assert_code(bank.process(&good[1..], &[&tee]).await, VerifierError::MissingAttestation);

    // Account order: payer, tee, config, verifier_authority, tee_entry, quote_buffer (absent: the
    // program id), instructions, registry, system.
    let mut ixs = good.clone();
    ixs[1].accounts[6].pubkey = solana_sdk::sysvar::clock::ID;
    assert_anchor(bank.process(&ixs, &[&tee]).await, ErrorCode::ConstraintAddress);

    // A quote buffer that is another program's account, or the verifier's config account.
    let mut ixs = good.clone();
    ixs[1].accounts[5].pubkey = solana_sdk::sysvar::clock::ID;
    assert_anchor(bank.process(&ixs, &[&tee]).await, ErrorCode::AccountOwnedByWrongProgram);
    let mut ixs = good.clone();
    ixs[1].accounts[5].pubkey = pda::verifier_config();
    ixs[1].accounts[5].is_writable = true;
    assert_anchor(bank.process(&ixs, &[&tee]).await, ErrorCode::AccountDiscriminatorMismatch);

    let mut ixs = good.clone();
    ixs[1].accounts[3].pubkey = Pubkey::new_unique();
    assert_anchor(bank.process(&ixs, &[&tee]).await, ErrorCode::ConstraintSeeds);

    // The entry PDA of another key: the registry's seed check refuses it.
    let mut ixs = good.clone();
    ixs[1].accounts[4].pubkey = pda::tee_entry(&Pubkey::new_unique());
    assert_anchor(bank.process(&ixs, &[&tee]).await, ErrorCode::ConstraintSeeds);

    let mut ixs = good.clone();
    ixs[1].accounts[7].pubkey = spl_noop::ID;
    assert_anchor(bank.process(&ixs, &[&tee]).await, ErrorCode::InvalidProgramId);

    bank.process(&good, &[&tee]).await.expect("the untampered registration");
}
