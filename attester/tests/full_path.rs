//! The whole path on our own test PKI: a TEE's quote binding a key we choose → the attester checks
//! it against governance's config read from the in-process bank → the signed statement registers
//! the key through `register_tee`. And the attacks: a quote bound to another key, a measurement or
//! app off the allow-list, a replayed nonce, a forged event log, a revoked TCB, a foreign root CA.
//! With governance requiring the quote's own signatures on-chain: the quote's parts recorded
//! through the secp256r1 precompile, then `register_tee` consuming the buffer; a digest mismatch,
//! another nonce's buffer and a missing buffer refused.

use std::sync::Arc;

use crate::common::pki::TestPki;
use anchor_lang::AccountDeserialize;
use async_trait::async_trait;
use attestation_verifier::{AllowedTee, AppIdentity, InitializeArgs, TcbStatus, VerifierConfig};
use ironroot_attester::attest::StatementWindow;
use ironroot_attester::chain::{decode_account, ChainView};
use ironroot_attester::collateral::{CollateralSource, DirectorySource};
use ironroot_attester::eventlog::dstack_boot_log;
use ironroot_attester::quote::{measurement_digest, parse_quote, INTEL_ROOT_CA_DER};
use ironroot_attester::{
    AttestError, AttestRequest, Attestation, Attester, AttesterError, AttesterSettings, Check,
};
use ironroot_bank::dev::DevTrust;
use ironroot_bank::LocalBank;
use ironroot_sdk::quote::QuoteParts;
use ironroot_sdk::{attestation, pda, verifier};
use solana_program_test::BanksClientError;
use solana_sdk::instruction::InstructionError;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::TransactionError;
use tee_registry::TeeEntry;
use tokio::sync::Mutex;

const APP_ID: [u8; 20] = [0xA7; 20];
const COMPOSE: [u8; 32] = [0xC3; 32];

/// The governance state as the bank holds it.
struct BankChain(Arc<Mutex<LocalBank>>);

#[async_trait]
impl ChainView for BankChain {
    async fn genesis_hash(&self) -> Result<[u8; 32], AttesterError> {
        Ok(self.0.lock().await.genesis_hash().to_bytes())
    }

    async fn verifier_config(&self) -> Result<VerifierConfig, AttesterError> {
        let account = self
            .0
            .lock()
            .await
            .account(&pda::verifier_config())
            .await
            .ok_or(AttesterError::NoVerifierConfig)?;
        decode_account(&account, &attestation_verifier::ID, "verifier config")
    }

    async fn tee_entry(&self, tee: &Pubkey) -> Result<Option<TeeEntry>, AttesterError> {
        let account = self.0.lock().await.account(&pda::tee_entry(tee)).await;
        account.map(|a| decode_account(&a, &tee_registry::ID, "TEE entry")).transpose()
    }
}

fn app_id32() -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..20].copy_from_slice(&APP_ID);
    id
}

struct World {
    bank: Arc<Mutex<LocalBank>>,
    governance: Keypair,
    /// Copies of the attesters' keys, to forge what a compromised attester would sign.
    attester_keys: Vec<Keypair>,
    pki: TestPki,
    attesters: Vec<Attester>,
    genesis: [u8; 32],
    event_log: String,
    rtmr3: [u8; 48],
    _collateral_dir: tempfile::TempDir,
}

/// A bank governed with `attester_count` attesters (threshold = count) whose clocks run 30 s apart.
async fn world_with(
    pki_for: impl FnOnce(i64) -> TestPki,
    root: Option<Vec<u8>>,
    attester_count: usize,
) -> World {
    let governance = Keypair::new();
    let attester_keys: Vec<Keypair> = (0..attester_count).map(|_| Keypair::new()).collect();
    let mut bank = LocalBank::start(&governance.pubkey()).await;
    let now = bank.clock().await.unix_timestamp;
    let genesis = bank.genesis_hash().to_bytes();
    let pki = pki_for(now);

    let (event_log, rtmr3) = dstack_boot_log(&APP_ID, &COMPOSE, b"instance-1");
    let probe = parse_quote(&pki.quote(&[0; 64], &rtmr3, None)).unwrap();
    let setup = [
        verifier::initialize(
            &governance.pubkey(),
            InitializeArgs {
                authority: governance.pubkey(),
                cluster_genesis_hash: genesis,
                attesters: attester_keys.iter().map(|k| k.pubkey()).collect(),
                threshold: attester_count as u8,
                policy: DevTrust::policy(),
            },
        ),
        verifier::add_allowed(
            &governance.pubkey(),
            AllowedTee {
                measurement: measurement_digest(&probe.report),
                app: AppIdentity { app_id: app_id32(), compose_hash: COMPOSE },
                max_tcb_status: TcbStatus::OutOfDateConfigurationNeeded as u8,
            },
        ),
    ];
    bank.process(&setup, &[&governance]).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let key = ironroot_attester::collateral::CollateralKey::of(&probe).unwrap();
    std::fs::write(dir.path().join(key.file_name()), serde_json::to_vec(&pki.collateral).unwrap()).unwrap();
    let collateral: Arc<dyn CollateralSource> = Arc::new(DirectorySource::new(dir.path()));
    let bank = Arc::new(Mutex::new(bank));
    let key_copies = attester_keys.iter().map(|k| k.insecure_clone()).collect();
    let attesters = attester_keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            let root_ca_der = root.clone().unwrap_or_else(|| pki.root_der.clone());
            let clock = now as u64 + 30 * i as u64;
            Attester::new(
                key,
                AttesterSettings { root_ca_der, ..AttesterSettings::default() },
                collateral.clone(),
                Arc::new(BankChain(bank.clone())),
                Arc::new(move || clock),
            )
        })
        .collect();
    World {
        bank,
        governance,
        attester_keys: key_copies,
        pki,
        attesters,
        genesis,
        event_log,
        rtmr3,
        _collateral_dir: dir,
    }
}

async fn world() -> World {
    world_with(TestPki::new, None, 1).await
}

impl World {
    fn attester(&self) -> &Attester {
        &self.attesters[0]
    }

    /// What an honest TEE holding `tee` sends: a quote binding its key and nonce, the boot log.
    fn request(&self, tee: &Pubkey, nonce: u64) -> AttestRequest {
        let report_data = attestation::report_data(&self.genesis, tee, &app_id32(), nonce);
        AttestRequest {
            quote: self.pki.quote(&report_data, &self.rtmr3, None),
            event_log: self.event_log.clone(),
            tee_pubkey: *tee,
            app_id: app_id32(),
            compose_hash: COMPOSE,
            cluster_genesis_hash: self.genesis,
            nonce,
            window: None,
        }
    }

    async fn register(&self, tee: &Keypair, attestation: &Attestation) -> Result<(), String> {
        self.register_all(tee, std::slice::from_ref(attestation)).await
    }

    /// Registers with every attestation's signature over the first one's statement.
    async fn register_all(&self, tee: &Keypair, attestations: &[Attestation]) -> Result<(), String> {
        let mut bank = self.bank.lock().await;
        let payer = bank.payer().pubkey();
        let signatures: Vec<_> = attestations.iter().map(|a| (a.attester, a.signature)).collect();
        let ixs =
            verifier::register_tee_transaction_instructions(&payer, &attestations[0].statement, &signatures)
                .unwrap();
        let tx = bank.transaction(&ixs, &[tee]).await;
        let size = ironroot_sdk::transaction_size(&tx);
        assert!(size <= ironroot_sdk::PACKET_DATA_SIZE, "registration tx {size} B");
        bank.send(tx).await.map_err(|e| e.to_string())
    }

    async fn entry(&self, tee: &Pubkey) -> Option<TeeEntry> {
        let account = self.bank.lock().await.account(&pda::tee_entry(tee)).await?;
        Some(TeeEntry::try_deserialize(&mut account.data.as_slice()).unwrap())
    }
}

fn refused(result: Result<Attestation, AttestError>) -> ironroot_attester::Refusal {
    match result {
        Err(AttestError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_quote_from_our_pki_registers_its_key_through_the_attester() {
    let world = world().await;
    let tee = Keypair::new();
    let request = world.request(&tee.pubkey(), 1);
    let attestation = world.attester().attest(&request).await.expect("attester signs");
    let statement = &attestation.statement;
    assert_eq!(statement.tee_pubkey, tee.pubkey());
    assert_eq!((statement.app_id, statement.compose_hash), (app_id32(), COMPOSE));
    assert_eq!(statement.version, attestation_verifier::STATEMENT_VERSION);
    assert_eq!(statement.quote_hash, QuoteParts::parse(&request.quote).unwrap().digest());
    assert_eq!(attestation.dcap_status, "UpToDate");

    assert!(world.entry(&tee.pubkey()).await.is_none());
    world.register(&tee, &attestation).await.expect("register_tee accepts the attester's statement");
    let entry = world.entry(&tee.pubkey()).await.expect("registry entry written");
    assert_eq!(entry.tee_pubkey, tee.pubkey());
    assert_eq!(entry.measurement, statement.measurement);
    assert_eq!((entry.app_id, entry.compose_hash), (app_id32(), COMPOSE));
    assert_eq!(entry.quote_hash, statement.quote_hash);
    assert_eq!(entry.last_nonce, 1);
    assert_eq!(entry.expires_at, statement.expires_at);
    assert!(!entry.revoked);

    // The same nonce again: the attester reads the registry and refuses the replay.
    let replay = refused(world.attester().attest(&world.request(&tee.pubkey(), 1)).await);
    assert_eq!(replay.check, Check::Nonce, "{replay}");
    // A fresh nonce re-registers (the refresh before expiry).
    let refreshed = world.attester().attest(&world.request(&tee.pubkey(), 2)).await.unwrap();
    world.register(&tee, &refreshed).await.unwrap();
    assert_eq!(world.entry(&tee.pubkey()).await.unwrap().last_nonce, 2);
}

#[tokio::test]
async fn a_quote_binding_another_key_is_refused_and_its_statement_could_not_register_anyway() {
    let world = world().await;
    let (tee, attacker) = (Keypair::new(), Keypair::new());
    // The operator holds a genuine quote for the TEE's key and asks for the attacker's key.
    let mut request = world.request(&tee.pubkey(), 1);
    request.tee_pubkey = attacker.pubkey();
    let refusal = refused(world.attester().attest(&request).await);
    assert_eq!(refusal.check, Check::ReportDataBinding);
    assert!(refusal.reason.contains("another TEE key"));
    // A quote for the right key but another nonce (an old quote replayed with a new nonce).
    let mut stale = world.request(&tee.pubkey(), 1);
    stale.nonce = 7;
    assert_eq!(refused(world.attester().attest(&stale).await).check, Check::ReportDataBinding);
    assert!(world.entry(&attacker.pubkey()).await.is_none());
}

#[tokio::test]
async fn a_disallowed_measurement_or_app_is_refused() {
    let world = world().await;
    let tee = Keypair::new();
    let mut request = world.request(&tee.pubkey(), 1);
    let report_data = attestation::report_data(&world.genesis, &tee.pubkey(), &app_id32(), 1);
    request.quote = world.pki.quote(&report_data, &world.rtmr3, Some(&[0x66; 48]));
    assert_eq!(refused(world.attester().attest(&request).await).check, Check::Measurement);

    // A consistent quote and log for an app governance never allowed.
    let other_compose = [0x0D; 32];
    let (log, rtmr3) = dstack_boot_log(&APP_ID, &other_compose, b"instance-1");
    let request = AttestRequest {
        quote: world.pki.quote(&report_data, &rtmr3, None),
        event_log: log,
        compose_hash: other_compose,
        ..world.request(&tee.pubkey(), 1)
    };
    assert_eq!(refused(world.attester().attest(&request).await).check, Check::AppIdentity);
}

#[tokio::test]
async fn a_wrong_event_log_or_claim_is_refused() {
    let world = world().await;
    let tee = Keypair::new();
    // The log of another boot (other compose hash) against the quote's RTMR3.
    let (foreign_log, _) = dstack_boot_log(&APP_ID, &[0x0D; 32], b"instance-1");
    let request = AttestRequest { event_log: foreign_log, ..world.request(&tee.pubkey(), 1) };
    let refusal = refused(world.attester().attest(&request).await);
    assert_eq!(refusal.check, Check::EventLog);
    assert!(refusal.reason.contains("RTMR3"), "{refusal}");
    // The right log, a false claim.
    let request = AttestRequest { compose_hash: [0x0D; 32], ..world.request(&tee.pubkey(), 1) };
    let refusal = refused(world.attester().attest(&request).await);
    assert_eq!(refusal.check, Check::EventLog);
    assert!(refusal.reason.contains("compose hash"), "{refusal}");
    // No log at all.
    let request = AttestRequest { event_log: "[]".into(), ..world.request(&tee.pubkey(), 1) };
    assert_eq!(refused(world.attester().attest(&request).await).check, Check::EventLog);
}

#[tokio::test]
async fn a_revoked_tcb_and_a_foreign_root_are_refused() {
    let revoked = world_with(
        |now| TestPki::with_tcb_info_edit(now, |j| j.replace("\"UpToDate\"", "\"Revoked\"")),
        None,
        1,
    )
    .await;
    let tee = Keypair::new();
    let refusal = refused(revoked.attester().attest(&revoked.request(&tee.pubkey(), 1)).await);
    assert_eq!(refusal.check, Check::TcbStatus, "{refusal}");

    let intel_rooted = world_with(TestPki::new, Some(INTEL_ROOT_CA_DER.to_vec()), 1).await;
    let refusal = refused(intel_rooted.attester().attest(&intel_rooted.request(&tee.pubkey(), 1)).await);
    assert_eq!(refusal.check, Check::QuoteSignatureChain, "{refusal}");
}

#[tokio::test]
async fn two_attesters_sign_the_same_statement_from_a_proposed_window_and_register_it() {
    let world = world_with(TestPki::new, None, 2).await;
    let tee = Keypair::new();
    let now = world.bank.lock().await.clock().await.unix_timestamp;
    let window = StatementWindow { verified_at: now, expires_at: now + 3600 };
    let request = AttestRequest { window: Some(window), ..world.request(&tee.pubkey(), 1) };
    let mut attestations = Vec::new();
    for attester in &world.attesters {
        attestations.push(attester.attest(&request).await.unwrap());
    }
    assert_eq!(
        attestations[0].statement, attestations[1].statement,
        "identical bytes despite 30 s clock skew"
    );
    assert_ne!(attestations[0].attester, attestations[1].attester);
    // One signature is below the threshold of two.
    assert!(world.register(&tee, &attestations[0]).await.is_err());
    assert!(world.entry(&tee.pubkey()).await.is_none());
    world.register_all(&tee, &attestations).await.expect("2-of-2 registers");
    assert_eq!(world.entry(&tee.pubkey()).await.unwrap().expires_at, now + 3600);

    // Without a proposal each attester dates the statement by its own clock: they differ.
    let request = world.request(&tee.pubkey(), 2);
    let a = world.attesters[0].attest(&request).await.unwrap();
    let b = world.attesters[1].attest(&request).await.unwrap();
    assert_ne!(a.statement, b.statement);
    // A proposal far from the attester's clock, or longer than its lifetime cap, is refused.
    for window in [
        StatementWindow { verified_at: now - 600, expires_at: now },
        StatementWindow { verified_at: now, expires_at: now + 10 * 24 * 3600 },
    ] {
        let request = AttestRequest { window: Some(window), ..world.request(&tee.pubkey(), 3) };
        assert_eq!(refused(world.attester().attest(&request).await).check, Check::Request);
    }
    // Refusals did not use up nonce 3; vouching for it twice is refused.
    let request = AttestRequest { window: Some(window), ..world.request(&tee.pubkey(), 3) };
    world.attester().attest(&request).await.expect("nonce 3 is still unused");
    assert_eq!(refused(world.attester().attest(&request).await).check, Check::Nonce);
}

/// The custom error code a failed transaction ended with.
fn custom_code(result: &Result<(), BanksClientError>) -> Option<u32> {
    match result {
        Err(BanksClientError::TransactionError(TransactionError::InstructionError(
            _,
            InstructionError::Custom(code),
        ))) => Some(*code),
        _ => None,
    }
}

#[track_caller]
fn assert_code(result: Result<(), BanksClientError>, expected: impl Into<u32>) {
    let expected = expected.into();
    assert_eq!(custom_code(&result), Some(expected), "expected custom error {expected}, got {result:?}");
}

impl World {
    async fn require_quote_signatures(&self) {
        let policy = attestation_verifier::Policy { require_quote_signatures: true, ..DevTrust::policy() };
        let ix = verifier::set_policy(&self.governance.pubkey(), policy);
        self.bank.lock().await.process(&[ix], &[&self.governance]).await.unwrap();
    }

    /// Records the quote's two signed parts for `(tee, nonce)` with the bank's payer; returns the
    /// two transactions' sizes.
    async fn record_quote(&self, quote: &[u8], tee: &Pubkey, nonce: u64) -> [usize; 2] {
        let mut bank = self.bank.lock().await;
        let payer = bank.payer().pubkey();
        let mut sizes = [0; 2];
        for (i, ixs) in
            QuoteParts::parse(quote).unwrap().record_instructions(&payer, tee, nonce).iter().enumerate()
        {
            let tx = bank.transaction(ixs, &[]).await;
            sizes[i] = ironroot_sdk::transaction_size(&tx);
            bank.send(tx).await.unwrap_or_else(|e| panic!("quote part {}: {e:?}", i + 1));
        }
        sizes
    }

    /// `register_tee` naming the payer's quote buffer of `(tee, buffer_nonce)`; returns the
    /// transaction's size and fee with the result.
    async fn register_with_buffer(
        &self,
        tee: &Keypair,
        attestation: &Attestation,
        buffer_nonce: u64,
    ) -> (usize, u64, Result<(), BanksClientError>) {
        self.register_all_with_buffer(tee, std::slice::from_ref(attestation), buffer_nonce).await
    }

    /// [`Self::register_with_buffer`] with every attestation's signature over the first one's
    /// statement.
    async fn register_all_with_buffer(
        &self,
        tee: &Keypair,
        attestations: &[Attestation],
        buffer_nonce: u64,
    ) -> (usize, u64, Result<(), BanksClientError>) {
        let mut bank = self.bank.lock().await;
        let payer = bank.payer().pubkey();
        let signatures: Vec<_> = attestations.iter().map(|a| (a.attester, a.signature)).collect();
        let mut ixs = verifier::register_tee_with_quote_transaction_instructions(
            &payer,
            &attestations[0].statement,
            &signatures,
        )
        .unwrap();
        ixs[1] = verifier::register_tee_with_quote(&payer, &tee.pubkey(), buffer_nonce);
        let tx = bank.transaction(&ixs, &[tee]).await;
        let size = ironroot_sdk::transaction_size(&tx);
        let fee = bank.ctx.banks_client.get_fee_for_message(tx.message.clone()).await.unwrap().unwrap();
        (size, fee, bank.send(tx).await)
    }
}

#[tokio::test]
async fn with_quote_signatures_required_the_recorded_quote_registers_and_its_buffer_is_closed() {
    let world = world().await;
    world.require_quote_signatures().await;
    let tee = Keypair::new();
    let request = world.request(&tee.pubkey(), 1);
    let attestation = world.attester().attest(&request).await.expect("attester signs");
    let digest = QuoteParts::parse(&request.quote).unwrap().digest();
    assert_eq!(attestation.statement.quote_hash, digest);

    // Without the quote's parts on-chain the statement alone no longer registers.
    let result = {
        let mut bank = world.bank.lock().await;
        let payer = bank.payer().pubkey();
        let signatures = [(attestation.attester, attestation.signature)];
        let ixs =
            verifier::register_tee_transaction_instructions(&payer, &attestation.statement, &signatures)
                .unwrap();
        bank.process(&ixs, &[&tee]).await
    };
    assert_code(result, attestation_verifier::error::VerifierError::QuoteSignaturesRequired);

    let [isv_size, qe_size] = world.record_quote(&request.quote, &tee.pubkey(), 1).await;
    let (payer, buffer) = {
        let bank = world.bank.lock().await;
        let payer = bank.payer().pubkey();
        (payer, pda::quote_buffer(&tee.pubkey(), 1, &payer))
    };
    let buffer_rent = world.bank.lock().await.account(&buffer).await.expect("buffer recorded").lamports;
    let before = world.bank.lock().await.account(&payer).await.unwrap().lamports;
    let (register_size, fee, result) = world.register_with_buffer(&tee, &attestation, 1).await;
    result.expect("register_tee consumes the buffer");
    println!(
        "test-PKI TDX v4 quote, flag on: record_quote_isv tx {isv_size} B, record_quote_qe tx {qe_size} B, register_tee (k = 1, with buffer) tx {register_size} B"
    );
    for size in [isv_size, qe_size, register_size] {
        assert!(size <= ironroot_sdk::PACKET_DATA_SIZE, "{size} B");
    }
    let entry = world.entry(&tee.pubkey()).await.expect("registered");
    assert_eq!(entry.quote_hash, digest);
    let mut bank = world.bank.lock().await;
    assert!(bank.account(&buffer).await.is_none(), "buffer closed");
    let entry_rent = bank.account(&pda::tee_entry(&tee.pubkey())).await.unwrap().lamports;
    let after = bank.account(&payer).await.unwrap().lamports;
    assert_eq!(after, before + buffer_rent - entry_rent - fee, "the buffer's rent went back to the payer");
}

#[tokio::test]
async fn with_quote_signatures_required_a_digest_mismatch_or_another_nonces_buffer_is_refused() {
    use attestation_verifier::error::VerifierError;
    let world = world().await;
    world.require_quote_signatures().await;
    let tee = Keypair::new();
    let first = world.request(&tee.pubkey(), 1);
    world.record_quote(&first.quote, &tee.pubkey(), 1).await;

    // A statement for nonce 2 cannot use nonce 1's buffer, and nonce 2 has none.
    let second = world.request(&tee.pubkey(), 2);
    let attestation = world.attester().attest(&second).await.unwrap();
    let (_, _, result) = world.register_with_buffer(&tee, &attestation, 1).await;
    assert_code(result, VerifierError::QuoteBufferMismatch);
    let (_, _, result) = world.register_with_buffer(&tee, &attestation, 2).await;
    assert_code(result, anchor_lang::error::ErrorCode::AccountNotInitialized as u32);

    // An attester (key compromised) vouching for another quote hash than the recorded quote's.
    let third = world.request(&tee.pubkey(), 3);
    let genuine = world.attester().attest(&third).await.unwrap();
    world.record_quote(&third.quote, &tee.pubkey(), 3).await;
    let mut statement = genuine.statement.clone();
    statement.quote_hash[0] ^= 1;
    let key = &world.attester_keys[0];
    let forged =
        Attestation { signature: key.sign_message(&statement.to_bytes()), statement, ..genuine.clone() };
    let (_, _, result) = world.register_with_buffer(&tee, &forged, 3).await;
    assert_code(result, VerifierError::QuoteDigestMismatch);
    assert!(world.entry(&tee.pubkey()).await.is_none(), "nothing registered");
    // The genuine statement registers with the same buffer.
    let (_, _, result) = world.register_with_buffer(&tee, &genuine, 3).await;
    result.expect("the recorded quote's digest matches");
    assert_eq!(world.entry(&tee.pubkey()).await.unwrap().last_nonce, 3);
}

#[tokio::test]
async fn with_quote_signatures_required_three_attesters_still_fit_a_packet() {
    let world = world_with(TestPki::new, None, 3).await;
    world.require_quote_signatures().await;
    let tee = Keypair::new();
    let now = world.bank.lock().await.clock().await.unix_timestamp;
    let window = StatementWindow { verified_at: now, expires_at: now + 3600 };
    let request = AttestRequest { window: Some(window), ..world.request(&tee.pubkey(), 1) };
    let mut attestations = Vec::new();
    for attester in &world.attesters {
        attestations.push(attester.attest(&request).await.unwrap());
    }
    world.record_quote(&request.quote, &tee.pubkey(), 1).await;
    let (size, _, result) = world.register_all_with_buffer(&tee, &attestations, 1).await;
    result.expect("3-of-3 with the recorded quote registers");
    println!("register_tee (k = 3, with buffer) tx {size} B");
    assert!(size <= ironroot_sdk::PACKET_DATA_SIZE, "{size} B");
    let digest = QuoteParts::parse(&request.quote).unwrap().digest();
    assert_eq!(world.entry(&tee.pubkey()).await.unwrap().quote_hash, digest);
}
