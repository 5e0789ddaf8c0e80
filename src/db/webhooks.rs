//! Webhook endpoints and the delivery outbox (see `docs/webhooks.md`). Deliveries are
//! written in the transaction of the change that causes them; the webhook worker
//! (`crate::webhooks`) claims one endpoint at a time and sends its pending deliveries
//! oldest first.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{webhook_deliveries, webhook_endpoints};
use super::{new_id, DbConnection, DbError};

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";

/// An endpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, QueryableByName, Insertable)]
#[diesel(table_name = webhook_endpoints)]
pub struct Endpoint {
    pub id: String,
    pub organization_id: String,
    pub url: String,
    pub description: String,
    pub event_types: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<NaiveDateTime>,
    pub next_attempt_at: NaiveDateTime,
    pub claimed_until: Option<NaiveDateTime>,
    pub consecutive_failures: i32,
    pub failing_since: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Endpoint {
    /// The subscribed event types (stored as a JSON array).
    pub fn event_types(&self) -> Result<Vec<String>, DbError> {
        super::stored_json("webhook_endpoints.event_types", &self.event_types)
    }

    /// The secrets a delivery at `at` is signed with: the current one, and the previous
    /// one while its grace period lasts.
    pub fn signing_secrets(&self, at: NaiveDateTime) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(previous), Some(until)) = (&self.previous_secret, self.previous_secret_until) {
            if at < until {
                secrets.push(previous);
            }
        }
        secrets
    }
}

pub fn insert_endpoint(conn: &mut DbConnection, endpoint: &Endpoint) -> Result<(), DbError> {
    diesel::insert_into(webhook_endpoints::table)
        .values(endpoint)
        .execute(conn)?;
    Ok(())
}

/// One endpoint of an organization (`None` for another organization's, as for a missing one).
pub fn find_endpoint(
    conn: &mut DbConnection,
    organization_id: &str,
    id: &str,
) -> Result<Option<Endpoint>, DbError> {
    Ok(webhook_endpoints::table
        .find(id)
        .filter(webhook_endpoints::organization_id.eq(organization_id))
        .select(Endpoint::as_select())
        .first(conn)
        .optional()?)
}

/// An organization's endpoints by id, after `after`, at most `limit`.
pub fn list_endpoints(
    conn: &mut DbConnection,
    organization_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Endpoint>, DbError> {
    let mut query = webhook_endpoints::table
        .filter(webhook_endpoints::organization_id.eq(organization_id))
        .select(Endpoint::as_select())
        .order(webhook_endpoints::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(webhook_endpoints::id.gt(after.to_string()));
    }
    Ok(query.load(conn)?)
}

/// The enabled endpoints of an organization subscribed to `event_type`.
pub fn subscribed(
    conn: &mut DbConnection,
    organization_id: &str,
    event_type: &str,
) -> Result<Vec<Endpoint>, DbError> {
    let endpoints: Vec<Endpoint> = webhook_endpoints::table
        .filter(webhook_endpoints::organization_id.eq(organization_id))
        .filter(webhook_endpoints::enabled.eq(true))
        .select(Endpoint::as_select())
        .order(webhook_endpoints::id.asc())
        .load(conn)?;
    let mut chosen = Vec::new();
    for endpoint in endpoints {
        if endpoint.event_types()?.iter().any(|t| t == event_type) {
            chosen.push(endpoint);
        }
    }
    Ok(chosen)
}

/// Writes an endpoint's changed fields back (the caller read and locked it).
pub fn save_endpoint(conn: &mut DbConnection, endpoint: &Endpoint) -> Result<(), DbError> {
    diesel::update(webhook_endpoints::table.find(&endpoint.id))
        .set((
            webhook_endpoints::url.eq(&endpoint.url),
            webhook_endpoints::description.eq(&endpoint.description),
            webhook_endpoints::event_types.eq(&endpoint.event_types),
            webhook_endpoints::enabled.eq(endpoint.enabled),
            webhook_endpoints::disabled_reason.eq(&endpoint.disabled_reason),
            webhook_endpoints::secret.eq(&endpoint.secret),
            webhook_endpoints::previous_secret.eq(&endpoint.previous_secret),
            webhook_endpoints::previous_secret_until.eq(endpoint.previous_secret_until),
            webhook_endpoints::next_attempt_at.eq(endpoint.next_attempt_at),
            webhook_endpoints::consecutive_failures.eq(endpoint.consecutive_failures),
            webhook_endpoints::failing_since.eq(endpoint.failing_since),
            webhook_endpoints::updated_at.eq(endpoint.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Locks an endpoint row until the transaction ends (a no-op update), then reads it.
pub fn lock_endpoint(
    conn: &mut DbConnection,
    organization_id: &str,
    id: &str,
) -> Result<Option<Endpoint>, DbError> {
    diesel::update(
        webhook_endpoints::table
            .find(id)
            .filter(webhook_endpoints::organization_id.eq(organization_id)),
    )
    .set(webhook_endpoints::updated_at.eq(webhook_endpoints::updated_at))
    .execute(conn)?;
    find_endpoint(conn, organization_id, id)
}

pub fn delete_endpoint(
    conn: &mut DbConnection,
    organization_id: &str,
    id: &str,
) -> Result<bool, DbError> {
    let deleted = diesel::delete(
        webhook_endpoints::table
            .find(id)
            .filter(webhook_endpoints::organization_id.eq(organization_id)),
    )
    .execute(conn)?;
    Ok(deleted == 1)
}

/// A delivery as stored (`id` is the `webhook-id` header).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct Delivery {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    pub subject_type: String,
    pub subject_id: String,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_latency_ms: Option<i64>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
}

/// A delivery about to be queued.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    pub endpoint_id: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub subject_type: &'a str,
    pub subject_id: &'a str,
    pub payload: &'a str,
    pub at: NaiveDateTime,
}

/// Queues a delivery; returns its id (`msg_…`, the `webhook-id` of every attempt).
pub fn enqueue(conn: &mut DbConnection, delivery: NewDelivery<'_>) -> Result<String, DbError> {
    let id = format!("msg_{}", new_id());
    diesel::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::id.eq(&id),
            webhook_deliveries::endpoint_id.eq(delivery.endpoint_id),
            webhook_deliveries::event_id.eq(delivery.event_id),
            webhook_deliveries::event_type.eq(delivery.event_type),
            webhook_deliveries::subject_type.eq(delivery.subject_type),
            webhook_deliveries::subject_id.eq(delivery.subject_id),
            webhook_deliveries::payload.eq(delivery.payload),
            webhook_deliveries::status.eq(PENDING),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::created_at.eq(delivery.at),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Claims up to `limit` endpoints that have a pending delivery and are due, for one
/// worker until `lease_until`. On PostgreSQL the candidate rows are locked with
/// `FOR UPDATE SKIP LOCKED`, so concurrent workers take disjoint endpoints without
/// waiting; on SQLite each is taken by a conditional UPDATE.
pub fn claim_endpoints(
    conn: &mut DbConnection,
    at: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Endpoint>, DbError> {
    use diesel::sql_types::{BigInt, Timestamp};
    match conn {
        DbConnection::Postgres(pg) => Ok(diesel::sql_query(
            "UPDATE webhook_endpoints SET claimed_until = $1 \
             WHERE id IN (\
                 SELECT e.id FROM webhook_endpoints e \
                 WHERE e.enabled AND e.next_attempt_at <= $2 \
                   AND (e.claimed_until IS NULL OR e.claimed_until < $2) \
                   AND EXISTS (SELECT 1 FROM webhook_deliveries d \
                               WHERE d.endpoint_id = e.id AND d.status = 'pending') \
                 ORDER BY e.next_attempt_at, e.id \
                 LIMIT $3 \
                 FOR UPDATE SKIP LOCKED) \
             RETURNING *",
        )
        .bind::<Timestamp, _>(lease_until)
        .bind::<Timestamp, _>(at)
        .bind::<BigInt, _>(limit)
        .load::<Endpoint>(pg)?),
        DbConnection::Sqlite(_) => {
            let pending = webhook_deliveries::table
                .filter(webhook_deliveries::status.eq(PENDING))
                .select(webhook_deliveries::endpoint_id);
            let free = webhook_endpoints::claimed_until
                .is_null()
                .or(webhook_endpoints::claimed_until.lt(at));
            let candidates: Vec<String> = webhook_endpoints::table
                .filter(webhook_endpoints::enabled.eq(true))
                .filter(webhook_endpoints::next_attempt_at.le(at))
                .filter(free)
                .filter(webhook_endpoints::id.eq_any(pending))
                .order((
                    webhook_endpoints::next_attempt_at.asc(),
                    webhook_endpoints::id.asc(),
                ))
                .limit(limit)
                .select(webhook_endpoints::id)
                .load(conn)?;
            let mut claimed = Vec::with_capacity(candidates.len());
            for id in candidates {
                let won = diesel::update(
                    webhook_endpoints::table.find(&id).filter(
                        webhook_endpoints::claimed_until
                            .is_null()
                            .or(webhook_endpoints::claimed_until.lt(at)),
                    ),
                )
                .set(webhook_endpoints::claimed_until.eq(lease_until))
                .execute(conn)?;
                if won == 1 {
                    claimed.push(id);
                }
            }
            if claimed.is_empty() {
                return Ok(Vec::new());
            }
            Ok(webhook_endpoints::table
                .filter(webhook_endpoints::id.eq_any(&claimed))
                .select(Endpoint::as_select())
                .load(conn)?)
        }
    }
}

/// The oldest pending delivery of an endpoint: the next to send.
pub fn next_pending(
    conn: &mut DbConnection,
    endpoint_id: &str,
) -> Result<Option<Delivery>, DbError> {
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .filter(webhook_deliveries::status.eq(PENDING))
        .order((
            webhook_deliveries::created_at.asc(),
            webhook_deliveries::id.asc(),
        ))
        .select(Delivery::as_select())
        .first(conn)
        .optional()?)
}

/// What one attempt got.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<&'a str>,
    pub at: NaiveDateTime,
}

/// Records a successful attempt: the delivery is done, the endpoint healthy, its lease
/// renewed until `lease_until` for the next delivery.
pub fn record_success(
    conn: &mut DbConnection,
    delivery_id: &str,
    endpoint_id: &str,
    attempt: &Attempt<'_>,
    lease_until: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(webhook_deliveries::table.find(delivery_id))
        .set((
            webhook_deliveries::status.eq(DELIVERED),
            webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
            webhook_deliveries::last_status_code.eq(attempt.status_code),
            webhook_deliveries::last_latency_ms.eq(Some(attempt.latency_ms)),
            webhook_deliveries::last_error.eq(None::<String>),
            webhook_deliveries::last_attempt_at.eq(Some(attempt.at)),
            webhook_deliveries::delivered_at.eq(Some(attempt.at)),
        ))
        .execute(conn)?;
    diesel::update(webhook_endpoints::table.find(endpoint_id))
        .set((
            webhook_endpoints::consecutive_failures.eq(0),
            webhook_endpoints::failing_since.eq(None::<NaiveDateTime>),
            webhook_endpoints::claimed_until.eq(Some(lease_until)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a failed attempt; the endpoint waits until `next_attempt_at` and its lease is
/// released. Returns the endpoint as it is now (for the disable check).
pub fn record_failure(
    conn: &mut DbConnection,
    delivery_id: &str,
    endpoint_id: &str,
    attempt: &Attempt<'_>,
    next_attempt_at: NaiveDateTime,
) -> Result<Option<Endpoint>, DbError> {
    diesel::update(webhook_deliveries::table.find(delivery_id))
        .set((
            webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
            webhook_deliveries::last_status_code.eq(attempt.status_code),
            webhook_deliveries::last_latency_ms.eq(Some(attempt.latency_ms)),
            webhook_deliveries::last_error.eq(attempt.error),
            webhook_deliveries::last_attempt_at.eq(Some(attempt.at)),
        ))
        .execute(conn)?;
    diesel::update(webhook_endpoints::table.find(endpoint_id))
        .set((
            webhook_endpoints::consecutive_failures.eq(webhook_endpoints::consecutive_failures + 1),
            webhook_endpoints::next_attempt_at.eq(next_attempt_at),
            webhook_endpoints::claimed_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    diesel::update(
        webhook_endpoints::table
            .find(endpoint_id)
            .filter(webhook_endpoints::failing_since.is_null()),
    )
    .set(webhook_endpoints::failing_since.eq(Some(attempt.at)))
    .execute(conn)?;
    Ok(webhook_endpoints::table
        .find(endpoint_id)
        .select(Endpoint::as_select())
        .first(conn)
        .optional()?)
}

/// Releases an endpoint this worker holds (nothing more to send now).
pub fn release(conn: &mut DbConnection, endpoint_id: &str) -> Result<(), DbError> {
    diesel::update(webhook_endpoints::table.find(endpoint_id))
        .set(webhook_endpoints::claimed_until.eq(None::<NaiveDateTime>))
        .execute(conn)?;
    Ok(())
}

/// Disables a failing endpoint, unless it recovered or was changed meanwhile; true if
/// this call disabled it.
pub fn disable_failing(
    conn: &mut DbConnection,
    endpoint_id: &str,
    failing_since: NaiveDateTime,
    reason: &str,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let changed = diesel::update(
        webhook_endpoints::table
            .find(endpoint_id)
            .filter(webhook_endpoints::enabled.eq(true))
            .filter(webhook_endpoints::failing_since.eq(Some(failing_since))),
    )
    .set((
        webhook_endpoints::enabled.eq(false),
        webhook_endpoints::disabled_reason.eq(Some(reason)),
        webhook_endpoints::claimed_until.eq(None::<NaiveDateTime>),
        webhook_endpoints::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// An endpoint's deliveries, newest first, before the delivery id `before`.
pub fn deliveries(
    conn: &mut DbConnection,
    endpoint_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<Delivery>, DbError> {
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .select(Delivery::as_select())
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(webhook_deliveries::id.lt(before.to_string()));
    }
    Ok(query.load(conn)?)
}

/// A delivery of one of an organization's endpoints, with its endpoint.
pub fn find_delivery(
    conn: &mut DbConnection,
    organization_id: &str,
    id: &str,
) -> Result<Option<Delivery>, DbError> {
    Ok(webhook_deliveries::table
        .inner_join(webhook_endpoints::table)
        .filter(webhook_deliveries::id.eq(id))
        .filter(webhook_endpoints::organization_id.eq(organization_id))
        .select(Delivery::as_select())
        .first(conn)
        .optional()?)
}

/// Queues a delivery again (same `webhook-id`, same body), whatever its state.
pub fn requeue(conn: &mut DbConnection, id: &str) -> Result<(), DbError> {
    diesel::update(webhook_deliveries::table.find(id))
        .set((
            webhook_deliveries::status.eq(PENDING),
            webhook_deliveries::delivered_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// The owners of an organization (id, e-mail, name), told when an endpoint is disabled.
pub fn owners_of(
    conn: &mut DbConnection,
    organization_id: &str,
) -> Result<Vec<(String, String, String)>, DbError> {
    use super::schema::users;
    Ok(users::table
        .filter(users::organization_id.eq(organization_id))
        .filter(users::role.eq(crate::domain::role::Role::Owner.as_str()))
        .order(users::id.asc())
        .select((users::id, users::email, users::name))
        .load(conn)?)
}
