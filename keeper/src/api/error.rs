//! The API's error shape: `{"error": {"code", "message", "details"}}` with a stable [`ErrorCode`].
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::blobs::BlobError;
use crate::shard::KeeperError;
use crate::tree::StoreError;

/// Stable, machine-readable error codes; each maps to one HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    Validation,
    NotFound,
    UnknownApp,
    RootChanged,
    PayloadTooLarge,
    FailedClosed,
    ShardNotServed,
    BlobMissing,
    Integrity,
    BlobUnavailable,
    ChainUnavailable,
    ChainDiverged,
    ShuttingDown,
    /// Too many acknowledged writes are not anchored on-chain yet (the rollback window is full).
    AnchorLagging,
    /// The chain rejected the shard's update; the shard takes no writes until an operator acts.
    ShardHalted,
    /// Another process holds the shard's local store.
    StoreInUse,
    /// Too many bytes of writes are queued for the shard; retry later.
    QueueFull,
    Unauthorized,
    AdminDisabled,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        use ErrorCode as C;
        match self {
            C::Validation => StatusCode::BAD_REQUEST,
            C::NotFound | C::UnknownApp => StatusCode::NOT_FOUND,
            C::RootChanged => StatusCode::CONFLICT,
            C::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            C::ShardNotServed => StatusCode::MISDIRECTED_REQUEST,
            C::BlobMissing | C::Integrity => StatusCode::BAD_GATEWAY,
            C::FailedClosed
            | C::BlobUnavailable
            | C::ChainUnavailable
            | C::ChainDiverged
            | C::ShuttingDown
            | C::AnchorLagging
            | C::ShardHalted
            | C::StoreInUse
            | C::QueueFull => StatusCode::SERVICE_UNAVAILABLE,
            C::Unauthorized => StatusCode::UNAUTHORIZED,
            C::AdminDisabled => StatusCode::FORBIDDEN,
            C::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// One problem with a request.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct FieldProblem {
    pub field: String,
    pub problem: String,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    pub details: Vec<FieldProblem>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

#[derive(Debug)]
pub struct ApiError {
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { body: ErrorBody { code, message: message.into(), details: Vec::new() } }
    }

    pub fn validation(details: Vec<FieldProblem>) -> Self {
        let mut e = Self::new(ErrorCode::Validation, "the request is invalid");
        e.body.details = details;
        e
    }

    pub fn field(field: &str, problem: impl Into<String>) -> Self {
        Self::validation(vec![FieldProblem { field: field.into(), problem: problem.into() }])
    }

    pub fn code(&self) -> ErrorCode {
        self.body.code
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.body.code.status(), Json(ErrorResponse { error: self.body })).into_response()
    }
}

impl From<KeeperError> for ApiError {
    fn from(e: KeeperError) -> Self {
        use ErrorCode as C;
        let code = match &e {
            KeeperError::NotFound => C::NotFound,
            KeeperError::RootChanged { .. } => C::RootChanged,
            KeeperError::InvalidKey => return ApiError::field("key", e.to_string()),
            KeeperError::FailedClosed(_) => C::FailedClosed,
            KeeperError::ShardNotServed(_) => C::ShardNotServed,
            KeeperError::Blob(BlobError::NotFound(_)) => C::BlobMissing,
            KeeperError::Blob(BlobError::CidMismatch { .. })
            | KeeperError::Crypto(_)
            | KeeperError::CiphertextMismatch => C::Integrity,
            KeeperError::Blob(BlobError::TooLarge { .. }) | KeeperError::ValueTooLarge { .. } => {
                C::PayloadTooLarge
            }
            KeeperError::Blob(BlobError::InUse { .. }) => C::StoreInUse,
            KeeperError::Blob(_) | KeeperError::Manifest(_) => C::BlobUnavailable,
            KeeperError::Chain(_) | KeeperError::AppNotOnChain | KeeperError::ShardNotOnChain(_) => {
                C::ChainUnavailable
            }
            KeeperError::ChainDiverged { .. } => C::ChainDiverged,
            KeeperError::ShuttingDown => C::ShuttingDown,
            KeeperError::AnchorLagging { .. } => C::AnchorLagging,
            KeeperError::ShardHalted(_) => C::ShardHalted,
            KeeperError::QueueFull { .. } => C::QueueFull,
            KeeperError::Store(StoreError::InUse { .. }) => C::StoreInUse,
            KeeperError::Key(_) | KeeperError::Store(_) => C::Internal,
        };
        ApiError::new(code, e.to_string())
    }
}

/// A body that could not be read: too large, or not what the route takes.
pub fn body_error(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(ErrorCode::PayloadTooLarge, e.body_text())
    } else {
        ApiError::field("body", e.body_text())
    }
}

pub fn json_error(e: JsonRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(ErrorCode::PayloadTooLarge, e.body_text())
    } else {
        ApiError::field("body", e.body_text())
    }
}

pub type ApiResult<T> = Result<Json<T>, ApiError>;
