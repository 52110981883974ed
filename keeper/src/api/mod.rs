//! The keeper's HTTP API (axum). Routes and the OpenAPI spec (`/openapi.json`, Swagger UI at
//! `/swagger-ui`) come from one declaration in [`router`], so no route can be missing from the spec.
//!
//! Successful responses are JSON objects; every error is `{"error": {"code", "message", "details"}}`
//! with a stable [`ErrorCode`].
//!
//! * [`error`]: error codes and the error shape; [`dto`]: request and response bodies.
//! * [`records`]: record routes (with `api_token`, bearer-guarded); [`ops`]: health, status,
//!   metrics; [`admin`]: admin-token-guarded routes; [`auth`]: the token checks.
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod admin;
mod auth;
pub mod dto;
pub mod error;
mod ops;
mod records;

pub use dto::*;
pub use error::{ApiError, ErrorBody, ErrorCode, ErrorResponse, FieldProblem};
pub use ops::ApiMetrics;

use crate::app::AppKeeper;

#[derive(Clone)]
pub struct ApiState {
    pub keeper: Arc<AppKeeper>,
    /// Bearer token for `/v1/admin/*`; admin is disabled without one.
    pub admin_token: Option<Arc<String>>,
    /// Bearer token for the data API (`/v1/apps/...`); open without one.
    pub api_token: Option<Arc<String>>,
    pub metrics: Arc<ApiMetrics>,
    pub max_body_bytes: usize,
    /// The provider role, when configured: its state shows in `/v1/status` and `/metrics`.
    pub provider: Option<Arc<crate::provider::ProviderWatcher>>,
}

#[derive(OpenApi)]
#[openapi(info(
    title = "Ironroot keeper",
    description = "Rollback-proof, verifiable, encrypted storage for TEE apps"
))]
struct ApiDoc;

fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(records::put_record, records::get_record, records::delete_record))
        .routes(routes!(records::record_proof))
        .routes(routes!(records::list_records))
        .routes(routes!(records::batch_write))
        .routes(routes!(records::batch_read))
        .routes(routes!(ops::health))
        .routes(routes!(ops::status))
        .routes(routes!(ops::metrics))
        .routes(routes!(admin::admin_commit))
        .routes(routes!(admin::admin_rotate))
        .routes(routes!(admin::admin_rebuild))
        .routes(routes!(admin::admin_export))
}

/// The OpenAPI document of every route [`router`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

pub fn router(state: ApiState) -> Router {
    let limit = state.max_body_bytes;
    let (router, spec) = routes().split_for_parts();
    router
        .merge(utoipa_swagger_ui::SwaggerUi::new("/swagger-ui").url("/openapi.json", spec))
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route") })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
