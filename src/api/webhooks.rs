//! Webhook endpoints of the caller's organization, their delivery log, redelivery and
//! the test event (owners only; see `docs/webhooks.md`). Another organization's endpoint
//! or delivery answers 404 like a missing one.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::extract::ApiJson;
use super::pagination::{Page, PageQuery};
use super::problem::{ApiError, Problem};
use super::state::AppState;
use crate::config::Environment;
use crate::db::webhooks::{self as storage, Delivery, Endpoint};
use crate::db::DbError;
use crate::domain::role::Role;
use crate::domain::ValidationErrors;
use crate::mail::Event;
use crate::webhooks::{self as service, EndpointChanges, NewEndpoint, UrlPolicy, WebhookError};

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Validation(v) => ApiError::Validation(v),
            WebhookError::NotFound(what) => ApiError::NotFound(what),
            WebhookError::Db(e) => ApiError::from(e),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub description: String,
    /// The subscribed event types (notification kinds, e.g. `deal_countered`).
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why Cadenza disabled the endpoint (failing for too long); null otherwise.
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed; null when the last attempt succeeded.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still signs deliveries.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<&Endpoint> for EndpointView {
    type Error = DbError;
    fn try_from(e: &Endpoint) -> Result<Self, DbError> {
        let now = crate::db::now();
        Ok(EndpointView {
            id: e.id.clone(),
            url: e.url.clone(),
            description: e.description.clone(),
            event_types: e.event_types()?,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            failing_since: e.failing_since.map(|t| t.and_utc()),
            previous_secret_valid_until: e
                .previous_secret_until
                .filter(|until| *until > now)
                .map(|t| t.and_utc()),
            created_at: e.created_at.and_utc(),
            updated_at: e.updated_at.and_utc(),
        })
    }
}

/// An endpoint with its signing secret: answered once, when created or rotated.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// `whsec_<base64>`: the key of `webhook-signature` (Standard Webhooks). Shown once.
    pub secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// `https://…`; plain `http` only to a loopback address in development.
    pub url: String,
    #[serde(default)]
    pub description: String,
    /// Notification kinds to receive (`GET /me/notification-settings` lists them).
    pub event_types: Vec<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// Enabling a disabled endpoint sends its pending deliveries at once, in order.
    pub enabled: Option<bool>,
}

fn policy(state: &AppState) -> UrlPolicy {
    UrlPolicy {
        allow_private: state.settings.webhooks.webhooks_allow_private,
        development: state.settings.environment == Environment::Development,
    }
}

fn check_description(description: &str, errors: &mut ValidationErrors) {
    if description.chars().count() > 500 {
        errors.push("description", "must be at most 500 characters");
    }
}

/// Register an endpoint; the answer carries its signing secret, once.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), request_body = CreateEndpoint, responses(
    (status = 201, body = EndpointWithSecret),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "A bad or private `url`, unknown `event_types`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/webhooks/endpoints")]
pub async fn create_endpoint(
    state: web::Data<AppState>,
    caller: Caller,
    body: ApiJson<CreateEndpoint>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Owner)?;
    let body = body.into_inner();
    let mut errors = ValidationErrors::new();
    if let Err(message) = service::check_receiver(&body.url, policy(&state)).await {
        errors.push("url", message);
    }
    let event_types = service::parse_event_types(&body.event_types, &mut errors, "event_types");
    check_description(&body.description, &mut errors);
    errors.into_result()?;
    let (organization_id, user_id) = (
        caller.organization_id().to_string(),
        caller.user_id().to_string(),
    );
    let input = NewEndpoint {
        url: body.url,
        description: body.description,
        event_types,
        enabled: body.enabled.unwrap_or(true),
    };
    let endpoint = state
        .db
        .run(move |conn| service::create_endpoint(conn, &organization_id, &user_id, input))
        .await?;
    Ok(HttpResponse::Created().json(EndpointWithSecret {
        endpoint: EndpointView::try_from(&endpoint)?,
        secret: endpoint.secret,
    }))
}

/// The organization's endpoints (owners only).
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(PageQuery), responses(
    (status = 200, body = Page<EndpointView>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/webhooks/endpoints")]
pub async fn list_endpoints(
    state: web::Data<AppState>,
    caller: Caller,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Owner)?;
    let limit = page.limit()?;
    let after = page.after()?;
    let organization_id = caller.organization_id().to_string();
    let rows = state
        .db
        .run(move |conn| {
            storage::list_endpoints(
                conn,
                &organization_id,
                after.as_deref(),
                i64::from(limit) + 1,
            )
        })
        .await?;
    let page = Page::try_from_rows(
        rows,
        limit,
        |e| e.id.clone(),
        |e| EndpointView::try_from(&e),
    )?;
    Ok(HttpResponse::Ok().json(page))
}

async fn owned_endpoint(
    state: &AppState,
    caller: &Caller,
    id: String,
) -> Result<Endpoint, ApiError> {
    caller.require(Role::Owner)?;
    let organization_id = caller.organization_id().to_string();
    state
        .db
        .run(move |conn| storage::find_endpoint(conn, &organization_id, &id))
        .await?
        .ok_or(ApiError::NotFound("webhook endpoint"))
}

/// One endpoint (owners only).
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), responses(
    (status = 200, body = EndpointView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/webhooks/endpoints/{id}")]
pub async fn get_endpoint(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = owned_endpoint(&state, &caller, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(EndpointView::try_from(&endpoint)?))
}

/// Change an endpoint's URL, description, event types or enabled flag.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), request_body = UpdateEndpoint, responses(
    (status = 200, body = EndpointView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/webhooks/endpoints/{id}")]
pub async fn update_endpoint(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: ApiJson<UpdateEndpoint>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Owner)?;
    let body = body.into_inner();
    let mut errors = ValidationErrors::new();
    if let Some(url) = &body.url {
        if let Err(message) = service::check_receiver(url, policy(&state)).await {
            errors.push("url", message);
        }
    }
    let event_types = body
        .event_types
        .as_ref()
        .map(|types| service::parse_event_types(types, &mut errors, "event_types"));
    if let Some(description) = &body.description {
        check_description(description, &mut errors);
    }
    errors.into_result()?;
    let changes = EndpointChanges {
        url: body.url,
        description: body.description,
        event_types,
        enabled: body.enabled,
    };
    let (organization_id, user_id, id) = (
        caller.organization_id().to_string(),
        caller.user_id().to_string(),
        path.into_inner(),
    );
    let endpoint = state
        .db
        .run(move |conn| service::update_endpoint(conn, &organization_id, &user_id, &id, changes))
        .await?;
    Ok(HttpResponse::Ok().json(EndpointView::try_from(&endpoint)?))
}

/// Delete an endpoint and its delivery log.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), responses(
    (status = 204),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/webhooks/endpoints/{id}")]
pub async fn delete_endpoint(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Owner)?;
    let (organization_id, user_id, id) = (
        caller.organization_id().to_string(),
        caller.user_id().to_string(),
        path.into_inner(),
    );
    state
        .db
        .run(move |conn| service::delete_endpoint(conn, &organization_id, &user_id, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new signing secret (answered once); the previous one keeps signing deliveries, beside
/// the new one, for `CADENZA_WEBHOOKS_ROTATION_GRACE_SECS`.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), responses(
    (status = 200, body = EndpointWithSecret),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[post("/webhooks/endpoints/{id}/rotate-secret")]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Owner)?;
    let grace = chrono::TimeDelta::seconds(
        i64::try_from(state.settings.webhooks.webhooks_rotation_grace_secs)
            .unwrap_or(i64::MAX / 1000),
    );
    let (organization_id, user_id, id) = (
        caller.organization_id().to_string(),
        caller.user_id().to_string(),
        path.into_inner(),
    );
    let endpoint = state
        .db
        .run(move |conn| service::rotate_secret(conn, &organization_id, &user_id, &id, grace))
        .await?;
    Ok(HttpResponse::Ok().json(EndpointWithSecret {
        endpoint: EndpointView::try_from(&endpoint)?,
        secret: endpoint.secret,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The `webhook-id` header of every attempt.
    pub id: String,
    pub endpoint_id: String,
    /// The event's id (the payload's `id`), shared by the event's deliveries to other endpoints.
    pub event_id: String,
    pub event_type: String,
    pub subject_type: String,
    pub subject_id: String,
    /// `pending` (not yet accepted by the receiver) or `delivered`.
    pub status: String,
    pub attempts: i32,
    /// The receiver's HTTP status at the last attempt; null if none came (timeout, refused).
    pub last_status_code: Option<i32>,
    /// How long the last attempt took, in milliseconds.
    pub last_latency_ms: Option<i64>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The body as sent (a `WebhookPayload`).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl TryFrom<Delivery> for DeliveryView {
    type Error = DbError;
    fn try_from(d: Delivery) -> Result<Self, DbError> {
        Ok(DeliveryView {
            payload: crate::db::stored_json("webhook_deliveries.payload", &d.payload)?,
            id: d.id,
            endpoint_id: d.endpoint_id,
            event_id: d.event_id,
            event_type: d.event_type,
            subject_type: d.subject_type,
            subject_id: d.subject_id,
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_latency_ms: d.last_latency_ms,
            last_error: d.last_error,
            last_attempt_at: d.last_attempt_at.map(|t| t.and_utc()),
            created_at: d.created_at.and_utc(),
            delivered_at: d.delivered_at.map(|t| t.and_utc()),
        })
    }
}

/// The endpoint's delivery log, newest first (owners only).
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), params(PageQuery), responses(
    (status = 200, body = Page<DeliveryView>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/webhooks/endpoints/{id}/deliveries")]
pub async fn list_deliveries(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = owned_endpoint(&state, &caller, path.into_inner()).await?;
    let limit = page.limit()?;
    let before = page.after()?;
    let rows = state
        .db
        .run(move |conn| {
            storage::deliveries(conn, &endpoint.id, before.as_deref(), i64::from(limit) + 1)
        })
        .await?;
    let page = Page::try_from_rows(rows, limit, |d| d.id.clone(), DeliveryView::try_from)?;
    Ok(HttpResponse::Ok().json(page))
}

/// Queue a delivery again: same `webhook-id`, same body (receivers deduplicate on it).
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), responses(
    (status = 202, body = DeliveryView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[post("/webhooks/deliveries/{id}/redeliver")]
pub async fn redeliver(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Owner)?;
    let (organization_id, user_id, id) = (
        caller.organization_id().to_string(),
        caller.user_id().to_string(),
        path.into_inner(),
    );
    let delivery = state
        .db
        .run(move |conn| service::redeliver(conn, &organization_id, &user_id, &id))
        .await?;
    Ok(HttpResponse::Accepted().json(DeliveryView::try_from(delivery)?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestQueued {
    /// The test delivery's id (`webhook-id`); follow it in the delivery log.
    pub delivery_id: String,
}

/// Queue a `webhook.test` event to the endpoint, whatever its subscriptions.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), responses(
    (status = 202, body = TestQueued),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[post("/webhooks/endpoints/{id}/test")]
pub async fn send_test(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Owner)?;
    let (organization_id, id) = (caller.organization_id().to_string(), path.into_inner());
    let delivery_id = state
        .db
        .run(move |conn| service::send_test(conn, &organization_id, &id))
        .await?;
    Ok(HttpResponse::Accepted().json(TestQueued { delivery_id }))
}

/// The body of every webhook delivery (documentation of the payload; `version` 1).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookPayload {
    /// The event's id (`evt_…`): the same in every endpoint's delivery of the event.
    pub id: String,
    /// The event type: a notification kind, or `webhook.test`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The envelope's version; a change that breaks receivers gets a new one.
    pub version: u32,
    pub timestamp: DateTime<Utc>,
    /// The organization whose endpoint receives it.
    pub organization_id: String,
    pub subject: WebhookSubject,
    /// The event (tagged by `kind`, the same as `type`) as this organization sees it, plus
    /// `counterparty` (the other party's name) and `action_required` (whether this
    /// organization is expected to act). For `webhook.test`: `{message}`.
    pub data: WebhookData,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSubject {
    /// `deal`, `grant`, `installment`, `request`, `webhook_endpoint`.
    #[serde(rename = "type")]
    pub subject_type: String,
    pub id: String,
}

/// An event's fields as `data`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookData {
    #[serde(flatten)]
    pub event: Event,
    pub counterparty: String,
    pub action_required: bool,
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_endpoint)
        .service(list_endpoints)
        .service(get_endpoint)
        .service(update_endpoint)
        .service(delete_endpoint)
        .service(rotate_secret)
        .service(list_deliveries)
        .service(send_test)
        .service(redeliver);
}
