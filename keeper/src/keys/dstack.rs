//! dstack guest agent client and the key source built on it.
//!
//! The guest agent derives keys from the app's KMS key and the request `path` only (`purpose` goes
//! into the signature chain), so every key the keeper needs gets its own path:
//! `ironroot/v1/kek/<app hex>/<epoch>`, `ironroot/v1/signing/<app hex>` and
//! `ironroot/v1/store-seal/<app hex>`, `ironroot/v1/tree-key/<app hex>`. The KEK, the
//! store-sealing key and the tree key are then passed
//! through the same HKDF as the sealed file's (domain separation by context string); the signing
//! seed is the agent's ed25519 key itself, so the agent's signature chain vouches for its public key.
//!
//! Transport: HTTP to `DSTACK_SIMULATOR_ENDPOINT` (the simulator, or the in-repo mock agent). The
//! production unix socket (`/var/run/dstack.sock`) is not implemented yet.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::debug;
use zeroize::Zeroizing;

use super::{derive_kek, derive_store_seal_key, derive_tree_key, AppId, Kek, KeyError, KeySource};

/// Environment variable naming the guest agent's HTTP endpoint (dstack's own name for it).
pub const DSTACK_ENDPOINT_ENV: &str = "DSTACK_SIMULATOR_ENDPOINT";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A minimal client of the dstack guest agent's RPC API (`/GetKey`, `/GetQuote`, `/Info`).
#[derive(Clone, Debug)]
pub struct DstackClient {
    endpoint: String,
    http: reqwest::Client,
}

#[derive(Serialize)]
struct GetKeyRequest<'a> {
    path: &'a str,
    purpose: &'a str,
    algorithm: &'a str,
}

#[derive(Deserialize)]
struct GetKeyResponse {
    key: String,
}

#[derive(Serialize)]
struct GetQuoteRequest {
    report_data: String,
}

#[derive(Deserialize)]
struct GetQuoteResponse {
    quote: String,
    #[serde(default)]
    event_log: String,
}

/// A TDX quote and the event log needed to replay its runtime measurement registers.
#[derive(Clone, Debug)]
pub struct Quote {
    pub quote: Vec<u8>,
    /// JSON text as the agent returns it.
    pub event_log: String,
}

/// The fields of the agent's `/Info` the keeper uses.
#[derive(Clone, Debug, Deserialize)]
pub struct AgentInfo {
    pub app_id: String,
    pub instance_id: String,
    #[serde(default)]
    pub app_name: String,
    #[serde(default)]
    pub compose_hash: String,
    #[serde(default)]
    pub device_id: String,
    #[serde(default)]
    pub os_image_hash: String,
    /// The agent sends this as a JSON document inside a string; parsed when it is one.
    #[serde(default)]
    pub tcb_info: Value,
}

impl DstackClient {
    /// A client for the agent at `endpoint` (`http://host:port`).
    pub fn new(endpoint: impl Into<String>) -> Result<Self, KeyError> {
        let endpoint = endpoint.into().trim_end_matches('/').to_string();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(KeyError::InvalidRequest("the agent endpoint must be an http:// or https:// URL"));
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| KeyError::Agent { endpoint: endpoint.clone(), message: e.to_string() })?;
        Ok(Self { endpoint, http })
    }

    /// A client for the endpoint in `DSTACK_SIMULATOR_ENDPOINT`.
    pub fn from_env() -> Result<Self, KeyError> {
        match std::env::var(DSTACK_ENDPOINT_ENV) {
            Ok(endpoint) if !endpoint.is_empty() => Self::new(endpoint),
            _ => Err(KeyError::NoAgentEndpoint),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `/GetKey`: the 32-byte key the agent derives for `path` with `algorithm` ("ed25519" or
    /// "secp256k1"). The signature chain is not returned: nothing in the keeper checks it yet.
    pub async fn get_key(
        &self,
        path: &str,
        purpose: &str,
        algorithm: &str,
    ) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let response: GetKeyResponse =
            self.call("GetKey", &GetKeyRequest { path, purpose, algorithm }).await?;
        let hex_key = Zeroizing::new(response.key);
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_key.as_str(), key.as_mut())
            .map_err(|_| KeyError::AgentResponse { what: "key (want 32 bytes as hex)" })?;
        Ok(key)
    }

    /// `/GetQuote`: a TDX quote over `report_data` (1 to 64 bytes).
    pub async fn get_quote(&self, report_data: &[u8]) -> Result<Quote, KeyError> {
        if report_data.is_empty() || report_data.len() > 64 {
            return Err(KeyError::InvalidRequest("report data must be 1 to 64 bytes"));
        }
        let response: GetQuoteResponse =
            self.call("GetQuote", &GetQuoteRequest { report_data: hex::encode(report_data) }).await?;
        let quote =
            hex::decode(&response.quote).map_err(|_| KeyError::AgentResponse { what: "quote (want hex)" })?;
        Ok(Quote { quote, event_log: response.event_log })
    }

    /// `/Info`: the app and instance identity and the TCB info.
    pub async fn info(&self) -> Result<AgentInfo, KeyError> {
        let mut info: AgentInfo = self.call("Info", &serde_json::json!({})).await?;
        if let Value::String(text) = &info.tcb_info {
            info.tcb_info =
                serde_json::from_str(text).map_err(|_| KeyError::AgentResponse { what: "tcb_info" })?;
        }
        Ok(info)
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &'static str,
        request: &Req,
    ) -> Result<Resp, KeyError> {
        let agent_err = |message: String| KeyError::Agent { endpoint: self.endpoint.clone(), message };
        debug!(method, endpoint = %self.endpoint, "dstack guest agent call");
        let response = self
            .http
            .post(format!("{}/{method}", self.endpoint))
            .json(request)
            .send()
            .await
            .map_err(|e| agent_err(format!("{method}: {e}")))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| agent_err(format!("{method}: {e}")))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
            return Err(agent_err(format!("{method}: HTTP {status}: {text}")));
        }
        serde_json::from_slice(&body).map_err(|_| KeyError::AgentResponse { what: method })
    }
}

/// Keys from the dstack guest agent (KMS-backed inside a dstack CVM). KEKs are cached per
/// (app, epoch) for the life of the process, so sealing a record costs no agent round trip.
pub struct DstackKeySource {
    client: DstackClient,
    keks: Mutex<HashMap<(AppId, u32), Kek>>,
}

impl std::fmt::Debug for DstackKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DstackKeySource").field("endpoint", &self.client.endpoint).finish_non_exhaustive()
    }
}

impl DstackKeySource {
    pub fn new(client: DstackClient) -> Self {
        Self { client, keks: Mutex::new(HashMap::new()) }
    }

    pub fn client(&self) -> &DstackClient {
        &self.client
    }

    /// Agent key path of the KEK of (`app`, `epoch`).
    pub fn kek_path(app: &AppId, epoch: u32) -> String {
        format!("{}/{app}/{epoch}", super::KEK_CONTEXT)
    }

    /// Agent key path of the signing key of `app`.
    pub fn signing_path(app: &AppId) -> String {
        format!("{}/{app}", super::SIGNING_CONTEXT)
    }

    /// Agent key path of the local-store sealing key of `app`.
    pub fn store_seal_path(app: &AppId) -> String {
        format!("{}/{app}", super::STORE_SEAL_CONTEXT)
    }

    /// Agent key path of the tree key (keyed record positions) of `app`.
    pub fn tree_key_path(app: &AppId) -> String {
        format!("{}/{app}", super::TREE_KEY_CONTEXT)
    }

    fn cached(&self, app: &AppId, epoch: u32) -> Option<Kek> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
        self.keks.lock().unwrap_or_else(|p| p.into_inner()).get(&(*app, epoch)).cloned()
    }
}

#[async_trait]
impl KeySource for DstackKeySource {
    async fn app_kek(&self, app: &AppId, epoch: u32) -> Result<Kek, KeyError> {
        if let Some(kek) = self.cached(app, epoch) {
            return Ok(kek);
        }
        let agent_key = self.client.get_key(&Self::kek_path(app, epoch), "ironroot-kek", "ed25519").await?;
        let kek = derive_kek(agent_key.as_ref(), app, epoch);
        self.keks.lock().unwrap_or_else(|p| p.into_inner()).insert((*app, epoch), kek.clone());
        Ok(kek)
    }

    async fn signing_seed(&self, app: &AppId) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        self.client.get_key(&Self::signing_path(app), "ironroot-signing", "ed25519").await
    }

    async fn store_seal_key(&self, app: &AppId) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let agent_key =
            self.client.get_key(&Self::store_seal_path(app), "ironroot-store-seal", "ed25519").await?;
        Ok(derive_store_seal_key(agent_key.as_ref(), app))
    }

    async fn tree_key(&self, app: &AppId) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let agent_key =
            self.client.get_key(&Self::tree_key_path(app), "ironroot-tree-key", "ed25519").await?;
        Ok(derive_tree_key(agent_key.as_ref(), app))
    }
}
