//! dstack guest agent client and the key source built on it.
//!
//! The guest agent derives keys from the app's KMS key and the request `path` only (`purpose` goes
//! into the signature chain), so every key the keeper needs gets its own path:
//! `ironroot/v1/kek/<app hex>/<epoch>`, `ironroot/v1/signing/<app hex>` and
//! `ironroot/v1/store-seal/<app hex>`. The KEK and the store-sealing key are then passed
//! through the same HKDF as the sealed file's (domain separation by context string); the signing
//! seed is the agent's ed25519 key itself, so the agent's signature chain vouches for its public key.
//!
//! Transport, chosen by the endpoint as dstack's own SDKs do: an `http://` or `https://` URL (the
//! simulator, `DSTACK_SIMULATOR_ENDPOINT`), or a unix socket path (`/var/run/dstack.sock` as
//! deployed in a dstack CVM, the default; `unix:` prefix optional) carrying the same HTTP/1.1 API.
//!
//! Key material: the response bodies this module owns are zeroized after parsing, and so are the
//! HTTP library's body chunks when nothing else shares them; the key itself is `Zeroizing`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::debug;
use zeroize::{Zeroize, Zeroizing};

use super::{derive_kek, derive_store_seal_key, AppId, Kek, KeyError, KeySource};

/// Environment variable naming the guest agent's HTTP endpoint (dstack's own name for it).
pub const DSTACK_ENDPOINT_ENV: &str = "DSTACK_SIMULATOR_ENDPOINT";
/// Where the guest agent listens inside a dstack CVM.
pub const DSTACK_SOCKET_DEFAULT: &str = "/var/run/dstack.sock";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A minimal client of the dstack guest agent's RPC API (`/GetKey`, `/GetQuote`, `/Info`).
#[derive(Clone, Debug)]
pub struct DstackClient {
    endpoint: String,
    transport: Transport,
}

#[derive(Clone, Debug)]
enum Transport {
    Http(reqwest::Client),
    Unix(PathBuf),
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
    /// A client for the agent at `endpoint`: `http://host:port` (or https), or the path of its
    /// unix socket (absolute, optionally prefixed with `unix:`).
    pub fn new(endpoint: impl Into<String>) -> Result<Self, KeyError> {
        let endpoint = endpoint.into();
        if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
            let endpoint = endpoint.trim_end_matches('/').to_string();
            let http = reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .map_err(|e| KeyError::Agent { endpoint: endpoint.clone(), message: e.to_string() })?;
            return Ok(Self { endpoint, transport: Transport::Http(http) });
        }
        let path = endpoint.strip_prefix("unix:").unwrap_or(&endpoint);
        if !path.starts_with('/') {
            return Err(KeyError::InvalidRequest(
                "the agent endpoint must be an http(s):// URL or an absolute unix socket path",
            ));
        }
        Ok(Self { endpoint: path.to_string(), transport: Transport::Unix(PathBuf::from(path)) })
    }

    /// The agent `DSTACK_SIMULATOR_ENDPOINT` names, else the deployed socket
    /// ([`DSTACK_SOCKET_DEFAULT`]).
    pub fn from_env() -> Result<Self, KeyError> {
        match std::env::var(DSTACK_ENDPOINT_ENV) {
            Ok(endpoint) if !endpoint.is_empty() => Self::new(endpoint),
            _ => Self::new(DSTACK_SOCKET_DEFAULT),
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
        let request = serde_json::to_vec(request).map_err(|_| KeyError::InvalidRequest("unserializable"))?;
        let (status, body) = match &self.transport {
            Transport::Http(http) => {
                let mut response = http
                    .post(format!("{}/{method}", self.endpoint))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(request)
                    .send()
                    .await
                    .map_err(|e| agent_err(format!("{method}: {e}")))?;
                let status = response.status().as_u16();
                let mut body = Zeroizing::new(Vec::new());
                while let Some(chunk) =
                    response.chunk().await.map_err(|e| agent_err(format!("{method}: {e}")))?
                {
                    take_chunk(&mut body, chunk);
                }
                (status, body)
            }
            Transport::Unix(path) => tokio::time::timeout(REQUEST_TIMEOUT, post_unix(path, method, request))
                .await
                .map_err(|_| agent_err(format!("{method}: no answer within {REQUEST_TIMEOUT:?}")))?
                .map_err(|e| agent_err(format!("{method}: {e}")))?,
        };
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
            return Err(agent_err(format!("{method}: HTTP {status}: {text}")));
        }
        serde_json::from_slice(&body).map_err(|_| KeyError::AgentResponse { what: method })
    }
}

/// Appends `chunk` to `body` and scrubs the chunk when this is its only owner.
fn take_chunk(body: &mut Zeroizing<Vec<u8>>, chunk: Bytes) {
    let needed = body.len() + chunk.len();
    if body.capacity() < needed {
        // Grown by hand: a reallocation would free the old buffer without scrubbing it; this
        // drops it as a `Zeroizing`.
        let mut grown = Zeroizing::new(Vec::with_capacity(needed.max(2 * body.capacity())));
        grown.extend_from_slice(body);
        *body = grown;
    }
    body.extend_from_slice(&chunk);
    if let Ok(mut owned) = chunk.try_into_mut() {
        owned.as_mut().zeroize();
    }
}

/// `POST /<method>` with a JSON body over the agent's unix socket (HTTP/1.1, one connection per
/// call, as the agent expects): the status and the body.
async fn post_unix(
    path: &Path,
    method: &str,
    request: Vec<u8>,
) -> Result<(u16, Zeroizing<Vec<u8>>), Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::net::UnixStream::connect(path).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::post(format!("/{method}"))
        .header(hyper::header::HOST, "localhost")
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(request)))?;
    let response = sender.send_request(request).await;
    let result = async {
        let mut response = response?;
        let status = response.status().as_u16();
        let mut body = Zeroizing::new(Vec::new());
        while let Some(frame) = response.body_mut().frame().await {
            if let Ok(chunk) = frame?.into_data() {
                take_chunk(&mut body, chunk);
            }
        }
        Ok((status, body))
    }
    .await;
    driver.abort();
    result
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
}
