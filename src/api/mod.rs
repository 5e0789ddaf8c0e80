//! The HTTP edge: one module per resource, each exposing `configure`, all
//! mounted under `/api/v1` by [`configure`]. Handlers parse input into domain
//! types, call a service (or a read of the database layer), render the result,
//! and map every failure to problem+json. Handlers reach shared state through
//! [`state::AppState`], never through `crate::app`, which mounts them.

pub mod accounts;
pub mod audit;
pub mod cache_metrics;
pub mod caller;
pub mod catalogs;
pub mod csv_export;
pub mod ddex;
pub mod deals;
pub mod extract;
pub mod grants;
pub mod health;
pub mod idempotency;
pub mod input;
pub mod listings;
pub mod market_rules;
pub mod marketplace;
pub mod notifications;
pub mod offers;
pub mod openapi;
pub mod pagination;
pub mod problem;
pub mod read_cache;
pub mod requests;
pub mod rights;
pub mod royalties;
pub mod slices;
pub mod state;
pub mod track_lists;
pub mod webhooks;

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
    // The two routes that are not handlers (middleware and wiring), documented by hand.
    paths(health::metrics, health::openapi_document),
    components(schemas(problem::Problem, crate::domain::FieldError, webhooks::WebhookPayload)),
    modifiers(&BearerAuth),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "auth", description = "Sign-up, login, tokens and password reset"),
        (name = "members", description = "Invitations, roles and membership"),
        (name = "catalogs", description = "Catalogs, their holdings, imports and tracks"),
        (name = "slices", description = "Slices cut from catalogs"),
        (name = "deals", description = "Negotiation: deals, term-sheet revisions, signatures"),
        (name = "grants", description = "Transfers: grants, payment schedules, availability"),
        (name = "notifications", description = "The notification feed and e-mail settings"),
        (name = "marketplace", description = "Offers, requests, browsing, matching and the organization directory"),
        (name = "market-rules", description = "The operator's market rules per territory, enforced on offers and deals"),
        (name = "audit", description = "The organization's tamper-evident audit trail"),
        (name = "webhooks", description = "Webhook endpoints, their delivery log, redelivery and test events; payloads are the WebhookPayload schema"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme that authenticated operations reference.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Mounts every route (probes at the root, the API under `/api/v1`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::health).service(health::ready);
    cfg.service(utoipa_actix_web::scope("/api/v1").configure(configure_v1));
}

fn configure_v1(cfg: &mut ServiceConfig) {
    accounts::configure(cfg);
    catalogs::configure(cfg);
    slices::configure(cfg);
    deals::configure(cfg);
    grants::configure(cfg);
    rights::configure(cfg);
    ddex::configure(cfg);
    royalties::configure(cfg);
    notifications::configure(cfg);
    offers::configure(cfg);
    requests::configure(cfg);
    marketplace::configure(cfg);
    market_rules::configure(cfg);
    audit::configure(cfg);
    webhooks::configure(cfg);
}
