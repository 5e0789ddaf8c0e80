//! Liveness and readiness probes for load balancers and orchestrators.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::problem::ApiError;
use super::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct HealthStatus {
    /// `ok` when the check passed.
    pub status: &'static str,
    /// `sqlite` or `postgres` (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'static str>,
}

/// The process is up and serving HTTP. Never touches the database.
#[utoipa::path(tag = "operations", responses((status = 200, body = HealthStatus)))]
#[get("/health")]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus {
        status: "ok",
        database: None,
    })
}

/// The service can do useful work: its database answers.
#[utoipa::path(tag = "operations", responses(
    (status = 200, body = HealthStatus),
    (status = 503, body = super::problem::Problem, content_type = "application/problem+json"),
))]
#[get("/ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.db.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::Unavailable("the database is not reachable".into())
    })?;
    Ok(HttpResponse::Ok().json(HealthStatus {
        status: "ok",
        database: Some(state.db.backend().name()),
    }))
}

/// Prometheus metrics in the text exposition format (HTTP request counts and latencies by
/// route, the mail outbox). Served by the metrics middleware, not a handler: this item
/// only documents it.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, content_type = "text/plain", body = String),
))]
pub fn metrics() {}

/// This OpenAPI 3.1 document. Served by the application's wiring (`src/app.rs`), after
/// the handlers are mounted: this item only documents it.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", responses(
    (status = 200, content_type = "application/json", body = Object),
))]
pub fn openapi_document() {}
