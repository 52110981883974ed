//! The real Intel-signed sample quotes shipped with dcap-qvl (tests/data/README.md): accepted by the
//! quote checks at a `now` inside their collateral window, refused with the right check when any
//! region is tampered, the collateral is expired or stale, the root CA is wrong or the TCB status is
//! not accepted; and the whole pipeline (library and HTTP) on top of them.

use std::sync::Arc;

use crate::common::{collateral_dir, sample, sample_now, StaticChain};
use attestation_verifier::TcbStatus;
use ironroot_attester::attest::DEFAULT_FRESHNESS_SECS;
use ironroot_attester::collateral::{CollateralKey, CollateralSource, DirectorySource};
use ironroot_attester::quote::{parse_quote, verify_quote, TeeKind, INTEL_ROOT_CA_DER};
use ironroot_attester::{AttestError, AttestRequest, Attester, AttesterSettings, Check};
use solana_sdk::signature::{Keypair, Signer};

const WEEK: u64 = DEFAULT_FRESHNESS_SECS;

fn verify(
    name: &str,
    quote: &[u8],
    now: u64,
) -> Result<ironroot_attester::quote::VerifiedQuote, ironroot_attester::Refusal> {
    let (_, collateral) = sample(name);
    verify_quote(INTEL_ROOT_CA_DER, quote, &collateral, now, WEEK)
}

#[test]
fn the_sample_quotes_verify_with_their_real_status_and_measurements() {
    for (name, kind, status) in [
        ("tdx_quote", TeeKind::Tdx, TcbStatus::UpToDate),
        ("tdx_quote_td15ex", TeeKind::Tdx, TcbStatus::UpToDate),
        ("sgx_quote", TeeKind::Sgx, TcbStatus::ConfigurationAndSwHardeningNeeded),
    ] {
        let (quote, _) = sample(name);
        let verified = verify(name, &quote, sample_now(name)).unwrap_or_else(|r| panic!("{name}: {r}"));
        assert_eq!((verified.kind, verified.tcb_status), (kind, status), "{name}");
        assert_eq!(verified.rtmr3.is_some(), kind == TeeKind::Tdx, "{name}");
        let parsed = parse_quote(&quote).unwrap();
        assert_eq!(verified.measurement, ironroot_attester::quote::measurement_digest(&parsed.report));
        assert_ne!(verified.measurement, [0; 32]);
    }
}

/// Byte regions of a v4 TDX quote with a v4 auth-data layout, and of a v3 SGX quote.
fn regions(name: &str) -> Vec<(&'static str, usize)> {
    if name.starts_with("sgx") {
        vec![
            ("header user data", 40),
            ("enclave report: mrenclave", 48 + 64),
            ("enclave report: report data", 48 + 320),
            ("ISV signature", 436 + 10),
            ("attestation key", 500 + 10),
            ("QE report", 564 + 100),
            ("QE report signature", 948 + 10),
            ("PCK certificate chain", 1100),
        ]
    } else {
        vec![
            ("header user data", 40),
            ("TD report: MRTD", 48 + 136 + 5),
            ("TD report: RTMR3", 48 + 472 + 5),
            ("TD report: report data", 48 + 520 + 5),
            ("ISV signature", 636 + 10),
            ("attestation key", 700 + 10),
            ("QE report", 770 + 100),
            ("QE report signature", 1154 + 10),
            ("PCK certificate chain", 1400),
        ]
    }
}

#[test]
fn tampering_any_region_of_a_sample_quote_is_refused_by_the_signature_chain() {
    for name in ["tdx_quote", "sgx_quote"] {
        let (quote, _) = sample(name);
        let now = sample_now(name);
        for (region, offset) in regions(name) {
            let mut tampered = quote.clone();
            tampered[offset] ^= 0x01;
            let refusal = verify(name, &tampered, now).expect_err(region);
            assert!(
                matches!(refusal.check, Check::QuoteSignatureChain | Check::QuoteFormat),
                "{name} {region}: {refusal}"
            );
        }
        let truncated = &quote[..quote.len() - 100];
        assert!(verify(name, truncated, now).is_err(), "{name} truncated");
    }
}

#[test]
fn expired_stale_and_future_collateral_is_refused_as_freshness() {
    let (quote, collateral) = sample("tdx_quote");
    let (issued, next_update) = ironroot_attester::quote::issue_window(&collateral.tcb_info).unwrap();
    for (what, now, window) in [
        ("past nextUpdate", next_update as u64 + 1, u64::MAX / 2),
        ("older than the freshness window", sample_now("tdx_quote") + WEEK + 3600, WEEK),
        ("issued in the future", issued as u64 - 3600, WEEK),
    ] {
        let refusal = verify_quote(INTEL_ROOT_CA_DER, &quote, &collateral, now, window).expect_err(what);
        assert_eq!(refusal.check, Check::CollateralFreshness, "{what}: {refusal}");
    }
    // A wider window accepts collateral the default one calls stale.
    let later = sample_now("tdx_quote") + WEEK + 3600;
    assert!(verify_quote(INTEL_ROOT_CA_DER, &quote, &collateral, later, 4 * WEEK).is_ok());
}

#[test]
fn another_root_ca_refuses_the_intel_chain() {
    let (quote, collateral) = sample("tdx_quote");
    // Intel's PCK platform CA: a real certificate, but not the root the quote chains to.
    let not_root = pem_first_cert(&collateral.pck_crl_issuer_chain);
    for root in [not_root.as_slice(), b"not a certificate".as_slice()] {
        let refusal = verify_quote(root, &quote, &collateral, sample_now("tdx_quote"), WEEK).unwrap_err();
        assert_eq!(refusal.check, Check::QuoteSignatureChain, "{refusal}");
    }
}

#[test]
fn collateral_signed_fields_cannot_be_edited() {
    let (quote, collateral) = sample("tdx_quote");
    let now = sample_now("tdx_quote");
    // Turning the platform's level to Revoked (or anything else) breaks Intel's TCB info signature.
    let mut revoked = collateral.clone();
    revoked.tcb_info = revoked.tcb_info.replacen("\"UpToDate\"", "\"Revoked\"", 1);
    assert_ne!(revoked.tcb_info, collateral.tcb_info);
    let refusal = verify_quote(INTEL_ROOT_CA_DER, &quote, &revoked, now, WEEK).unwrap_err();
    assert_eq!(refusal.check, Check::QuoteSignatureChain, "{refusal}");
    let mut bad_qe = collateral.clone();
    bad_qe.qe_identity_signature[5] ^= 1;
    assert_eq!(
        verify_quote(INTEL_ROOT_CA_DER, &quote, &bad_qe, now, WEEK).unwrap_err().check,
        Check::QuoteSignatureChain
    );
}

fn pem_first_cert(chain: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = chain
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).unwrap()
}

fn attester_for(name: &str, chain: StaticChain) -> (Attester, AttestRequest) {
    let (quote, _) = sample(name);
    let now = sample_now(name);
    let dir = collateral_dir(&[name]);
    let collateral: Arc<dyn CollateralSource> = Arc::new(DirectorySource::new(dir.keep()));
    let request = AttestRequest {
        quote,
        event_log: String::new(),
        tee_pubkey: Keypair::new().pubkey(),
        app_id: [0; 32],
        compose_hash: [0; 32],
        cluster_genesis_hash: chain.genesis,
        nonce: 1,
        window: None,
    };
    let attester = Attester::new(
        Keypair::new(),
        AttesterSettings::default(),
        collateral,
        Arc::new(chain),
        Arc::new(move || now),
    );
    (attester, request)
}

fn refused(result: Result<ironroot_attester::Attestation, AttestError>) -> ironroot_attester::Refusal {
    match result {
        Err(AttestError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_real_quote_passes_chain_and_tcb_and_is_refused_for_not_binding_the_key() {
    for name in ["tdx_quote", "sgx_quote"] {
        let mut chain = StaticChain::new();
        chain.config.policy.accepted_tcb |= TcbStatus::ConfigurationAndSwHardeningNeeded.bit();
        let (attester, request) = attester_for(name, chain);
        let refusal = refused(attester.attest(&request).await);
        assert_eq!(refusal.check, Check::ReportDataBinding, "{name}: {refusal}");
        assert!(refusal.reason.contains("another TEE key"), "{refusal}");
    }
}

#[test]
fn the_outdated_sample_matches_no_tcb_level_and_is_refused_as_tcb() {
    let (quote, _) = sample("tdx_quote_outdated");
    let refusal = verify("tdx_quote_outdated", &quote, sample_now("tdx_quote_outdated")).unwrap_err();
    assert_eq!(refusal.check, Check::TcbStatus, "{refusal}");
    assert!(refusal.reason.contains("No matching TCB level"), "{refusal}");
}

#[tokio::test]
async fn a_tcb_status_governance_does_not_accept_is_refused_and_every_policy_applies() {
    // The SGX sample is ConfigurationAndSWHardeningNeeded: refused by the default policy...
    let (attester, request) = attester_for("sgx_quote", StaticChain::new());
    let refusal = refused(attester.attest(&request).await);
    assert_eq!(refusal.check, Check::TcbStatus);
    assert!(refusal.reason.contains("ConfigurationAndSWHardeningNeeded"), "{refusal}");
    // ...and passes that check once governance accepts the status.
    let mut lenient = StaticChain::new();
    lenient.config.policy.accepted_tcb |= TcbStatus::ConfigurationAndSwHardeningNeeded.bit();
    let (attester, request) = attester_for("sgx_quote", lenient);
    assert_eq!(refused(attester.attest(&request).await).check, Check::ReportDataBinding);
    // The outdated TDX sample stays refused even if governance accepted every non-revoked status.
    let mut everything = StaticChain::new();
    everything.config.policy.accepted_tcb = (TcbStatus::Revoked.bit()) - 1;
    let (attester, request) = attester_for("tdx_quote_outdated", everything);
    assert_eq!(refused(attester.attest(&request).await).check, Check::TcbStatus);
}

#[tokio::test]
async fn a_request_for_another_cluster_is_refused_before_anything_else() {
    let (attester, mut request) = attester_for("tdx_quote", StaticChain::new());
    request.cluster_genesis_hash = [0xEE; 32];
    assert_eq!(refused(attester.attest(&request).await).check, Check::Request);
}

#[tokio::test]
async fn missing_collateral_is_unavailable_not_a_refusal() {
    let (quote, _) = sample("tdx_quote");
    let empty = tempfile::tempdir().unwrap();
    let source = DirectorySource::new(empty.path());
    let parsed = parse_quote(&quote).unwrap();
    assert_eq!(
        CollateralKey::of(&parsed).unwrap().file_name(),
        "tdx-B0C06F000000-platform.json",
        "the sample's FMSPC and PCK CA name its collateral file"
    );
    assert!(source.collateral(&parsed).await.is_err());
}
