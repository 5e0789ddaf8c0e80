//! Webhooks (see `docs/webhooks.md`): an organization's owners register receiver
//! endpoints; every event that drives e-mail also queues one delivery per subscribed
//! endpoint of each organization concerned, in the change's transaction
//! ([`enqueue_event`], called by `notifications::notify`); the [`worker`] signs and sends
//! them. This module owns the endpoints' transactions and audit events.

pub mod worker;

use std::net::IpAddr;

use chrono::{NaiveDateTime, TimeDelta};
use rand::RngCore;
use serde_json::json;

use crate::db::audit::AuditEvent;
use crate::db::webhooks::{self as storage, Endpoint, NewDelivery};
use crate::db::{new_id, now, write_transaction, DbConnection, DbError};
use crate::domain::notification::NotificationKind;
use crate::domain::webhook::{self, ReceiverUrl};
use crate::domain::ValidationErrors;

pub use worker::{WebhookWorker, WorkerConfig};

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the request has invalid fields")]
    Validation(#[from] ValidationErrors),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Which receivers may be registered and reached.
#[derive(Debug, Clone, Copy, Default)]
pub struct UrlPolicy {
    /// `CADENZA_WEBHOOKS_ALLOW_PRIVATE`: private, loopback, link-local addresses allowed.
    pub allow_private: bool,
    /// Development: plain `http` allowed to a loopback host.
    pub development: bool,
}

/// Checks a receiver URL, resolving its host: refused (as the message of field `url`) when
/// the URL breaks [`webhook::parse_receiver_url`], the host does not resolve, or any
/// address it resolves to is private and the policy does not allow it.
pub async fn check_receiver(raw: &str, policy: UrlPolicy) -> Result<ReceiverUrl, String> {
    let receiver = webhook::parse_receiver_url(raw, policy.development)?;
    resolve_allowed(&receiver.host, receiver.port, policy.allow_private).await?;
    Ok(receiver)
}

/// The addresses of `host`, each one allowed by the policy (or a message saying why not).
pub async fn resolve_allowed(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<std::net::SocketAddr>, String> {
    let addresses: Vec<std::net::SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![std::net::SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("the host `{host}` does not resolve: {e}"))?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(format!("the host `{host}` has no address"));
    }
    if !allow_private {
        for address in &addresses {
            if let Some(why) = webhook::private_address(address.ip()) {
                return Err(format!(
                    "resolves to {} address {}; webhooks go to public addresses only",
                    why,
                    address.ip()
                ));
            }
        }
    }
    Ok(addresses)
}

/// A new signing secret, `whsec_` and 32 random bytes in base64.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; webhook::SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    webhook::encode_secret(&bytes)
}

/// Checks subscribed event types: known kinds, at least one, no duplicates kept.
pub fn parse_event_types(
    types: &[String],
    errors: &mut ValidationErrors,
    field: &str,
) -> Vec<String> {
    if types.is_empty() {
        errors.push(field, "must name at least one event type");
    }
    let mut chosen: Vec<String> = Vec::new();
    for (i, name) in types.iter().enumerate() {
        match NotificationKind::parse(name) {
            Some(kind) => {
                if !chosen.iter().any(|c| c == kind.as_str()) {
                    chosen.push(kind.as_str().to_string());
                }
            }
            None => errors.push(
                format!("{field}[{i}]"),
                format!(
                    "is not an event type; the types are {}",
                    NotificationKind::ALL
                        .map(NotificationKind::as_str)
                        .join(", ")
                ),
            ),
        }
    }
    chosen
}

/// An endpoint to create, checked by the edge (URL resolved, types parsed).
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
}

fn event_types_json(types: &[String]) -> Result<String, DbError> {
    serde_json::to_string(types)
        .map_err(|e| DbError::Query(diesel::result::Error::SerializationError(Box::new(e))))
}

/// Creates an endpoint with a fresh secret (returned once, in the endpoint).
pub fn create_endpoint(
    conn: &mut DbConnection,
    organization_id: &str,
    actor_user_id: &str,
    input: NewEndpoint,
) -> Result<Endpoint, WebhookError> {
    let at = now();
    let endpoint = Endpoint {
        id: new_id(),
        organization_id: organization_id.to_string(),
        url: input.url,
        description: input.description,
        event_types: event_types_json(&input.event_types)?,
        enabled: input.enabled,
        disabled_reason: None,
        secret: generate_secret(),
        previous_secret: None,
        previous_secret_until: None,
        next_attempt_at: at,
        claimed_until: None,
        consecutive_failures: 0,
        failing_since: None,
        created_at: at,
        updated_at: at,
    };
    write_transaction(conn, |conn| {
        storage::insert_endpoint(conn, &endpoint)?;
        AuditEvent::new(
            "webhook.endpoint_created",
            "webhook_endpoint",
            Some(&endpoint.id),
        )
        .by(Some(organization_id), Some(actor_user_id))
        .after(audit_record(&endpoint))
        .write(conn)?;
        Ok::<_, WebhookError>(())
    })?;
    Ok(endpoint)
}

/// What an audit event records of an endpoint (never its secret).
fn audit_record(endpoint: &Endpoint) -> serde_json::Value {
    json!({
        "url": endpoint.url,
        "event_types": serde_json::from_str::<serde_json::Value>(&endpoint.event_types).unwrap_or_default(),
        "enabled": endpoint.enabled,
    })
}

/// Changes to an endpoint (absent fields keep their value).
#[derive(Debug, Clone, Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

pub fn update_endpoint(
    conn: &mut DbConnection,
    organization_id: &str,
    actor_user_id: &str,
    id: &str,
    changes: EndpointChanges,
) -> Result<Endpoint, WebhookError> {
    write_transaction(conn, |conn| {
        let mut endpoint = storage::lock_endpoint(conn, organization_id, id)?
            .ok_or(WebhookError::NotFound("webhook endpoint"))?;
        let before = audit_record(&endpoint);
        let at = now();
        if let Some(url) = changes.url {
            endpoint.url = url;
        }
        if let Some(description) = changes.description {
            endpoint.description = description;
        }
        if let Some(types) = changes.event_types {
            endpoint.event_types = event_types_json(&types)?;
        }
        if let Some(enabled) = changes.enabled {
            if enabled && !endpoint.enabled {
                // Re-enabled: a fresh start, pending deliveries go out at once.
                endpoint.disabled_reason = None;
                endpoint.failing_since = None;
                endpoint.consecutive_failures = 0;
                endpoint.next_attempt_at = at;
            }
            endpoint.enabled = enabled;
        }
        endpoint.updated_at = at;
        storage::save_endpoint(conn, &endpoint)?;
        AuditEvent::new("webhook.endpoint_updated", "webhook_endpoint", Some(id))
            .by(Some(organization_id), Some(actor_user_id))
            .before(before)
            .after(audit_record(&endpoint))
            .write(conn)?;
        Ok(endpoint)
    })
}

/// A new secret; the previous one stays valid for `grace` (deliveries carry both
/// signatures meanwhile).
pub fn rotate_secret(
    conn: &mut DbConnection,
    organization_id: &str,
    actor_user_id: &str,
    id: &str,
    grace: TimeDelta,
) -> Result<Endpoint, WebhookError> {
    write_transaction(conn, |conn| {
        let mut endpoint = storage::lock_endpoint(conn, organization_id, id)?
            .ok_or(WebhookError::NotFound("webhook endpoint"))?;
        let at = now();
        endpoint.previous_secret = Some(std::mem::replace(&mut endpoint.secret, generate_secret()));
        endpoint.previous_secret_until = at.checked_add_signed(grace);
        endpoint.updated_at = at;
        storage::save_endpoint(conn, &endpoint)?;
        AuditEvent::new("webhook.secret_rotated", "webhook_endpoint", Some(id))
            .by(Some(organization_id), Some(actor_user_id))
            .after(json!({"previous_secret_until": endpoint.previous_secret_until}))
            .write(conn)?;
        Ok(endpoint)
    })
}

pub fn delete_endpoint(
    conn: &mut DbConnection,
    organization_id: &str,
    actor_user_id: &str,
    id: &str,
) -> Result<(), WebhookError> {
    write_transaction(conn, |conn| {
        let endpoint = storage::lock_endpoint(conn, organization_id, id)?
            .ok_or(WebhookError::NotFound("webhook endpoint"))?;
        storage::delete_endpoint(conn, organization_id, id)?;
        AuditEvent::new("webhook.endpoint_deleted", "webhook_endpoint", Some(id))
            .by(Some(organization_id), Some(actor_user_id))
            .before(audit_record(&endpoint))
            .write(conn)?;
        Ok(())
    })
}

/// The JSON body of an event: the envelope every delivery shares.
pub fn payload(
    event_id: &str,
    event_type: &str,
    organization_id: &str,
    subject: (&str, &str),
    data: &serde_json::Value,
    at: NaiveDateTime,
) -> String {
    json!({
        "id": event_id,
        "type": event_type,
        "version": webhook::PAYLOAD_VERSION,
        "timestamp": at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "organization_id": organization_id,
        "subject": {"type": subject.0, "id": subject.1},
        "data": data,
    })
    .to_string()
}

/// In the caller's transaction: one delivery of the event to each enabled endpoint of the
/// organization subscribed to its type. Returns how many were queued.
pub fn enqueue_event(
    conn: &mut DbConnection,
    organization_id: &str,
    event_type: &str,
    subject: (&str, &str),
    data: &serde_json::Value,
) -> Result<usize, DbError> {
    let endpoints = storage::subscribed(conn, organization_id, event_type)?;
    if endpoints.is_empty() {
        return Ok(0);
    }
    let at = now();
    let event_id = format!("evt_{}", new_id());
    let body = payload(&event_id, event_type, organization_id, subject, data, at);
    for endpoint in &endpoints {
        storage::enqueue(
            conn,
            NewDelivery {
                endpoint_id: &endpoint.id,
                event_id: &event_id,
                event_type,
                subject_type: subject.0,
                subject_id: subject.1,
                payload: &body,
                at,
            },
        )?;
    }
    Ok(endpoints.len())
}

/// Queues the test event to one endpoint (whatever its subscriptions); returns the delivery id.
pub fn send_test(
    conn: &mut DbConnection,
    organization_id: &str,
    id: &str,
) -> Result<String, WebhookError> {
    write_transaction(conn, |conn| {
        let endpoint = storage::find_endpoint(conn, organization_id, id)?
            .ok_or(WebhookError::NotFound("webhook endpoint"))?;
        let at = now();
        let event_id = format!("evt_{}", new_id());
        let data = json!({"message": "a test event sent from Cadenza"});
        let body = payload(
            &event_id,
            webhook::TEST_EVENT_TYPE,
            organization_id,
            ("webhook_endpoint", &endpoint.id),
            &data,
            at,
        );
        Ok(storage::enqueue(
            conn,
            NewDelivery {
                endpoint_id: &endpoint.id,
                event_id: &event_id,
                event_type: webhook::TEST_EVENT_TYPE,
                subject_type: "webhook_endpoint",
                subject_id: &endpoint.id,
                payload: &body,
                at,
            },
        )?)
    })
}

/// Queues a delivery again, with the same `webhook-id` and body.
pub fn redeliver(
    conn: &mut DbConnection,
    organization_id: &str,
    actor_user_id: &str,
    delivery_id: &str,
) -> Result<storage::Delivery, WebhookError> {
    write_transaction(conn, |conn| {
        let delivery = storage::find_delivery(conn, organization_id, delivery_id)?
            .ok_or(WebhookError::NotFound("webhook delivery"))?;
        storage::requeue(conn, &delivery.id)?;
        AuditEvent::new(
            "webhook.redelivery_requested",
            "webhook_delivery",
            Some(delivery_id),
        )
        .by(Some(organization_id), Some(actor_user_id))
        .write(conn)?;
        storage::find_delivery(conn, organization_id, delivery_id)?
            .ok_or(WebhookError::NotFound("webhook delivery"))
    })
}
