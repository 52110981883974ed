//! Record routes: put, get, delete, proofs, batches and listing.
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use base64::Engine;

use super::auth::DataAccess;
use super::dto::*;
use super::error::{body_error, json_error, ApiError, ApiResult, ErrorCode, ErrorResponse, FieldProblem};
use super::ApiState;
use crate::shard::{Durability, KeeperError};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Whether `hex_id` is `id` in lowercase hex (the form [`crate::keys::AppId`] displays), compared
/// without formatting the id on every request.
fn is_hex_of(hex_id: &str, id: &[u8; 32]) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    hex_id.len() == 2 * id.len()
        && hex_id.as_bytes().chunks_exact(2).zip(id).all(|(pair, byte)| {
            pair[0] == DIGITS[usize::from(byte >> 4)] && pair[1] == DIGITS[usize::from(byte & 0x0f)]
        })
}

fn check_app(state: &ApiState, app: &str) -> Result<(), ApiError> {
    if is_hex_of(app, state.keeper.app.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::UnknownApp, format!("this keeper does not serve app {app}")))
    }
}

fn parse_root(field: &str, hex_root: &str) -> Result<[u8; 32], ApiError> {
    hex::decode(hex_root)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| ApiError::field(field, "must be 64 hex characters"))
}

/// Most items in one batch request.
pub const MAX_BATCH_ITEMS: usize = 1024;

fn batch_len_problem(field: &str, len: usize) -> Option<FieldProblem> {
    (len > MAX_BATCH_ITEMS)
        .then(|| FieldProblem { field: field.into(), problem: format!("at most {MAX_BATCH_ITEMS} items") })
}

fn parse_durability(q: &WriteQuery) -> Result<Option<Durability>, FieldProblem> {
    q.durability
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|problem| FieldProblem { field: "durability".into(), problem })
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
    durability: Option<Durability>,
) -> Result<WriteResponse, ApiError> {
    let shard = state.keeper.shard_for(key.as_bytes()).await?;
    let receipt = match value {
        Some(value) => {
            state.metrics.writes.fetch_add(1, Ordering::Relaxed);
            state.metrics.bytes_written.fetch_add(value.len() as u64, Ordering::Relaxed);
            shard.put_with(key.as_bytes(), value, expected, durability).await?
        }
        None => shard.delete_with(key.as_bytes(), expected, durability).await?,
    };
    Ok(WriteResponse {
        key: key.into(),
        shard: shard.config().shard,
        version: receipt.version,
        root: hex::encode(receipt.root),
        durability: receipt.durability,
        anchored_seq: receipt.anchored_seq,
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

#[utoipa::path(put, path = "/v1/apps/{app}/records/{key}", request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    params(("app" = String, Path, description = "app id, hex"), ("key" = String, Path, description = "record key"), ("expected_root" = Option<String>, Query, description = "hex root the write expects"), ("durability" = Option<Durability>, Query, description = "local or chain (default: the keeper's)")),
    responses((status = 200, body = WriteResponse), (status = 401, body = ErrorResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse), (status = 413, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub(super) async fn put_record(
    _access: DataAccess,
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
    let durability = parse_durability(&q).unwrap_or_else(|p| {
        problems.push(p);
        None
    });
    let body = body.map_err(body_error)?;
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    Ok(Json(write_one(&state, &key, Some(body), expected, durability).await?))
}

#[utoipa::path(get, path = "/v1/apps/{app}/records/{key}", params(("app" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = RecordResponse), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 502, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub(super) async fn get_record(
    _access: DataAccess,
    State(state): State<ApiState>,
    Path((app, key)): Path<(String, String)>,
) -> ApiResult<RecordResponse> {
    check_app(&state, &app)?;
    if let Some(p) = key_problem("key".into(), &key) {
        return Err(ApiError::validation(vec![p]));
    }
    Ok(Json(read_one(&state, &key).await?))
}

#[utoipa::path(delete, path = "/v1/apps/{app}/records/{key}", params(("app" = String, Path), ("key" = String, Path), ("expected_root" = Option<String>, Query), ("durability" = Option<Durability>, Query)),
    responses((status = 200, body = WriteResponse), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
pub(super) async fn delete_record(
    _access: DataAccess,
    State(state): State<ApiState>,
    Path((app, key)): Path<(String, String)>,
    Query(q): Query<WriteQuery>,
) -> ApiResult<WriteResponse> {
    check_app(&state, &app)?;
    if let Some(p) = key_problem("key".into(), &key) {
        return Err(ApiError::validation(vec![p]));
    }
    let expected = q.expected_root.as_deref().map(|r| parse_root("expected_root", r)).transpose()?;
    let durability = parse_durability(&q).map_err(|p| ApiError::validation(vec![p]))?;
    Ok(Json(write_one(&state, &key, None, expected, durability).await?))
}

#[utoipa::path(get, path = "/v1/apps/{app}/records/{key}/proof", params(("app" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = ProofResponse), (status = 401, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub(super) async fn record_proof(
    _access: DataAccess,
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
        key_hash: hex::encode(proof.key_hash),
        tree_key_mode: proof.tree_key_mode,
        leaf: proof.leaf.as_ref().map(LeafJson::from),
        root: hex::encode(proof.root),
        committed: proof.committed,
        seq: proof.seq,
        proof: hex::encode(
            borsh::to_vec(&proof.proof).map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?,
        ),
    }))
}

#[utoipa::path(post, path = "/v1/apps/{app}/batch/write", request_body = BatchWriteRequest, params(("app" = String, Path)),
    responses((status = 200, body = BatchWriteResponse), (status = 401, body = ErrorResponse), (status = 400, body = ErrorResponse)))]
pub(super) async fn batch_write(
    _access: DataAccess,
    State(state): State<ApiState>,
    Path(app): Path<String>,
    body: Result<Json<BatchWriteRequest>, JsonRejection>,
) -> ApiResult<BatchWriteResponse> {
    check_app(&state, &app)?;
    let Json(req) = body.map_err(json_error)?;
    let mut problems = Vec::new();
    let count = req.writes.len();
    let mut writes = Vec::with_capacity(count);
    for (i, w) in req.writes.into_iter().enumerate() {
        problems.extend(key_problem(format!("writes[{i}].key"), &w.key));
        match (w.value, w.delete) {
            (Some(Base64Value(Ok(bytes))), false) => writes.push((w.key, Some(bytes))),
            (Some(Base64Value(Err(()))), false) => problems
                .push(FieldProblem { field: format!("writes[{i}].value"), problem: "must be base64".into() }),
            (None, true) => writes.push((w.key, None)),
            _ => problems.push(FieldProblem {
                field: format!("writes[{i}]"),
                problem: "give either a value or delete: true".into(),
            }),
        }
    }
    if count == 0 {
        problems.push(FieldProblem { field: "writes".into(), problem: "must not be empty".into() });
    }
    problems.extend(batch_len_problem("writes", count));
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    // Concurrently, so the writes share group commits.
    let results = futures::future::join_all(writes.into_iter().map(|(k, v)| {
        let state = state.clone();
        let durability = req.durability;
        async move { write_one(&state, &k, v, None, durability).await }
    }))
    .await;
    Ok(Json(BatchWriteResponse { results: results.into_iter().collect::<Result<_, _>>()? }))
}

#[utoipa::path(post, path = "/v1/apps/{app}/batch/read", request_body = BatchReadRequest, params(("app" = String, Path)),
    responses((status = 200, body = BatchReadResponse), (status = 401, body = ErrorResponse), (status = 400, body = ErrorResponse)))]
pub(super) async fn batch_read(
    _access: DataAccess,
    State(state): State<ApiState>,
    Path(app): Path<String>,
    body: Result<Json<BatchReadRequest>, JsonRejection>,
) -> ApiResult<BatchReadResponse> {
    check_app(&state, &app)?;
    let Json(req) = body.map_err(json_error)?;
    let mut problems: Vec<_> =
        req.keys.iter().enumerate().filter_map(|(i, k)| key_problem(format!("keys[{i}]"), k)).collect();
    problems.extend(batch_len_problem("keys", req.keys.len()));
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    // The answer is held in memory: bounded like a request body.
    let mut bytes = 0usize;
    let mut records = Vec::with_capacity(req.keys.len());
    for key in &req.keys {
        match read_one(&state, key).await {
            Ok(r) => {
                bytes += r.value.len();
                if bytes > state.max_body_bytes {
                    return Err(ApiError::new(
                        ErrorCode::PayloadTooLarge,
                        format!("the batch's values exceed {} bytes; read fewer keys", state.max_body_bytes),
                    ));
                }
                records.push(Some(r))
            }
            Err(e) if e.code() == ErrorCode::NotFound => records.push(None),
            Err(e) => return Err(e),
        }
    }
    Ok(Json(BatchReadResponse { records }))
}

#[utoipa::path(get, path = "/v1/apps/{app}/records", params(("app" = String, Path), ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = ListResponse), (status = 401, body = ErrorResponse)))]
pub(super) async fn list_records(
    _access: DataAccess,
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
