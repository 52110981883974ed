//! A mock dstack guest agent for tests and the local demo: HTTP on 127.0.0.1 (as the simulator) or
//! on a unix socket (as the real agent's `/var/run/dstack.sock`), deterministic keys.
//!
//! Like the real agent, a key depends on the request path only: `HMAC-SHA256(seed, path)`. The real
//! agent also returns a signature chain (secp256k1 signatures by the app's KMS key); the mock returns
//! an empty chain. `/GetQuote` answers with a mock quote, `IRONROOT-MOCK-QUOTE` ‖ SHA-256(seed) ‖
//! report data padded to 64 bytes: it has the right shape for plumbing tests and is no TDX quote;
//! or, with a [`QuoteProvider`], whatever quote and event log the provider makes (a test PKI's
//! real DCAP quote, say), and `/Info` then reports the identity that log carries.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use hkdf::hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::warn;

/// Prefix of every mock quote.
pub const MOCK_QUOTE_PREFIX: &[u8] = b"IRONROOT-MOCK-QUOTE";

/// Makes the quote and event log for 64 bytes of report data.
pub type QuoteProvider = Arc<dyn Fn(&[u8; 64]) -> (Vec<u8>, String) + Send + Sync>;

/// What the mock serves besides its keys.
#[derive(Clone)]
pub struct MockAgentOptions {
    /// Keys are derived from it (and, without `identity`, the app identity `/Info` reports).
    pub seed: [u8; 32],
    /// `/GetQuote`: without one, the mock quote.
    pub quotes: Option<QuoteProvider>,
    /// `/Info`'s (20-byte dstack app id, compose hash); without one, derived from the seed.
    pub identity: Option<([u8; 20], [u8; 32])>,
}

impl MockAgentOptions {
    pub fn new(seed: [u8; 32]) -> Self {
        Self { seed, quotes: None, identity: None }
    }
}

/// Where the mock listens.
#[derive(Clone, Debug)]
pub enum MockListen {
    /// HTTP on an ephemeral port of 127.0.0.1 (the simulator's transport).
    Tcp,
    /// HTTP over a unix socket at this path (the deployed agent's transport).
    Unix(PathBuf),
}

struct AgentState {
    options: MockAgentOptions,
    get_key_calls: AtomicUsize,
}

/// A running mock guest agent; stops when dropped.
pub struct MockGuestAgent {
    endpoint: String,
    state: Arc<AgentState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

#[derive(Deserialize)]
struct GetKeyArgs {
    path: String,
    #[serde(default)]
    algorithm: String,
}

#[derive(Deserialize)]
struct GetQuoteArgs {
    report_data: String,
}

type Reply = Result<Json<Value>, (StatusCode, String)>;

impl MockGuestAgent {
    /// Starts the mock on an ephemeral port of 127.0.0.1; keys are derived from `seed`.
    pub async fn start(seed: [u8; 32]) -> std::io::Result<Self> {
        Self::start_with(MockAgentOptions::new(seed), MockListen::Tcp).await
    }

    /// Starts the mock with `options`, listening on `listen`.
    pub async fn start_with(options: MockAgentOptions, listen: MockListen) -> std::io::Result<Self> {
        let state = Arc::new(AgentState { options, get_key_calls: AtomicUsize::new(0) });
        let app = Router::new()
            .route("/GetKey", post(get_key))
            .route("/GetQuote", post(get_quote))
            .route("/Info", post(info))
            .with_state(state.clone());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let stopped = async {
            let _ = stopped.await;
        };
        let (endpoint, task) = match listen {
            MockListen::Tcp => {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
                let endpoint = format!("http://{}", listener.local_addr()?);
                let server = axum::serve(listener, app).with_graceful_shutdown(stopped);
                (endpoint, tokio::spawn(async move { report(server.await) }))
            }
            MockListen::Unix(path) => {
                // A socket file left by an earlier run would make bind fail.
                let _ = std::fs::remove_file(&path);
                let listener = tokio::net::UnixListener::bind(&path)?;
                let server = axum::serve(listener, app).with_graceful_shutdown(stopped);
                (path.display().to_string(), tokio::spawn(async move { report(server.await) }))
            }
        };
        Ok(Self { endpoint, state, shutdown: Some(shutdown), task })
    }

    /// `http://127.0.0.1:<port>` (the value for `DSTACK_SIMULATOR_ENDPOINT`), or the unix socket's
    /// path: either is a keeper `dstack_endpoint`.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// How many `/GetKey` requests the mock has answered.
    pub fn get_key_calls(&self) -> usize {
        self.state.get_key_calls.load(Ordering::SeqCst)
    }
}

impl Drop for MockGuestAgent {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

fn report(served: std::io::Result<()>) {
    if let Err(e) = served {
        warn!(error = %e, "mock guest agent stopped with an error");
    }
}

fn hmac(seed: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(seed).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

async fn get_key(State(state): State<Arc<AgentState>>, Json(args): Json<GetKeyArgs>) -> Reply {
    if !matches!(args.algorithm.as_str(), "" | "ed25519" | "secp256k1") {
        return Err((StatusCode::BAD_REQUEST, "Unsupported algorithm".into()));
    }
    state.get_key_calls.fetch_add(1, Ordering::SeqCst);
    let key = hmac(&state.options.seed, args.path.as_bytes());
    Ok(Json(json!({ "key": hex::encode(key), "signature_chain": [] })))
}

async fn get_quote(State(state): State<Arc<AgentState>>, Json(args): Json<GetQuoteArgs>) -> Reply {
    let report_data = hex::decode(&args.report_data)
        .map_err(|_| (StatusCode::BAD_REQUEST, "report_data is not hex".to_string()))?;
    if report_data.len() > 64 {
        return Err((StatusCode::BAD_REQUEST, "Report data is too long".into()));
    }
    if let Some(provider) = &state.options.quotes {
        // The agent zero-pads report data to the quote's 64 bytes.
        let mut padded = [0u8; 64];
        padded[..report_data.len()].copy_from_slice(&report_data);
        let (quote, event_log) = provider(&padded);
        return Ok(Json(json!({ "quote": hex::encode(quote), "event_log": event_log })));
    }
    let mut quote = MOCK_QUOTE_PREFIX.to_vec();
    quote.extend_from_slice(&Sha256::digest(state.options.seed));
    quote.extend_from_slice(&report_data);
    quote.resize(MOCK_QUOTE_PREFIX.len() + 32 + 64, 0);
    Ok(Json(json!({ "quote": hex::encode(quote), "event_log": "[]" })))
}

async fn info(State(state): State<Arc<AgentState>>) -> Reply {
    let seed = &state.options.seed;
    let (app_id, compose_hash) = match state.options.identity {
        Some((app_id, compose_hash)) => (hex::encode(app_id), hex::encode(compose_hash)),
        None => (hex::encode(&hmac(seed, b"app-id")[..20]), hex::encode(hmac(seed, b"compose-hash"))),
    };
    let instance_id = hex::encode(&hmac(seed, b"instance-id")[..20]);
    let zeros = hex::encode([0u8; 48]);
    // The real agent sends tcb_info as a JSON document inside a string.
    let tcb_info = json!({
        "mrtd": zeros, "rtmr0": zeros, "rtmr1": zeros, "rtmr2": zeros, "rtmr3": zeros,
        "compose_hash": compose_hash, "device_id": "", "app_compose": "{}", "event_log": [],
    })
    .to_string();
    Ok(Json(json!({
        "app_id": app_id,
        "instance_id": instance_id,
        "app_cert": "",
        "tcb_info": tcb_info,
        "app_name": "ironroot-mock",
        "device_id": "",
        "os_image_hash": "",
        "key_provider_info": "mock",
        "compose_hash": compose_hash,
    })))
}
