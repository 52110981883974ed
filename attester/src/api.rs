//! The attester's HTTP API (axum): `POST /v1/attest`, `GET /v1/info`, `GET /health`, with the
//! OpenAPI document at `/openapi.json` and a Swagger UI at `/swagger-ui/`.
//!
//! Errors are `{"error": {"code", "check", "message"}}`: `REFUSED` (422) names the failed check,
//! `VALIDATION` (400) a malformed request, `UNAVAILABLE` (503) a failure to decide (collateral or
//! chain unreachable).
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use solana_sdk::pubkey::Pubkey;
use utoipa::{OpenApi, ToSchema};

use crate::attest::{AttestRequest, Attester, StatementWindow};
use crate::error::{AttestError, Check};
use crate::quote::TeeKind;

/// Quotes with certificate chains are a few KiB; event logs a few tens.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// `POST /v1/attest` body. Binary fields are hex; keys and the cluster's genesis hash base58.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AttestRequestJson {
    /// The raw DCAP quote, hex.
    pub quote: String,
    /// The dstack event log as the guest agent returns it (JSON text); empty for SGX.
    #[serde(default)]
    pub event_log: String,
    /// The TEE's ed25519 public key, base58.
    pub tee_pubkey: String,
    /// Claimed dstack app id, 32 bytes hex (a 20-byte dstack id zero-padded on the right).
    pub app_id: String,
    /// Claimed compose hash, 32 bytes hex.
    pub compose_hash: String,
    /// The cluster's genesis hash, base58.
    pub cluster: String,
    pub nonce: u64,
    /// Proposed statement start (unix seconds), so k attesters sign identical statements; must be
    /// within 120 s of the attester's clock. Omitted: the attester's clock.
    #[serde(default)]
    pub verified_at: Option<i64>,
    /// Proposed statement expiry; with `verified_at`, within the attester's lifetime cap.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// A signed statement.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AttestResponseJson {
    /// The 266-byte `AttestationStatement`, hex.
    pub statement: String,
    /// This attester's ed25519 public key, base58.
    pub attester: String,
    /// Its signature over `statement`, base58.
    pub signature: String,
    pub tee_kind: TeeKind,
    /// dcap-qvl's TCB status name.
    pub tcb_status: String,
    pub advisory_ids: Vec<String>,
    pub measurement: String,
    /// The statement's quote digest (version 2: the signed header‖body, QE report and PCK key), hex.
    pub quote_hash: String,
    pub verified_at: i64,
    pub expires_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InfoResponse {
    /// This attester's ed25519 public key, base58.
    pub attester: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// `REFUSED`, `VALIDATION` or `UNAVAILABLE`.
    pub code: String,
    /// The failed check (for `REFUSED` and `VALIDATION`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<Check>,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

struct ApiError(StatusCode, ErrorBody);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorResponse { error: self.1 })).into_response()
    }
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError(
        StatusCode::BAD_REQUEST,
        ErrorBody { code: "VALIDATION".into(), check: Some(Check::Request), message: message.into() },
    )
}

fn hex32(name: &str, value: &str) -> Result<[u8; 32], ApiError> {
    hex::decode(value)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| validation(format!("{name} must be 32 bytes of hex")))
}

fn parse_request(json: AttestRequestJson) -> Result<AttestRequest, ApiError> {
    Ok(AttestRequest {
        quote: hex::decode(&json.quote).map_err(|_| validation("quote must be hex"))?,
        event_log: json.event_log,
        tee_pubkey: Pubkey::from_str(&json.tee_pubkey)
            .map_err(|_| validation("tee_pubkey must be base58"))?,
        app_id: hex32("app_id", &json.app_id)?,
        compose_hash: hex32("compose_hash", &json.compose_hash)?,
        cluster_genesis_hash: solana_sdk::hash::Hash::from_str(&json.cluster)
            .map_err(|_| validation("cluster must be a base58 genesis hash"))?
            .to_bytes(),
        nonce: json.nonce,
        window: match (json.verified_at, json.expires_at) {
            (Some(verified_at), Some(expires_at)) => Some(StatementWindow { verified_at, expires_at }),
            (None, None) => None,
            _ => return Err(validation("verified_at and expires_at go together")),
        },
    })
}

#[utoipa::path(post, path = "/v1/attest", request_body = AttestRequestJson,
    responses((status = 200, body = AttestResponseJson), (status = 400, body = ErrorResponse),
              (status = 422, body = ErrorResponse, description = "refused: `error.check` names the failed check"),
              (status = 503, body = ErrorResponse)))]
async fn attest(
    State(attester): State<Arc<Attester>>,
    body: Result<Json<AttestRequestJson>, JsonRejection>,
) -> Result<Json<AttestResponseJson>, ApiError> {
    let Json(body) = body.map_err(|e| validation(e.body_text()))?;
    let request = parse_request(body)?;
    match attester.attest(&request).await {
        Ok(a) => Ok(Json(AttestResponseJson {
            statement: hex::encode(a.statement.to_bytes()),
            attester: a.attester.to_string(),
            signature: a.signature.to_string(),
            tee_kind: a.kind,
            tcb_status: a.dcap_status,
            advisory_ids: a.advisory_ids,
            measurement: hex::encode(a.statement.measurement),
            quote_hash: hex::encode(a.statement.quote_hash),
            verified_at: a.statement.verified_at,
            expires_at: a.statement.expires_at,
        })),
        Err(AttestError::Refused(r)) => Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorBody { code: "REFUSED".into(), check: Some(r.check), message: r.reason },
        )),
        Err(AttestError::Unavailable(e)) => Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorBody { code: "UNAVAILABLE".into(), check: None, message: e.to_string() },
        )),
    }
}

#[utoipa::path(get, path = "/v1/info", responses((status = 200, body = InfoResponse)))]
async fn info(State(attester): State<Arc<Attester>>) -> Json<InfoResponse> {
    Json(InfoResponse { attester: attester.pubkey().to_string() })
}

#[utoipa::path(get, path = "/health", responses((status = 200, description = "the process is up")))]
async fn health() -> &'static str {
    "ok"
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Ironroot attester", description = "Verifies TEE quotes and signs attestation statements"),
    paths(attest, info, health),
    components(schemas(
        AttestRequestJson,
        AttestResponseJson,
        InfoResponse,
        ErrorResponse,
        ErrorBody,
        Check,
        TeeKind
    ))
)]
pub struct ApiDoc;

pub fn router(attester: Arc<Attester>) -> Router {
    Router::new()
        .route("/v1/attest", post(attest))
        .route("/v1/info", get(info))
        .route("/health", get(health))
        .merge(utoipa_swagger_ui::SwaggerUi::new("/swagger-ui").url("/openapi.json", ApiDoc::openapi()))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(attester)
}
