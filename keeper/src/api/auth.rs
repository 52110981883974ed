//! Bearer tokens: the data API's (optional, `api_token`) and the admin API's (`admin_token`) are
//! separate secrets; neither opens the other's routes.
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::error::{ApiError, ErrorCode};
use super::ApiState;

/// Whether `headers` carry `Authorization: Bearer <token>`, compared in constant time (the
/// token is a secret; only its length may leak).
pub(super) fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let given =
        headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) => {
            g.len() == token.len() && g.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
        }
        None => false,
    }
}

/// Access to the data API (`/v1/apps/...`): granted when no `api_token` is configured, else only
/// with that token (401 `UNAUTHORIZED` otherwise).
pub(super) struct DataAccess;

impl FromRequestParts<ApiState> for DataAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        match &state.api_token {
            None => Ok(DataAccess),
            Some(token) if bearer_matches(&parts.headers, token) => Ok(DataAccess),
            Some(_) => Err(ApiError::new(ErrorCode::Unauthorized, "missing or wrong data API token")),
        }
    }
}
