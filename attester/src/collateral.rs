//! Where quote collateral (CRLs, TCB info, QE identity and their issuer chains) comes from: a
//! directory (offline) or a PCCS/PCS over HTTP with an in-memory cache. Freshness is judged by the
//! quote checks, not here: a source may hand back stale collateral and the quote is then refused.
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use dcap_qvl::quote::Quote;
use dcap_qvl::QuoteCollateralV3;
use serde::Deserialize;
use tokio::sync::Mutex;
use tracing::{debug, info};

use crate::error::AttesterError;
use crate::quote::issue_window;

/// Which collateral a quote needs: TEE kind, FMSPC and the PCK CA that issued its PCK certificate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CollateralKey {
    /// `tdx` or `sgx`.
    pub tee: &'static str,
    /// Upper-case hex.
    pub fmspc: String,
    /// `processor` or `platform`.
    pub ca: &'static str,
}

impl CollateralKey {
    pub fn of(quote: &Quote) -> Result<Self, AttesterError> {
        let fmspc = dcap_qvl::intel::quote_fmspc(quote).map_err(|e| {
            AttesterError::Collateral(format!("FMSPC from the quote's PCK certificate: {e:#}"))
        })?;
        let ca = dcap_qvl::intel::quote_ca(quote)
            .map_err(|e| AttesterError::Collateral(format!("PCK CA from the quote: {e:#}")))?
            .as_id_str();
        Ok(Self {
            tee: if quote.header.is_sgx() { "sgx" } else { "tdx" },
            fmspc: hex::encode_upper(fmspc),
            ca,
        })
    }

    /// File name of this collateral in a collateral directory.
    pub fn file_name(&self) -> String {
        format!("{}-{}-{}.json", self.tee, self.fmspc, self.ca)
    }
}

#[async_trait]
pub trait CollateralSource: Send + Sync {
    async fn collateral(&self, quote: &Quote) -> Result<QuoteCollateralV3, AttesterError>;
}

/// Offline collateral: `<dir>/<tee>-<FMSPC>-<ca>.json` (e.g. `tdx-B0C06F000000-platform.json`), each
/// a `QuoteCollateralV3` in dcap-qvl's JSON form. Read on every request, so an operator can
/// replace files without restarting.
pub struct DirectorySource {
    dir: PathBuf,
}

impl DirectorySource {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

#[async_trait]
impl CollateralSource for DirectorySource {
    async fn collateral(&self, quote: &Quote) -> Result<QuoteCollateralV3, AttesterError> {
        let path = self.dir.join(CollateralKey::of(quote)?.file_name());
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| AttesterError::Collateral(format!("{}: {e}", path.display())))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| AttesterError::Collateral(format!("{}: {e}", path.display())))
    }
}

#[derive(Deserialize)]
struct TcbInfoResponse {
    #[serde(rename = "tcbInfo")]
    tcb_info: serde_json::Value,
    signature: String,
}

#[derive(Deserialize)]
struct QeIdentityResponse {
    #[serde(rename = "enclaveIdentity")]
    enclave_identity: serde_json::Value,
    signature: String,
}

/// Collateral from a PCCS (or Intel's PCS) through its v4 API, cached per (TEE, FMSPC, CA) until
/// `refresh_after` has passed since the cached TCB info was issued or it reaches `nextUpdate`.
pub struct PccsSource {
    base_url: String,
    http: reqwest::Client,
    refresh_after: Duration,
    now: crate::Clock,
    cache: Mutex<HashMap<CollateralKey, QuoteCollateralV3>>,
}

impl PccsSource {
    pub fn new(base_url: &str, refresh_after: Duration, now: crate::Clock) -> Result<Self, AttesterError> {
        let base_url = base_url
            .trim_end_matches('/')
            .trim_end_matches("/sgx/certification/v4")
            .trim_end_matches("/tdx/certification/v4")
            .to_string();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| AttesterError::Collateral(format!("HTTP client: {e}")))?;
        Ok(Self { base_url, http, refresh_after, now, cache: Mutex::new(HashMap::new()) })
    }

    fn still_good(&self, collateral: &QuoteCollateralV3) -> bool {
        let now = (self.now)() as i64;
        [&collateral.tcb_info, &collateral.qe_identity].iter().all(|json| match issue_window(json) {
            Ok((issued, next)) => now < next && now - issued < self.refresh_after.as_secs() as i64,
            Err(_) => false,
        })
    }

    async fn get(&self, url: &str) -> Result<reqwest::Response, AttesterError> {
        debug!(url, "PCCS request");
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| AttesterError::Collateral(format!("GET {url}: {e}")))?;
        if !response.status().is_success() {
            return Err(AttesterError::Collateral(format!("GET {url}: HTTP {}", response.status())));
        }
        Ok(response)
    }

    fn issuer_chain(response: &reqwest::Response, names: &[&str]) -> Result<String, AttesterError> {
        let value = names
            .iter()
            .find_map(|name| response.headers().get(*name))
            .ok_or_else(|| AttesterError::Collateral(format!("response lacks header {}", names[0])))?;
        let text = value
            .to_str()
            .map_err(|_| AttesterError::Collateral("issuer chain header is not text".into()))?;
        urlencoding::decode(text)
            .map(|s| s.into_owned())
            .map_err(|_| AttesterError::Collateral("issuer chain header is not URL-encoded UTF-8".into()))
    }

    async fn body(response: reqwest::Response, url: &str) -> Result<Vec<u8>, AttesterError> {
        response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| AttesterError::Collateral(format!("GET {url}: {e}")))
    }

    async fn fetch(&self, key: &CollateralKey) -> Result<QuoteCollateralV3, AttesterError> {
        let base = &self.base_url;
        let bad = |what: &str, e: String| AttesterError::Collateral(format!("{what}: {e}"));

        let url = format!("{base}/sgx/certification/v4/pckcrl?ca={}&encoding=der", key.ca);
        let response = self.get(&url).await?;
        let pck_crl_issuer_chain = Self::issuer_chain(&response, &["SGX-PCK-CRL-Issuer-Chain"])?;
        let pck_crl = Self::body(response, &url).await?;

        let url = format!("{base}/{}/certification/v4/tcb?fmspc={}", key.tee, key.fmspc);
        let response = self.get(&url).await?;
        let tcb_info_issuer_chain =
            Self::issuer_chain(&response, &["TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"])?;
        let tcb: TcbInfoResponse = serde_json::from_slice(&Self::body(response, &url).await?)
            .map_err(|e| bad("TCB info", e.to_string()))?;

        let url = format!("{base}/{}/certification/v4/qe/identity", key.tee);
        let response = self.get(&url).await?;
        let qe_identity_issuer_chain = Self::issuer_chain(&response, &["SGX-Enclave-Identity-Issuer-Chain"])?;
        let qe: QeIdentityResponse = serde_json::from_slice(&Self::body(response, &url).await?)
            .map_err(|e| bad("QE identity", e.to_string()))?;

        // A PCCS serves the root CA CRL as hex text.
        let url = format!("{base}/sgx/certification/v4/rootcacrl");
        let text = Self::body(self.get(&url).await?, &url).await?;
        let root_ca_crl = hex::decode(text.trim_ascii()).map_err(|e| bad("root CA CRL", e.to_string()))?;

        Ok(QuoteCollateralV3 {
            pck_crl_issuer_chain,
            root_ca_crl,
            pck_crl,
            tcb_info_issuer_chain,
            tcb_info: tcb.tcb_info.to_string(),
            tcb_info_signature: hex::decode(&tcb.signature)
                .map_err(|e| bad("TCB info signature", e.to_string()))?,
            qe_identity_issuer_chain,
            qe_identity: qe.enclave_identity.to_string(),
            qe_identity_signature: hex::decode(&qe.signature)
                .map_err(|e| bad("QE identity signature", e.to_string()))?,
            pck_certificate_chain: None,
        })
    }
}

#[async_trait]
impl CollateralSource for PccsSource {
    async fn collateral(&self, quote: &Quote) -> Result<QuoteCollateralV3, AttesterError> {
        let key = CollateralKey::of(quote)?;
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.get(&key).filter(|c| self.still_good(c)) {
            return Ok(cached.clone());
        }
        let fresh = self.fetch(&key).await?;
        info!(tee = key.tee, fmspc = %key.fmspc, ca = key.ca, "collateral fetched from PCCS");
        cache.insert(key, fresh.clone());
        Ok(fresh)
    }
}
