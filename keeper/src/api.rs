//! The keeper's HTTP API (axum), documented by an OpenAPI spec at `/openapi.json` with a Swagger UI
//! at `/swagger-ui`.
//!
//! Successful responses are JSON objects; every error is `{"error": {"code", "message", "details"}}`
//! with a stable machine-readable `code`.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::app::AppKeeper;
use crate::blobs::BlobError;
use crate::shard::{CommitOutcome, KeeperError, ShardKeeper};
use crate::tree::RecordLeaf;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Counters of the HTTP layer (the shards keep their own).
#[derive(Default)]
pub struct ApiMetrics {
    pub writes: AtomicU64,
    pub reads: AtomicU64,
    pub bytes_written: AtomicU64,
    pub bytes_read: AtomicU64,
}

#[derive(Clone)]
pub struct ApiState {
    pub keeper: Arc<AppKeeper>,
    /// Bearer token for `/v1/admin/*`; admin is disabled without one.
    pub admin_token: Option<Arc<String>>,
    pub metrics: Arc<ApiMetrics>,
    pub max_body_bytes: usize,
}

// ---------- errors ----------

/// One problem with a request.
#[derive(Serialize, ToSchema, Debug)]
pub struct FieldProblem {
    pub field: String,
    pub problem: String,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct ErrorBody {
    /// Stable code: VALIDATION, NOT_FOUND, UNKNOWN_APP, ROOT_CHANGED, PAYLOAD_TOO_LARGE,
    /// FAILED_CLOSED, SHARD_NOT_SERVED, BLOB_MISSING, INTEGRITY, BLOB_UNAVAILABLE,
    /// CHAIN_UNAVAILABLE, CHAIN_DIVERGED, UNAUTHORIZED, ADMIN_DISABLED, INTERNAL.
    pub code: &'static str,
    pub message: String,
    pub details: Vec<FieldProblem>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, body: ErrorBody { code, message: message.into(), details: Vec::new() } }
    }

    fn validation(details: Vec<FieldProblem>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "VALIDATION", "the request is invalid");
        e.body.details = details;
        e
    }

    fn field(field: &str, problem: impl Into<String>) -> Self {
        Self::validation(vec![FieldProblem { field: field.into(), problem: problem.into() }])
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorResponse { error: self.body })).into_response()
    }
}

impl From<KeeperError> for ApiError {
    fn from(e: KeeperError) -> Self {
        use StatusCode as S;
        let message = e.to_string();
        match e {
            KeeperError::NotFound => ApiError::new(S::NOT_FOUND, "NOT_FOUND", message),
            KeeperError::RootChanged { .. } => ApiError::new(S::CONFLICT, "ROOT_CHANGED", message),
            KeeperError::InvalidKey => ApiError::field("key", message),
            KeeperError::ValueTooLarge { .. } => {
                ApiError::new(S::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", message)
            }
            KeeperError::FailedClosed(_) => ApiError::new(S::SERVICE_UNAVAILABLE, "FAILED_CLOSED", message),
            KeeperError::ShardNotServed(_) => {
                ApiError::new(S::MISDIRECTED_REQUEST, "SHARD_NOT_SERVED", message)
            }
            KeeperError::Blob(BlobError::NotFound(_)) => {
                ApiError::new(S::BAD_GATEWAY, "BLOB_MISSING", message)
            }
            KeeperError::Blob(BlobError::CidMismatch { .. })
            | KeeperError::Crypto(_)
            | KeeperError::CiphertextMismatch => ApiError::new(S::BAD_GATEWAY, "INTEGRITY", message),
            KeeperError::Blob(BlobError::TooLarge { .. }) => {
                ApiError::new(S::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", message)
            }
            KeeperError::Blob(_) | KeeperError::Manifest(_) => {
                ApiError::new(S::SERVICE_UNAVAILABLE, "BLOB_UNAVAILABLE", message)
            }
            KeeperError::Chain(_) | KeeperError::ShardNotOnChain(_) => {
                ApiError::new(S::SERVICE_UNAVAILABLE, "CHAIN_UNAVAILABLE", message)
            }
            KeeperError::ChainDiverged { .. } => {
                ApiError::new(S::SERVICE_UNAVAILABLE, "CHAIN_DIVERGED", message)
            }
            KeeperError::ShuttingDown => ApiError::new(S::SERVICE_UNAVAILABLE, "SHUTTING_DOWN", message),
            KeeperError::AnchorLagging { .. } => {
                ApiError::new(S::SERVICE_UNAVAILABLE, "ANCHOR_LAGGING", message)
            }
            KeeperError::ShardHalted(_) => ApiError::new(S::SERVICE_UNAVAILABLE, "SHARD_HALTED", message),
            KeeperError::Key(_) | KeeperError::Store(_) => {
                ApiError::new(S::INTERNAL_SERVER_ERROR, "INTERNAL", message)
            }
        }
    }
}

fn body_error(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", e.body_text())
    } else {
        ApiError::field("body", e.body_text())
    }
}

fn json_error(e: JsonRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", e.body_text())
    } else {
        ApiError::field("body", e.body_text())
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

// ---------- shapes ----------

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct LeafJson {
    pub version: u64,
    /// CID of the encrypted blob (empty for a tombstone).
    pub cid: String,
    pub ciphertext_hash: String,
    pub key_epoch: u32,
    pub tombstone: bool,
}

impl From<&RecordLeaf> for LeafJson {
    fn from(l: &RecordLeaf) -> Self {
        LeafJson {
            version: l.version,
            cid: cid::Cid::try_from(l.cid.as_slice()).map(|c| c.to_string()).unwrap_or_default(),
            ciphertext_hash: hex::encode(l.ciphertext_hash),
            key_epoch: l.key_epoch,
            tombstone: l.tombstone,
        }
    }
}

impl LeafJson {
    /// Back to the leaf the tree commits to (for client-side proof checks).
    pub fn to_leaf(&self) -> Option<RecordLeaf> {
        let cid = if self.cid.is_empty() {
            Vec::new()
        } else {
            cid::Cid::try_from(self.cid.as_str()).ok()?.to_bytes()
        };
        Some(RecordLeaf {
            version: self.version,
            cid,
            ciphertext_hash: hex::decode(&self.ciphertext_hash).ok()?.try_into().ok()?,
            key_epoch: self.key_epoch,
            tombstone: self.tombstone,
        })
    }
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct WriteResponse {
    pub key: String,
    pub shard: u16,
    pub version: u64,
    /// Shard root after the write (hex), pending until committed on-chain.
    pub root: String,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct RecordResponse {
    pub key: String,
    pub shard: u16,
    /// The value, base64.
    pub value: String,
    pub leaf: LeafJson,
    pub root: String,
    pub committed: bool,
    pub seq: u64,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ProofResponse {
    pub key: String,
    pub shard: u16,
    /// The leaf, or null when the key was never written (a non-inclusion proof).
    pub leaf: Option<LeafJson>,
    /// Shard root the proof is against (hex).
    pub root: String,
    /// Whether `root` is the shard's on-chain root.
    pub committed: bool,
    pub seq: u64,
    /// Borsh-encoded `jmt::proof::SparseMerkleProof<Sha256>`, hex.
    pub proof: String,
}

#[derive(Deserialize, ToSchema)]
pub struct WriteQuery {
    /// Hex shard root the write expects; a different current root fails with ROOT_CHANGED.
    pub expected_root: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct BatchWriteItem {
    pub key: String,
    /// Base64 value; omit together with `delete: true` to delete.
    pub value: Option<String>,
    #[serde(default)]
    pub delete: bool,
}

#[derive(Deserialize, ToSchema)]
pub struct BatchWriteRequest {
    pub writes: Vec<BatchWriteItem>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct BatchWriteResponse {
    pub results: Vec<WriteResponse>,
}

#[derive(Deserialize, ToSchema)]
pub struct BatchReadRequest {
    pub keys: Vec<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct BatchReadResponse {
    /// One entry per requested key, in order; null when absent.
    pub records: Vec<Option<RecordResponse>>,
}

#[derive(Deserialize, ToSchema)]
pub struct ListQuery {
    /// Return keys after this one.
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ListResponse {
    pub keys: Vec<String>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct HealthResponse {
    pub status: String,
    pub ipfs_reachable: bool,
    pub chain_reachable: bool,
    pub shards_serving: usize,
    pub shards_failed_closed: usize,
}

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct ShardStatusJson {
    pub shard: u16,
    pub serving: bool,
    /// Why the shard refuses to serve, when it does.
    pub failed_closed: Option<String>,
    pub local_seq: Option<u64>,
    pub local_root: Option<String>,
    pub onchain_seq: Option<u64>,
    pub onchain_root: Option<String>,
    pub pending_writes: Option<u64>,
    pub pending_seq: Option<u64>,
    pub last_commit_slot: Option<u64>,
    pub key_epoch: Option<u32>,
    pub records: Option<u64>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct StatusResponse {
    pub app: String,
    pub shard_count: u16,
    pub tee_pubkey: String,
    pub shards: Vec<ShardStatusJson>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct CommitResponse {
    pub commits: Vec<CommitJson>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct CommitJson {
    pub shard: u16,
    pub committed: bool,
    pub seq: Option<u64>,
    pub root: Option<String>,
    pub tx_bytes: Option<usize>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct RotateResponse {
    pub shards: Vec<(u16, u32)>,
    pub rewrapped: u64,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct RebuildResponse {
    pub shards: Vec<ShardStatusJson>,
}

// ---------- helpers ----------

fn check_app(state: &ApiState, app: &str) -> Result<(), ApiError> {
    if app == state.keeper.app.to_string() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "UNKNOWN_APP",
            format!("this keeper does not serve app {app}"),
        ))
    }
}

fn parse_root(field: &str, hex_root: &str) -> Result<[u8; 32], ApiError> {
    hex::decode(hex_root)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| ApiError::field(field, "must be 64 hex characters"))
}

fn key_problem(field: String, key: &str) -> Option<FieldProblem> {
    let bytes = key.as_bytes();
    let problem = if bytes.is_empty() {
        "must not be empty"
    } else if bytes.len() > crate::shard::MAX_KEY_LEN {
        "must be at most 1024 bytes"
    } else if bytes[0] == 0 {
        "must not start with a NUL byte"
    } else {
        return None;
    };
    Some(FieldProblem { field, problem: problem.into() })
}

async fn write_one(
    state: &ApiState,
    key: &str,
    value: Option<Bytes>,
    expected: Option<[u8; 32]>,
) -> Result<WriteResponse, ApiError> {
    let shard = state.keeper.shard_for(key.as_bytes()).await?;
    let receipt = match value {
        Some(value) => {
            state.metrics.writes.fetch_add(1, Ordering::Relaxed);
            state.metrics.bytes_written.fetch_add(value.len() as u64, Ordering::Relaxed);
            shard.put(key.as_bytes(), value, expected).await?
        }
        None => shard.delete(key.as_bytes(), expected).await?,
    };
    Ok(WriteResponse {
        key: key.into(),
        shard: shard.config().shard,
        version: receipt.version,
        root: hex::encode(receipt.root),
    })
}

async fn read_one(state: &ApiState, key: &str) -> Result<RecordResponse, ApiError> {
    let shard = state.keeper.shard_for(key.as_bytes()).await?;
    let read = shard.get(key.as_bytes()).await?;
    state.metrics.reads.fetch_add(1, Ordering::Relaxed);
    state.metrics.bytes_read.fetch_add(read.value.len() as u64, Ordering::Relaxed);
    Ok(RecordResponse {
        key: key.into(),
        shard: shard.config().shard,
        value: B64.encode(&read.value),
        leaf: LeafJson::from(&read.leaf),
        root: hex::encode(read.root),
        committed: read.committed,
        seq: read.seq,
    })
}

// ---------- handlers ----------

#[utoipa::path(put, path = "/v1/apps/{app}/records/{key}", request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    params(("app" = String, Path, description = "app id, hex"), ("key" = String, Path, description = "record key"), ("expected_root" = Option<String>, Query, description = "hex root the write expects")),
    responses((status = 200, body = WriteResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse), (status = 413, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
async fn put_record(
    State(state): State<ApiState>,
    Path((app, key)): Path<(String, String)>,
    Query(q): Query<WriteQuery>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<WriteResponse> {
    check_app(&state, &app)?;
    let mut problems: Vec<FieldProblem> = key_problem("key".into(), &key).into_iter().collect();
    let expected = match q.expected_root.as_deref().map(|r| parse_root("expected_root", r)) {
        Some(Err(e)) => {
            problems.extend(e.body.details);
            None
        }
        Some(Ok(r)) => Some(r),
        None => None,
    };
    let body = body.map_err(body_error)?;
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    Ok(Json(write_one(&state, &key, Some(body), expected).await?))
}

#[utoipa::path(get, path = "/v1/apps/{app}/records/{key}", params(("app" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = RecordResponse), (status = 404, body = ErrorResponse), (status = 502, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
async fn get_record(
    State(state): State<ApiState>,
    Path((app, key)): Path<(String, String)>,
) -> ApiResult<RecordResponse> {
    check_app(&state, &app)?;
    if let Some(p) = key_problem("key".into(), &key) {
        return Err(ApiError::validation(vec![p]));
    }
    Ok(Json(read_one(&state, &key).await?))
}

#[utoipa::path(delete, path = "/v1/apps/{app}/records/{key}", params(("app" = String, Path), ("key" = String, Path), ("expected_root" = Option<String>, Query)),
    responses((status = 200, body = WriteResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn delete_record(
    State(state): State<ApiState>,
    Path((app, key)): Path<(String, String)>,
    Query(q): Query<WriteQuery>,
) -> ApiResult<WriteResponse> {
    check_app(&state, &app)?;
    if let Some(p) = key_problem("key".into(), &key) {
        return Err(ApiError::validation(vec![p]));
    }
    let expected = q.expected_root.as_deref().map(|r| parse_root("expected_root", r)).transpose()?;
    Ok(Json(write_one(&state, &key, None, expected).await?))
}

#[utoipa::path(get, path = "/v1/apps/{app}/records/{key}/proof", params(("app" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = ProofResponse), (status = 503, body = ErrorResponse)))]
async fn record_proof(
    State(state): State<ApiState>,
    Path((app, key)): Path<(String, String)>,
) -> ApiResult<ProofResponse> {
    check_app(&state, &app)?;
    if let Some(p) = key_problem("key".into(), &key) {
        return Err(ApiError::validation(vec![p]));
    }
    let shard = state.keeper.shard_for(key.as_bytes()).await?;
    let proof = shard.proof(key.as_bytes()).await?;
    Ok(Json(ProofResponse {
        key,
        shard: shard.config().shard,
        leaf: proof.leaf.as_ref().map(LeafJson::from),
        root: hex::encode(proof.root),
        committed: proof.committed,
        seq: proof.seq,
        proof: hex::encode(
            borsh::to_vec(&proof.proof)
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string()))?,
        ),
    }))
}

#[utoipa::path(post, path = "/v1/apps/{app}/batch/write", request_body = BatchWriteRequest, params(("app" = String, Path)),
    responses((status = 200, body = BatchWriteResponse), (status = 400, body = ErrorResponse)))]
async fn batch_write(
    State(state): State<ApiState>,
    Path(app): Path<String>,
    body: Result<Json<BatchWriteRequest>, JsonRejection>,
) -> ApiResult<BatchWriteResponse> {
    check_app(&state, &app)?;
    let Json(req) = body.map_err(json_error)?;
    let mut problems = Vec::new();
    let mut writes = Vec::with_capacity(req.writes.len());
    for (i, w) in req.writes.iter().enumerate() {
        problems.extend(key_problem(format!("writes[{i}].key"), &w.key));
        match (&w.value, w.delete) {
            (Some(v), false) => match B64.decode(v) {
                Ok(bytes) => writes.push((w.key.clone(), Some(Bytes::from(bytes)))),
                Err(_) => problems.push(FieldProblem {
                    field: format!("writes[{i}].value"),
                    problem: "must be base64".into(),
                }),
            },
            (None, true) => writes.push((w.key.clone(), None)),
            _ => problems.push(FieldProblem {
                field: format!("writes[{i}]"),
                problem: "give either a value or delete: true".into(),
            }),
        }
    }
    if req.writes.is_empty() {
        problems.push(FieldProblem { field: "writes".into(), problem: "must not be empty".into() });
    }
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    // Concurrently, so the writes share group commits.
    let results = futures::future::join_all(writes.into_iter().map(|(k, v)| {
        let state = state.clone();
        async move { write_one(&state, &k, v, None).await }
    }))
    .await;
    Ok(Json(BatchWriteResponse { results: results.into_iter().collect::<Result<_, _>>()? }))
}

#[utoipa::path(post, path = "/v1/apps/{app}/batch/read", request_body = BatchReadRequest, params(("app" = String, Path)),
    responses((status = 200, body = BatchReadResponse), (status = 400, body = ErrorResponse)))]
async fn batch_read(
    State(state): State<ApiState>,
    Path(app): Path<String>,
    body: Result<Json<BatchReadRequest>, JsonRejection>,
) -> ApiResult<BatchReadResponse> {
    check_app(&state, &app)?;
    let Json(req) = body.map_err(json_error)?;
    let problems: Vec<_> =
        req.keys.iter().enumerate().filter_map(|(i, k)| key_problem(format!("keys[{i}]"), k)).collect();
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    let mut records = Vec::with_capacity(req.keys.len());
    for key in &req.keys {
        match read_one(&state, key).await {
            Ok(r) => records.push(Some(r)),
            Err(e) if e.body.code == "NOT_FOUND" => records.push(None),
            Err(e) => return Err(e),
        }
    }
    Ok(Json(BatchReadResponse { records }))
}

#[utoipa::path(get, path = "/v1/apps/{app}/records", params(("app" = String, Path), ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = ListResponse)))]
async fn list_records(
    State(state): State<ApiState>,
    Path(app): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<ListResponse> {
    check_app(&state, &app)?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::field("limit", "must be between 1 and 1000"));
    }
    // Every shard lists after the cursor; the merged, sorted first `limit` keys are the page.
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for (_, slot) in state.keeper.slots().await {
        let shard = slot.map_err(|e| KeeperError::FailedClosed(e.as_ref().clone()))?;
        keys.extend(shard.list(q.cursor.as_deref().map(str::as_bytes), limit)?.into_iter().map(|(k, _)| k));
    }
    keys.sort();
    keys.truncate(limit);
    let keys: Vec<String> = keys.into_iter().map(|k| String::from_utf8_lossy(&k).into_owned()).collect();
    let next_cursor = (keys.len() == limit).then(|| keys.last().cloned()).flatten();
    Ok(Json(ListResponse { keys, next_cursor }))
}

#[utoipa::path(get, path = "/health", responses((status = 200, body = HealthResponse), (status = 503, body = HealthResponse)))]
async fn health(State(state): State<ApiState>) -> (StatusCode, Json<HealthResponse>) {
    let ipfs_reachable =
        state.keeper.blobs().has(&crate::blobs::raw_cid(b"ironroot health probe")).await.is_ok();
    let chain_reachable = state.keeper.chain().app(state.keeper.app.as_bytes()).await.is_ok();
    let slots = state.keeper.slots().await;
    let failed = slots.iter().filter(|(_, s)| s.is_err()).count();
    let ok = ipfs_reachable && chain_reachable && failed == 0;
    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        code,
        Json(HealthResponse {
            status: if ok { "ok" } else { "degraded" }.into(),
            ipfs_reachable,
            chain_reachable,
            shards_serving: slots.len() - failed,
            shards_failed_closed: failed,
        }),
    )
}

async fn shard_status(
    keeper: &AppKeeper,
    id: u16,
    slot: Result<Arc<ShardKeeper>, Arc<crate::recovery::FailedClosed>>,
) -> ShardStatusJson {
    let onchain = keeper.chain().shard(keeper.app.as_bytes(), id).await.ok().flatten();
    let mut s = ShardStatusJson {
        shard: id,
        serving: slot.is_ok(),
        failed_closed: None,
        local_seq: None,
        local_root: None,
        onchain_seq: onchain.as_ref().map(|o| o.seq),
        onchain_root: onchain.as_ref().map(|o| hex::encode(o.root)),
        pending_writes: None,
        pending_seq: None,
        last_commit_slot: onchain.as_ref().map(|o| o.updated_slot),
        key_epoch: None,
        records: None,
    };
    match slot {
        Ok(shard) => {
            if let Ok(st) = shard.status() {
                s.local_seq = Some(st.local_seq);
                s.local_root = Some(hex::encode(st.local_root));
                s.pending_writes = Some(st.uncommitted_writes);
                s.pending_seq = st.pending_seq;
                s.key_epoch = Some(st.key_epoch);
                s.records = Some(st.record_count);
            }
        }
        Err(e) => s.failed_closed = Some(e.to_string()),
    }
    s
}

#[utoipa::path(get, path = "/v1/status", responses((status = 200, body = StatusResponse)))]
async fn status(State(state): State<ApiState>) -> Json<StatusResponse> {
    let mut shards = Vec::new();
    let mut signer = String::new();
    for (id, slot) in state.keeper.slots().await {
        if let Ok(k) = &slot {
            signer = k.signer().to_string();
        }
        shards.push(shard_status(&state.keeper, id, slot).await);
    }
    Json(StatusResponse {
        app: state.keeper.app.to_string(),
        shard_count: state.keeper.shard_count,
        tee_pubkey: signer,
        shards,
    })
}

/// Prometheus text exposition.
async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    let m = &state.metrics;
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, values: Vec<(String, u64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
        for (labels, v) in values {
            out.push_str(&format!("{name}{labels} {v}\n"));
        }
    };
    counter(
        "ironroot_writes_total",
        "Records written through the API.",
        vec![(String::new(), m.writes.load(Ordering::Relaxed))],
    );
    counter(
        "ironroot_reads_total",
        "Records read through the API.",
        vec![(String::new(), m.reads.load(Ordering::Relaxed))],
    );
    counter(
        "ironroot_written_bytes_total",
        "Value bytes written.",
        vec![(String::new(), m.bytes_written.load(Ordering::Relaxed))],
    );
    counter(
        "ironroot_read_bytes_total",
        "Value bytes read.",
        vec![(String::new(), m.bytes_read.load(Ordering::Relaxed))],
    );
    let slots = state.keeper.slots().await;
    let per_shard = |f: &dyn Fn(&crate::shard::ShardMetrics) -> u64| -> Vec<(String, u64)> {
        slots
            .iter()
            .filter_map(|(id, s)| s.as_ref().ok().map(|k| (format!("{{shard=\"{id}\"}}"), f(k.metrics()))))
            .collect()
    };
    counter(
        "ironroot_group_commits_total",
        "Local group commits.",
        per_shard(&|m| m.groups.load(Ordering::Relaxed)),
    );
    counter(
        "ironroot_group_commit_writes_total",
        "Writes in local group commits (batch size = this / group commits).",
        per_shard(&|m| m.grouped_writes.load(Ordering::Relaxed)),
    );
    counter(
        "ironroot_chain_commits_total",
        "Shard updates confirmed on-chain.",
        per_shard(&|m| m.commits.load(Ordering::Relaxed)),
    );
    counter(
        "ironroot_chain_commit_seconds_total",
        "Time spent in confirmed on-chain commits (latency = this / commits).",
        per_shard(&|m| m.commit_micros_total.load(Ordering::Relaxed) / 1_000_000),
    );
    counter(
        "ironroot_chain_errors_total",
        "Failed on-chain commits.",
        per_shard(&|m| m.chain_errors.load(Ordering::Relaxed)),
    );
    counter(
        "ironroot_blob_errors_total",
        "Blob store (IPFS or local) failures.",
        per_shard(&|m| m.blob_errors.load(Ordering::Relaxed)),
    );
    ([("content-type", "text/plain; version=0.0.4")], out)
}

fn authorize(state: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &state.admin_token else {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "ADMIN_DISABLED", "no admin token is configured"));
    };
    let given =
        headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    // Constant-time comparison: the token is a secret.
    match given {
        Some(g)
            if g.len() == token.len()
                && g.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0 =>
        {
            Ok(())
        }
        _ => Err(ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "missing or wrong admin token")),
    }
}

#[utoipa::path(post, path = "/v1/admin/commit", responses((status = 200, body = CommitResponse), (status = 401, body = ErrorResponse)))]
async fn admin_commit(State(state): State<ApiState>, headers: HeaderMap) -> ApiResult<CommitResponse> {
    authorize(&state, &headers)?;
    let mut commits = Vec::new();
    for (id, slot) in state.keeper.slots().await {
        let shard = slot.map_err(|e| KeeperError::FailedClosed(e.as_ref().clone()))?;
        commits.push(match shard.commit().await? {
            CommitOutcome::NothingToCommit => {
                CommitJson { shard: id, committed: false, seq: None, root: None, tx_bytes: None }
            }
            CommitOutcome::Committed { seq, root, tx_bytes, .. } => CommitJson {
                shard: id,
                committed: true,
                seq: Some(seq),
                root: Some(hex::encode(root)),
                tx_bytes: Some(tx_bytes),
            },
        });
    }
    Ok(Json(CommitResponse { commits }))
}

#[utoipa::path(post, path = "/v1/admin/rotate", responses((status = 200, body = RotateResponse), (status = 401, body = ErrorResponse)))]
async fn admin_rotate(State(state): State<ApiState>, headers: HeaderMap) -> ApiResult<RotateResponse> {
    authorize(&state, &headers)?;
    let mut shards = Vec::new();
    let mut rewrapped = 0;
    for (id, slot) in state.keeper.slots().await {
        let shard = slot.map_err(|e| KeeperError::FailedClosed(e.as_ref().clone()))?;
        let epoch = shard.rotate_key_epoch().await?;
        rewrapped += shard
            .rewrap_old_epochs(|p| {
                tracing::info!(
                    shard = id,
                    scanned = p.scanned,
                    rewrapped = p.rewrapped,
                    "re-wrapping data keys"
                )
            })
            .await?
            .rewrapped;
        shards.push((id, epoch));
    }
    Ok(Json(RotateResponse { shards, rewrapped }))
}

#[utoipa::path(post, path = "/v1/admin/rebuild", responses((status = 200, body = RebuildResponse), (status = 401, body = ErrorResponse)))]
async fn admin_rebuild(State(state): State<ApiState>, headers: HeaderMap) -> ApiResult<RebuildResponse> {
    authorize(&state, &headers)?;
    let ids: Vec<u16> = state.keeper.slots().await.into_iter().map(|(id, _)| id).collect();
    let mut shards = Vec::new();
    for id in ids {
        state.keeper.reopen(id).await?;
        let slot = state.keeper.slots().await.into_iter().find(|(i, _)| *i == id).map(|(_, s)| s);
        if let Some(slot) = slot {
            shards.push(shard_status(&state.keeper, id, slot).await);
        }
    }
    Ok(Json(RebuildResponse { shards }))
}

#[utoipa::path(get, path = "/v1/admin/export", responses((status = 200, content_type = "application/octet-stream", description = "encrypted backup (commits first)"), (status = 401, body = ErrorResponse)))]
async fn admin_export(State(state): State<ApiState>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let mut shards = Vec::new();
    for (_, slot) in state.keeper.slots().await {
        let shard = slot.map_err(|e| KeeperError::FailedClosed(e.as_ref().clone()))?;
        // A backup restores only onto the chain's roots: commit what is pending first.
        shard.commit().await?;
        shards.push(shard);
    }
    let stores: Vec<(u16, &crate::tree::ShardStore)> =
        shards.iter().map(|s| (s.config().shard, s.store())).collect();
    let mut out = Vec::new();
    crate::backup::export(
        state.keeper.app,
        &stores,
        state.keeper.blobs().as_ref(),
        state.keeper.keys().as_ref(),
        &mut out,
    )
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string()))?;
    Ok(([("content-type", "application/octet-stream")], out).into_response())
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ironroot keeper",
        description = "Rollback-proof, verifiable, encrypted storage for TEE apps"
    ),
    paths(
        put_record,
        get_record,
        delete_record,
        record_proof,
        batch_write,
        batch_read,
        list_records,
        health,
        status,
        admin_commit,
        admin_rotate,
        admin_rebuild
    ),
    components(schemas(
        ErrorResponse,
        ErrorBody,
        FieldProblem,
        LeafJson,
        WriteResponse,
        RecordResponse,
        ProofResponse,
        BatchWriteRequest,
        BatchWriteItem,
        BatchWriteResponse,
        BatchReadRequest,
        BatchReadResponse,
        ListResponse,
        HealthResponse,
        StatusResponse,
        ShardStatusJson,
        CommitResponse,
        CommitJson,
        RotateResponse,
        RebuildResponse
    ))
)]
pub struct ApiDoc;

pub fn router(state: ApiState) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route("/v1/apps/{app}/records/{key}", put(put_record).get(get_record).delete(delete_record))
        .route("/v1/apps/{app}/records/{key}/proof", get(record_proof))
        .route("/v1/apps/{app}/records", get(list_records))
        .route("/v1/apps/{app}/batch/write", post(batch_write))
        .route("/v1/apps/{app}/batch/read", post(batch_read))
        .route("/health", get(health))
        .route("/v1/status", get(status))
        .route("/metrics", get(metrics))
        .route("/v1/admin/commit", post(admin_commit))
        .route("/v1/admin/rotate", post(admin_rotate))
        .route("/v1/admin/rebuild", post(admin_rebuild))
        .route("/v1/admin/export", get(admin_export))
        .merge(utoipa_swagger_ui::SwaggerUi::new("/swagger-ui").url("/openapi.json", ApiDoc::openapi()))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route") })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
