//! The HTTP edge: one module per resource, each exposing `configure`, all
//! mounted under `/api/v1` by [`configure`]. Handlers parse input into domain
//! types, call the database layer, and map every failure to problem+json.

pub mod extract;
pub mod health;
pub mod problem;

use utoipa::OpenApi;
use utoipa_actix_web::service_config::ServiceConfig;

/// Top-level OpenAPI metadata; paths and schemas are collected from the
/// handlers' `#[utoipa::path]` annotations as they are mounted.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cadenza API",
        description = "Copyright sublicensing marketplace between music platforms. Errors are RFC 9457 problem+json; see docs/api.md.",
        version = "1"
    ),
    components(schemas(problem::Problem, crate::domain::FieldError)),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// Mounts every route (probes at the root, the API under `/api/v1`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::health).service(health::ready);
    cfg.service(utoipa_actix_web::scope("/api/v1").configure(configure_v1));
}

fn configure_v1(_cfg: &mut ServiceConfig) {}
