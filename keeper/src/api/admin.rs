//! Admin routes (bearer token): commit now, rotate the key epoch, rebuild, export.
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::dto::*;
use super::error::{ApiError, ApiResult, ErrorCode, ErrorResponse};
use super::ApiState;
use crate::keys::ShardId;
use crate::shard::{CommitOutcome, KeeperError};

fn authorize(state: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &state.admin_token else {
        return Err(ApiError::new(ErrorCode::AdminDisabled, "no admin token is configured"));
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
        _ => Err(ApiError::new(ErrorCode::Unauthorized, "missing or wrong admin token")),
    }
}

#[utoipa::path(post, path = "/v1/admin/commit", responses((status = 200, body = CommitResponse), (status = 401, body = ErrorResponse)))]
pub(super) async fn admin_commit(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> ApiResult<CommitResponse> {
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
pub(super) async fn admin_rotate(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> ApiResult<RotateResponse> {
    authorize(&state, &headers)?;
    let mut shards = Vec::new();
    let mut rewrapped = 0;
    for (id, slot) in state.keeper.slots().await {
        let shard = slot.map_err(|e| KeeperError::FailedClosed(e.as_ref().clone()))?;
        let epoch = shard.rotate_key_epoch().await?;
        rewrapped += shard
            .rewrap_old_epochs(|p| {
                tracing::info!(
                    shard = %id,
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
pub(super) async fn admin_rebuild(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> ApiResult<RebuildResponse> {
    authorize(&state, &headers)?;
    let ids: Vec<ShardId> = state.keeper.slots().await.into_iter().map(|(id, _)| id).collect();
    let mut shards = Vec::new();
    for id in ids {
        state.keeper.reopen(id).await?;
        let slot = state.keeper.slots().await.into_iter().find(|(i, _)| *i == id).map(|(_, s)| s);
        if let Some(slot) = slot {
            shards.push(super::ops::shard_status(&state.keeper, id, slot).await);
        }
    }
    Ok(Json(RebuildResponse { shards }))
}

#[utoipa::path(get, path = "/v1/admin/export", responses((status = 200, content_type = "application/octet-stream", description = "encrypted backup (commits first)"), (status = 401, body = ErrorResponse)))]
pub(super) async fn admin_export(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let mut shards = Vec::new();
    for (_, slot) in state.keeper.slots().await {
        let shard = slot.map_err(|e| KeeperError::FailedClosed(e.as_ref().clone()))?;
        // A backup restores only onto the chain's roots: commit what is pending first.
        shard.commit().await?;
        shards.push(shard);
    }
    // Streamed: frames go out as they are sealed, through a bounded pipe. A failure midway
    // leaves the client a backup without its end frame, which import refuses.
    let (writer, reader) = tokio::io::duplex(EXPORT_PIPE_BYTES);
    let keeper = state.keeper.clone();
    tokio::spawn(async move {
        let stores: Vec<(ShardId, &crate::tree::ShardStore)> =
            shards.iter().map(|s| (s.config().shard, s.store())).collect();
        let exported = crate::backup::export(
            keeper.app,
            &stores,
            keeper.blobs().as_ref(),
            keeper.keys().as_ref(),
            writer,
        )
        .await;
        if let Err(error) = exported {
            tracing::error!(%error, "admin export failed midway");
        }
    });
    let chunks = futures::stream::unfold(reader, |mut reader| async move {
        let mut chunk = vec![0u8; EXPORT_PIPE_BYTES];
        match tokio::io::AsyncReadExt::read(&mut reader, &mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), reader))
            }
            Err(e) => Some((Err(e), reader)),
        }
    });
    Ok(([("content-type", "application/octet-stream")], axum::body::Body::from_stream(chunks))
        .into_response())
}

/// The pipe between the exporting task and the response body.
const EXPORT_PIPE_BYTES: usize = 64 * 1024;
