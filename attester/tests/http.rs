//! The daemon's HTTP surface on 127.0.0.1 (ephemeral port): typed refusals and validation errors as
//! JSON, the OpenAPI document; and collateral fetched from a PCCS (a local one serving the sample
//! collateral) and cached.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{collateral_dir, sample, sample_now, StaticChain};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use ironroot_attester::api::{router, ErrorResponse};
use ironroot_attester::collateral::{CollateralSource, DirectorySource, PccsSource};
use ironroot_attester::quote::{parse_quote, verify_quote, INTEL_ROOT_CA_DER};
use ironroot_attester::{Attester, AttesterSettings, Check};
use serde_json::json;
use solana_sdk::signature::{Keypair, Signer};

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn attest_over_http_returns_typed_refusals_and_validation_errors() {
    let chain = StaticChain::new();
    let genesis = solana_sdk::hash::Hash::new_from_array(chain.genesis).to_string();
    let now = sample_now("tdx_quote");
    let dir = collateral_dir(&["tdx_quote"]);
    let attester_key = Keypair::new();
    let attester_pubkey = attester_key.pubkey();
    let attester = Attester::new(
        attester_key,
        AttesterSettings::default(),
        Arc::new(DirectorySource::new(dir.path())),
        Arc::new(chain),
        Arc::new(move || now),
    );
    let base = serve(router(Arc::new(attester))).await;
    let http = reqwest::Client::new();

    let info: serde_json::Value =
        http.get(format!("{base}/v1/info")).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["attester"], attester_pubkey.to_string());

    let (quote, _) = sample("tdx_quote");
    let body = json!({
        "quote": hex::encode(&quote), "event_log": "[]", "tee_pubkey": Keypair::new().pubkey().to_string(),
        "app_id": hex::encode([1u8; 32]), "compose_hash": hex::encode([2u8; 32]), "cluster": genesis, "nonce": 5,
    });
    let response = http.post(format!("{base}/v1/attest")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let error: ErrorResponse = response.json().await.unwrap();
    assert_eq!((error.error.code.as_str(), error.error.check), ("REFUSED", Some(Check::ReportDataBinding)));

    let mut tampered = quote.clone();
    tampered[700] ^= 1;
    let mut body_tampered = body.clone();
    body_tampered["quote"] = json!(hex::encode(&tampered));
    let error: ErrorResponse = http
        .post(format!("{base}/v1/attest"))
        .json(&body_tampered)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(error.error.check, Some(Check::QuoteSignatureChain), "{}", error.error.message);

    let mut bad = body.clone();
    bad["app_id"] = json!("abcd");
    let response = http.post(format!("{base}/v1/attest")).json(&bad).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let error: ErrorResponse = response.json().await.unwrap();
    assert_eq!(error.error.code, "VALIDATION");
    assert!(error.error.message.contains("app_id"));
    let response = http
        .post(format!("{base}/v1/attest"))
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let spec: serde_json::Value =
        http.get(format!("{base}/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(spec["paths"]["/v1/attest"]["post"].is_object());
    assert!(spec["components"]["schemas"]["Check"].is_object());
}

#[derive(Clone)]
struct Pccs {
    collateral: Arc<dcap_qvl::QuoteCollateralV3>,
    tcb_requests: Arc<AtomicUsize>,
}

fn chain_header(pem: &str) -> String {
    urlencoding::encode(pem).into_owned()
}

async fn pck_crl(
    State(p): State<Pccs>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> (HeaderMap, Vec<u8>) {
    assert_eq!(q.get("encoding").map(String::as_str), Some("der"));
    let mut headers = HeaderMap::new();
    headers.insert(
        "SGX-PCK-CRL-Issuer-Chain",
        chain_header(&p.collateral.pck_crl_issuer_chain).parse().unwrap(),
    );
    (headers, p.collateral.pck_crl.clone())
}

async fn tcb(State(p): State<Pccs>) -> (HeaderMap, String) {
    p.tcb_requests.fetch_add(1, Ordering::SeqCst);
    let mut headers = HeaderMap::new();
    headers
        .insert("TCB-Info-Issuer-Chain", chain_header(&p.collateral.tcb_info_issuer_chain).parse().unwrap());
    let body = format!(
        "{{\"tcbInfo\":{},\"signature\":\"{}\"}}",
        p.collateral.tcb_info,
        hex::encode(&p.collateral.tcb_info_signature)
    );
    (headers, body)
}

async fn qe_identity(State(p): State<Pccs>) -> (HeaderMap, String) {
    let mut headers = HeaderMap::new();
    headers.insert(
        "SGX-Enclave-Identity-Issuer-Chain",
        chain_header(&p.collateral.qe_identity_issuer_chain).parse().unwrap(),
    );
    let body = format!(
        "{{\"enclaveIdentity\":{},\"signature\":\"{}\"}}",
        p.collateral.qe_identity,
        hex::encode(&p.collateral.qe_identity_signature)
    );
    (headers, body)
}

async fn root_ca_crl(State(p): State<Pccs>) -> String {
    hex::encode(&p.collateral.root_ca_crl)
}

#[tokio::test]
async fn collateral_from_a_pccs_verifies_the_sample_quote_and_is_cached() {
    let (quote, collateral) = sample("tdx_quote");
    let pccs = Pccs { collateral: Arc::new(collateral), tcb_requests: Arc::new(AtomicUsize::new(0)) };
    let app = Router::new()
        .route("/sgx/certification/v4/pckcrl", get(pck_crl))
        .route("/tdx/certification/v4/tcb", get(tcb))
        .route("/tdx/certification/v4/qe/identity", get(qe_identity))
        .route("/sgx/certification/v4/rootcacrl", get(root_ca_crl))
        .with_state(pccs.clone());
    let base = serve(app).await;
    let now = sample_now("tdx_quote");
    let clock_now = Arc::new(AtomicUsize::new(now as usize));
    let clock = clock_now.clone();
    let source = PccsSource::new(
        &base,
        Duration::from_secs(3600 * 4),
        Arc::new(move || clock.load(Ordering::SeqCst) as u64),
    )
    .unwrap();
    let parsed = parse_quote(&quote).unwrap();

    let fetched = source.collateral(&parsed).await.unwrap();
    verify_quote(INTEL_ROOT_CA_DER, &quote, &fetched, now, 7 * 24 * 3600).expect("PCCS collateral verifies");
    source.collateral(&parsed).await.unwrap();
    assert_eq!(pccs.tcb_requests.load(Ordering::SeqCst), 1, "second request served from the cache");

    // Past the refresh age the cache is bypassed.
    clock_now.fetch_add(3600 * 5, Ordering::SeqCst);
    source.collateral(&parsed).await.unwrap();
    assert_eq!(pccs.tcb_requests.load(Ordering::SeqCst), 2);

    // An unreachable PCCS is an operational error, not collateral.
    let dead = PccsSource::new("http://127.0.0.1:9", Duration::from_secs(60), Arc::new(move || now)).unwrap();
    assert!(dead.collateral(&parsed).await.is_err());
}
