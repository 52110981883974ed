//! A mock dstack guest agent for tests and the local demo: HTTP on 127.0.0.1, deterministic keys.
//!
//! Like the real agent, a key depends on the request path only: `HMAC-SHA256(seed, path)`. The real
//! agent also returns a signature chain (secp256k1 signatures by the app's KMS key); the mock returns
//! an empty chain. `/GetQuote` answers with a mock quote, `IRONROOT-MOCK-QUOTE` ‖ SHA-256(seed) ‖
//! report data padded to 64 bytes: it has the right shape for plumbing tests and is no TDX quote.

use std::net::SocketAddr;
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

struct AgentState {
    seed: [u8; 32],
    get_key_calls: AtomicUsize,
}

/// A running mock guest agent; stops when dropped.
pub struct MockGuestAgent {
    addr: SocketAddr,
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
        let state = Arc::new(AgentState { seed, get_key_calls: AtomicUsize::new(0) });
        let app = Router::new()
            .route("/GetKey", post(get_key))
            .route("/GetQuote", post(get_quote))
            .route("/Info", post(info))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = server.await {
                warn!(error = %e, "mock guest agent stopped with an error");
            }
        });
        Ok(Self { addr, state, shutdown: Some(shutdown), task })
    }

    /// `http://127.0.0.1:<port>`, the value for `DSTACK_SIMULATOR_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
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
    let key = hmac(&state.seed, args.path.as_bytes());
    Ok(Json(json!({ "key": hex::encode(key), "signature_chain": [] })))
}

async fn get_quote(State(state): State<Arc<AgentState>>, Json(args): Json<GetQuoteArgs>) -> Reply {
    let report_data = hex::decode(&args.report_data)
        .map_err(|_| (StatusCode::BAD_REQUEST, "report_data is not hex".to_string()))?;
    if report_data.len() > 64 {
        return Err((StatusCode::BAD_REQUEST, "Report data is too long".into()));
    }
    let mut quote = MOCK_QUOTE_PREFIX.to_vec();
    quote.extend_from_slice(&Sha256::digest(state.seed));
    quote.extend_from_slice(&report_data);
    quote.resize(MOCK_QUOTE_PREFIX.len() + 32 + 64, 0);
    Ok(Json(json!({ "quote": hex::encode(quote), "event_log": "[]" })))
}

async fn info(State(state): State<Arc<AgentState>>) -> Reply {
    let app_id = hex::encode(&hmac(&state.seed, b"app-id")[..20]);
    let instance_id = hex::encode(&hmac(&state.seed, b"instance-id")[..20]);
    let compose_hash = hex::encode(hmac(&state.seed, b"compose-hash"));
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
