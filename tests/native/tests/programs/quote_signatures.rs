//! The quote's own P-256 signatures checked on-chain: the real Intel sample quotes (dcap-qvl's,
//! copied under `attester/tests/data/`) through the real secp256r1 precompile and the real
//! `record_quote_isv` / `record_quote_qe`, every tampering refused with its typed error, and
//! governance's `require_quote_signatures` flag on `register_tee`. The full registration with a
//! buffer (quotes whose report data binds a key the test holds) is in the attester's
//! `full_path.rs`, on quotes from its test PKI.
use anchor_lang::error::ErrorCode;
use anchor_lang::AccountDeserialize;
use attestation_verifier::error::VerifierError;
use attestation_verifier::secp256r1::{quote_report_data, SECP256R1_PROGRAM_ID};
use attestation_verifier::{
    Policy, QuoteBuffer, QUOTE_BUFFER_LIFETIME_SECS, STATEMENT_VERSION_WHOLE_QUOTE_HASH,
};
use ironroot_bank::dev::DevTrust;
use ironroot_bank::LocalBank;
use ironroot_sdk::quote::{negate_s, precompile_instruction, QuoteParts};
use ironroot_sdk::{pda, transaction_size, verifier, PACKET_DATA_SIZE};
use solana_sdk::instruction::{Instruction, InstructionError};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};

use crate::common::*;

/// The secp256r1 precompile's `PrecompileError::InvalidSignature`.
const PRECOMPILE_INVALID_SIGNATURE: u32 = 2;

fn sample(name: &str) -> QuoteParts {
    let path = format!("{}/../../attester/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    QuoteParts::parse(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).expect("sample parses")
}

/// The key a sample quote binds: the first half of its report data.
fn bound_key(parts: &QuoteParts) -> Pubkey {
    Pubkey::try_from(&quote_report_data(&parts.isv.message).unwrap()[..32]).unwrap()
}

async fn buffer(bank: &mut LocalBank, tee: &Pubkey, nonce: u64) -> Option<QuoteBuffer> {
    let payer = bank.payer().pubkey();
    let account = bank.account(&pda::quote_buffer(tee, nonce, &payer)).await?;
    Some(QuoteBuffer::try_deserialize(&mut account.data.as_slice()).expect("quote buffer decodes"))
}

/// Sends one transaction, asserting it fits a packet; returns its size and result.
async fn send_sized(
    bank: &mut LocalBank,
    ixs: &[Instruction],
) -> (usize, Result<(), solana_program_test::BanksClientError>) {
    let tx = bank.transaction(ixs, &[]).await;
    let size = transaction_size(&tx);
    (size, bank.send(tx).await)
}

#[track_caller]
fn assert_precompile_refused(result: Result<(), solana_program_test::BanksClientError>) {
    assert_eq!(
        instruction_error(&result),
        Some((0, InstructionError::Custom(PRECOMPILE_INVALID_SIGNATURE))),
        "{result:?}"
    );
}

#[tokio::test]
async fn the_sample_quotes_are_recorded_through_the_real_precompile_in_two_packets() {
    let (_trust, mut bank) = trusted_bank(1, 1).await;
    let payer = bank.payer().pubkey();
    for (nonce, name) in [(1u64, "tdx_quote"), (2, "sgx_quote"), (3, "tdx_quote_outdated")] {
        let parts = sample(name);
        let tee = bound_key(&parts);
        let [isv, qe] = parts.record_instructions(&payer, &tee, nonce);
        let (isv_size, result) = send_sized(&mut bank, &isv).await;
        result.unwrap_or_else(|e| panic!("{name} part 1: {e:?}"));
        let half = buffer(&mut bank, &tee, nonce).await.expect("part 1 opens the buffer");
        assert!(!half.complete);
        let (qe_size, result) = send_sized(&mut bank, &qe).await;
        result.unwrap_or_else(|e| panic!("{name} part 2: {e:?}"));
        println!("{name}: record_quote_isv tx {isv_size} B, record_quote_qe tx {qe_size} B (limit {PACKET_DATA_SIZE})");
        assert!(
            isv_size <= PACKET_DATA_SIZE && qe_size <= PACKET_DATA_SIZE,
            "{name}: {isv_size} / {qe_size}"
        );

        let recorded = buffer(&mut bank, &tee, nonce).await.unwrap();
        assert!(recorded.complete);
        assert_eq!((recorded.tee, recorded.nonce, recorded.payer), (tee, nonce, payer));
        assert_eq!(recorded.header_body_hash, solana_sdk::hash::hash(&parts.isv.message).to_bytes());
        assert_eq!(recorded.qe_report_hash, solana_sdk::hash::hash(&parts.qe_report.message).to_bytes());
        assert_eq!(recorded.attestation_key, parts.isv.public_key);
        assert_eq!(recorded.pck_key, parts.qe_report.public_key);
        assert_eq!(recorded.digest(), parts.digest(), "{name}: the chain's digest is the SDK's");
    }
}

#[tokio::test]
async fn a_td15_extended_quote_does_not_fit_a_packet_and_its_layout_is_refused() {
    let (_trust, mut bank) = trusted_bank(1, 1).await;
    let payer = bank.payer().pubkey();
    let parts = sample("tdx_quote_td15ex");
    // Any key: the layout is refused before the report data is looked at.
    let tee = Pubkey::new_unique();
    let [isv, _] = parts.record_instructions(&payer, &tee, 1);
    // The native bank does not enforce the packet limit, so the program's own refusal shows too.
    let (size, result) = send_sized(&mut bank, &isv).await;
    println!("tdx_quote_td15ex (v5, TD 1.5 extended body): record_quote_isv tx {size} B");
    assert!(size > PACKET_DATA_SIZE, "{size}");
    assert_code(result, VerifierError::UnsupportedQuoteLayout);
}

#[tokio::test]
async fn tampered_signed_bytes_keys_and_high_s_fail_in_the_precompile() {
    let (_trust, mut bank) = trusted_bank(1, 1).await;
    let payer = bank.payer().pubkey();
    let parts = sample("tdx_quote");
    let tee = bound_key(&parts);
    let record_isv = verifier::record_quote_isv(&payer, &tee, 1);

    let mut body = parts.isv.clone();
    body.message[48 + 100] ^= 1; // inside the TD report, outside the report data
    let mut header = parts.isv.clone();
    header.message[40] ^= 1;
    let swapped =
        ironroot_sdk::quote::P256Signature { public_key: parts.qe_report.public_key, ..parts.isv.clone() };
    let mut high_s = parts.isv.clone();
    high_s.signature = negate_s(&high_s.signature);
    for (what, sig) in [("body", body), ("header", header), ("swapped key", swapped), ("high S", high_s)] {
        let result = bank.process(&[precompile_instruction(&[&sig]), record_isv.clone()], &[]).await;
        assert_precompile_refused(result);
        assert!(buffer(&mut bank, &tee, 1).await.is_none(), "{what}: nothing recorded");
    }

    let [isv, _] = parts.record_instructions(&payer, &tee, 1);
    bank.process(&isv, &[]).await.unwrap();
    let mut qe_report = parts.qe_report.clone();
    qe_report.message[100] ^= 1;
    let record_qe =
        verifier::record_quote_qe(&payer, &tee, 1, parts.attestation_key, parts.qe_auth_data.clone());
    assert_precompile_refused(bank.process(&[precompile_instruction(&[&qe_report]), record_qe], &[]).await);
    assert!(!buffer(&mut bank, &tee, 1).await.unwrap().complete);
}

#[tokio::test]
async fn the_precompile_must_be_right_before_and_hold_one_self_contained_signature() {
    let (_trust, mut bank) = trusted_bank(1, 1).await;
    let payer = bank.payer().pubkey();
    let parts = sample("sgx_quote");
    let tee = bound_key(&parts);
    let record_isv = verifier::record_quote_isv(&payer, &tee, 1);
    let precompile = precompile_instruction(&[&parts.isv]);

    // No precompile at all, or not right before the record instruction.
    assert_code(
        bank.process(std::slice::from_ref(&record_isv), &[]).await,
        VerifierError::MissingQuoteSignature,
    );
    let result = bank.process(&[record_isv.clone(), precompile.clone()], &[]).await;
    assert_code(result, VerifierError::MissingQuoteSignature);
    let between = solana_sdk::system_instruction::transfer(&payer, &payer, 0);
    let result = bank.process(&[precompile.clone(), between, record_isv.clone()], &[]).await;
    assert_code(result, VerifierError::MissingQuoteSignature);

    // Two signatures in one precompile instruction.
    let both = precompile_instruction(&[&parts.isv, &parts.qe_report]);
    assert_code(
        bank.process(&[both, record_isv.clone()], &[]).await,
        VerifierError::QuoteSignatureRedirected,
    );

    // A valid signature whose message lives in another instruction (a copy of the precompile
    // instruction placed after the record instruction): the precompile accepts it, the program
    // refuses to read bytes it did not check itself.
    let copy = precompile.clone();
    let message_offset = copy.data.len() - parts.isv.message.len();
    let mut redirected = precompile.clone();
    redirected.data[2 + 12..2 + 14].copy_from_slice(&2u16.to_le_bytes()); // message instruction index
    redirected.data[2 + 8..2 + 10].copy_from_slice(&(message_offset as u16).to_le_bytes());
    let result = bank.process(&[redirected, record_isv.clone(), copy], &[]).await;
    assert_code(result, VerifierError::QuoteSignatureRedirected);
    assert!(buffer(&mut bank, &tee, 1).await.is_none());

    // Wrong precompile for the part: the QE report precompile before `record_quote_isv`.
    let qe_first = precompile_instruction(&[&parts.qe_report]);
    assert_code(
        bank.process(&[qe_first, record_isv.clone()], &[]).await,
        VerifierError::UnsupportedQuoteLayout,
    );
    // And the header‖body precompile before `record_quote_qe`.
    bank.process(&[precompile.clone(), record_isv], &[]).await.unwrap();
    let record_qe =
        verifier::record_quote_qe(&payer, &tee, 1, parts.attestation_key, parts.qe_auth_data.clone());
    assert_code(bank.process(&[precompile, record_qe], &[]).await, VerifierError::MalformedQeReport);
    assert_eq!(SECP256R1_PROGRAM_ID, precompile_instruction(&[&parts.isv]).program_id);
}

#[tokio::test]
async fn parts_must_bind_the_tee_key_the_attestation_key_and_one_buffer() {
    let (_trust, mut bank) = trusted_bank(1, 1).await;
    let payer = bank.payer().pubkey();
    let parts = sample("tdx_quote");
    let tee = bound_key(&parts);
    let precompile_isv = precompile_instruction(&[&parts.isv]);
    let precompile_qe = precompile_instruction(&[&parts.qe_report]);

    // Report data binding another key.
    let other = Pubkey::new_unique();
    let result =
        bank.process(&[precompile_isv.clone(), verifier::record_quote_isv(&payer, &other, 1)], &[]).await;
    assert_code(result, VerifierError::ReportDataKeyMismatch);

    // Part 2 before part 1: there is no buffer.
    let record_qe =
        |nonce: u64, key: [u8; 64], auth: Vec<u8>| verifier::record_quote_qe(&payer, &tee, nonce, key, auth);
    let result = bank
        .process(
            &[precompile_qe.clone(), record_qe(1, parts.attestation_key, parts.qe_auth_data.clone())],
            &[],
        )
        .await;
    assert_anchor(result, ErrorCode::AccountNotInitialized);

    bank.process(&[precompile_isv.clone(), verifier::record_quote_isv(&payer, &tee, 1)], &[]).await.unwrap();
    // Part 1 twice for one (key, nonce, payer): the buffer exists.
    let again = bank.process(&[precompile_isv, verifier::record_quote_isv(&payer, &tee, 1)], &[]).await;
    assert!(again.is_err(), "part 1 twice");
    // Part 2 for another nonce: another (missing) buffer.
    let result = bank
        .process(
            &[precompile_qe.clone(), record_qe(2, parts.attestation_key, parts.qe_auth_data.clone())],
            &[],
        )
        .await;
    assert_anchor(result, ErrorCode::AccountNotInitialized);
    // Another payer's part 2 names its own (missing) buffer.
    let stranger = Keypair::new();
    bank.process(&[solana_sdk::system_instruction::transfer(&payer, &stranger.pubkey(), 1_000_000_000)], &[])
        .await
        .unwrap();
    let foreign = verifier::record_quote_qe(
        &stranger.pubkey(),
        &tee,
        1,
        parts.attestation_key,
        parts.qe_auth_data.clone(),
    );
    let result = bank.process(&[precompile_qe.clone(), foreign], &[&stranger]).await;
    assert_anchor(result, ErrorCode::AccountNotInitialized);

    // A raw attestation key that is not part 1's signer.
    let mut wrong_key = parts.attestation_key;
    wrong_key[5] ^= 1;
    let result = bank
        .process(&[precompile_qe.clone(), record_qe(1, wrong_key, parts.qe_auth_data.clone())], &[])
        .await;
    assert_code(result, VerifierError::AttestationKeyMismatch);
    // QE authentication data the QE report does not bind.
    let mut auth = parts.qe_auth_data.clone();
    auth.push(0);
    let result = bank.process(&[precompile_qe.clone(), record_qe(1, parts.attestation_key, auth)], &[]).await;
    assert_code(result, VerifierError::QeReportDataMismatch);
    let result =
        bank.process(&[precompile_qe.clone(), record_qe(1, parts.attestation_key, vec![0; 257])], &[]).await;
    assert_code(result, VerifierError::QeAuthDataTooLong);

    bank.process(
        &[precompile_qe.clone(), record_qe(1, parts.attestation_key, parts.qe_auth_data.clone())],
        &[],
    )
    .await
    .unwrap();
    let result = bank
        .process(&[precompile_qe, record_qe(1, parts.attestation_key, parts.qe_auth_data.clone())], &[])
        .await;
    assert_code(result, VerifierError::QuotePartAlreadyRecorded);
}

#[tokio::test]
async fn an_unconsumed_buffer_returns_its_rent_to_its_payer_after_expiry_only() {
    let (_trust, mut bank) = trusted_bank(1, 1).await;
    let payer = bank.payer().pubkey();
    let parts = sample("sgx_quote");
    let tee = bound_key(&parts);
    let [isv, qe] = parts.record_instructions(&payer, &tee, 7);
    bank.process(&isv, &[]).await.unwrap();
    let address = pda::quote_buffer(&tee, 7, &payer);
    let rent = bank.account(&address).await.unwrap().lamports;
    assert!(rent > 0);

    let close = verifier::close_quote_buffer(&payer, &tee, 7);
    assert_code(bank.process(std::slice::from_ref(&close), &[]).await, VerifierError::QuoteBufferNotExpired);
    // Someone else cannot close it (the buffer names its payer).
    let stranger = Keypair::new();
    bank.process(&[solana_sdk::system_instruction::transfer(&payer, &stranger.pubkey(), 1_000_000_000)], &[])
        .await
        .unwrap();
    let mut foreign = verifier::close_quote_buffer(&stranger.pubkey(), &tee, 7);
    foreign.accounts[1].pubkey = address;
    bank.advance_clock(QUOTE_BUFFER_LIFETIME_SECS).await;
    assert_code(bank.process(&[foreign], &[&stranger]).await, VerifierError::QuoteBufferPayerMismatch);
    // An expired buffer takes no part 2 either.
    assert_code(bank.process(&qe, &[]).await, VerifierError::QuoteBufferExpired);

    let before = bank.account(&payer).await.unwrap().lamports;
    let tx = bank.transaction(&[close], &[]).await;
    let fee = 5_000;
    bank.send(tx).await.unwrap();
    assert!(bank.account(&address).await.is_none(), "buffer closed");
    assert_eq!(bank.account(&payer).await.unwrap().lamports, before + rent - fee);
}

async fn set_policy(trust: &DevTrust, bank: &mut LocalBank, policy: Policy) {
    bank.process(&[verifier::set_policy(&trust.governance.pubkey(), policy)], &[&trust.governance])
        .await
        .unwrap();
}

#[tokio::test]
async fn with_the_flag_on_register_tee_needs_a_buffer_and_a_version_2_statement() {
    let (trust, mut bank) = trusted_bank(1, 1).await;
    let now = bank.clock().await.unix_timestamp;

    // Flag off: version 2 and version 1 statements register without a buffer.
    let tee = Keypair::new();
    trust.register(&mut bank, &tee, 1).await.expect("v2, flag off");
    let old = Keypair::new();
    let mut v1 = trust.statement(&bank, &old, 1, now);
    v1.version = STATEMENT_VERSION_WHOLE_QUOTE_HASH;
    bank.process(&trust.registration(&bank, &v1), &[&old]).await.expect("v1, flag off");

    set_policy(&trust, &mut bank, Policy { require_quote_signatures: true, ..DevTrust::policy() }).await;
    let config = ironroot_sdk::registry::decode_verifier_config(
        &pda::verifier_config(),
        &bank.account(&pda::verifier_config()).await.unwrap(),
    )
    .unwrap();
    assert!(config.policy.require_quote_signatures);

    let tee = Keypair::new();
    assert_code(trust.register(&mut bank, &tee, 1).await, VerifierError::QuoteSignaturesRequired);
    let mut v1 = trust.statement(&bank, &tee, 2, now);
    v1.version = STATEMENT_VERSION_WHOLE_QUOTE_HASH;
    assert_code(
        bank.process(&trust.registration(&bank, &v1), &[&tee]).await,
        VerifierError::UnsupportedVersion,
    );
    // A buffer address with no buffer behind it.
    let statement = trust.statement(&bank, &tee, 3, now);
    let mut ixs = trust.registration(&bank, &statement);
    ixs[1] = verifier::register_tee_with_quote(&bank.payer().pubkey(), &tee.pubkey(), 3);
    assert_anchor(bank.process(&ixs, &[&tee]).await, ErrorCode::AccountNotInitialized);

    // Flag off again: registrations without a buffer pass again.
    set_policy(&trust, &mut bank, DevTrust::policy()).await;
    trust.register(&mut bank, &tee, 4).await.expect("flag off again");
}

#[tokio::test]
async fn a_recorded_buffer_of_another_key_is_not_accepted_by_register_tee() {
    // The sample quote's buffer is complete, but it belongs to the key the sample binds, not to
    // the key registering: naming it in `register_tee` is refused before anything else.
    let (trust, mut bank) = trusted_bank(1, 1).await;
    set_policy(&trust, &mut bank, Policy { require_quote_signatures: true, ..DevTrust::policy() }).await;
    let payer = bank.payer().pubkey();
    let parts = sample("tdx_quote");
    let bound = bound_key(&parts);
    for ixs in parts.record_instructions(&payer, &bound, 1) {
        bank.process(&ixs, &[]).await.unwrap();
    }
    let tee = Keypair::new();
    let now = bank.clock().await.unix_timestamp;
    let mut statement = trust.statement(&bank, &tee, 1, now);
    statement.quote_hash = parts.digest();
    let mut ixs = trust.registration(&bank, &statement);
    ixs[1] = verifier::register_tee_with_quote(&payer, &tee.pubkey(), 1);
    let buffer_meta =
        ixs[1].accounts.iter().position(|m| m.pubkey == pda::quote_buffer(&tee.pubkey(), 1, &payer)).unwrap();
    ixs[1].accounts[buffer_meta].pubkey = pda::quote_buffer(&bound, 1, &payer);
    assert_code(bank.process(&ixs, &[&tee]).await, VerifierError::QuoteBufferMismatch);
    assert!(buffer(&mut bank, &bound, 1).await.is_some(), "the buffer stays");
}
